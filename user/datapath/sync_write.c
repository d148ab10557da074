// SPDX-License-Identifier: GPL-2.0
/* Ordered writes of one service entry: backends, slots, then the entry; removal the other way. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "datapath/sync_int.h"

static struct bkey bkey_of(const struct kx_backend_desc *d)
{
	struct bkey k = { d->addr, htons(d->port), d->proto, 0 };

	return k;
}

/* The id of backend d, writing it to the map if it is new or its state changed. */
static uint32_t backend_ensure(struct kx_syncer *s, const struct kx_backend_desc *d,
			       struct kx_sync_stats *st)
{
	struct bkey k = bkey_of(d);
	struct brec *r = htab_get(&s->backends, &k), nr = { 0, d->state, 0 };
	struct kx_backend b = { .addr = d->addr, .port = htons(d->port), .proto = d->proto,
				.state = d->state };

	if (r && r->state == d->state)
		return r->id;
	nr.id = r ? r->id : idpool_alloc(&s->backend_ids);
	nr.refs = r ? r->refs : 0;
	if (!nr.id || bpf_map_update_elem(s->m.backends, &nr.id, &b, BPF_ANY)) {
		if (!r)
			idpool_give(&s->backend_ids, nr.id);
		return 0;
	}
	if (!r) {
		st->backends_added++;
		htab_put(&s->by_bid, &nr.id, &k);
	}
	htab_put(&s->backends, &k, &nr);
	return nr.id;
}

/* One slot range stops naming these backends; the unnamed ones leave the map. */
static void backends_unref(struct kx_syncer *s, const uint32_t *bids, size_t n,
			   struct kx_sync_stats *st)
{
	for (size_t i = 0; i < n; i++) {
		struct bkey *k = htab_get(&s->by_bid, &bids[i]), kc;
		struct brec *r = k ? htab_get(&s->backends, k) : NULL;

		if (!r || (r->refs && --r->refs))
			continue;
		kc = *k;
		if (!bpf_map_delete_elem(s->m.backends, &bids[i]) || errno == ENOENT) {
			idpool_give(&s->backend_ids, bids[i]);
			htab_del(&s->by_bid, &bids[i]);
			htab_del(&s->backends, &kc);
			st->backends_removed++;
		}
	}
}

static void backends_ref(struct kx_syncer *s, const uint32_t *bids, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct bkey *k = htab_get(&s->by_bid, &bids[i]);
		struct brec *r = k ? htab_get(&s->backends, k) : NULL;

		if (r)
			r->refs++;
	}
}

static void slots_delete(struct kx_syncer *s, uint32_t svc_id, uint8_t flags, size_t count)
{
	struct kx_slot_key sk = { .svc_id = svc_id };

	for (size_t i = 0; i < count; i++) {
		sk.slot = kx_slot_base(flags) + i;
		bpf_map_delete_elem(s->m.slots, &sk);
	}
}

static struct kx_srcrange_key range_key(uint32_t svc_id, const struct k8s_prefix *p)
{
	struct kx_srcrange_key k = { 32 + p->len, htonl(svc_id), p->addr };

	return k;
}

static bool range_in(const struct k8s_prefix *p, const struct k8s_prefix *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i].addr == p->addr && set[i].len == p->len)
			return true;
	return false;
}

static bool ranges_equal(const struct k8s_prefix *a, size_t na, const struct k8s_prefix *b,
			 size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!range_in(&a[i], b, nb))
			return false;
	return true;
}

/* Write the source ranges of entry svc_id (before the entry publishes them). */
static int ranges_write(struct kx_syncer *s, uint32_t svc_id, const struct k8s_prefix *p,
			size_t n)
{
	uint8_t allow = 1;

	for (size_t i = 0; i < n; i++) {
		struct kx_srcrange_key k = range_key(svc_id, &p[i]);

		if (bpf_map_update_elem(s->m.srcrange, &k, &allow, BPF_ANY))
			return -1;
	}
	return 0;
}

/* Delete the ranges of svc_id in old[] that keep[] does not hold. */
static void ranges_prune(struct kx_syncer *s, uint32_t svc_id, const struct k8s_prefix *old,
			 size_t n_old, const struct k8s_prefix *keep, size_t n_keep)
{
	for (size_t i = 0; i < n_old; i++) {
		struct kx_srcrange_key k = range_key(svc_id, &old[i]);

		if (!range_in(&old[i], keep, n_keep))
			bpf_map_delete_elem(s->m.srcrange, &k);
	}
}

