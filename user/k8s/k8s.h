/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Decoding Kubernetes objects (v1 Service, discovery.k8s.io/v1 EndpointSlice,
 * v1 Node; for NetworkPolicy v1 Pod, v1 Namespace, networking.k8s.io/v1
 * NetworkPolicy, in k8s_policy.c) from JSON into plain structs, validating
 * every field kxdp uses. IPv4 only for now; IPv6 addresses are skipped, not
 * rejected.
 */
#ifndef KX_K8S_H
#define KX_K8S_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "lib/log.h"

#define K8S_NAME_MAX 254 /* DNS subdomain: 253 + NUL */

struct k8s_svc_port {
	char name[64];
	uint16_t port;
	uint16_t node_port; /* 0 = none */
	uint8_t proto; /* IPPROTO_TCP / IPPROTO_UDP */
};

enum k8s_svc_type {
	K8S_SVC_CLUSTER_IP = 0,
	K8S_SVC_NODE_PORT,
	K8S_SVC_LOAD_BALANCER,
};

/* An IPv4 prefix, address in network order. */
struct k8s_prefix {
	uint32_t addr;
	uint8_t len;
};

/* Up to this many external IPs, LB ingress IPs or source ranges per Service. */
#define K8S_SVC_ADDRS_MAX 64

struct k8s_service {
	char ns[64];
	char name[K8S_NAME_MAX];
	char created[40]; /* metadata.creationTimestamp (RFC 3339), "" = unknown */
	uint8_t type; /* enum k8s_svc_type */
	bool etp_local; /* externalTrafficPolicy: Local */
	bool itp_local; /* internalTrafficPolicy: Local */
	uint16_t hc_node_port; /* healthCheckNodePort, 0 = none */
	uint8_t algo; /* enum kx_algo, from kube-router.io/service.scheduler */
	uint32_t affinity_timeout_s; /* sessionAffinity ClientIP: its timeout; 0 = None */
	bool publish_not_ready; /* spec.publishNotReadyAddresses: every endpoint counts as ready */
	bool hash_port; /* kube-router.io/service.schedflags flag-2 (sh-port, mh-port) */
	uint32_t cluster_ip; /* network order; 0 = none (headless, IPv6-only) */
	struct k8s_svc_port *ports;
	size_t n_ports;
	uint32_t external_ips[K8S_SVC_ADDRS_MAX]; /* spec.externalIPs (IPv4) */
	size_t n_external_ips;
	uint32_t lb_ips[K8S_SVC_ADDRS_MAX]; /* status.loadBalancer.ingress[].ip, not ipMode Proxy */
	size_t n_lb_ips;
	struct k8s_prefix src_ranges[K8S_SVC_ADDRS_MAX]; /* spec.loadBalancerSourceRanges */
	size_t n_src_ranges;
};

struct k8s_endpoint {
	uint32_t addr; /* network order */
	bool ready;
	bool serving;
	bool terminating;
	char node[K8S_NAME_MAX];
};

struct k8s_slice_port {
	char name[64];
	uint16_t port;
	uint8_t proto;
};

struct k8s_slice {
	char ns[64];
	char name[K8S_NAME_MAX];
	char service[K8S_NAME_MAX];
	struct k8s_slice_port *ports;
	size_t n_ports;
	struct k8s_endpoint *eps;
	size_t n_eps;
};

struct k8s_node {
	char name[K8S_NAME_MAX];
	uint32_t internal_ip; /* network order, 0 = unknown */
	uint32_t pod_cidr; /* network order */
	uint8_t pod_cidr_len; /* 0 = no IPv4 pod CIDR */
};

/* A label: key (prefix/name, up to 317 characters) and value (up to 63). */
struct k8s_label {
	char *key; /* owned */
	char *value; /* owned */
};

/* metadata.labels, sorted by key (keys are unique). */
struct k8s_labels {
	struct k8s_label *v;
	size_t n;
};

/* A label selector requirement; matchLabels k: v becomes k In (v). */
enum k8s_sel_op {
	K8S_SEL_IN = 0,
	K8S_SEL_NOT_IN,
	K8S_SEL_EXISTS,
	K8S_SEL_DOES_NOT_EXIST,
};

struct k8s_sel_req {
	char *key; /* owned */
	uint8_t op; /* enum k8s_sel_op */
	char **values; /* owned; In/NotIn: at least one, Exists/DoesNotExist: none */
	size_t n_values;
};

/* A metav1.LabelSelector: every requirement must hold (none: matches everything). */
struct k8s_selector {
	struct k8s_sel_req *reqs;
	size_t n_reqs;
};

#define K8S_PORT_NAME_MAX 16 /* IANA_SVC_NAME: at most 15 characters */

/* A container port of a pod: spec.containers[].ports[] (named or not). */
struct k8s_pod_port {
	char name[K8S_PORT_NAME_MAX]; /* "" = unnamed */
	uint16_t port; /* containerPort */
	uint8_t proto; /* IPPROTO_TCP, IPPROTO_UDP or IPPROTO_SCTP */
};

/*
 * A v1 Pod, as NetworkPolicy needs it. A pod is a policy endpoint (selected,
 * or a peer) only with an IPv4 address, not hostNetwork, not finished.
 */
