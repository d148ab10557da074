/* SPDX-License-Identifier: GPL-2.0 */
/* Links, addresses, routes and network namespaces through libnl-route-3. */
#ifndef KX_NETLINK_H
#define KX_NETLINK_H

#include <stdbool.h>
#include <stdint.h>
#include <netlink/netlink.h>
#include "log.h"

/* Route protocol number that marks kxdp's own routes (see /etc/iproute2/rt_protos). */
#define KX_RTPROT 180

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
int kx_nl_addr_add(struct nl_sock *sk, int ifindex, uint32_t addr, int prefixlen,
		   struct kx_err *err);
/* Route dst/len, via gw (0: on-link) out of ifindex, tagged with proto. */
int kx_nl_route_add(struct nl_sock *sk, uint32_t dst, int len, uint32_t gw, int ifindex,
		    uint8_t proto, struct kx_err *err);

/* Switch this thread into the netns of fd; *back keeps the way home. */
int kx_netns_enter(int fd, int *back, struct kx_err *err);
void kx_netns_leave(int back);

#endif /* KX_NETLINK_H */