/*
 * kx_members of entry svc_id (kept while it has ClientIP affinity): add the
 * backends of bids[0..n) not in keep[0..n_keep) (add) or delete them (not
 * add). Added before the entry publishes a set, deleted after, so a pair is
 * honoured exactly while its backend is in the published set. 0, or -1 when
 * an add failed (or, out of memory, a delete could not be worked out).
 */
int sync_members_update(struct kx_syncer *s, uint32_t svc_id, const uint32_t *bids, size_t n,
			const uint32_t *keep, size_t n_keep, bool add)
{
	struct kx_member_key k = { .svc_id = svc_id };
	uint32_t *diff;
	size_t m = n ? sync_bids_minus(bids, n, keep, n_keep, &diff) : 0;
	__u8 one = 1;
	int ret = 0;

	if (m == (size_t)-1) {
		pr_warn("map %s: entry %u: out of memory", KX_MAP_MEMBERS, svc_id);
		return -1;
	}
	for (size_t i = 0; i < m && !ret; i++) {
		k.backend_id = diff[i];
		if (!add)
			bpf_map_delete_elem(s->m.members, &k);
		else if (bpf_map_update_elem(s->m.members, &k, &one, BPF_ANY))
			ret = -1;
	}
	if (n)
		free(diff);
	return ret;
}

/* Remove one service entry: entry first (no packet picks it), then its slots. */
void sync_service_remove(struct kx_syncer *s, const struct kx_svc_key *key,
			 struct kx_sync_stats *st)
{
	struct srec *r = htab_get(&s->svcs, key), rc;

	if (!r)
		return;
	rc = *r;
	if (bpf_map_delete_elem(s->m.svc, key) && errno != ENOENT)
		return; /* still there: keep the mirror true */
	htab_del(&s->svcs, key);
	sync_members_update(s, rc.val.id, rc.bids, sync_member_count(&rc.val), NULL, 0, false);
	sync_note_gone(s, rc.val.id, rc.bids, rc.val.count, NULL, 0);
	slots_delete(s, rc.val.id, rc.val.flags, rc.val.count);
	ranges_prune(s, rc.val.id, rc.ranges, rc.n_ranges, NULL, 0);
	backends_unref(s, rc.bids, rc.val.count, st);
	sync_svc_id_free(s, rc.val.id);
	pr_debug("service entry %u removed (%s)", rc.val.id, sync_owner_name(s, rc.owner));
	free(rc.bids);
	free(rc.ranges);
	st->svc_removed++;
}

/*
 * Make one service entry hold d: its backends first, a changed set into the
 * slot range not in use, then the entry that publishes range and count
 * together, then the old range goes. Returns 0 or -1 with err.
 */
int sync_service_write(struct kx_syncer *s, const struct kx_svc_desc *d, uint32_t owner,
		       struct kx_sync_stats *st, struct kx_err *err)
{
	struct srec *r = htab_get(&s->svcs, &d->key), old = { 0 }, nr;
	uint32_t *bids = calloc(d->n_backends + 1, sizeof(*bids));
	struct kx_slot_key sk;
	uint64_t zero = 0;
	size_t i, slots_written = 0, old_members = 0, new_members;