struct k8s_pod {
	char ns[64];
	char name[K8S_NAME_MAX];
	char node[K8S_NAME_MAX]; /* spec.nodeName, "" = not scheduled */
	struct k8s_labels labels;
	uint32_t addr; /* the IPv4 address of status.podIPs (status.podIP), network order, 0 = none */
	bool host_network; /* spec.hostNetwork: its traffic is the node's */
	bool finished; /* status.phase Succeeded or Failed */
	struct k8s_pod_port *ports; /* every container's ports, in order */
	size_t n_ports;
};

/* A v1 Namespace: its labels (kubernetes.io/metadata.name included, as the API sets it). */
struct k8s_namespace {
	char name[64];
	struct k8s_labels labels;
};

/* A NetworkPolicyPort. */
struct k8s_np_port {
	uint8_t proto; /* IPPROTO_TCP (the default), IPPROTO_UDP or IPPROTO_SCTP */
	uint16_t port; /* 0 with name "": every port of proto */
	uint16_t end_port; /* endPort, >= port; 0 = port alone */
	char name[K8S_PORT_NAME_MAX]; /* a named port ("" = numeric or none) */
};

/* What a NetworkPolicyPeer is. */
enum k8s_np_peer_kind {
	K8S_PEER_PODS = 0, /* podSelector and/or namespaceSelector */
	K8S_PEER_BLOCK, /* ipBlock */
	K8S_PEER_NONE, /* an IPv6 ipBlock: matches no IPv4 address (kxdp is IPv4 for now) */
};

struct k8s_np_peer {
	uint8_t kind; /* enum k8s_np_peer_kind */
	bool has_pod_sel; /* PODS: podSelector given (absent: every pod of the namespaces) */
	struct k8s_selector pod_sel;
	bool has_ns_sel; /* PODS: namespaceSelector given (absent: the policy's namespace) */
	struct k8s_selector ns_sel;
	struct k8s_prefix cidr; /* BLOCK: ipBlock.cidr */
	struct k8s_prefix *except; /* BLOCK: ipBlock.except, each inside cidr (owned) */
	size_t n_except;
};

/* A NetworkPolicyIngressRule or EgressRule. */
struct k8s_np_rule {
	struct k8s_np_peer *peers; /* from / to; none: every source or destination */
	size_t n_peers;
	struct k8s_np_port *ports; /* none: every port of every protocol */
	size_t n_ports;
};

/* A networking.k8s.io/v1 NetworkPolicy. */
struct k8s_netpol {
	char ns[64];
	char name[K8S_NAME_MAX];
	struct k8s_selector pod_sel; /* spec.podSelector: the pods of ns it selects */
	bool ingress_type; /* policyTypes has Ingress (absent: always) */
	bool egress_type; /* policyTypes has Egress (absent: when spec.egress has a rule) */
	struct k8s_np_rule *ingress;
	size_t n_ingress;
	struct k8s_np_rule *egress;
	size_t n_egress;
};

/*
 * An object the agent cannot use. It is refused alone: everything else in
 * the state is served. reason is one line naming the object and the field.
 */
struct k8s_refusal {
	char kind[32]; /* "Service", "EndpointSlice", "Node", "Pod"..., another kind, or "object" */
	char object[64 + K8S_NAME_MAX]; /* "namespace/name", "name", or "items[N]" */
	char reason[512];
};

struct k8s_refusals {
	struct k8s_refusal *v;
	size_t n, cap;
};

/* Add one; false only when out of memory. */
bool k8s_refuse(struct k8s_refusals *r, const char *kind, const char *object,
		const char *reason);
void k8s_refusals_free(struct k8s_refusals *r);

/* Everything kxdp reads from the cluster. */
struct k8s_state {
	struct k8s_service *svcs;
	size_t n_svcs;
	struct k8s_slice *slices;
	size_t n_slices;
	struct k8s_node *nodes;
	size_t n_nodes;
	struct k8s_pod *pods;
	size_t n_pods;
	struct k8s_namespace *namespaces;
	size_t n_namespaces;
	struct k8s_netpol *netpols;
	size_t n_netpols;
	struct k8s_refusals refused; /* items that could not be decoded, each alone */
};

/*
 * Decode a `kind: List` document. An item that is not valid is refused
 * alone (st->refused); -1 with err only when the document itself is not a
 * List (or memory runs out), and then st holds nothing.
 */
int k8s_decode_list(json_t *root, struct k8s_state *st, struct kx_err *err);
int k8s_decode_file(const char *path, struct k8s_state *st, struct kx_err *err);
int k8s_decode_string(const char *text, struct k8s_state *st, struct kx_err *err);
void k8s_state_free(struct k8s_state *st);
/* Move from's Pods, Namespaces and NetworkPolicies into to (emptied first); from keeps the rest. */
void k8s_state_move_policy(struct k8s_state *from, struct k8s_state *to);
/*
 * Each pod of fresh put in st in place of st's pod of its namespace and
 * name, which goes to fresh instead: fresh->pods[i] is then the version
 * st->pods[at[i]] replaced. -1, nothing moved, when one is not in st.
 */
int k8s_state_swap_pods(struct k8s_state *st, struct k8s_state *fresh, uint32_t *at);
/* "a.b.c.d/len": 1 IPv4 (addr network order), 0 IPv6, -1 invalid. */
int kx_parse_cidr(const char *s, uint32_t *addr, uint8_t *len);

#endif /* KX_K8S_H */
