// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/route.h>
#include "lib/netlink.h"

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

int kx_nl_link_set_mac(struct nl_sock *sk, const char *name, const uint8_t mac[6],
		       struct kx_err *err)
{
	struct rtnl_link *link = NULL, *change = rtnl_link_alloc();
	struct nl_addr *ll = nl_addr_build(AF_LLC, mac, 6);
	int e = -NLE_NOMEM;

	if (change && ll) {
		e = rtnl_link_get_kernel(sk, 0, name, &link);
		if (!e) {
			rtnl_link_set_addr(change, ll);
			e = rtnl_link_change(sk, link, change, 0);
			rtnl_link_put(link);
		}
	}
	rtnl_link_put(change);
	nl_addr_put(ll);
	if (e) {
		kx_errf(err, "set link %s address %02x:%02x:%02x:%02x:%02x:%02x: %s", name, mac[0],
			mac[1], mac[2], mac[3], mac[4], mac[5], nl_geterror(e));
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

/* Fill l from an address object of the cache (its link's name and MTU too). */
static int link_fill(struct nl_sock *sk, int ifindex, struct kx_link *l, struct kx_err *err)
{
	struct rtnl_link *link = NULL;
	int e = rtnl_link_get_kernel(sk, ifindex, NULL, &link);

	if (e) {
		kx_errf(err, "link %d: %s", ifindex, nl_geterror(e));
		return -1;
	}
	l->ifindex = ifindex;
	snprintf(l->name, sizeof(l->name), "%s", rtnl_link_get_name(link));
	snprintf(l->kind, sizeof(l->kind), "%s", rtnl_link_get_type(link) ?: "");
	l->mtu = (int)rtnl_link_get_mtu(link);
	rtnl_link_put(link);
	return 0;
}

struct addr_match {
	uint32_t want; /* address to find, or 0: first IPv4 of ifindex */
	int ifindex;
	struct kx_link *out;
	bool found;
};

static void addr_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct addr_match *m = arg;
	struct nl_addr *local = rtnl_addr_get_local(a);
	uint32_t v;

	if (m->found || rtnl_addr_get_family(a) != AF_INET || !local ||
	    nl_addr_get_len(local) != 4)
		return;
	memcpy(&v, nl_addr_get_binary_addr(local), 4);
	if (m->want ? v != m->want : rtnl_addr_get_ifindex(a) != m->ifindex)
		return;
	m->found = true;
	m->out->ifindex = rtnl_addr_get_ifindex(a);
	m->out->addr = v;
	m->out->prefixlen = (uint8_t)rtnl_addr_get_prefixlen(a);
}

static int addr_find(struct nl_sock *sk, struct addr_match *m, struct kx_err *err)
{
	struct nl_cache *cache = NULL;
	int e = rtnl_addr_alloc_cache(sk, &cache);

	if (e) {
		kx_errf(err, "list addresses: %s", nl_geterror(e));
		return -1;
	}
	nl_cache_foreach(cache, addr_visit, m);
	nl_cache_free(cache);
	return 0;
}

int kx_nl_link_by_addr(struct nl_sock *sk, uint32_t addr, struct kx_link *l, struct kx_err *err)
{
	struct addr_match m = { .want = addr, .out = l };

	memset(l, 0, sizeof(*l));
	if (addr_find(sk, &m, err))
		return -1;
	if (!m.found)
		return -ENODEV;
	return link_fill(sk, l->ifindex, l, err);
}

int kx_nl_link_by_name(struct nl_sock *sk, const char *name, struct kx_link *l,
		       struct kx_err *err)
{
	struct addr_match m = { .out = l };
	int ifindex;

