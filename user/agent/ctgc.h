/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Conntrack GC: flows idle past their timeout leave kx_ct, as the kernel's
 * conntrack times out kube-proxy's. The LRU alone would keep every closed
 * flow until the table is full, and then evict live ones with dead ones.
 */
#ifndef KX_CTGC_H
#define KX_CTGC_H

#include <stdint.h>
#include "kxdp_abi.h"
#include "lib/log.h"
#include "datapath/maps.h"

/* Idle timeouts in seconds, by kind of flow. */
struct kx_ct_timeouts {
	uint32_t tcp; /* established TCP (kube-proxy: 24 h) */
	uint32_t tcp_close; /* TCP after a FIN or RST (nf_conntrack's FIN_WAIT: 120 s) */
	uint32_t udp; /* UDP (nf_conntrack's UDP stream: 120 s) */
};

#define KX_CT_TIMEOUTS_DEFAULT { 86400, 120, 120 }

/* Run the pinned ct_clock program: jiffies and CLOCK_MONOTONIC, read together. */
int kx_ct_clock(int clock_prog_fd, struct kx_clock *c, struct kx_err *err);

/*
 * The kernel's HZ from two readings at least 200 ms apart: the standard value
 * (100, 250, 300, 1000) nearest the measured rate; 0 if the readings are too
 * close or the rate is none of those.
 */
unsigned int kx_ct_hz(const struct kx_clock *a, const struct kx_clock *b);

struct kx_ct_gc_result {
	uint64_t scanned;
	uint64_t expired; /* entries deleted */
};

/*
 * Walk kx_ct once at jiffies now (hz per second): an entry goes when its
 * flow - the entry and its twin, the other direction - has been idle longer
 * than its timeout. A flow touched during the walk is kept (both entries are
 * read again before a delete). Deletions are counted (kx_ct_count_deleted).
 */
int kx_ct_gc(const struct kx_maps *m, const struct kx_ct_timeouts *to, uint64_t now,
	     unsigned int hz, struct kx_ct_gc_result *r, struct kx_err *err);

#endif /* KX_CTGC_H */
