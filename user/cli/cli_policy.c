// SPDX-License-Identifier: GPL-2.0
/*
 * kxdp policy list and kxdp policy explain: NetworkPolicy as this node
 * enforces it. The verdict is the datapath's own (kx_pol_ep, kx_pol_peer,
 * kx_pol_rows, the very lookups tc programs make); the names of policies and
 * rules come from the agent (/policy, /policy/explain), which alone knows
 * the objects.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "cli/cli.h"

static const char *const dir_names[] = { "ingress", "egress" };

/* The policy sets the maps hold for addr (0, 0 when none). */
static struct kx_pol_ep map_sets(const struct cli *c, uint32_t addr)
{
	struct kx_pol_ep e = { 0 };
	uint32_t slot = kx_endpoint_slot(addr);

	if (bpf_map_lookup_elem(c->m.pol_ep, &slot, &e) || e.addr != addr)
		memset(&e, 0, sizeof(e));
	return e;
}

/* First packets set allowed and denied. */
static struct kx_pol_counter set_counts(const struct cli *c, uint32_t set)
{
	struct kx_pol_counter n = { 0 };

	bpf_map_lookup_elem(c->m.pol_stats, &set, &n);
	return n;
}

/* One direction of one pod as text: its policies, set and counters. */
static void print_dir(const struct cli *c, json_t *pod, int d, uint16_t map_set)
{
	char key[32];
	json_t *names = json_object_get(pod, dir_names[d]), *n;
	json_int_t agent_set;
	size_t i;

	snprintf(key, sizeof(key), "%s_set", dir_names[d]);
	agent_set = json_integer_value(json_object_get(pod, key));
	printf("  %-8s ", dir_names[d]);
	if (!map_set) {
		printf("not isolated");
	} else if (map_set == KX_POL_SET_DENY && !json_array_size(names)) {
		printf("denies all (set %u: waiting for the agent, or a set that could not be written)",
		       map_set);
	} else {
		struct kx_pol_counter k = set_counts(c, map_set);

		printf("isolated by ");
		json_array_foreach(names, i, n)
			printf("%s%s", i ? ", " : "", json_string_value(n));
		printf(" (set %u: %llu flows allowed, %llu denied)", map_set,
		       (unsigned long long)k.allowed, (unsigned long long)k.denied);
	}
	if (pod && agent_set != map_set)
		printf(" [the agent has set %lld: not written yet]", (long long)agent_set);
	printf("\n");
}

/* The agent's view, each pod with the sets the maps hold and their counters added. */
static json_t *list_json(const struct cli *c, json_t *view)
{
	json_t *pods = json_object_get(view, "pods"), *pod;
	size_t i;

	json_array_foreach(pods, i, pod) {
		struct in_addr a;
		struct kx_pol_ep e;

		if (inet_pton(AF_INET, json_string_value(json_object_get(pod, "ip")) ?: "", &a) != 1)
			continue;
		e = map_sets(c, a.s_addr);
		for (int d = 0; d < 2; d++) {
			struct kx_pol_counter k = set_counts(c, e.set[d]);
			char key[32];

			snprintf(key, sizeof(key), "%s_map_set", dir_names[d]);
			json_object_set_new(pod, key, json_integer(e.set[d]));
			snprintf(key, sizeof(key), "%s_flows", dir_names[d]);
			json_object_set_new(pod, key, json_pack("{s:I, s:I}", "allowed",
								(json_int_t)k.allowed, "denied",
								(json_int_t)k.denied));
		}
	}
	return json_incref(view);
}

int cli_policy_list(struct cli *c)
{
	struct kx_err err;
	json_t *view = cli_agent_get(c->agent, "/policy", &err), *pod;
	size_t i;

	if (!view || !json_is_array(json_object_get(view, "pods"))) {
		fprintf(stderr, "kxdp: %s\n", view ? "agent: /policy has no pods" : err.msg);
		json_decref(view);
		return 1;
	}
	if (c->json) {
		cli_json_out(list_json(c, view));
		json_decref(view);
		return 0;
	}
	json_array_foreach(json_object_get(view, "pods"), i, pod) {
		struct in_addr a = { 0 };
		struct kx_pol_ep e;

		inet_pton(AF_INET, json_string_value(json_object_get(pod, "ip")) ?: "", &a);
		e = map_sets(c, a.s_addr);
		printf("%s/%s %s\n", json_string_value(json_object_get(pod, "namespace")),
		       json_string_value(json_object_get(pod, "pod")),
		       json_string_value(json_object_get(pod, "ip")));
		for (int d = 0; d < 2; d++)
			print_dir(c, pod, d, e.set[d]);
	}
	if (!json_array_size(json_object_get(view, "pods")))
		printf("no pod of this node known to the agent\n");
	json_decref(view);
	return 0;
}

