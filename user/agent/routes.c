// SPDX-License-Identifier: GPL-2.0
/* Routes, managed neighbours and kx_nodes entries towards the other nodes' pods. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "agent/agent.h"

/*
 * Every other node's IP gets a neighbour entry the kernel keeps resolved, so
 * xdp_netdev can send node-port traffic to a backend there at once; entries
 * of nodes gone are removed.
 */
static void sync_neighbours(struct agent *a, const struct kx_nl_route *want, size_t n,
			    int ifindex)
{
	uint32_t *now = calloc(n + 1, sizeof(*now));
	struct kx_err err = { "" };
	size_t i, j, added = 0;

	if (!now)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < a->n_neighs && a->neigh_ifindex == ifindex; j++)
			if (a->neighs[j] == want[i].gw)
				break;
		if (j == a->n_neighs || a->neigh_ifindex != ifindex) {
			if (kx_nl_neigh_managed(a->nl, ifindex, want[i].gw, true, &err)) {
				pr_warn("%s", err.msg);
				continue;
			}
			added++;
		}
		now[i] = want[i].gw;
	}
	for (j = 0; j < a->n_neighs; j++) {
		for (i = 0; i < n && now[i] != a->neighs[j]; i++)
			;
		if (i == n && a->neighs[j] && kx_nl_neigh_managed(a->nl, a->neigh_ifindex, a->neighs[j], false, &err))
			pr_warn("%s", err.msg);
	}
	if (added)
		pr_info("managed neighbour entries for %zu other node%s", added, added == 1 ? "" : "s");
	free(a->neighs);
	a->neighs = now;
	a->n_neighs = n;
	a->neigh_ifindex = ifindex;
}
/* kx_nodes: every other node's IP -> name and pod CIDR, for `kxdp route list`. */
static void sync_node_names(struct agent *a, const struct kx_table *t)
{
	uint32_t k, prev;
	bool first = true;
	size_t i;

	for (i = 0; i < t->n_routes; i++) {
		struct kx_node_info ni = { .pod_cidr = t->routes[i].dst,
					   .pod_cidr_len = t->routes[i].len }, cur;
		char via[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];

		snprintf(ni.name, sizeof(ni.name), "%.63s", t->routes[i].node);
		if (!bpf_map_lookup_elem(a->maps.nodes, &t->routes[i].via, &cur) &&
		    !memcmp(&cur, &ni, sizeof(ni)))
			continue;
		if (bpf_map_update_elem(a->maps.nodes, &t->routes[i].via, &ni, BPF_ANY)) {
			pr_warn("map %s: node %s: %s", KX_MAP_NODES, t->routes[i].node,
				strerror(errno));
			continue;
		}
		inet_ntop(AF_INET, &t->routes[i].via, via, sizeof(via));
		inet_ntop(AF_INET, &t->routes[i].dst, dst, sizeof(dst));
		pr_info("node %s: its pods %s/%u are reached via %s", t->routes[i].node, dst,
			t->routes[i].len, via);
	}
	while (!bpf_map_get_next_key(a->maps.nodes, first ? NULL : &prev, &k)) {
		struct kx_node_info gone;

		for (i = 0; i < t->n_routes && t->routes[i].via != k; i++)
			;
		if (i == t->n_routes && !bpf_map_lookup_elem(a->maps.nodes, &k, &gone) &&
		    !bpf_map_delete_elem(a->maps.nodes, &k)) {
			pr_info("node %s: gone, no more route to its pods", gone.name);
			first = true; /* deleted under the walk: start over */
			continue;
		}
		prev = k;
		first = false;
	}
}
/* Routes to other nodes' pods; a node off the uplink's subnet is reported. */
void agent_sync_routes(struct agent *a, const struct kx_table *t, const struct kx_link *up)
{
	struct kx_nl_route *want = calloc(t->n_routes + 1, sizeof(*want));
	struct kx_route_stats st;
	struct kx_err err = { "" };
	size_t n = 0;

	if (!want) {
		pr_warn("routes: out of memory");
		return;
	}
	for (size_t i = 0; i < t->n_routes; i++) {
		const struct kx_route_desc *r = &t->routes[i];
		char via[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN], own[INET_ADDRSTRLEN];

		if (!kx_nl_on_link_subnet(a->nl, up->ifindex, r->via)) {
			inet_ntop(AF_INET, &r->via, via, sizeof(via));
			inet_ntop(AF_INET, &r->dst, dst, sizeof(dst));
			inet_ntop(AF_INET, &up->addr, own, sizeof(own));
			pr_warn("node %s: InternalIP %s is not on uplink %s's subnet (%s/%u): its pods %s/%u are unreachable from here",
				r->node, via, up->name, own, up->prefixlen, dst, r->len);
			continue;
		}
		want[n++] = (struct kx_nl_route){ r->dst, r->len, r->via, up->ifindex };
	}
	if (kx_nl_routes_sync(a->nl, KX_RTPROT_NODE, want, n, &st, &err))
		pr_warn("routes: %s", err.msg);
	if (st.added || st.replaced || st.removed)
		pr_info("routes to other nodes' pods: %zu in place (+%zu ~%zu -%zu)", n,
			st.added, st.replaced, st.removed);
	sync_neighbours(a, want, n, up->ifindex);
	sync_node_names(a, t);
	free(want);
}
