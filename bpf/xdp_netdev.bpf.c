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
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"
#include "lib/parse.h"
#include "lib/ct.h"
#include "lib/lb.h"
#include "lib/nodeport.h"

/* A SYN that reuses the tuple of a closed flow, or of one whose backend has gone: a new flow. */
static __always_inline bool ext_stale_for_syn(const struct kx_ct_val *ct, const struct pkt *p)
{
	struct kx_backend *b;
	__u32 id = ct->backend_id;

	if (ct->dir != KX_CT_FORWARD ||
	    (p->tcp_flags & (TCP_FLAG_SYN | TCP_FLAG_ACK)) != TCP_FLAG_SYN)
		return false;
	if (ct->flags & KX_CT_F_CLOSING)
		return true;
	b = bpf_map_lookup_elem(&kx_backends, &id);
	return !b || b->addr != ct->nat_addr || b->port != ct->nat_port;
}

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

/* A packet of a known external flow: the rewrite its entry says, then on its way. */
static __always_inline int ext_established(struct xdp_md *ctx, struct pkt *p,
					   struct kx_ct_val *ct)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	bool snat = ct->flags & KX_CT_F_SNAT;
	int err;

	ct_touch(ct, p);
	if (ct->dir == KX_CT_FORWARD) /* client -> backend: DNAT (+ SNAT) */
		err = xdp_nat(data, data_end, p, ct->nat_addr, ct->nat_port, snat, ct->nat2_addr,
			      ct->nat2_port);
	else /* backend elsewhere -> client: source back to the VIP, destination the client */
		err = xdp_nat(data, data_end, p, ct->nat2_addr, ct->nat2_port, true, ct->nat_addr,
			      ct->nat_port);
	if (err) {
		stat_add(KX_STAT_DROP_REWRITE, data_end - data);
		return XDP_DROP;
	}
	stat_add(KX_STAT_EXT_ESTABLISHED, data_end - data);
	svc_stat(ct->svc_id, ct->dir == KX_CT_REPLY, data_end - data, false);
	return snat ? xdp_forward(ctx, p) : XDP_PASS;
}

/* The first packet of an external flow: policy checks, backend, conntrack, NAT. */
static __always_inline int ext_new_flow(struct xdp_md *ctx, struct pkt *p,
					const struct kx_config *c, const struct kx_svc_val *svc)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u64 len = data_end - data;
	struct kx_backend *b;
	__u32 backend_id = 0;
	__be16 snat_port;

	if ((svc->flags & KX_SVC_F_SRC_RANGES) && !src_allowed(svc->id, p->saddr)) {
		stat_add(KX_STAT_DROP_SRC_RANGE, len);
		return XDP_DROP;
	}
	if (svc->count == 0) {
		if (svc->flags & KX_SVC_F_LOCAL) { /* as kube-proxy: no local endpoint, dropped */
			stat_add(KX_STAT_DROP_NO_LOCAL, len);
			return XDP_DROP;
		}
		/* a node address: the node's stack refuses it; an ExternalIP or
		 * LB IP: tc_netdev answers ICMP port unreachable */
		stat_add(KX_STAT_XDP_PASS, len);
		return XDP_PASS;
	}
	b = lb_pick(svc, p, &backend_id);
	if (!b) {
		stat_add(KX_STAT_DROP_NO_SLOT, len);
		return XDP_DROP;
	}
	if ((svc->flags & KX_SVC_F_LOCAL) || endpoint_lookup(b->addr) || is_node_addr(c, b->addr)) {
		/* Here: DNAT only, the client's address kept; tc_netdev delivers. */
		if (ct_create_flags(p, svc->id, backend_id, b, KX_CT_F_EXTERNAL)) {
			stat_add(KX_STAT_DROP_CT_FULL, len);
			return XDP_DROP;
		}
		if (xdp_nat(data, data_end, p, b->addr, b->port, false, 0, 0))
			goto rewrite_failed;
		stat_add(KX_STAT_EXT_NEW, len);
		svc_stat(svc->id, false, len, true);
		return XDP_PASS;
	}
	/* On another node: SNAT to this node, so the reply comes back through here. */
	snat_port = ct_create_snat(p, svc->id, backend_id, b, c->node_ip);
	if (!snat_port) {
		stat_add(KX_STAT_DROP_NO_SNAT_PORT, len);
		return XDP_DROP;
	}
	if (xdp_nat(data, data_end, p, b->addr, b->port, true, c->node_ip, snat_port))
		goto rewrite_failed;
	stat_add(KX_STAT_EXT_NEW, len);
	svc_stat(svc->id, false, len, true);
	return xdp_forward(ctx, p);
rewrite_failed:
	stat_add(KX_STAT_DROP_REWRITE, len);
	return XDP_DROP;
}

/* Frames from other nodes and the outside world arrive here first. */
SEC("xdp")
int xdp_netdev(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct kx_svc_val *svc;
	struct kx_config *c;
	struct kx_ct_val *ct;
	struct pkt p;

	if (parse_eth_proto_data(data, data_end) != bpf_htons(ETH_P_IP) ||
	    parse_ipv4_data(data, data_end, &p) || !p.has_ports)
		goto pass;
	/* To a pod of this node (inlined array lookup): never external, tc_netdev's. */
	if (endpoint_lookup(p.daddr))
		goto pass;
	ct = ct_lookup(&p);
	if (ct && ext_entry(ct) && !ext_stale_for_syn(ct, &p))
		return ext_established(ctx, &p, ct);
	if (ct && !ext_entry(ct))
		goto pass; /* a ClusterIP flow's reply: tc_netdev's */
	c = config_get();
	if (!c)
		goto pass;
	svc = svc_lookup_addr(&p, KX_SCOPE_EXTERNAL);
	if (svc)
		return ext_new_flow(ctx, &p, c, svc);
pass:
	stat_add(KX_STAT_XDP_PASS, data_end - data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
