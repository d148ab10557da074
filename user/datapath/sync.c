// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "lib/htab.h"
#include "datapath/sync.h"

static int svc_entry_cmp(const void *a, const void *b)
{
	return kx_svc_key_cmp(&((const struct kx_svc_entry *)a)->key,
			      &((const struct kx_svc_entry *)b)->key);
}

static int backend_entry_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct kx_backend_entry *)a)->id;
	uint32_t y = ((const struct kx_backend_entry *)b)->id;

	return x < y ? -1 : x > y;
}

int kx_snapshot_read(const struct kx_maps *m, struct kx_snapshot *s, struct kx_err *err)
{
	struct kx_svc_key sk, prev_sk;
	uint32_t bk, prev_bk;
	bool first;
	size_t cap;

	memset(s, 0, sizeof(*s));
	cap = 64;
	s->svcs = malloc(cap * sizeof(*s->svcs));
	if (!s->svcs)
		goto oom;
	for (first = true; !bpf_map_get_next_key(m->svc, first ? NULL : &prev_sk, &sk);
	     prev_sk = sk, first = false) {
		if (s->n_svcs == cap) {
			void *p = realloc(s->svcs, (cap *= 2) * sizeof(*s->svcs));

			if (!p)
				goto oom;
			s->svcs = p;
		}
		s->svcs[s->n_svcs].key = sk;
		if (!bpf_map_lookup_elem(m->svc, &sk, &s->svcs[s->n_svcs].val))
			s->n_svcs++;
	}
	cap = 64;
	s->backends = malloc(cap * sizeof(*s->backends));
	if (!s->backends)
		goto oom;
	for (first = true; !bpf_map_get_next_key(m->backends, first ? NULL : &prev_bk, &bk);
	     prev_bk = bk, first = false) {
		if (s->n_backends == cap) {
			void *p = realloc(s->backends, (cap *= 2) * sizeof(*s->backends));

			if (!p)
				goto oom;
			s->backends = p;
		}
		s->backends[s->n_backends].id = bk;
		if (!bpf_map_lookup_elem(m->backends, &bk, &s->backends[s->n_backends].b))
			s->n_backends++;
	}
	qsort(s->svcs, s->n_svcs, sizeof(*s->svcs), svc_entry_cmp);
	qsort(s->backends, s->n_backends, sizeof(*s->backends), backend_entry_cmp);
	return 0;
oom:
	kx_snapshot_free(s);
	kx_errf(err, "reading maps: out of memory");
	return -1;
}

void kx_snapshot_free(struct kx_snapshot *s)
{
	free(s->svcs);
	free(s->backends);
	memset(s, 0, sizeof(*s));
}

const struct kx_backend *kx_snapshot_backend(const struct kx_snapshot *s, uint32_t id)
{
	struct kx_backend_entry k = { .id = id }, *e;

	e = bsearch(&k, s->backends, s->n_backends, sizeof(k), backend_entry_cmp);
	return e ? &e->b : NULL;
}

/* A set of ids in [1, max): which are taken, and where to look for a free one. */
struct id_pool {
	uint8_t *used;
	uint32_t max;
	uint32_t next;
};

static int pool_init(struct id_pool *p, uint32_t max)
{
	p->used = calloc(max / 8 + 1, 1);
	p->max = max;
	p->next = 1;
	return p->used ? 0 : -1;
}

static void pool_take(struct id_pool *p, uint32_t id)
{
	if (id && id < p->max)
		p->used[id / 8] |= 1 << (id % 8);
}

static void pool_give(struct id_pool *p, uint32_t id)
{
	if (!id || id >= p->max)
		return;
	p->used[id / 8] &= ~(1 << (id % 8));
	if (id < p->next)
		p->next = id;
}

