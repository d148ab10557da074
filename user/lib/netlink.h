/* SPDX-License-Identifier: GPL-2.0 */
/* Links, addresses, routes and network namespaces through libnl-route-3. */
#ifndef KX_NETLINK_H
#define KX_NETLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <netlink/netlink.h>
#include "lib/log.h"

/*
 * Route protocol numbers that mark kxdp's own routes, so it only ever
 * changes those (`ip route show proto 180`): the agent's routes to other
 * nodes' pod CIDRs, and the CNI plugin's /32 routes to this node's pods.
 */
#define KX_RTPROT_NODE 180
#define KX_RTPROT_POD 181

struct nl_sock *kx_nl_open(struct kx_err *err);
void kx_nl_close(struct nl_sock *sk);

/* Create veth host<->peer, the peer moved into netns_fd; both with mtu. */
int kx_nl_veth_create(struct nl_sock *sk, const char *host, const char *peer, int netns_fd,
		      int mtu, struct kx_err *err);
/* ifindex and MAC of a link; returns -ENODEV (no message) when it does not exist. */
int kx_nl_link_info(struct nl_sock *sk, const char *name, int *ifindex, uint8_t mac[6],
		    bool *up, struct kx_err *err);
int kx_nl_link_up(struct nl_sock *sk, const char *name, struct kx_err *err);
/* Delete a link by name; 0 when it is already gone. */
int kx_nl_link_del(struct nl_sock *sk, const char *name, struct kx_err *err);
/* Give a link another MAC address (a down link: the pod side before it is up). */
int kx_nl_link_set_mac(struct nl_sock *sk, const char *name, const uint8_t mac[6],
		       struct kx_err *err);
int kx_nl_addr_add(struct nl_sock *sk, int ifindex, uint32_t addr, int prefixlen,
		   struct kx_err *err);
/* Route dst/len, via gw (0: on-link) out of ifindex, tagged with proto. */
int kx_nl_route_add(struct nl_sock *sk, uint32_t dst, int len, uint32_t gw, int ifindex,
		    uint8_t proto, struct kx_err *err);

/* ifindex, MTU and the first IPv4 address/prefix of a link (by ifindex or name). */
struct kx_link {
	int ifindex;
	char name[16];
	char kind[16]; /* IFLA_INFO_KIND: "veth", "bridge", ... ; "" for a plain NIC */
	int mtu;
	uint32_t addr; /* network order, 0 = none */
	uint8_t prefixlen;
};

/* How many links have ifindex as their master (a bridge's ports); -1 on error. */
int kx_nl_link_ports(struct nl_sock *sk, int ifindex);
/* How many IPv4 addresses ifindex holds; -1 on error. */
int kx_nl_link_addrs(struct nl_sock *sk, int ifindex);

/* The link that holds addr; -ENODEV (no message) if none does. */
int kx_nl_link_by_addr(struct nl_sock *sk, uint32_t addr, struct kx_link *l, struct kx_err *err);
/* The link called name; -ENODEV with a message if there is none. */
int kx_nl_link_by_name(struct nl_sock *sk, const char *name, struct kx_link *l,
		       struct kx_err *err);
/* Is gw on one of the IPv4 subnets of ifindex? */
/* Add (or delete) a kernel-managed neighbour entry for addr on ifindex. */
int kx_nl_neigh_managed(struct nl_sock *sk, int ifindex, uint32_t addr, bool add,
			struct kx_err *err);
/* The IPv4 addresses of this netns, loopback ones aside (at most max); count or -1. */
int kx_nl_addrs_v4(struct nl_sock *sk, uint32_t *out, size_t max, struct kx_err *err);
bool kx_nl_on_link_subnet(struct nl_sock *sk, int ifindex, uint32_t gw);

/* A route kxdp wants in the main table: dst/len via gw out of ifindex. */
struct kx_nl_route {
	uint32_t dst;
	uint8_t len;
	uint32_t gw;
	int ifindex;
};

struct kx_route_stats {
	size_t added, replaced, removed, foreign;
};

/* The main table's IPv4 unicast routes of protocol proto (malloc'd, *n of them). */
int kx_nl_routes_list(struct nl_sock *sk, uint8_t proto, struct kx_nl_route **out, size_t *n,
		      struct kx_err *err);
/*
 * Make the main table's routes of protocol proto exactly want[0..n): add or
 * replace those that differ, delete the others of that protocol. A
 * destination held at metric 0 by a route of another protocol is left alone
 * and counted in foreign (routes at other metrics coexist with kxdp's). Returns 0 or -1 with err naming the first failure.
 */
int kx_nl_routes_sync(struct nl_sock *sk, uint8_t proto, const struct kx_nl_route *want,
		      size_t n, struct kx_route_stats *st, struct kx_err *err);

/* Switch this thread into the netns of fd; *back keeps the way home. */
int kx_netns_enter(int fd, int *back, struct kx_err *err);
void kx_netns_leave(int back);

#endif /* KX_NETLINK_H */
