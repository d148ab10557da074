/* SPDX-License-Identifier: GPL-2.0 */
/* The syncer's insides, shared by sync*.c and idpool.c (not for other users: see sync.h). */
#ifndef KX_SYNC_INT_H
#define KX_SYNC_INT_H

#include <stdbool.h>
#include <stdint.h>
#include "datapath/sync.h"
#include "lib/htab.h"

/* A set of ids in [1, max): which are taken, and where to look for a free one. */
struct id_pool {
	uint8_t *used;
	uint32_t max;
	uint32_t next;
};

/* Mirror records. */
struct bkey {
	uint32_t addr;
	uint16_t port; /* network order */
	uint8_t proto;
	uint8_t pad;
};

struct brec {
	uint32_t id;
	uint8_t state;
	uint32_t refs; /* slots (published ranges) that name it */
};

struct srec {
	struct kx_svc_val val;
	uint32_t owner; /* owner id, 0 = found in the maps, not yet claimed */
	uint32_t *bids; /* the published slots, val.count of them */
	struct k8s_prefix *ranges; /* kx_srcrange entries of val.id */
	size_t n_ranges;
};

struct orec {
	char name[KX_OWNER_MAX];
	struct kx_svc_key *keys; /* the service entries this owner holds */
	size_t n;
};

/*
 * A backend that left a service entry's set: its UDP flows and its clients'
 * affinity go. affinity_only: the entry's affinity setting changed, the
 * backend stays.
 */
struct gone {
	uint32_t svc_id;
	uint32_t bid;
	bool affinity_only;
};

struct kx_syncer {
	struct kx_maps m;
	struct gone *gone; /* since the last purge */
	size_t n_gone, cap_gone;
	uint32_t *freed_ids; /* service entry ids removed since the last purge */
	size_t n_freed, cap_freed;
	struct htab svcs; /* struct kx_svc_key -> struct srec */
	struct htab backends; /* struct bkey -> struct brec */
	struct htab by_bid; /* backend id -> struct bkey */
	struct htab owners; /* owner id -> struct orec */
	struct htab owner_ids; /* owner name (KX_OWNER_MAX bytes) -> owner id */
	struct id_pool svc_ids, backend_ids;
	uint32_t next_owner;
};

/* idpool.c */
int idpool_init(struct id_pool *p, uint32_t max);
void idpool_take(struct id_pool *p, uint32_t id);
void idpool_give(struct id_pool *p, uint32_t id);
/* The lowest free id, now taken; 0 when none is left. */
uint32_t idpool_alloc(struct id_pool *p);

/* sync_mirror.c: owners by name ("ns/name") and by id. */
void sync_owner_key(const char *name, char out[KX_OWNER_MAX]);
/* name's id; 0 when it has none and create is false (or on no memory). */
uint32_t sync_owner_id(struct kx_syncer *s, const char *name, bool create);
void sync_owner_drop(struct kx_syncer *s, uint32_t id);
const char *sync_owner_name(struct kx_syncer *s, uint32_t id);

/* sync_write.c */
int sync_service_write(struct kx_syncer *s, const struct kx_svc_desc *d, uint32_t owner,
		       struct kx_sync_stats *st, struct kx_err *err);
void sync_service_remove(struct kx_syncer *s, const struct kx_svc_key *key,
			 struct kx_sync_stats *st);

/*
 * kx_members of entry svc_id (see sync_write.c): the backends of an entry's
 * set it holds (none without affinity), and adding or deleting those of
 * bids[0..n) not in keep[0..n_keep).
 */
static inline size_t sync_member_count(const struct kx_svc_val *v)
{
	return v->affinity_timeout_s ? v->count : 0;
}

int sync_members_update(struct kx_syncer *s, uint32_t svc_id, const uint32_t *bids, size_t n,
			const uint32_t *keep, size_t n_keep, bool add);

/* sync_purge.c */
/*
 * The distinct ids of bids[0..n) not in keep[0..n_keep), sorted, into *out
 * (the caller frees it): how many, or (size_t)-1 out of memory. O(n log n):
 * an mh entry's slots repeat its backends tens of thousands of times.
 */
size_t sync_bids_minus(const uint32_t *bids, size_t n, const uint32_t *keep, size_t n_keep,
		       uint32_t **out);
void sync_gone_add(struct kx_syncer *s, uint32_t svc_id, uint32_t bid, bool affinity_only);
void sync_note_gone(struct kx_syncer *s, uint32_t svc_id, const uint32_t *bids, size_t n,
		    const uint32_t *keep, size_t n_keep);
void sync_purge_gone(struct kx_syncer *s);
/*
 * A removed entry's id goes back to the pool only after the pass's purge:
 * its clients' affinity pairs (keyed by the id) must be gone before another
 * entry is given it.
 */
void sync_svc_id_free(struct kx_syncer *s, uint32_t id);

#endif /* KX_SYNC_INT_H */
