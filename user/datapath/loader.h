/* SPDX-License-Identifier: GPL-2.0 */
/* Loading the BPF object and pinning its maps and programs under <bpffs>/kxdp. */
#ifndef KX_LOADER_H
#define KX_LOADER_H

#include "lib/log.h"

/*
 * Load every program, reusing the maps already pinned (conntrack and all) and
 * pinning the ones that are not; then pin each program by name, replacing an
 * older pin atomically. Attached filters keep running throughout.
 */
int kx_loader_load(const char *bpffs, struct kx_err *err);

#endif /* KX_LOADER_H */
