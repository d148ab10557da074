/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Sync: make the maps hold the desired table, in an order in which every
 * packet sees a consistent service (backends -> slots -> service entry ->
 * cleanup). Idempotent, never flushes: a restart reconciles what it finds.
 */
#ifndef KX_SYNC_H
#define KX_SYNC_H

#include "datapath/maps.h"
#include "model/model.h"

/* What the maps hold, read back: for sync and for the CLI. */
struct kx_svc_entry {
	struct kx_svc_key key;
	struct kx_svc_val val;
};

struct kx_backend_entry {
	uint32_t id;
	struct kx_backend b;
};

struct kx_snapshot {
	struct kx_svc_entry *svcs; /* sorted by key */
	size_t n_svcs;
	struct kx_backend_entry *backends; /* sorted by id */
	size_t n_backends;
};

int kx_snapshot_read(const struct kx_maps *m, struct kx_snapshot *s, struct kx_err *err);
void kx_snapshot_free(struct kx_snapshot *s);
const struct kx_backend *kx_snapshot_backend(const struct kx_snapshot *s, uint32_t id);

/* Counts of what an apply changed, for logs and tests. */
struct kx_sync_stats {
	size_t svc_added, svc_changed, svc_removed;
	size_t backends_added, backends_removed;
	size_t failed; /* services that did not fit (map full) */
};

/*
 * The syncer keeps a mirror of what the maps hold (read once, then kept up
 * to date by its own writes), so a change costs only its own map writes:
 * no syscall is spent asking the maps what they hold. Service entries are
 * grouped by owner (the Service "namespace/name" they come from).
 */
struct kx_syncer;

struct kx_syncer *kx_syncer_new(const struct kx_maps *m, struct kx_err *err);
void kx_syncer_free(struct kx_syncer *s);
/*
 * Make the entries of one owner exactly descs[0..n) (n = 0: the service is
 * gone). Counters in st are added to. Returns 0, or -1 with err naming the
 * first entry that could not be written; the others are still applied.
 */
int kx_syncer_owner(struct kx_syncer *s, const char *owner, const struct kx_svc_desc *descs,
		    size_t n, struct kx_sync_stats *st, struct kx_err *err);
/* Make the maps hold exactly t (every owner; unclaimed entries removed). */
int kx_syncer_full(struct kx_syncer *s, const struct kx_table *t, struct kx_sync_stats *st,
		   struct kx_err *err);

/* fn on every entry the syncer holds, with the Service ("ns/name") it belongs to. */
void kx_syncer_foreach(struct kx_syncer *s,
		       void (*fn)(const struct kx_svc_key *k, const struct kx_svc_val *v,
				  const char *owner, void *ctx),
		       void *ctx);

/* One-shot full apply with a syncer of its own (tests, tools). st is reset. */
int kx_sync_apply(const struct kx_maps *m, const struct kx_table *t, struct kx_sync_stats *st,
		  struct kx_err *err);

#endif /* KX_SYNC_H */
