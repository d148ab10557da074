/* SPDX-License-Identifier: GPL-2.0 */
/* File descriptors of the datapath maps, from pins or from a loaded skeleton. */
#ifndef KX_MAPS_H
#define KX_MAPS_H

#include <stddef.h>
#include "log.h"

#define KX_DEFAULT_BPFFS "/sys/fs/bpf"

struct kx_maps {
	int svc;
	int slots;
	int backends;
	int rr;
	int ct;
	int endpoints;
	int stats;
	int config;
};

/* "<bpffs>/kxdp/<name>"; -1 if it does not fit. */
int kx_pin_path(char *buf, size_t n, const char *bpffs, const char *name);
/* Is dir a mounted bpffs? 0 yes; -1 with err saying what to do. */
int kx_check_bpffs(const char *dir, struct kx_err *err);
int kx_maps_open_pinned(const char *bpffs, struct kx_maps *m, struct kx_err *err);
void kx_maps_close(struct kx_maps *m);
/* The maps of a loaded object (tests, benchmarks); the object keeps the fds. */
struct bpf_object;
int kx_maps_from_object(struct bpf_object *obj, struct kx_maps *m, struct kx_err *err);

#endif /* KX_MAPS_H */
