// SPDX-License-Identifier: GPL-2.0
/* kxdp ep list (the brctl show of a bridge-less node) and kxdp route list. */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "cli/cli.h"
#include "lib/netlink.h"

static void mac_str(const __u8 *mac, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		mac[5]);
}

static int ep_row(const struct kx_endpoint *ep, void *ctx)
{
	char ip[INET_ADDRSTRLEN], name[IF_NAMESIZE] = "?", pod[18], host[18];
	json_t *arr = ctx;

	inet_ntop(AF_INET, &ep->addr, ip, sizeof(ip));
	if_indextoname(ep->ifindex, name);
	mac_str(ep->pod_mac, pod);
	mac_str(ep->host_mac, host);
	if (arr)
		json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s, s:s}", "ip", ip,
						     "ifindex", (int)ep->ifindex, "veth", name,
						     "pod_mac", pod, "host_mac", host));
	else
		printf("%-15s %-15s %7u %-17s %-17s\n", ip, name, ep->ifindex, pod, host);
	return 0;
}

int cli_ep_list(struct cli *c)
{
	json_t *arr = c->json ? json_array() : NULL;

	if (!c->json)
		printf("%-15s %-15s %7s %-17s %-17s\n", "pod IP", "host veth", "ifindex", "pod MAC",
		       "host MAC");
	if (kx_endpoint_foreach(c->m.endpoints, ep_row, arr)) {
		fprintf(stderr, "kxdp: map %s: %s\n", KX_MAP_ENDPOINTS, strerror(errno));
		json_decref(arr);
		return 1;
	}
	if (arr)
		cli_json_out(arr);
	return 0;
}

static int route_cmp(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct kx_nl_route *)a)->dst);
	uint32_t y = ntohl(((const struct kx_nl_route *)b)->dst);

	return x < y ? -1 : x > y;
}

/* The pod-CIDR routes kxdp owns (protocol 180) and the node each leads to (kx_nodes). */
int cli_route_list(struct cli *c)
{
	struct kx_err err = { "" };
	struct nl_sock *nl = kx_nl_open(&err);
	struct kx_nl_route *r = NULL;
	json_t *arr = c->json ? json_array() : NULL;
	size_t n = 0;

	if (!nl || kx_nl_routes_list(nl, KX_RTPROT_NODE, &r, &n, &err)) {
		fprintf(stderr, "kxdp: %s\n", err.msg);
		if (nl)
			kx_nl_close(nl);
		json_decref(arr);
		return 1;
	}
	qsort(r, n, sizeof(*r), route_cmp);
	if (!c->json)
		printf("%-18s %-15s %-10s %s\n", "pod CIDR", "via", "dev", "node");
	for (size_t i = 0; i < n; i++) {
		struct kx_node_info ni = { .name = "?" };
		char dst[INET_ADDRSTRLEN], via[INET_ADDRSTRLEN], cidr[32], dev[IF_NAMESIZE] = "?";

		bpf_map_lookup_elem(c->m.nodes, &r[i].gw, &ni);
		inet_ntop(AF_INET, &r[i].dst, dst, sizeof(dst));
		inet_ntop(AF_INET, &r[i].gw, via, sizeof(via));
		if_indextoname((unsigned)r[i].ifindex, dev);
		snprintf(cidr, sizeof(cidr), "%s/%u", dst, r[i].len);
		if (arr)
			json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s}", "pod_cidr", cidr,
							     "via", via, "dev", dev, "node",
							     ni.name));
		else
			printf("%-18s %-15s %-10s %s\n", cidr, via, dev, ni.name);
	}
	if (arr)
		cli_json_out(arr);
	free(r);
	kx_nl_close(nl);
	return 0;
}
