// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_netdev: XDP on the node's uplink, the first hook a frame from the
 * network meets. It serves external traffic on its own: node ports,
 * ExternalIPs and LoadBalancer IPs. To a backend on this node: DNAT, then
 * XDP_PASS (tc_netdev hands it to the pod); to a backend on another node
 * (policy Cluster): DNAT plus SNAT to the node's IP and out again with
 * XDP_TX, and that backend's replies are translated back here. Pod and
 * ClusterIP traffic passes untouched: its reverse NAT and delivery into pods
 * need TC (tc_netdev), where bpf_redirect_peer exists and the skb's checksum
 * state is known.
 */
#define KX_CTX_XDP
#include "lib/common.h"
#include "lib/ctx.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/config.h"
#include "lib/ct.h"
#include "lib/ct_apply.h"
#include "lib/lb.h"
#include "lib/fib.h"

/*
 * Is ct an entry this program applies? The forward entries of external flows,
 * and the reply entries of SNATed ones (their backend is on another node); a
 * local backend's replies leave through its pod's tc_from_pod instead.
 */
static __always_inline bool ext_entry(const struct kx_ct_val *ct)
{
	if (!(ct->flags & KX_CT_F_EXTERNAL))
		return false;
	return ct->dir == KX_CT_FORWARD || (ct->flags & KX_CT_F_SNAT);
}

/*
 * Does a packet of entry ct leave by the uplink again once rewritten? The
 * replies of a remote backend (they reach the uplink only), and the forward
 * packets SNATed to the node (the source becomes another address than the
 * client's: a clash on a local backend changes only the port).
 */
static __always_inline bool ext_out_again(const struct kx_ct_val *ct, __be32 client)
{
	if (!(ct->flags & KX_CT_F_SNAT))
		return false;
	return ct->dir == KX_CT_REPLY || ct->nat2_addr != client;
}

/* A packet of a known external flow: the rewrite its entry says, then on its way. */
static __always_inline int ext_established(struct xdp_md *ctx, struct pkt *p,
					   struct kx_ct_val *ct)
{
	bool out_again = ext_out_again(ct, p->saddr.v4);

	if (ct_apply(ctx, p, ct))
		return drop(ctx, KX_STAT_DROP_REWRITE);
	return out_again ? fib_forward(ctx, p) : XDP_PASS;
}

/* The conntrack entries of a new external flow from p to backend b: 0 or a drop reason. */
static __always_inline __u32 ext_flow_entries(const struct pkt *p, const struct kx_config *c,
					      const struct kx_svc_val *svc,
					      const struct kx_backend *b, __u32 backend_id,
					      struct kx_ct_val *fwd)
{
	/* Here: DNAT only, the client's address kept; tc_netdev delivers. */
	if ((svc->flags & KX_SVC_F_LOCAL) || endpoint_lookup(b->addr) || is_node_addr(c, b->addr))
		return ct_create(p, svc->id, backend_id, b, KX_CT_F_EXTERNAL, fwd) ?
			       KX_STAT_DROP_CT_FULL : 0;
	/* On another node: SNAT to this node, so the reply comes back through here. */
	if (ct_create_snat(p, svc->id, backend_id, b, c->node_ip, KX_CT_F_EXTERNAL, fwd))
		return KX_STAT_DROP_NO_SNAT_PORT;
	return 0;
}

/* The first packet of an external flow: policy checks, backend, conntrack, NAT. */
static __always_inline int ext_new_flow(struct xdp_md *ctx, struct pkt *p,
					const struct kx_config *c, const struct kx_svc_val *svc)
{
	__be32 client = p->saddr.v4;
	struct kx_ct_val fwd;
	struct kx_backend *b;
	__u32 backend_id = 0;
	__u32 why;

	if ((svc->flags & KX_SVC_F_SRC_RANGES) && !src_allowed(svc->id, p->saddr.v4))
		return drop(ctx, KX_STAT_DROP_SRC_RANGE);
	if (svc->count == 0) {
		if (svc->flags & KX_SVC_F_LOCAL) /* as kube-proxy: no local endpoint, dropped */
			return drop(ctx, KX_STAT_DROP_NO_LOCAL);
		/* a node address: the node's stack refuses it; an ExternalIP or
		 * LB IP: tc_netdev answers ICMP port unreachable */
		stat_count(ctx, KX_STAT_XDP_PASS);
		return XDP_PASS;
	}
	b = lb_pick(svc, p, &backend_id);
	if (!b)
		return drop(ctx, KX_STAT_DROP_NO_SLOT);
	why = ext_flow_entries(p, c, svc, b, backend_id, &fwd);
	if (why)
		return drop(ctx, why);
	if (ct_nat(ctx, p, &fwd))
		return drop(ctx, KX_STAT_DROP_REWRITE);
	stat_count(ctx, KX_STAT_EXT_NEW);
	svc_stat(svc->id, false, ctx_len(ctx), true);
	return ext_out_again(&fwd, client) ? fib_forward(ctx, p) : XDP_PASS;
}

/* Frames from other nodes and the outside world arrive here first. */
SEC("xdp")
int xdp_netdev(struct xdp_md *ctx)
{
	struct kx_svc_val *svc;
	struct kx_config *c;
	struct kx_ct_val *ct;
	struct pkt p;

	if (parse_eth_proto(ctx) != bpf_htons(ETH_P_IP) || parse_ipv4(ctx, &p) || !p.has_ports)
		goto pass;
	/* To a pod of this node (inlined array lookup): never external, tc_netdev's. */
	if (endpoint_lookup(p.daddr.v4))
		goto pass;
	ct = ct_lookup(&p);
	if (ct && !ext_entry(ct))
		goto pass; /* a ClusterIP flow's reply: tc_netdev's */
	if (ct && !ct_stale(ct, &p, KX_SCOPE_EXTERNAL)) /* a stale entry may be gone now */
		return ext_established(ctx, &p, ct);
	c = config_get();
	if (!c)
		goto pass;
	svc = svc_lookup_addr(&p, KX_SCOPE_EXTERNAL);
	if (svc)
		return ext_new_flow(ctx, &p, c, svc);
pass:
	stat_count(ctx, KX_STAT_XDP_PASS);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
