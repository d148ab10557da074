// SPDX-License-Identifier: GPL-2.0
/*
 * xdp_netdev: XDP on the node's uplink, the first hook a frame from the
 * network meets. For pod and ClusterIP traffic it only counts and passes:
 * the reverse NAT and the delivery into pods need TC (tc_netdev), because
 * bpf_redirect_peer exists only there and because XDP cannot see whether a
 * packet carries a partial checksum (veth and forwarded packets do), which
 * an incremental rewrite must know. NodePort, ExternalIP and LoadBalancer
 * traffic is where XDP will answer on its own (XDP_TX).
 */
#include "lib/common.h"
#include "lib/maps.h"
#include "lib/stats.h"


/* Frames from other nodes and the outside world arrive here first. */
SEC("xdp")
int xdp_netdev(struct xdp_md *ctx)
{
	stat_add(KX_STAT_XDP_PASS, ctx->data_end - ctx->data);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
