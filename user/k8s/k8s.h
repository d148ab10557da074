/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Decoding Kubernetes objects (v1 Service, discovery.k8s.io/v1 EndpointSlice,
 * v1 Node) from JSON into plain structs, validating every field kxdp uses.
 * IPv4 only for now; IPv6 addresses are skipped, not rejected.
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

/*
 * An object the agent cannot use. It is refused alone: everything else in
 * the state is served. reason is one line naming the object and the field.
 */
struct k8s_refusal {
	char kind[32]; /* "Service", "EndpointSlice", "Node", another kind, or "object" */
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
/* "a.b.c.d/len": 1 IPv4 (addr network order), 0 IPv6, -1 invalid. */
int kx_parse_cidr(const char *s, uint32_t *addr, uint8_t *len);

#endif /* KX_K8S_H */
