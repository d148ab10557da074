/* SPDX-License-Identifier: GPL-2.0 */
/* File descriptors of the datapath maps, from pins or from a loaded skeleton. */
#ifndef KX_MAPS_H
#define KX_MAPS_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>
#include "kxdp_abi.h"
#include "lib/log.h"

#define KX_DEFAULT_BPFFS "/sys/fs/bpf"

/* One fd per map of KX_MAP_LIST, by its field name. */
#define KX_MAPS_FD(field, name, key, key_size, val, val_size) int field;
struct kx_maps {
	KX_MAP_LIST(KX_MAPS_FD)
	/* the pin directory, flock()ed around counters user space shares
	 * (KX_STAT_CT_DELETED_USER); -1 for a skeleton's maps. Keep last. */
	int lock_fd;
};
#undef KX_MAPS_FD

/* "<bpffs>/kxdp/<name>"; -1 if it does not fit. */
int kx_pin_path(char *buf, size_t n, const char *bpffs, const char *name);
/* Is dir a mounted bpffs? 0 yes; -1 with err saying what to do. */
int kx_check_bpffs(const char *dir, struct kx_err *err);
/* Every fd of m -1: what kx_maps_close() takes for "not open". */
void kx_maps_init(struct kx_maps *m);
int kx_maps_open_pinned(const char *bpffs, struct kx_maps *m, struct kx_err *err);
void kx_maps_close(struct kx_maps *m);
/* Pin again the maps of m whose pin is gone (removed behind the agent's back): how many, or -1. */
int kx_maps_repin(const char *bpffs, const struct kx_maps *m, struct kx_err *err);
/* The maps of a loaded object (tests, benchmarks); the object keeps the fds. */
struct bpf_object;
int kx_maps_from_object(struct bpf_object *obj, struct kx_maps *m, struct kx_err *err);

/*
 * Conntrack bookkeeping. kx_ct_count_deleted: add n entries that user space
 * deleted to KX_STAT_CT_DELETED_USER (under the pin directory's lock: the
 * agent and a CLI may both delete). kx_ct_usage: the entries in kx_ct (by
 * walking it) and the evictions the LRU made, derived as entries created -
 * deleted - entries (a best effort while flows come and go, exact at rest).
 */
struct kx_ct_usage {
	uint64_t entries;
	uint64_t created;
	uint64_t deleted;
	uint64_t evicted;
};
int kx_ct_count_deleted(const struct kx_maps *m, uint64_t n);
int kx_ct_usage(const struct kx_maps *m, struct kx_ct_usage *u);

/*
 * kx_endpoints, the pods of this node (an array by kx_endpoint_slot()).
 * get: 0 and *ep when addr is wired, else -1. put: write ep at its slot;
 * -1 with err when another pod holds the slot. del: free addr's slot if it
 * is addr's. foreach: fn on every wired pod until it returns non-zero (that
 * value is returned); -1 with errno on a map error.
 */
struct kx_endpoint;
int kx_endpoint_get(int fd, __be32 addr, struct kx_endpoint *ep);
int kx_endpoint_put(int fd, const struct kx_endpoint *ep, struct kx_err *err);
void kx_endpoint_del(int fd, __be32 addr);
int kx_endpoint_foreach(int fd, int (*fn)(const struct kx_endpoint *ep, void *ctx), void *ctx);

/*
 * Every entry of a hash map (kx_ct, kx_affinity, ...), read in batches: fn on
 * each until it returns non-zero (that value is returned); -1 with errno on
 * a map error. fn may delete the entry it is given.
 */
int kx_map_foreach(int fd, size_t key_size, size_t val_size,
		   int (*fn)(const void *k, const void *v, void *ctx), void *ctx);

/*
 * A new pod's policy start (kxdp-cni, before it is wired): denied each way
 * some policy of its namespace ns isolates (kx_pol_ns), until the agent has
 * judged it; open elsewhere. 0, or -1 with err.
 */
int kx_pol_ep_start(const struct kx_maps *m, __be32 addr, const char *ns, struct kx_err *err);
/* A gone pod's kx_pol_ep entry cleared, if it is still addr's. */
void kx_pol_ep_forget(const struct kx_maps *m, __be32 addr);

#endif /* KX_MAPS_H */