static uint32_t pool_alloc(struct id_pool *p)
{
	for (; p->next < p->max; p->next++) {
		if (!(p->used[p->next / 8] & (1 << (p->next % 8)))) {
			pool_take(p, p->next);
			return p->next++;
		}
	}
	return 0;
}

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
	struct htab svcs; /* struct kx_svc_key -> struct srec */
	struct htab backends; /* struct bkey -> struct brec */
	struct htab by_bid; /* backend id -> struct bkey */
	struct htab owners; /* owner id -> struct orec */
	struct htab owner_ids; /* owner name (KX_OWNER_MAX bytes) -> owner id */
	struct id_pool svc_ids, backend_ids;
	uint32_t next_owner;
};

static struct bkey bkey_of(const struct kx_backend_desc *d)
{
	struct bkey k = { d->addr, htons(d->port), d->proto, 0 };

	return k;
}

static void owner_key(const char *name, char out[KX_OWNER_MAX])
{
	memset(out, 0, KX_OWNER_MAX);
	snprintf(out, KX_OWNER_MAX, "%s", name);
}

static uint32_t owner_id(struct kx_syncer *s, const char *name, bool create)
{
	char k[KX_OWNER_MAX];
	uint32_t *id, nid;
	struct orec o = { 0 };

	owner_key(name, k);
	id = htab_get(&s->owner_ids, k);
	if (id || !create)
		return id ? *id : 0;
	nid = ++s->next_owner;
	memcpy(o.name, k, KX_OWNER_MAX);
	if (!htab_put(&s->owner_ids, k, &nid) || !htab_put(&s->owners, &nid, &o))
		return 0;
	return nid;
}

static void owner_drop(struct kx_syncer *s, uint32_t id)
{
	struct orec *o = htab_get(&s->owners, &id);

	if (!o)
		return;
	htab_del(&s->owner_ids, o->name);
	free(o->keys);
	htab_del(&s->owners, &id);
}

/* The entry whose id is svc_id, by a walk of the mirror (restarts only). */
static struct srec *srec_by_id(struct kx_syncer *s, uint32_t svc_id)
{
	void *v;

	for (size_t i = 0; htab_next(&s->svcs, &i, NULL, &v); i++)
		if (((struct srec *)v)->val.id == svc_id)
			return v;
	return NULL;
}

/* kx_srcrange into the mirror; entries of no service are removed. */
static int ranges_load(struct kx_syncer *s, struct kx_err *err)
{
	struct kx_srcrange_key k, prev;
	bool first = true;

	while (!bpf_map_get_next_key(s->m.srcrange, first ? NULL : &prev, &k)) {
		struct srec *r = srec_by_id(s, ntohl(k.svc_id));
		struct k8s_prefix *p;

		prev = k;
		first = false;
		if (!r) {
			bpf_map_delete_elem(s->m.srcrange, &k);
			first = true; /* the walk restarts: the trie changed */
			continue;
		}
		p = realloc(r->ranges, (r->n_ranges + 1) * sizeof(*p));
		if (!p) {
			kx_errf(err, "reading %s: out of memory", KX_MAP_SRCRANGE);
			return -1;
		}
		r->ranges = p;
		p[r->n_ranges++] = (struct k8s_prefix){ k.addr, (uint8_t)(k.prefixlen - 32) };
	}
	return 0;
}