	memset(l, 0, sizeof(*l));
	if (kx_nl_link_info(sk, name, &ifindex, NULL, NULL, err)) {
		if (!err || !err->msg[0])
			kx_errf(err, "uplink %s: no such interface", name);
		return -ENODEV;
	}
	m.ifindex = ifindex;
	if (addr_find(sk, &m, err))
		return -1;
	l->ifindex = ifindex;
	return link_fill(sk, ifindex, l, err);
}

struct subnet_match {
	int ifindex;
	uint32_t gw;
	bool on;
};

static void subnet_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct subnet_match *m = arg;
	struct nl_addr *local = rtnl_addr_get_local(a);
	int len = rtnl_addr_get_prefixlen(a);
	uint32_t v, mask;

	if (rtnl_addr_get_family(a) != AF_INET || rtnl_addr_get_ifindex(a) != m->ifindex ||
	    !local || nl_addr_get_len(local) != 4 || len <= 0 || len > 32)
		return;
	memcpy(&v, nl_addr_get_binary_addr(local), 4);
	mask = htonl(0xffffffffu << (32 - len));
	if ((v & mask) == (m->gw & mask))
		m->on = true;
}

bool kx_nl_on_link_subnet(struct nl_sock *sk, int ifindex, uint32_t gw)
{
	struct subnet_match m = { ifindex, gw, false };
	struct nl_cache *cache = NULL;

	if (rtnl_addr_alloc_cache(sk, &cache))
		return false;
	nl_cache_foreach(cache, subnet_visit, &m);
	nl_cache_free(cache);
	return m.on;
}

/* What a main-table IPv4 route of the kernel says, for the sync below. */
struct seen_route {
	uint32_t dst;
	uint8_t len;
	uint8_t proto;
	uint32_t priority; /* metric: kxdp's routes have 0 */
	uint32_t gw;
	int ifindex;
};

struct route_list {
	struct seen_route *r;
	size_t n, cap;
};

static void route_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_route *r = (struct rtnl_route *)obj;
	struct route_list *l = arg;
	struct nl_addr *dst = rtnl_route_get_dst(r);
	struct rtnl_nexthop *nh;
	struct seen_route s = { 0 };

	if (rtnl_route_get_family(r) != AF_INET || rtnl_route_get_table(r) != RT_TABLE_MAIN ||
	    rtnl_route_get_type(r) != RTN_UNICAST || !dst)
		return;
	if (nl_addr_get_len(dst) == 4)
		memcpy(&s.dst, nl_addr_get_binary_addr(dst), 4);
	s.len = (uint8_t)nl_addr_get_prefixlen(dst);
	s.proto = rtnl_route_get_protocol(r);
	s.priority = rtnl_route_get_priority(r);
	if (rtnl_route_get_nnexthops(r) == 1) {
		nh = rtnl_route_nexthop_n(r, 0);
		s.ifindex = rtnl_route_nh_get_ifindex(nh);
		if (rtnl_route_nh_get_gateway(nh) && nl_addr_get_len(rtnl_route_nh_get_gateway(nh)) == 4)
			memcpy(&s.gw, nl_addr_get_binary_addr(rtnl_route_nh_get_gateway(nh)), 4);
	}
	if (l->n == l->cap) {
		void *p = realloc(l->r, (l->cap = l->cap ? l->cap * 2 : 32) * sizeof(*l->r));

		if (!p)
			return;
		l->r = p;
	}
	l->r[l->n++] = s;
}

static int route_del(struct nl_sock *sk, const struct seen_route *s, struct kx_err *err)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct nl_addr *d = nl_ip4(s->dst, s->len);
	char ip[INET_ADDRSTRLEN];
	int e = -NLE_NOMEM;

	if (r && d) {
		rtnl_route_set_family(r, AF_INET);
		rtnl_route_set_dst(r, d);
		rtnl_route_set_table(r, RT_TABLE_MAIN);
		rtnl_route_set_protocol(r, s->proto);
		rtnl_route_set_scope(r, RT_SCOPE_NOWHERE);
		e = rtnl_route_delete(sk, r, 0);
	}
	if (d)
		nl_addr_put(d);
	if (r)
		rtnl_route_put(r);
	if (e && e != -NLE_OBJ_NOTFOUND) {
		inet_ntop(AF_INET, &s->dst, ip, sizeof(ip));
		kx_errf(err, "delete route %s/%u: %s", ip, s->len, nl_geterror(e));
		return -1;
	}
	return 0;
}

