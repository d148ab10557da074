/* SPDX-License-Identifier: GPL-2.0 */
/* Attaching the pinned pod programs to a host-side veth (clsact, netlink). */
#ifndef KX_TC_H
#define KX_TC_H

#include "log.h"

/* tc_from_pod on ingress, tc_to_pod on egress; replaces kxdp's filter in place. */
int kx_tc_attach_pod(int ifindex, const char *bpffs, struct kx_err *err);
/* 0 when both hooks of ifindex run the pinned programs; -1 with err otherwise. */
int kx_tc_check_pod(int ifindex, const char *bpffs, struct kx_err *err);

#endif /* KX_TC_H */