/* The datapath's verdict of set on peer for proto/port: the admitting row, -1 none. */
static int set_admits(const struct cli *c, uint16_t set, uint32_t peer, uint8_t proto,
		      uint16_t port)
{
	struct kx_pol_peer_key k = { .prefixlen = 64, .set = htonl(set), .addr = peer };
	uint64_t rows;

	if (bpf_map_lookup_elem(c->m.pol_peer, &k, &rows))
		return -1;
	for (int i = 0; i < KX_POL_SET_ROWS; i++) {
		uint32_t idx = set * KX_POL_SET_ROWS + i;
		struct kx_pol_row_val r;

		if (!(rows >> i & 1) || bpf_map_lookup_elem(c->m.pol_rows, &idx, &r))
			continue;
		if ((!r.proto || r.proto == proto) && port >= r.port_lo && port <= r.port_hi)
			return i;
	}
	return -1;
}

/* "SRC DST:PORT[/PROTO]" into addresses, port (host order) and protocol; -1 when invalid. */
static int parse_explain(int argc, char **argv, uint32_t *src, uint32_t *dst, uint16_t *port,
			 uint8_t *proto)
{
	char buf[64], *slash;
	struct in_addr a;

	if (argc != 2 || inet_pton(AF_INET, argv[0], &a) != 1)
		return -1;
	*src = a.s_addr;
	snprintf(buf, sizeof(buf), "%s", argv[1]);
	*proto = IPPROTO_TCP;
	slash = strchr(buf, '/');
	if (slash) {
		*slash++ = '\0';
		if (!strcasecmp(slash, "udp"))
			*proto = IPPROTO_UDP;
		else if (!strcasecmp(slash, "sctp"))
			*proto = IPPROTO_SCTP;
		else if (strcasecmp(slash, "tcp"))
			return -1;
	}
	if (cli_parse_vip(buf, dst, port) || !*port)
		return -1;
	return 0;
}

/* One direction: the datapath's word where the pod is here, the agent's reasons. */
static json_t *explain_dir(const struct cli *c, int d, uint32_t pod, uint32_t peer, uint8_t proto,
			   uint16_t port, json_t *agent)
{
	struct kx_pol_ep e = map_sets(c, pod);
	struct kx_endpoint ep;
	json_t *o = json_object();
	bool here = !kx_endpoint_get(c->m.endpoints, pod, &ep);

	json_object_set_new(o, "here", json_boolean(here));
	if (here) {
		int row = e.set[d] ? set_admits(c, e.set[d], peer, proto, port) : -1;

		json_object_set_new(o, "set", json_integer(e.set[d]));
		json_object_set_new(o, "allowed", json_boolean(!e.set[d] || row >= 0));
		if (row >= 0)
			json_object_set_new(o, "row", json_integer(row));
	}
	if (json_is_object(agent))
		json_object_set(o, "agent", agent);
	return o;
}

/* The text of one direction. */
static void print_explain_dir(int d, const char *who, json_t *o)
{
	json_t *ag = json_object_get(o, "agent"), *n;
	bool here = json_is_true(json_object_get(o, "here"));
	size_t i;

	printf("%s of %s: ", dir_names[d], who);
	if (json_is_true(json_object_get(o, "node")))
		printf("allowed: the node itself always reaches its pods (kubelet probes)");
	else if (ag && !json_is_true(json_object_get(ag, "isolated")))
		printf("not isolated: no policy selects it for %s", dir_names[d]);
	else if (ag && json_is_true(json_object_get(ag, "allowed")))
		printf("allowed by %s, %s rule %lld",
		       json_string_value(json_object_get(ag, "policy")), dir_names[d],
		       (long long)json_integer_value(json_object_get(ag, "rule")));
	else if (ag) {
		printf("denied: isolated by ");
		json_array_foreach(json_object_get(ag, "policies"), i, n)
			printf("%s%s", i ? ", " : "", json_string_value(n));
		printf("; none of their %s rules admits this peer, port and protocol", dir_names[d]);
	} else
		printf("the agent does not know it as a pod");
	if (here && json_is_true(json_object_get(o, "node")))
		printf("\n  datapath here: not judged (tc_to_pod lets the node in)");
	else if (here)
		printf("\n  datapath here: set %lld %s", (long long)json_integer_value(json_object_get(o, "set")),
		       json_is_true(json_object_get(o, "allowed")) ? "admits it" : "denies it");
	else
		printf("\n  datapath: not a pod of this node (its own node judges it)");
	printf("\n");
}

