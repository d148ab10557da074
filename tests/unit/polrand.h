/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Random small clusters for the policy compiler's property tests
 * (test_policy.c against the evaluator, test_policy_patch.c against a full
 * build): a seeded xorshift, pods, namespaces and policies of every shape
 * the compiler handles, over a few labels, ports and addresses.
 */
#ifndef KX_POLRAND_H
#define KX_POLRAND_H

#include "polfix.h"

#define P_TCP IPPROTO_TCP
#define P_UDP IPPROTO_UDP
#define P_SCTP IPPROTO_SCTP

/* The random clusters of the property test. */
struct rng {
	uint64_t s;
};

/* xorshift64: a number below n (0 when n is 0). */
static inline uint32_t rnd(struct rng *r, uint32_t n)
{
	r->s ^= r->s << 13;
	r->s ^= r->s >> 7;
	r->s ^= r->s << 17;
	return n ? (uint32_t)(r->s >> 11) % n : 0;
}

/* One of n strings at random. */
static inline const char *pick(struct rng *r, const char *const *v, size_t n)
{
	return v[rnd(r, n)];
}

#define PICK(r, v) pick(r, v, sizeof(v) / sizeof(v[0]))

static const char *const pod_keys[] = {"app", "tier", "env"};
static const char *const pod_values[3][3] = {
	{"a", "b", "c"}, {"x", "y", "z"}, {"prod", "dev", "none"}};
static const char *const ns_keys[] = {"team", "env", "kubernetes.io/metadata.name"};
static const char *const ns_values[3][3] = {
	{"blue", "red", "none"}, {"prod", "dev", "x"}, {"ns0", "ns1", "ns3"}};
static const char *const port_names[] = {"http", "dns", "metrics"};
static const uint16_t port_numbers[] = {53, 80, 8080, 9090, 1000};
static const uint8_t protos[] = {P_TCP, P_TCP, P_UDP, P_SCTP};

/* A random selector over keys/values: 0 to 2 requirements of any operator. */
static inline void rnd_selector(struct rng *r, const char *const *keys,
				const char *const (*values)[3], char *buf, size_t size)
{
	size_t n = 0, reqs = rnd(r, 3);

	buf[0] = 0;
	for (size_t i = 0; i < reqs; i++) {
		int k = rnd(r, 3);
		const char *v1 = values[k][rnd(r, 3)], *v2 = values[k][rnd(r, 3)];
		const char *sep = i ? "," : "";

		switch (rnd(r, 5)) {
		case 0:
			n += snprintf(buf + n, size - n, "%s%s=%s", sep, keys[k], v1);
			break;
		case 1:
			n += snprintf(buf + n, size - n, "%s%s in (%s|%s)", sep, keys[k], v1, v2);
			break;
		case 2:
			n += snprintf(buf + n, size - n, "%s%s notin (%s|%s)", sep, keys[k], v1,
				      v2);
			break;
		case 3:
			n += snprintf(buf + n, size - n, "%s%s", sep, keys[k]);
			break;
		default:
			n += snprintf(buf + n, size - n, "%s!%s", sep, keys[k]);
		}
	}
}

/* Random labels over the first n_keys keys/values: each key present one time in two. */
static inline void rnd_labels(struct rng *r, int n_keys, const char *const *keys,
			      const char *const (*values)[3], char *buf, size_t size)
{
	size_t n = 0;

	buf[0] = 0;
	for (int k = 0; k < n_keys; k++)
		if (rnd(r, 2))
			n += snprintf(buf + n, size - n, "%s%s=%s", n ? "," : "", keys[k],
				      values[k][rnd(r, 3)]);
}

/* A random address: mostly inside 10.0.0.0/22, sometimes outside the cluster. */
static inline uint32_t rnd_addr(struct rng *r)
{
	static const char *const outside[] = {"192.0.2.7", "8.8.8.8", "10.200.0.1", "0.0.0.0",
					      "255.255.255.255"};

	if (!rnd(r, 8))
		return fx_addr(PICK(r, outside));
	return htonl(0x0a000000 | rnd(r, 4) << 8 | rnd(r, 64));
}

/* A random pod of the property test: labels, node, state, container ports. */
static inline void rnd_pod(struct fx *c, struct rng *r, int i)
{
	static const char *const nss[] = {"ns0", "ns1", "ns2", "ns0", "ns1", "ns3"};
	char id[64], labels[128], ip[INET_ADDRSTRLEN];
	uint32_t addr = htonl(0x0a000000 | rnd(r, 4) << 8 | rnd(r, 64));
	struct k8s_pod *p;

	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(id, sizeof(id), "%s/p%d", PICK(r, nss), i);
	rnd_labels(r, 3, pod_keys, pod_values, labels, sizeof(labels));
	p = fx_pod(c, id, rnd(r, 2) ? "n1" : "n2", ip, labels);
	switch (rnd(r, 14)) {
	case 0:
		p->host_network = true;
		p->addr = htonl(0xc0a80000 | rnd(r, 4));
		break;
	case 1:
		p->finished = true;
		break;
	case 2:
		p->addr = 0;
	}
	for (uint32_t k = rnd(r, 4); k; k--)
		fx_pod_port(p, rnd(r, 4) ? PICK(r, port_names) : "", port_numbers[rnd(r, 5)],
			    protos[rnd(r, 4)]);
}

/* The netmask of a prefix length, host order. */
static inline uint32_t mask_of(uint8_t len)
{
	return len ? ~0u << (32 - len) : 0;
}

