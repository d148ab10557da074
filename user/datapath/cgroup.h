/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The sock_* programs on a cgroup v2 directory, for host-namespace clients
 * of ClusterIPs. Attached through pinned links (<bpffs>/kxdp/link_<prog>):
 * they outlive the agent, and a new agent swaps the program inside the link
 * in place, so no connect() ever runs without one.
 */
#ifndef KX_CGROUP_H
#define KX_CGROUP_H

#include <stdint.h>
#include "lib/log.h"

/* The cgroup v2 mount point from /proc/mounts, into buf; -1 with err if none. */
int kx_cgroup2_root(char *buf, size_t n, struct kx_err *err);
/* Attach (or update in place) every sock_* program on the cgroup at path. */
int kx_cgroup_attach(const char *bpffs, const char *path, struct kx_err *err);
/* The cookie of the calling thread's network namespace; 0 with err if unknown. */
uint64_t kx_netns_cookie(struct kx_err *err);

#endif /* KX_CGROUP_H */