/* Is addr one of this node's (kx_config): its traffic into its pods is never judged. */
static bool from_node(const struct cli *c, uint32_t addr)
{
	struct kx_config cfg;
	uint32_t zero = 0;

	if (bpf_map_lookup_elem(c->m.config, &zero, &cfg))
		return false;
	for (uint32_t i = 0; i < cfg.n_node_addrs && i < KX_NODE_ADDRS; i++)
		if (cfg.node_addrs[i] == addr)
			return true;
	return false;
}

/* One direction's verdict: the datapath's where the pod is here, else the agent's. */
static bool dir_allows(json_t *o)
{
	json_t *a = json_object_get(o, "agent");

	if (json_object_get(o, "allowed"))
		return json_is_true(json_object_get(o, "allowed"));
	return !a || !json_is_true(json_object_get(a, "isolated")) ||
	       json_is_true(json_object_get(a, "allowed"));
}

/* "ns/pod" or the address itself. */
static void who_of(json_t *agent, uint32_t addr, char *out, size_t n)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	if (json_is_object(agent))
		snprintf(out, n, "%s/%s (%s)", json_string_value(json_object_get(agent, "namespace")),
			 json_string_value(json_object_get(agent, "pod")), ip);
	else
		snprintf(out, n, "%s", ip);
}

int cli_policy_explain(struct cli *c)
{
	uint32_t src, dst;
	uint16_t port;
	uint8_t proto;
	char path[200], s_ip[INET_ADDRSTRLEN], d_ip[INET_ADDRSTRLEN], who[2][400];
	struct kx_err err;
	json_t *ag, *out, *dirs[2];
	bool allowed = true;

	if (parse_explain(c->argc, c->argv, &src, &dst, &port, &proto)) {
		fprintf(stderr, "kxdp: usage: policy explain SRC_IP DST_IP:PORT[/tcp|udp|sctp]\n");
		return 2;
	}
	inet_ntop(AF_INET, &src, s_ip, sizeof(s_ip));
	inet_ntop(AF_INET, &dst, d_ip, sizeof(d_ip));
	snprintf(path, sizeof(path), "/policy/explain?src=%s&dst=%s&port=%u&proto=%s", s_ip, d_ip,
		 port, cli_proto(proto));
	for (char *p = path; *p; p++) /* cli_proto is upper case */
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
	ag = cli_agent_get(c->agent, path, &err);
	if (!ag)
		fprintf(stderr, "kxdp: %s: the datapath's verdict alone\n", err.msg);
	dirs[1] = explain_dir(c, 1, src, dst, proto, port, json_object_get(ag, "egress"));
	dirs[0] = explain_dir(c, 0, dst, src, proto, port, json_object_get(ag, "ingress"));
	if (from_node(c, src) && json_is_true(json_object_get(dirs[0], "here"))) {
		json_object_set_new(dirs[0], "allowed", json_true()); /* as tc_to_pod exempts it */
		json_object_set_new(dirs[0], "node", json_true());
	}
	for (int d = 0; d < 2; d++)
		allowed &= dir_allows(dirs[d]);
	if (c->json) {
		out = json_pack("{s:s, s:s, s:i, s:s, s:o, s:o, s:b}", "src", s_ip, "dst", d_ip,
				"port", port, "proto", cli_proto(proto), "egress", dirs[1],
				"ingress", dirs[0], "allowed", allowed);
		cli_json_out(out);
		json_decref(ag);
		return 0;
	}
	who_of(json_object_get(ag, "egress"), src, who[1], sizeof(who[1]));
	who_of(json_object_get(ag, "ingress"), dst, who[0], sizeof(who[0]));
	printf("%s -> %s port %u/%s\n", who[1], who[0], port, cli_proto(proto));
	print_explain_dir(1, who[1], dirs[1]);
	print_explain_dir(0, who[0], dirs[0]);
	printf("verdict: %s\n", allowed ? "allowed" : "denied");
	json_decref(dirs[0]);
	json_decref(dirs[1]);
	json_decref(ag);
	return 0;
}
