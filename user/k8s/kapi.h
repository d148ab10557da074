/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The Kubernetes API client (libcurl + jansson): LIST then WATCH of
 * Services, EndpointSlices, Nodes, Pods, Namespaces and NetworkPolicies from
 * the list's resourceVersion, with bookmarks; relist on 410 Gone; reconnect
 * with capped backoff; the token re-read before every request. It keeps the
 * objects in a store and says when it changed: the services' kinds and
 * policy's kinds apart, so pod churn never reconciles a Service; the agent
 * turns the store into the datapath.
 */
#ifndef KX_KAPI_H
#define KX_KAPI_H

#include <stdbool.h>
#include <curl/curl.h>
#include <jansson.h>
#include "k8s/k8s.h"
#include "k8s/kubeconfig.h"

#define KAPI_MAX_EVENT (4u << 20) /* longest watch line; longer ones are skipped */
#define KAPI_BACKOFF_MIN_MS 100
#define KAPI_BACKOFF_MAX_MS 10000

/* Policy's kinds (Pods, Namespaces, NetworkPolicies) stay last and together. */
enum kapi_kind {
	KAPI_SERVICES,
	KAPI_SLICES,
	KAPI_NODES,
	KAPI_PODS,
	KAPI_NAMESPACES,
	KAPI_NETPOLS,
	KAPI_N
};

struct kapi;

struct kapi_watch {
	struct kapi *k;
	enum kapi_kind kind;
	CURL *easy; /* the running WATCH, or NULL */
	struct curl_slist *headers;
	char rv[64]; /* resume point: last list, event or bookmark */
	char *buf; /* the line being received */
	size_t len;
	bool skipping; /* inside an oversized line */
	bool need_list; /* never listed, or 410 Gone */
	bool gone; /* this watch ended with 410 */
	unsigned failures; /* consecutive, for the backoff */
	long long next_try_ms; /* monotonic ms before which nothing is tried */
};

struct kapi {
	struct kapi_conf conf;
	CURLM *multi;
	struct kapi_watch w[KAPI_N];
	/* "namespace/name" ("/name": cluster-scoped) -> object (with kind; a Pod slimmed) */
	json_t *store[KAPI_N];
	bool dirty; /* a Service, slice or Node changed since the last kapi_take_state */
	bool full_dirty; /* a list replaced a Service, slice or Node store: apply everything */
	bool nodes_dirty; /* a Node changed: routes, CNI config */
	bool policy_dirty; /* a Pod, Namespace or NetworkPolicy changed (never sets the above) */
	/*
	 * Since the last policy take: a Namespace or NetworkPolicy changed, a
	 * Pod came or went, or a list replaced one of their stores. When not,
	 * every change is a Pod's in place, and dirty_pods says which.
	 */
	bool policy_full;
	json_t *dirty_pods; /* "ns/name" of Pods changed in place since the last policy take (a set) */
	json_t *dirty_owners; /* "ns/name" of Services whose objects changed (a set) */
	json_t *slices_of; /* "ns/name" of a Service -> {slice key: true} */
	json_t *refused[KAPI_N]; /* "namespace/name" -> why its last version was refused */
	bool refused_changed; /* refused[] changed: the agent reports it afresh */
	bool listed[KAPI_N]; /* listed at least once: the store is complete */
	unsigned long restarts; /* watch restarts, for metrics */
	unsigned long events; /* events applied */
	unsigned long skipped; /* events reported and skipped */
};

int kapi_init(struct kapi *k, const struct kapi_conf *conf, struct kx_err *err);
void kapi_free(struct kapi *k);
/* Drive lists and watches for at most timeout_ms. */
void kapi_step(struct kapi *k, int timeout_ms);
/* Every kind listed at least once. */
bool kapi_synced(const struct kapi *k);
/*
 * The store as objects the model takes, every kind; clears every mark but
 * policy_dirty (kapi_take_policy clears that one).
 */
int kapi_take_state(struct kapi *k, struct k8s_state *st, struct kx_err *err);
/* Only the Service owner ("ns/name") and its EndpointSlices. */
int kapi_take_owner(struct kapi *k, const char *owner, struct k8s_state *st, struct kx_err *err);
/* Each refused object (kind, "ns/name", reason) into r. */
int kapi_refusals(const struct kapi *k, struct k8s_refusals *r);
/* The kind of objects a watch carries: "Service", "EndpointSlice", "Node", "Pod"... */
const char *kapi_kind_name(enum kapi_kind kind);
/* Only the Nodes; clears nodes_dirty. */
int kapi_take_nodes(struct kapi *k, struct k8s_state *st, struct kx_err *err);
/* Only the Pods, Namespaces and NetworkPolicies; clears policy_dirty, policy_full, dirty_pods. */
int kapi_take_policy(struct kapi *k, struct k8s_state *st, struct kx_err *err);
/*
 * Only the Pods of dirty_pods (their versions now; one gone from the store
 * is left out); clears policy_dirty and dirty_pods. For when policy_full is
 * false: then they are all that changed since the last policy take.
 */
int kapi_take_changed_pods(struct kapi *k, struct k8s_state *st, struct kx_err *err);
/*
 * What the store keeps of a Pod (a new reference): kind, apiVersion,
 * metadata.{name,namespace,labels,resourceVersion,uid},
 * spec.{nodeName,hostNetwork,containers[].ports}, status.{phase,podIP,podIPs}.
 * A member of the wrong type is kept as it is, for the decoder to refuse.
 */
json_t *kapi_slim_pod(json_t *pod);

/* Apply one watch line to the store (exposed for tests and fuzzing). */
void kapi_handle_line(struct kapi *k, struct kapi_watch *w, const char *line, size_t len);
/* Feed received bytes to w's line splitter (exposed for tests and fuzzing). */
void kapi_feed(struct kapi *k, struct kapi_watch *w, const char *data, size_t len);

#endif /* KX_KAPI_H */
