/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Taking over a kube-router node: what kube-router left on it (kube-bridge,
 * IPVS virtual servers and kube-dummy-if, its iptables chains, its
 * conflist), each reported in one line with what to turn off. kxdp changes
 * none of it.
 */
#ifndef KX_TAKEOVER_H
#define KX_TAKEOVER_H

#include <netlink/netlink.h>

/* Where kube-router's traces are looked for (tests point them elsewhere). */
struct kx_takeover_paths {
	const char *cni_conf_dir; /* "" = not checked */
	const char *ip_vs; /* /proc/net/ip_vs */
};

/* Log one line per finding; returns how many there were. */
int kx_kube_router_report(struct nl_sock *sk, const struct kx_takeover_paths *p);

#endif /* KX_TAKEOVER_H */
