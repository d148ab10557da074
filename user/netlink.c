// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <string.h>
#include <unistd.h>
#include <linux/rtnetlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include "netlink.h"

struct nl_sock *kx_nl_open(struct kx_err *err)
{
	struct nl_sock *sk = nl_socket_alloc();
	int e;

	if (!sk) {
		kx_errf(err, "netlink: out of memory");
		return NULL;
	}
	e = nl_connect(sk, NETLINK_ROUTE);
	if (e) {
		kx_errf(err, "netlink: connect: %s", nl_geterror(e));
		nl_socket_free(sk);
		return NULL;
	}
	return sk;
}

void kx_nl_close(struct nl_sock *sk)
{
	if (sk)
		nl_socket_free(sk);
}

int kx_nl_veth_create(struct nl_sock *sk, const char *host, const char *peer, int netns_fd,
		      int mtu, struct kx_err *err)
{
	struct rtnl_link *link = rtnl_link_veth_alloc(), *p;
	int e;

	if (!link) {
		kx_errf(err, "veth %s: out of memory", host);
		return -ENOMEM;
	}
	p = rtnl_link_veth_get_peer(link);
	rtnl_link_set_name(link, host);
	rtnl_link_set_mtu(link, mtu);
	rtnl_link_set_name(p, peer);
	rtnl_link_set_mtu(p, mtu);
	rtnl_link_set_ns_fd(p, netns_fd);
	e = rtnl_link_add(sk, link, NLM_F_CREATE | NLM_F_EXCL);
	rtnl_link_put(p);
	rtnl_link_veth_release(link);
	if (e) {
		kx_errf(err, "create veth %s (peer %s in the pod): %s", host, peer, nl_geterror(e));
		return -1;
	}
	return 0;
}

int kx_nl_link_info(struct nl_sock *sk, const char *name, int *ifindex, uint8_t mac[6],
		    bool *up, struct kx_err *err)
{
	struct rtnl_link *link = NULL;
	struct nl_addr *ll;
	int e = rtnl_link_get_kernel(sk, 0, name, &link);

	if (e == -NLE_OBJ_NOTFOUND || e == -NLE_NODEV)
		return -ENODEV;
	if (e) {
		kx_errf(err, "link %s: %s", name, nl_geterror(e));
		return -1;
	}
	if (ifindex)
		*ifindex = rtnl_link_get_ifindex(link);
	if (up)
		*up = rtnl_link_get_flags(link) & IFF_UP;
	ll = rtnl_link_get_addr(link);
	if (mac) {
		memset(mac, 0, 6);
		if (ll && nl_addr_get_len(ll) == 6)
			memcpy(mac, nl_addr_get_binary_addr(ll), 6);
	}
	rtnl_link_put(link);
	return 0;
}

int kx_nl_link_up(struct nl_sock *sk, const char *name, struct kx_err *err)
{
	struct rtnl_link *link = NULL, *change = rtnl_link_alloc();
	int e;

	if (!change) {
		kx_errf(err, "link %s: out of memory", name);
		return -1;
	}
	e = rtnl_link_get_kernel(sk, 0, name, &link);
	if (!e) {
		rtnl_link_set_flags(change, IFF_UP);
		e = rtnl_link_change(sk, link, change, 0);
		rtnl_link_put(link);
	}
	rtnl_link_put(change);
	if (e) {
		kx_errf(err, "set link %s up: %s", name, nl_geterror(e));
		return -1;
	}
	return 0;
}

int kx_nl_link_del(struct nl_sock *sk, const char *name, struct kx_err *err)
{
	struct rtnl_link *link = rtnl_link_alloc();
	int e;

	if (!link) {
		kx_errf(err, "link %s: out of memory", name);
		return -1;
	}
	rtnl_link_set_name(link, name);
	e = rtnl_link_delete(sk, link);
	rtnl_link_put(link);
	if (e && e != -NLE_OBJ_NOTFOUND && e != -NLE_NODEV) {
		kx_errf(err, "delete link %s: %s", name, nl_geterror(e));
		return -1;
	}
	return 0;
}

static struct nl_addr *nl_ip4(uint32_t addr, int len)
{
	struct nl_addr *a = nl_addr_build(AF_INET, &addr, sizeof(addr));

	if (a)
		nl_addr_set_prefixlen(a, len);
	return a;
}

int kx_nl_addr_add(struct nl_sock *sk, int ifindex, uint32_t addr, int prefixlen,
		   struct kx_err *err)
{
	struct rtnl_addr *ra = rtnl_addr_alloc();
	struct nl_addr *local = nl_ip4(addr, prefixlen);
	char ip[INET_ADDRSTRLEN];
	int e = -NLE_NOMEM;

	if (ra && local) {
		rtnl_addr_set_ifindex(ra, ifindex);
		rtnl_addr_set_local(ra, local);
		e = rtnl_addr_add(sk, ra, 0);
	}
	if (local)
		nl_addr_put(local);
	if (ra)
		rtnl_addr_put(ra);
	if (e) {
		inet_ntop(AF_INET, &addr, ip, sizeof(ip));
		kx_errf(err, "add address %s/%d on ifindex %d: %s", ip, prefixlen, ifindex,
			nl_geterror(e));
		return -1;
	}
	return 0;
}

int kx_nl_route_add(struct nl_sock *sk, uint32_t dst, int len, uint32_t gw, int ifindex,
		    uint8_t proto, struct kx_err *err)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *d = nl_ip4(dst, len), *g = gw ? nl_ip4(gw, 32) : NULL;
	char ip[INET_ADDRSTRLEN];
	int e = -NLE_NOMEM;

	if (r && nh && d && (!gw || g)) {
		rtnl_route_set_family(r, AF_INET);
		rtnl_route_set_dst(r, d);
		rtnl_route_set_table(r, RT_TABLE_MAIN);
		rtnl_route_set_protocol(r, proto);
		rtnl_route_set_scope(r, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
		rtnl_route_nh_set_ifindex(nh, ifindex);
		if (g)
			rtnl_route_nh_set_gateway(nh, g);
		rtnl_route_add_nexthop(r, nh);
		nh = NULL; /* owned by the route now */
		e = rtnl_route_add(sk, r, NLM_F_CREATE | NLM_F_REPLACE);
	}
	if (nh)
		rtnl_route_nh_free(nh);
	if (d)
		nl_addr_put(d);
	if (g)
		nl_addr_put(g);
	if (r)
		rtnl_route_put(r);
	if (e) {
		inet_ntop(AF_INET, &dst, ip, sizeof(ip));
		kx_errf(err, "add route %s/%d dev ifindex %d: %s", ip, len, ifindex,
			nl_geterror(e));
		return -1;
	}
	return 0;
}

int kx_netns_enter(int fd, int *back, struct kx_err *err)
{
	*back = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*back < 0) {
		kx_errf(err, "open own netns: %s", strerror(errno));
		return -1;
	}
	if (setns(fd, CLONE_NEWNET)) {
		kx_errf(err, "enter netns: %s", strerror(errno));
		close(*back);
		*back = -1;
		return -1;
	}
	return 0;
}

void kx_netns_leave(int back)
{
	if (back < 0)
		return;
	if (setns(back, CLONE_NEWNET))
		pr_warn("return to own netns: %s", strerror(errno));
	close(back);
}