	if (!bids)
		goto full;
	for (i = 0; i < d->n_backends; i++) {
		bids[i] = backend_ensure(s, &d->backends[i], st);
		if (!bids[i])
			goto full;
	}
	if (r)
		old = *r;
	nr = old;
	nr.owner = owner;
	nr.val.algo = d->algo;
	nr.val.affinity_timeout_s = d->affinity_timeout_s;
	if (r && old.val.count == d->n_backends &&
	    !memcmp(old.bids, bids, d->n_backends * sizeof(*bids)) && old.val.algo == d->algo &&
	    old.val.affinity_timeout_s == d->affinity_timeout_s &&
	    (old.val.flags & ~KX_SVC_F_SLOTS_HIGH) == d->flags &&
	    ranges_equal(old.ranges, old.n_ranges, d->src_ranges, d->n_src_ranges)) {
		r->owner = owner; /* claimed, nothing to write */
		free(bids);
		return 0;
	}
	nr.val.id = r ? old.val.id : idpool_alloc(&s->svc_ids);
	if (!nr.val.id)
		goto full;
	nr.val.flags = (r ? (old.val.flags & KX_SVC_F_SLOTS_HIGH) ^ KX_SVC_F_SLOTS_HIGH : 0) |
		       d->flags;
	nr.val.count = d->n_backends;
	nr.ranges = calloc(d->n_src_ranges + 1, sizeof(*nr.ranges));
	nr.n_ranges = 0;
	if (!nr.ranges)
		goto full_id;
	memcpy(nr.ranges, d->src_ranges, d->n_src_ranges * sizeof(*nr.ranges));
	nr.n_ranges = d->n_src_ranges;
	if (ranges_write(s, nr.val.id, nr.ranges, nr.n_ranges))
		goto full_id;
	sk.svc_id = nr.val.id;
	for (i = 0; i < d->n_backends; i++) {
		sk.slot = kx_slot_base(nr.val.flags) + i;
		if (bpf_map_update_elem(s->m.slots, &sk, &bids[i], BPF_ANY))
			goto full_id;
		slots_written++;
	}
	/* members the new set adds, before it is published */
	if (r)
		old_members = sync_member_count(&old.val);
	new_members = sync_member_count(&nr.val);
	if (sync_members_update(s, nr.val.id, bids, new_members, old.bids, old_members, true))
		goto full_members;
	if (!r && bpf_map_update_elem(s->m.rr, &nr.val.id, &zero, BPF_ANY))
		goto full_members;
	if (!r) { /* a new entry's counters start from zero, whatever the id held before */
		struct kx_svc_counter none = { 0 };

		if (bpf_map_update_elem(s->m.svc_stats, &nr.val.id, &none, BPF_ANY))
			goto full_members;
	}
	if (bpf_map_update_elem(s->m.svc, &d->key, &nr.val, BPF_ANY))
		goto full_members;
	nr.bids = bids;
	backends_ref(s, bids, d->n_backends);
	htab_put(&s->svcs, &d->key, &nr);
	pr_debug("service %s: entry %u written, %zu backends in slots %s", d->name, nr.val.id,
		 d->n_backends, (nr.val.flags & KX_SVC_F_SLOTS_HIGH) ? "high" : "low");
	/* members the old set had and the new one has not, once it is published */
	sync_members_update(s, nr.val.id, old.bids, old_members, bids, new_members, false);
	if (r) {
		sync_note_gone(s, old.val.id, old.bids, old.val.count, bids, d->n_backends);
		if (old.val.affinity_timeout_s != d->affinity_timeout_s) /* switched: start afresh */
			for (i = 0; i < old.val.count; i++)
				sync_gone_add(s, old.val.id, old.bids[i], true);
		slots_delete(s, old.val.id, old.val.flags, old.val.count);
		ranges_prune(s, old.val.id, old.ranges, old.n_ranges, nr.ranges, nr.n_ranges);
		backends_unref(s, old.bids, old.val.count, st);
		free(old.bids);
		free(old.ranges);
		st->svc_changed++;
	} else {
		st->svc_added++;
	}
	return 0;
full_members:
	sync_members_update(s, nr.val.id, bids, new_members, old.bids, old_members, false);
full_id:
	if (nr.ranges != old.ranges) {
		ranges_prune(s, nr.val.id, nr.ranges, nr.n_ranges, old.ranges, old.n_ranges);
		free(nr.ranges);
	}
	/* the slots written into the range not published: the old set (if any) is in the other */
	slots_delete(s, nr.val.id, nr.val.flags, slots_written);
	if (!r)
		idpool_give(&s->svc_ids, nr.val.id);
full:
	/* backends written for it and not named anywhere go again */
	for (i = 0; bids && i < d->n_backends && bids[i]; i++) {
		struct bkey *k = htab_get(&s->by_bid, &bids[i]);
		struct brec *br = k ? htab_get(&s->backends, k) : NULL;

		if (br && !br->refs) {
			br->refs = 1;
			backends_unref(s, &bids[i], 1, st);
		}
	}
	free(bids);
	kx_errf(err, "service %s: does not fit in the maps (%s)", d->name,
		errno ? strerror(errno) : "no free id");
	st->failed++;
	return -1;
}