/* A random prefix inside in, longer than it (its host bits random or a cluster-ish address's). */
static inline struct k8s_prefix rnd_sub_prefix(struct rng *r, struct k8s_prefix in)
{
	uint32_t host =
		rnd(r, 2) ? (uint32_t)rnd(r, 1u << 30) << 2 | rnd(r, 4) : ntohl(rnd_addr(r));
	struct k8s_prefix out = {.len = in.len + 1 + rnd(r, 32 - in.len)};

	host = (ntohl(in.addr) & mask_of(in.len)) | (host & ~mask_of(in.len));
	out.addr = htonl(host & mask_of(out.len));
	return out;
}

/* "a.b.c.d/len" into buf (40 bytes). */
static inline char *prefix_text(struct k8s_prefix p, char *buf)
{
	char a[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &p.addr, a, sizeof(a));
	snprintf(buf, 40, "%s/%u", a, p.len);
	return buf;
}

/* A random ipBlock peer: a cidr of various sizes and up to 2 excepts inside it. */
static inline void rnd_block(struct fx *c, struct rng *r, struct k8s_np_rule *rule)
{
	static const char *const cidrs[] = {"10.0.0.0/16", "10.0.1.0/24",  "10.0.0.0/8",
					    "0.0.0.0/0",   "192.0.2.0/24", "10.0.2.0/23"};
	char buf[3][40] = {"", "", ""}, excepts[96];
	struct k8s_prefix cidr;
	uint32_t n = rnd(r, 3);

	if (rnd(r, 4)) {
		cidr = fx_prefix(PICK(r, cidrs));
	} else {
		cidr.len = 24 + rnd(r, 9);
		cidr.addr = htonl(ntohl(rnd_addr(r)) & mask_of(cidr.len));
	}
	for (uint32_t i = 0; i < n && cidr.len < 32; i++)
		prefix_text(rnd_sub_prefix(r, cidr), buf[i]);
	snprintf(excepts, sizeof(excepts), "%s%s%s", buf[0], buf[1][0] ? "," : "", buf[1]);
	fx_from_block(c, rule, prefix_text(cidr, buf[2]), excepts);
}

/* A random peer: pods (selectors present or not), an ipBlock, or an IPv6 block (none). */
static inline void rnd_peer(struct fx *c, struct rng *r, struct k8s_np_rule *rule)
{
	char pods[128], nss[128];
	uint32_t kind = rnd(r, 10);

	if (kind < 5) {
		rnd_selector(r, pod_keys, pod_values, pods, sizeof(pods));
		rnd_selector(r, ns_keys, ns_values, nss, sizeof(nss));
		fx_from_pods(c, rule, rnd(r, 3) ? pods : NULL, rnd(r, 2) ? nss : NULL);
	} else if (kind < 9) {
		rnd_block(c, r, rule);
	} else {
		fx_peer(rule, K8S_PEER_NONE);
	}
}

/* A random port entry: numeric, a range, a whole protocol, or named. */
static inline void rnd_port(struct rng *r, struct k8s_np_rule *rule)
{
	uint8_t proto = protos[rnd(r, 4)];
	uint16_t port = port_numbers[rnd(r, 5)];

	switch (rnd(r, 4)) {
	case 0:
		fx_port(rule, proto, port, 0);
		break;
	case 1:
		fx_port(rule, proto, port, port + rnd(r, 100));
		break;
	case 2:
		fx_port(rule, proto, 0, 0);
		break;
	default:
		fx_named(rule, proto, PICK(r, port_names));
	}
}

/* A random policy with 0 to 3 rules each way, each with 0 to 3 peers and ports. */
static inline void rnd_policy(struct fx *c, struct rng *r, int i)
{
	static const char *const nss[] = {"ns0", "ns1", "ns2", "ns3", "ns0", "ns1"};
	static const char *const types[] = {"Ingress", "Egress", "Ingress,Egress", "Ingress", ""};
	char id[64], sel[128];
	struct k8s_netpol *np;

	snprintf(id, sizeof(id), "%s/pol%d", PICK(r, nss), i);
	rnd_selector(r, pod_keys, pod_values, sel, sizeof(sel));
	if (rnd(r, 2))
		sel[0] = 0; /* every pod of the namespace: more pods isolated */
	np = fx_policy(c, id, sel, PICK(r, types));
	for (int dir = 0; dir < 2; dir++) {
		for (uint32_t k = rnd(r, 4); k; k--) {
			struct k8s_np_rule *rule = fx_rule(c, np, dir);

			for (uint32_t n = rnd(r, 4); n; n--)
				rnd_peer(c, r, rule);
			for (uint32_t n = rnd(r, 4); n; n--)
				rnd_port(r, rule);
		}
	}
}

/* A random cluster: 3 namespaces (and one without its object), 12 pods, 1 to 6 policies. */
static inline struct fx *rnd_cluster(struct rng *r)
{
	struct fx *c = fx_new(12, 3, 6);
	char labels[128];

	for (int i = 0; i < 3; i++) {
		char name[8];

		snprintf(name, sizeof(name), "ns%d", i);
		rnd_labels(r, 2, ns_keys, ns_values, labels, sizeof(labels));
		fx_ns(c, name, labels);
	}
	for (int i = 0; i < 12; i++)
		rnd_pod(c, r, i);
	for (int i = 0, n = 1 + rnd(r, 6); i < n; i++)
		rnd_policy(c, r, i);
	return c;
}

#endif /* KX_POLRAND_H */
