/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The model: a pure function from the cluster's objects and this node's name
 * to the desired service table. No kernel, no I/O: unit-tested on fixtures.
 */
#ifndef KX_MODEL_H
#define KX_MODEL_H

#include "k8s/k8s.h"
#include "kxdp_abi.h"

struct kx_backend_desc {
	uint32_t addr; /* network order */
	uint16_t port; /* host order */
	uint8_t proto;
	uint8_t state; /* enum kx_backend_state */
};

#define KX_OWNER_MAX (64 + K8S_NAME_MAX) /* "namespace/name" */

struct kx_svc_desc {
	struct kx_svc_key key; /* as the datapath looks it up */
	char owner[KX_OWNER_MAX]; /* the Service it comes from, "ns/name" */
	char name[K8S_NAME_MAX + 160]; /* "ns/name:port-name[ nodePort (in-cluster)]", logs and CLI */
	uint32_t rank; /* its Service's age rank: of two claiming one key, the lower keeps it */
	uint8_t algo; /* enum kx_algo */
	uint8_t flags; /* KX_SVC_F_* but SLOTS_HIGH, which is sync's */
	uint32_t affinity_timeout_s; /* sessionAffinity ClientIP: its timeout; 0 = None */
	struct kx_backend_desc *backends; /* sorted by address, port */
	size_t n_backends;
	struct k8s_prefix *src_ranges; /* KX_SVC_F_SRC_RANGES: the allowed sources (owned) */
	size_t n_src_ranges;
};

/* A healthCheckNodePort this node answers: 200 with local endpoints, else 503. */
struct kx_hc_desc {
	uint16_t port;
	char owner[KX_OWNER_MAX];
	uint32_t local_endpoints; /* ready endpoints of the Service on this node */
};

/* A route to another node's pods: <pod CIDR> via <its InternalIP>. */
struct kx_route_desc {
	uint32_t dst; /* network order */
	uint8_t len;
	uint32_t via; /* network order */
	char node[K8S_NAME_MAX];
};

struct kx_table {
	struct kx_svc_desc *svcs; /* sorted by key */
	size_t n_svcs;
	uint32_t node_ip; /* this node's InternalIP, network order, 0 = unknown */
	uint32_t pod_cidr; /* this node's pod CIDR, network order */
	uint8_t pod_cidr_len; /* 0 = unknown */
	struct kx_route_desc *routes; /* one per other node with a pod CIDR and an IP */
	size_t n_routes;
	struct kx_hc_desc *hcs; /* health-check node ports, sorted by port */
	size_t n_hcs;
	struct k8s_refusals refused; /* Services refused whole (an address another holds) */
};

/*
 * -1 only when memory runs out. A Service that claims an address and port
 * an older one holds (creationTimestamp, then namespace/name) is refused
 * whole into t->refused; the rest is served.
 */
int kx_model_build(const struct k8s_state *st, const char *node, struct kx_table *t,
		   struct kx_err *err);
void kx_table_free(struct kx_table *t);

/* Order of service keys and of backends, shared by the model and sync. */
int kx_svc_key_cmp(const struct kx_svc_key *a, const struct kx_svc_key *b);

#endif /* KX_MODEL_H */