/* Read what the maps hold into the mirror: a restart reconciles, never flushes. */
static int mirror_load(struct kx_syncer *s, struct kx_err *err)
{
	struct kx_snapshot snap;
	struct kx_slot_key sk;
	uint32_t bid;

	if (kx_snapshot_read(&s->m, &snap, err))
		return -1;
	for (size_t i = 0; i < snap.n_backends; i++) {
		const struct kx_backend *b = &snap.backends[i].b;
		struct bkey k = { b->addr, b->port, b->proto, 0 };
		struct brec r = { snap.backends[i].id, b->state, 0 };

		htab_put(&s->backends, &k, &r);
		htab_put(&s->by_bid, &r.id, &k);
		pool_take(&s->backend_ids, r.id);
	}
	for (size_t i = 0; i < snap.n_svcs; i++) {
		struct srec r = { .val = snap.svcs[i].val };

		r.bids = calloc(r.val.count + 1, sizeof(*r.bids));
		sk.svc_id = r.val.id;
		for (uint32_t j = 0; r.bids && j < r.val.count; j++) {
			struct bkey *bk;
			struct brec *br;

			sk.slot = kx_slot_base(r.val.flags) + j;
			if (bpf_map_lookup_elem(s->m.slots, &sk, &bid))
				continue;
			r.bids[j] = bid;
			bk = htab_get(&s->by_bid, &bid);
			br = bk ? htab_get(&s->backends, bk) : NULL;
			if (br)
				br->refs++;
		}
		pool_take(&s->svc_ids, r.val.id);
		htab_put(&s->svcs, &snap.svcs[i].key, &r);
	}
	kx_snapshot_free(&snap);
	return ranges_load(s, err);
}

struct kx_syncer *kx_syncer_new(const struct kx_maps *m, struct kx_err *err)
{
	struct kx_syncer *s = calloc(1, sizeof(*s));

	if (!s || htab_init(&s->svcs, sizeof(struct kx_svc_key), sizeof(struct srec)) ||
	    htab_init(&s->backends, sizeof(struct bkey), sizeof(struct brec)) ||
	    htab_init(&s->by_bid, sizeof(uint32_t), sizeof(struct bkey)) ||
	    htab_init(&s->owners, sizeof(uint32_t), sizeof(struct orec)) ||
	    htab_init(&s->owner_ids, KX_OWNER_MAX, sizeof(uint32_t)) ||
	    pool_init(&s->svc_ids, KX_MAX_SERVICES) || pool_init(&s->backend_ids, KX_MAX_BACKENDS)) {
		kx_errf(err, "sync: out of memory");
		kx_syncer_free(s);
		return NULL;
	}
	s->m = *m;
	if (mirror_load(s, err)) {
		kx_syncer_free(s);
		return NULL;
	}
	return s;
}

