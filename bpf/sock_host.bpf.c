// SPDX-License-Identifier: GPL-2.0
/*
 * sock_*: cgroup socket-address hooks for clients in the node's own network
 * namespace (kubelet probes, hostNetwork pods, node processes), which send
 * through no pod veth and so meet no TC program. A connect() or sendto() to
 * ClusterIP:port (or to an ExternalIP, an LB IP or a node port of this node:
 * the same Service reached from inside) is sent to a backend at the socket
 * itself (no per-packet NAT), and recvmsg()/getpeername() give the address
 * asked for back. The node's own sockets are not subject to an LB's source
 * ranges (its address is not known at connect time). cgroup hooks
 * see every network namespace, so each program acts only where its node's
 * namespace cookie matches: several nodes simulated on one machine (or a
 * node's pods in the same cgroup tree) never meet another node's services.
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/lb.h"

#define SOCK_ALLOW 1
#define SOCK_DENY 0

/* Is this socket in the node's own network namespace? */
static __always_inline bool in_node_netns(struct bpf_sock_addr *ctx)
{
	__u32 zero = 0;
	struct kx_config *c = bpf_map_lookup_elem(&kx_config, &zero);

	return c && c->netns_cookie && bpf_get_netns_cookie(ctx) == c->netns_cookie;
}

/* ClusterIP:port of this TCP/UDP socket's destination -> a backend, recorded for the reverse. */
static __always_inline int sock_to_backend(struct bpf_sock_addr *ctx)
{
	struct kx_sock_rev_key rk = {};
	struct kx_sock_rev_val rv = {};
	struct kx_svc_val *svc;
	struct kx_backend *b;
	__u32 backend_id = 0;
	struct pkt p = {};

	if (ctx->protocol != IPPROTO_TCP && ctx->protocol != IPPROTO_UDP)
		return SOCK_ALLOW;
	if (!in_node_netns(ctx))
		return SOCK_ALLOW;
	/* p.saddr.v4 stays 0: the source is not chosen yet at connect(), so sh and mh
	 * send all of the node's own sockets to one backend, as IPVS hashing the
	 * node's address would. */
	p.daddr.v4 = ctx->user_ip4;
	p.dport = (__be16)ctx->user_port;
	p.l4_proto = ctx->protocol;
	svc = svc_lookup_addr(&p, KX_SCOPE_INTERNAL);
	if (!svc && is_known_vip(p.daddr.v4)) { /* a ClusterIP, not this port: refused */
		stat_add(KX_STAT_SOCK_REFUSED, 0);
		bpf_set_retval(-KX_ECONNREFUSED);
		return SOCK_DENY;
	}
	if (!svc)
		return SOCK_ALLOW;
	if (svc->count == 0) { /* as a REJECT: the caller sees ECONNREFUSED at once */
		stat_add(KX_STAT_SOCK_REFUSED, 0);
		bpf_set_retval(-KX_ECONNREFUSED);
		return SOCK_DENY;
	}
	b = lb_pick(svc, &p, &backend_id);
	if (!b) {
		stat_add(KX_STAT_DROP_NO_SLOT, 0);
		return SOCK_ALLOW;
	}
	rk.cookie = bpf_get_socket_cookie(ctx);
	rk.addr = b->addr;
	rk.port = b->port;
	rv.vip = p.daddr.v4;
	rv.vport = p.dport;
	bpf_map_update_elem(&kx_sock_rev, &rk, &rv, BPF_ANY);
	ctx->user_ip4 = b->addr;
	ctx->user_port = b->port;
	stat_add(KX_STAT_SOCK_CONNECT, 0);
	if (ctx->protocol == IPPROTO_TCP) /* a UDP sendmsg is a datagram, not a connection */
		svc_stat(svc->id, false, 0, true);
	return SOCK_ALLOW;
}

/* The peer a socket sees: a backend it was sent to becomes the ClusterIP again. */
static __always_inline int sock_from_backend(struct bpf_sock_addr *ctx)
{
	struct kx_sock_rev_key rk = {};
	struct kx_sock_rev_val *rv;

	if (!in_node_netns(ctx))
		return SOCK_ALLOW;
	rk.cookie = bpf_get_socket_cookie(ctx);
	rk.addr = ctx->user_ip4;
	rk.port = (__be16)ctx->user_port;
	rv = bpf_map_lookup_elem(&kx_sock_rev, &rk);
	if (rv) {
		ctx->user_ip4 = rv->vip;
		ctx->user_port = rv->vport;
	}
	return SOCK_ALLOW;
}

/* connect(): TCP and connected UDP sockets of the node to a ClusterIP. */
SEC("cgroup/connect4")
int sock_connect4(struct bpf_sock_addr *ctx)
{
	return sock_to_backend(ctx);
}

/* sendto()/sendmsg() on an unconnected UDP socket to a ClusterIP. */
SEC("cgroup/sendmsg4")
int sock_sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_to_backend(ctx);
}

/* recvfrom()/recvmsg() on UDP: the answer comes from the ClusterIP, not the backend. */
SEC("cgroup/recvmsg4")
int sock_recvmsg4(struct bpf_sock_addr *ctx)
{
	return sock_from_backend(ctx);
}

/* getpeername(): a connected socket's peer is the ClusterIP it connected to. */
SEC("cgroup/getpeername4")
int sock_getpeername4(struct bpf_sock_addr *ctx)
{
	return sock_from_backend(ctx);
}

char LICENSE[] SEC("license") = "GPL";