int kx_nl_routes_list(struct nl_sock *sk, uint8_t proto, struct kx_nl_route **out, size_t *n,
		      struct kx_err *err)
{
	struct route_list seen = { 0 };
	struct nl_cache *cache = NULL;
	int e = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);

	*out = NULL;
	*n = 0;
	if (e) {
		kx_errf(err, "list routes: %s", nl_geterror(e));
		return -1;
	}
	nl_cache_foreach(cache, route_visit, &seen);
	nl_cache_free(cache);
	*out = calloc(seen.n + 1, sizeof(**out));
	if (!*out) {
		free(seen.r);
		kx_errf(err, "list routes: out of memory");
		return -1;
	}
	for (size_t i = 0; i < seen.n; i++)
		if (seen.r[i].proto == proto)
			(*out)[(*n)++] = (struct kx_nl_route){ seen.r[i].dst, seen.r[i].len,
							       seen.r[i].gw, seen.r[i].ifindex };
	free(seen.r);
	return 0;
}

int kx_nl_routes_sync(struct nl_sock *sk, uint8_t proto, const struct kx_nl_route *want,
		      size_t n, struct kx_route_stats *st, struct kx_err *err)
{
	struct route_list seen = { 0 };
	struct nl_cache *cache = NULL;
	struct kx_err e1 = { "" };
	size_t i, j;
	int ret = 0, e;

	memset(st, 0, sizeof(*st));
	e = rtnl_route_alloc_cache(sk, AF_INET, 0, &cache);
	if (e) {
		kx_errf(err, "list routes: %s", nl_geterror(e));
		return -1;
	}
	nl_cache_foreach(cache, route_visit, &seen);
	nl_cache_free(cache);

	for (i = 0; i < n; i++) {
		const struct kx_nl_route *w = &want[i];
		bool same = false, ours = false, foreign = false;

		for (j = 0; j < seen.n; j++) {
			const struct seen_route *s = &seen.r[j];

			if (s->dst != w->dst || s->len != w->len || s->priority != 0)
				continue; /* another metric coexists with ours */
			if (s->proto != proto) {
				foreign = true; /* replacing it would take it over */
				continue;
			}
			ours = true;
			same |= s->gw == w->gw && s->ifindex == w->ifindex;
		}
		if (same)
			continue;
		if (foreign && !ours) {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &w->dst, ip, sizeof(ip));
			pr_warn("route %s/%u exists and is not kxdp's: left alone", ip, w->len);
			st->foreign++;
			continue;
		}
		if (kx_nl_route_add(sk, w->dst, w->len, w->gw, w->ifindex, proto, &e1)) {
			if (!ret)
				*err = e1;
			ret = -1;
			continue;
		}
		if (ours)
			st->replaced++;
		else
			st->added++;
	}
	for (j = 0; j < seen.n; j++) {
		const struct seen_route *s = &seen.r[j];
		bool wanted = false;

		if (s->proto != proto)
			continue;
		for (i = 0; i < n && !wanted; i++)
			wanted = want[i].dst == s->dst && want[i].len == s->len;
		if (wanted)
			continue;
		if (route_del(sk, s, &e1)) {
			if (!ret)
				*err = e1;
			ret = -1;
			continue;
		}
		st->removed++;
	}
	free(seen.r);
	return ret;
}

struct addr_list {
	uint32_t *out;
	size_t max, n;
};

static void addr_list_visit(struct nl_object *obj, void *arg)
{
	struct rtnl_addr *a = (struct rtnl_addr *)obj;
	struct nl_addr *local = rtnl_addr_get_local(a);
	struct addr_list *l = arg;
	uint32_t v;

	if (rtnl_addr_get_family(a) != AF_INET || !local || nl_addr_get_len(local) != 4 ||
	    rtnl_addr_get_scope(a) == RT_SCOPE_HOST || l->n == l->max)
		return;
	memcpy(&v, nl_addr_get_binary_addr(local), 4);
	l->out[l->n++] = v;
}