void kx_syncer_free(struct kx_syncer *s)
{
	void *v;

	if (!s)
		return;
	free(s->gone);
	for (size_t i = 0; htab_next(&s->svcs, &i, NULL, &v); i++) {
		free(((struct srec *)v)->bids);
		free(((struct srec *)v)->ranges);
	}
	for (size_t i = 0; htab_next(&s->owners, &i, NULL, &v); i++)
		free(((struct orec *)v)->keys);
	htab_free(&s->svcs);
	htab_free(&s->backends);
	htab_free(&s->by_bid);
	htab_free(&s->owners);
	htab_free(&s->owner_ids);
	free(s->svc_ids.used);
	free(s->backend_ids.used);
	free(s);
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
	nr.id = r ? r->id : pool_alloc(&s->backend_ids);
	nr.refs = r ? r->refs : 0;
	if (!nr.id || bpf_map_update_elem(s->m.backends, &nr.id, &b, BPF_ANY)) {
		if (!r)
			pool_give(&s->backend_ids, nr.id);
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
			pool_give(&s->backend_ids, bids[i]);
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

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void gone_add(struct kx_syncer *s, uint32_t svc_id, uint32_t bid, bool affinity_only)
{
	if (s->n_gone == s->cap_gone) {
		size_t cap = s->cap_gone ? 2 * s->cap_gone : 64;
		struct gone *g = realloc(s->gone, cap * sizeof(*g));

		if (!g)
			return; /* those flows then age out by LRU */
		s->gone = g;
		s->cap_gone = cap;
	}
	s->gone[s->n_gone++] = (struct gone){ svc_id, bid, affinity_only };
}

/* Note the backends of bids[0..n) that left entry svc_id: those not in keep[0..n_keep). */
static void note_gone(struct kx_syncer *s, uint32_t svc_id, const uint32_t *bids, size_t n,
		      const uint32_t *keep, size_t n_keep)
{
	uint32_t *old = malloc((n + 1) * sizeof(*old)), *kept = malloc((n_keep + 1) * sizeof(*kept));

	if (!old || !kept)
		goto out;
	memcpy(old, bids, n * sizeof(*old));
	memcpy(kept, keep, n_keep * sizeof(*kept));
	qsort(old, n, sizeof(*old), u32_cmp);
	qsort(kept, n_keep, sizeof(*kept), u32_cmp);
	for (size_t i = 0; i < n; i++) {
		if ((i && old[i] == old[i - 1]) ||
		    bsearch(&old[i], kept, n_keep, sizeof(*kept), u32_cmp))
			continue;
		gone_add(s, svc_id, old[i], false);
	}
out:
	free(old);
	free(kept);
}

static int gone_cmp(const void *a, const void *b)
{
	const struct gone *x = a, *y = b;

	if (x->svc_id != y->svc_id)
		return x->svc_id < y->svc_id ? -1 : 1;
	if (x->bid != y->bid)
		return x->bid < y->bid ? -1 : 1;
	return (int)x->affinity_only - (int)y->affinity_only;
}

struct purge_ctx {
	struct kx_syncer *s;
	size_t purged;
};

/* Is (svc_id, bid) in the gone list, as a removal (or, with any, at all)? */
static bool gone_has(const struct kx_syncer *s, uint32_t svc_id, uint32_t bid, bool any)
{
	struct gone key = { svc_id, bid, false };

	if (bsearch(&key, s->gone, s->n_gone, sizeof(key), gone_cmp))
		return true;
	key.affinity_only = true;
	return any && bsearch(&key, s->gone, s->n_gone, sizeof(key), gone_cmp);
}

static int purge_ct(const void *key, const void *val, void *ctx)
{
	const struct kx_ct_key *k = key;
	const struct kx_ct_val *v = val;
	struct purge_ctx *p = ctx;

	if (k->proto == IPPROTO_UDP && gone_has(p->s, v->svc_id, v->backend_id, false) &&
	    !bpf_map_delete_elem(p->s->m.ct, k))
		p->purged++;
	return 0;
}

static int purge_affinity(const void *key, const void *val, void *ctx)
{
	const struct kx_affinity_key *k = key;
	const struct kx_affinity_val *v = val;
	struct purge_ctx *p = ctx;

	if (gone_has(p->s, k->svc_id, v->backend_id, true) &&
	    !bpf_map_delete_elem(p->s->m.affinity, k))
		p->purged++;
	return 0;
}

/*
 * UDP flows to a backend that left their service are deleted, as kube-proxy
 * clears conntrack: the next datagram is load-balanced afresh instead of
 * going to a gone pod (a DNS client would otherwise time out until its flow
 * idles). TCP connections keep their backend until they close. Clients'
 * affinity to such a backend goes too.
 */
static void purge_gone(struct kx_syncer *s)
{
	struct purge_ctx p = { s, 0 };

	if (!s->n_gone)
		return;
	qsort(s->gone, s->n_gone, sizeof(*s->gone), gone_cmp);
	if (kx_map_foreach(s->m.ct, sizeof(struct kx_ct_key), sizeof(struct kx_ct_val), purge_ct,
			   &p))
		pr_warn("map %s: purging UDP flows of removed backends: %s", KX_MAP_CT,
			strerror(errno));
	if (p.purged) {
		pr_info("conntrack: %zu UDP entries of removed backends purged", p.purged);
		if (kx_ct_count_deleted(&s->m, p.purged))
			pr_warn("map %s: counting %zu purged entries: %s", KX_MAP_STATS, p.purged,
				strerror(errno));
	}
	p.purged = 0;
	if (kx_map_foreach(s->m.affinity, sizeof(struct kx_affinity_key),
			   sizeof(struct kx_affinity_val), purge_affinity, &p))
		pr_warn("map %s: purging affinity of removed backends: %s", KX_MAP_AFFINITY,
			strerror(errno));
	s->n_gone = 0;
}

static const char *owner_name(struct kx_syncer *s, uint32_t id)
{
	struct orec *o = htab_get(&s->owners, &id);

	return o ? o->name : "(another service)";
}

/* Remove one service entry: entry first (no packet picks it), then its slots. */
static void service_remove(struct kx_syncer *s, const struct kx_svc_key *key,
			   struct kx_sync_stats *st)
{
	struct srec *r = htab_get(&s->svcs, key), rc;

	if (!r)
		return;
	rc = *r;
	if (bpf_map_delete_elem(s->m.svc, key) && errno != ENOENT)
		return; /* still there: keep the mirror true */
	htab_del(&s->svcs, key);
	note_gone(s, rc.val.id, rc.bids, rc.val.count, NULL, 0);
	slots_delete(s, rc.val.id, rc.val.flags, rc.val.count);
	ranges_prune(s, rc.val.id, rc.ranges, rc.n_ranges, NULL, 0);
	backends_unref(s, rc.bids, rc.val.count, st);
	pool_give(&s->svc_ids, rc.val.id);
	pr_debug("service entry %u removed (%s)", rc.val.id, owner_name(s, rc.owner));
	free(rc.bids);
	free(rc.ranges);
	st->svc_removed++;
}

/*
 * Make one service entry hold d: its backends first, a changed set into the
 * slot range not in use, then the entry that publishes range and count
 * together, then the old range goes. Returns 0 or -1 with err.
 */
static int service_write(struct kx_syncer *s, const struct kx_svc_desc *d, uint32_t owner,
			 struct kx_sync_stats *st, struct kx_err *err)
{
	struct srec *r = htab_get(&s->svcs, &d->key), old = { 0 }, nr;
	uint32_t *bids = calloc(d->n_backends + 1, sizeof(*bids));
	struct kx_slot_key sk;
	uint64_t zero = 0;
	size_t i;

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
	nr.val.id = r ? old.val.id : pool_alloc(&s->svc_ids);
	if (!nr.val.id)
		goto full;
	nr.val.flags = (r ? (old.val.flags & KX_SVC_F_SLOTS_HIGH) ^ KX_SVC_F_SLOTS_HIGH : 0) |
		       d->flags;
	nr.val.count = d->n_backends;
	nr.ranges = calloc(d->n_src_ranges + 1, sizeof(*nr.ranges));
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
	}
	if (!r && bpf_map_update_elem(s->m.rr, &nr.val.id, &zero, BPF_ANY))
		goto full_id;
	if (!r) { /* a new entry's counters start from zero, whatever the id held before */
		struct kx_svc_counter none = { 0 };

		if (bpf_map_update_elem(s->m.svc_stats, &nr.val.id, &none, BPF_ANY))
			goto full_id;
	}
	if (bpf_map_update_elem(s->m.svc, &d->key, &nr.val, BPF_ANY))
		goto full_id;
	nr.bids = bids;
	backends_ref(s, bids, d->n_backends);
	htab_put(&s->svcs, &d->key, &nr);
	pr_debug("service %s: entry %u written, %zu backends in slots %s", d->name, nr.val.id,
		 d->n_backends, (nr.val.flags & KX_SVC_F_SLOTS_HIGH) ? "high" : "low");
	if (r) {
		note_gone(s, old.val.id, old.bids, old.val.count, bids, d->n_backends);
		if (old.val.affinity_timeout_s != d->affinity_timeout_s) /* switched: start afresh */
			for (i = 0; i < old.val.count; i++)
				gone_add(s, old.val.id, old.bids[i], true);
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
full_id:
	if (nr.ranges != old.ranges) {
		ranges_prune(s, nr.val.id, nr.ranges, nr.n_ranges, old.ranges, old.n_ranges);
		free(nr.ranges);
	}
	if (!r) {
		slots_delete(s, nr.val.id, nr.val.flags, d->n_backends);
		pool_give(&s->svc_ids, nr.val.id);
	}
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


/*
 * A key of descs another owner holds: err names both. The whole update is
 * then refused and the owner keeps what it had (first come, first served,
 * as the API server allocates addresses and node ports).
 */
static int owner_conflict(struct kx_syncer *s, uint32_t id, const struct kx_svc_desc *descs,
			  size_t n, struct kx_err *err)
{
	for (size_t i = 0; i < n; i++) {
		struct srec *r = htab_get(&s->svcs, &descs[i].key);
		char ip[INET_ADDRSTRLEN];

		if (!r || !r->owner || r->owner == id)
			continue;
		if (descs[i].key.vip == KX_VIP_NODEPORT)
			snprintf(ip, sizeof(ip), "nodePort");
		else
			inet_ntop(AF_INET, &descs[i].key.vip, ip, sizeof(ip));
		kx_errf(err, "service %s: %s:%u/%s is already served by service %s",
			descs[i].name, ip, ntohs(descs[i].key.port),
			descs[i].key.proto == IPPROTO_TCP ? "TCP" : "UDP", owner_name(s, r->owner));
		return -1;
	}
	return 0;
}

/*
 * take: the keys are the owner's even where another holds them (a full
 * table, which the model made conflict-free: an entry moves between
 * Services); without it, a conflict refuses the owner's update whole.
 */
static int syncer_owner(struct kx_syncer *s, const char *owner, const struct kx_svc_desc *descs,
			size_t n, bool take, struct kx_sync_stats *st, struct kx_err *err)
{
	uint32_t id = owner_id(s, owner, false);
	struct kx_svc_key *held;
	struct orec *o;
	size_t n_held = 0, i, j;
	int ret = 0;

	if (!take && owner_conflict(s, id, descs, n, err))
		return -1;
	if (n > 0)
		id = owner_id(s, owner, true);
	held = calloc(n + 1, sizeof(*held));
	if (!held) {
		kx_errf(err, "sync: out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct kx_err e;

		if (!service_write(s, &descs[i], id, st, &e)) {
			held[n_held++] = descs[i].key;
			continue;
		}
		pr_warn("%s", e.msg);
		if (!ret)
			*err = e;
		ret = -1;
	}
	/* entries the owner held before and holds no more */
	o = id ? htab_get(&s->owners, &id) : NULL;
	for (i = 0; o && i < o->n; i++) {
		for (j = 0; j < n_held; j++)
			if (!memcmp(&o->keys[i], &held[j], sizeof(held[j])))
				break;
		if (j == n_held) {
			struct srec *r = htab_get(&s->svcs, &o->keys[i]);

			if (r && r->owner == id)
				service_remove(s, &o->keys[i], st);
		}
	}
	if (o) {
		free(o->keys);
		o->keys = held;
		o->n = n_held;
		held = NULL;
		if (!n_held)
			owner_drop(s, id);
	}
	free(held);
	return ret;
}

int kx_syncer_owner(struct kx_syncer *s, const char *owner, const struct kx_svc_desc *descs,
		    size_t n, struct kx_sync_stats *st, struct kx_err *err)
{
	int ret = syncer_owner(s, owner, descs, n, false, st, err);

	purge_gone(s);
	return ret;
}

/* Descriptors of one owner are contiguous after sorting by owner. */
static int by_owner(const void *a, const void *b)
{
	const struct kx_svc_desc *x = *(const struct kx_svc_desc *const *)a;
	const struct kx_svc_desc *y = *(const struct kx_svc_desc *const *)b;
	int c = strcmp(x->owner, y->owner);

	return c ? c : kx_svc_key_cmp(&x->key, &y->key);
}

static void stale_unclaimed(struct kx_syncer *s, const struct kx_table *t,
			    struct kx_sync_stats *st)
{
	struct htab keys;
	void *k, *v;

	if (htab_init(&keys, sizeof(struct kx_svc_key), 1))
		return; /* they go after the writes instead */
	for (size_t i = 0; i < t->n_svcs; i++)
		htab_put(&keys, &t->svcs[i].key, "");
	for (size_t i = 0; htab_next(&s->svcs, &i, &k, &v); i++) {
		struct kx_svc_key key;

		if (((struct srec *)v)->owner || htab_get(&keys, k))
			continue;
		key = *(struct kx_svc_key *)k;
		service_remove(s, &key, st);
		i = (size_t)-1; /* the table changed under the iteration: restart */
	}
	htab_free(&keys);
}

int kx_syncer_full(struct kx_syncer *s, const struct kx_table *t, struct kx_sync_stats *st,
		   struct kx_err *err)
{
	const struct kx_svc_desc **order = calloc(t->n_svcs + 1, sizeof(*order));
	struct kx_svc_desc *batch = NULL;
	struct kx_err first = { "" }, e;
	struct htab wanted;
	size_t i, j;
	int ret = 0;
	void *k, *v;

	if (!order || htab_init(&wanted, KX_OWNER_MAX, 1)) {
		free(order);
		kx_errf(err, "sync: out of memory");
		return -1;
	}
	for (i = 0; i < t->n_svcs; i++) {
		char ok[KX_OWNER_MAX];

		order[i] = &t->svcs[i];
		owner_key(t->svcs[i].owner, ok);
		htab_put(&wanted, ok, "");
	}
	/* Owners gone from the table release their entries first, so a VIP can move. */
	for (i = 0; htab_next(&s->owners, &i, &k, &v); i++) {
		struct orec *o = v;

		if (htab_get(&wanted, o->name))
			continue;
		char name[KX_OWNER_MAX];

		memcpy(name, o->name, KX_OWNER_MAX);
		syncer_owner(s, name, NULL, 0, false, st, &e);
		i = (size_t)-1; /* the table changed under the iteration: restart */
	}
	/* Entries found in the maps (a restart) whose key the table does not
	 * want go before any write, so a full map makes room first. */
	stale_unclaimed(s, t, st);
	qsort(order, t->n_svcs, sizeof(*order), by_owner);
	batch = calloc(t->n_svcs + 1, sizeof(*batch));
	for (i = 0; batch && i < t->n_svcs; i = j) {
		for (j = i; j < t->n_svcs && !strcmp(order[j]->owner, order[i]->owner); j++)
			batch[j - i] = *order[j];
		if (syncer_owner(s, order[i]->owner, batch, j - i, true, st, &e) && !first.msg[0]) {
			first = e;
			ret = -1;
		}
	}
	/* Entries found in the maps that no owner claimed. */
	for (i = 0; htab_next(&s->svcs, &i, &k, &v); i++) {
		struct kx_svc_key key;

		if (((struct srec *)v)->owner)
			continue;
		key = *(struct kx_svc_key *)k;
		service_remove(s, &key, st);
		i = (size_t)-1;
	}
	if (!batch) {
		kx_errf(&first, "sync: out of memory");
		ret = -1;
	}
	if (ret && err)
		*err = first;
	purge_gone(s);
	htab_free(&wanted);
	free(batch);
	free(order);
	return ret;
}

int kx_sync_apply(const struct kx_maps *m, const struct kx_table *t, struct kx_sync_stats *st,
		  struct kx_err *err)
{
	struct kx_sync_stats dummy;
	struct kx_syncer *s;
	int ret;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	s = kx_syncer_new(m, err);
	if (!s)
		return -1;
	ret = kx_syncer_full(s, t, st, err);
	kx_syncer_free(s);
	return ret;
}

void kx_syncer_foreach(struct kx_syncer *s,
		       void (*fn)(const struct kx_svc_key *k, const struct kx_svc_val *v,
				  const char *owner, void *ctx),
		       void *ctx)
{
	void *k, *v;

	for (size_t i = 0; htab_next(&s->svcs, &i, &k, &v); i++) {
		const struct srec *r = v;

		fn(k, &r->val, r->owner ? owner_name(s, r->owner) : "", ctx);
	}
}
