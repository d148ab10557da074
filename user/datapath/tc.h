/* SPDX-License-Identifier: GPL-2.0 */
/* Attaching the pinned pod programs to a host-side veth (clsact, netlink). */
#ifndef KX_TC_H
#define KX_TC_H

#include <stdbool.h>
#include "lib/log.h"

/* tc_from_pod on ingress, tc_to_pod on egress; replaces kxdp's filter in place. */
int kx_tc_attach_pod(int ifindex, const char *bpffs, struct kx_err *err);
/* 0 when both hooks of ifindex run the pinned programs; -1 with err otherwise. */
int kx_tc_check_pod(int ifindex, const char *bpffs, struct kx_err *err);

/*
 * The uplink: tc_netdev on TC ingress, tc_netdev_out on TC egress,
 * xdp_netdev in native XDP mode, or in generic mode (with a warning) where
 * the driver has none. Each replaces what is attached, never detaching first.
 */
enum kx_xdp_mode {
	KX_XDP_AUTO = 0, /* native, but generic on veth, where native costs GRO/TSO */
	KX_XDP_NATIVE,
	KX_XDP_GENERIC,
	KX_XDP_OFF,
};

int kx_tc_attach_uplink(int ifindex, const char *ifname, const char *kind, enum kx_xdp_mode xdp,
			const char *bpffs, struct kx_err *err);

#endif /* KX_TC_H */