int kx_nl_addrs_v4(struct nl_sock *sk, uint32_t *out, size_t max, struct kx_err *err)
{
	struct addr_list l = { out, max, 0 };
	struct nl_cache *cache;
	int e = rtnl_addr_alloc_cache(sk, &cache);

	if (e) {
		kx_errf(err, "list addresses: %s", nl_geterror(e));
		return -1;
	}
	nl_cache_foreach(cache, addr_list_visit, &l);
	nl_cache_free(cache);
	return (int)l.n;
}

/*
 * A neighbour entry the kernel keeps resolved by itself (NTF_EXT_MANAGED,
 * Linux 5.16): xdp_netdev's FIB lookups towards other nodes find a MAC
 * without waiting for traffic through the stack to resolve one. libnl 3.7
 * has no field for the extended flags, so the message is built here.
 */
int kx_nl_neigh_managed(struct nl_sock *sk, int ifindex, uint32_t addr, bool add,
			struct kx_err *err)
{
	struct ndmsg nd = { .ndm_family = AF_INET, .ndm_ifindex = ifindex,
			    .ndm_state = NUD_NONE };
	struct nl_msg *msg;
	char ip[INET_ADDRSTRLEN];
	int e = -NLE_NOMEM;

	msg = nlmsg_alloc_simple(add ? RTM_NEWNEIGH : RTM_DELNEIGH,
				 add ? NLM_F_CREATE | NLM_F_REPLACE : 0);
	if (msg && !nlmsg_append(msg, &nd, sizeof(nd), NLMSG_ALIGNTO) &&
	    !nla_put(msg, NDA_DST, sizeof(addr), &addr) &&
	    (!add || !nla_put_u32(msg, NDA_FLAGS_EXT, NTF_EXT_MANAGED))) {
		e = nl_send_auto(sk, msg);
		if (e >= 0)
			e = nl_wait_for_ack(sk);
	}
	nlmsg_free(msg);
	if (e < 0 && !(!add && e == -NLE_OBJ_NOTFOUND)) {
		inet_ntop(AF_INET, &addr, ip, sizeof(ip));
		kx_errf(err, "%s managed neighbour %s on ifindex %d: %s", add ? "add" : "delete",
			ip, ifindex, nl_geterror(e));
		return -1;
	}
	return 0;
}

struct count_match {
	int ifindex;
	int n;
};

static void port_visit(struct nl_object *obj, void *arg)
{
	struct count_match *m = arg;

	if (rtnl_link_get_master((struct rtnl_link *)obj) == m->ifindex)
		m->n++;
}

int kx_nl_link_ports(struct nl_sock *sk, int ifindex)
{
	struct count_match m = { ifindex, 0 };
	struct nl_cache *cache;

	if (rtnl_link_alloc_cache(sk, AF_UNSPEC, &cache))
		return -1;
	nl_cache_foreach(cache, port_visit, &m);
	nl_cache_free(cache);
	return m.n;
}

static void addr_count_visit(struct nl_object *obj, void *arg)
{
	struct count_match *m = arg;
	struct rtnl_addr *a = (struct rtnl_addr *)obj;

	if (rtnl_addr_get_ifindex(a) == m->ifindex && rtnl_addr_get_family(a) == AF_INET)
		m->n++;
}

int kx_nl_link_addrs(struct nl_sock *sk, int ifindex)
{
	struct count_match m = { ifindex, 0 };
	struct nl_cache *cache;

	if (rtnl_addr_alloc_cache(sk, &cache))
		return -1;
	nl_cache_foreach(cache, addr_count_visit, &m);
	nl_cache_free(cache);
	return m.n;
}
