// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "sync.h"

static int svc_entry_cmp(const void *a, const void *b)
{
	return kx_svc_key_cmp(&((const struct kx_svc_entry *)a)->key,
			      &((const struct kx_svc_entry *)b)->key);
}

static int desc_cmp(const void *a, const void *b)
{
	return kx_svc_key_cmp(&((const struct kx_svc_desc *)a)->key,
			      &((const struct kx_svc_desc *)b)->key);
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

/* A set of ids in [1, max): which are taken, and the next free one. */
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
	if (id < p->max)
		p->used[id / 8] |= 1 << (id % 8);
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

/* One distinct backend the table asks for, and the id it gets. */
struct want_backend {
	struct kx_backend b;
	uint32_t id;
};

static int want_cmp(const void *pa, const void *pb)
{
	const struct kx_backend *a = pa, *b = pb;

	if (a->addr != b->addr)
		return ntohl(a->addr) < ntohl(b->addr) ? -1 : 1;
	if (a->port != b->port)
		return ntohs(a->port) < ntohs(b->port) ? -1 : 1;
	return (int)a->proto - (int)b->proto;
}

static struct kx_backend backend_of(const struct kx_backend_desc *d)
{
	struct kx_backend b = {
		.addr = d->addr,
		.port = htons(d->port),
		.proto = d->proto,
		.state = d->state,
	};

	return b;
}

/* The distinct backends of t, sorted; the state of a shared one is the most alive. */
static struct want_backend *distinct_backends(const struct kx_table *t, size_t *n_out)
{
	size_t n = 0, i, j, out = 0;
	struct want_backend *w;

	for (i = 0; i < t->n_svcs; i++)
		n += t->svcs[i].n_backends;
	w = calloc(n + 1, sizeof(*w));
	if (!w)
		return NULL;
	for (i = 0, n = 0; i < t->n_svcs; i++)
		for (j = 0; j < t->svcs[i].n_backends; j++)
			w[n++].b = backend_of(&t->svcs[i].backends[j]);
	qsort(w, n, sizeof(*w), want_cmp);
	for (i = 0; i < n; i++) {
		if (out && !want_cmp(&w[out - 1].b, &w[i].b)) {
			if (w[i].b.state == KX_BACKEND_ACTIVE)
				w[out - 1].b.state = KX_BACKEND_ACTIVE;
			continue;
		}
		w[out++] = w[i];
	}
	*n_out = out;
	return w;
}

static struct want_backend *find_want(struct want_backend *w, size_t n, const struct kx_backend *b)
{
	struct want_backend k = { .b = *b };

	k.b.state = 0;
	return bsearch(&k, w, n, sizeof(k), want_cmp);
}

/* Give every wanted backend an id (its old one if it had one) and write it. */
static int write_backends(const struct kx_maps *m, const struct kx_snapshot *cur,
			  struct want_backend *w, size_t n, struct kx_sync_stats *st,
			  struct kx_err *err)
{
	struct id_pool pool;
	size_t i;
	int ret = 0;

	if (pool_init(&pool, KX_MAX_BACKENDS)) {
		kx_errf(err, "sync: out of memory");
		return -1;
	}
	for (i = 0; i < cur->n_backends; i++) {
		struct want_backend *hit = find_want(w, n, &cur->backends[i].b);

		pool_take(&pool, cur->backends[i].id);
		if (hit && !hit->id)
			hit->id = cur->backends[i].id;
	}
	for (i = 0; i < n; i++) {
		const struct kx_backend *old = w[i].id ? kx_snapshot_backend(cur, w[i].id) : NULL;

		if (old && !memcmp(old, &w[i].b, sizeof(*old)))
			continue;
		if (!w[i].id)
			w[i].id = pool_alloc(&pool);
		if (!w[i].id || bpf_map_update_elem(m->backends, &w[i].id, &w[i].b, BPF_ANY)) {
			char ip[INET_ADDRSTRLEN];

			inet_ntop(AF_INET, &w[i].b.addr, ip, sizeof(ip));
			kx_errf(err, "backend %s:%u: map %s full", ip, ntohs(w[i].b.port),
				KX_MAP_BACKENDS);
			w[i].id = 0;
			ret = -1;
			continue;
		}
		if (!old)
			st->backends_added++;
	}
	free(pool.used);
	return ret;
}

static const struct kx_svc_entry *find_svc(const struct kx_snapshot *cur,
					   const struct kx_svc_key *k)
{
	struct kx_svc_entry e = { .key = *k };

	return bsearch(&e, cur->svcs, cur->n_svcs, sizeof(e), svc_entry_cmp);
}

/* Does the published slot range of old already hold exactly ids[0..n)? */
static bool slots_equal(const struct kx_maps *m, const struct kx_svc_entry *old,
			const uint32_t *ids, size_t n)
{
	struct kx_slot_key sk = { .svc_id = old->val.id };
	uint32_t base = kx_slot_base(old->val.flags), cur;

	if (old->val.count != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		sk.slot = base + i;
		if (bpf_map_lookup_elem(m->slots, &sk, &cur) || cur != ids[i])
			return false;
	}
	return true;
}

/*
 * A changed backend set goes into the slot range the service does not use,
 * then one update of the service entry publishes it (count and range
 * together); the old range is removed by cleanup_slots().
 */
static int write_service(const struct kx_maps *m, const struct kx_svc_desc *d,
			 const struct kx_svc_entry *old, struct id_pool *ids,
			 struct want_backend *w, size_t n_w, struct kx_sync_stats *st,
			 struct kx_err *err)
{
	struct kx_svc_val val = { .algo = d->algo };
	uint32_t *bids = calloc(d->n_backends + 1, sizeof(*bids));
	struct kx_slot_key sk;
	uint64_t zero = 0;
	size_t i;

	if (!bids)
		goto full;
	for (i = 0; i < d->n_backends; i++) {
		struct kx_backend b = backend_of(&d->backends[i]);
		struct want_backend *hit = find_want(w, n_w, &b);

		if (!hit || !hit->id)
			goto full;
		bids[i] = hit->id;
	}
	val.id = old ? old->val.id : pool_alloc(ids);
	if (!val.id)
		goto full;
	val.count = d->n_backends;
	val.flags = old ? old->val.flags : 0;
	if (!old || !slots_equal(m, old, bids, d->n_backends)) {
		if (old)
			val.flags ^= KX_SVC_F_SLOTS_HIGH;
		sk.svc_id = val.id;
		for (i = 0; i < d->n_backends; i++) {
			sk.slot = kx_slot_base(val.flags) + i;
			if (bpf_map_update_elem(m->slots, &sk, &bids[i], BPF_ANY))
				goto full;
		}
	}
	free(bids);
	bids = NULL;
	if (old && !memcmp(&old->val, &val, sizeof(val)))
		return 0;
	if (!old && bpf_map_update_elem(m->rr, &val.id, &zero, BPF_ANY))
		goto full;
	if (bpf_map_update_elem(m->svc, &d->key, &val, BPF_ANY))
		goto full;
	if (old)
		st->svc_changed++;
	else
		st->svc_added++;
	return 0;
full:
	free(bids);
	kx_errf(err, "service %s: does not fit in the maps (%s)", d->name,
		errno ? strerror(errno) : "no free id");
	st->failed++;
	return -1;
}

/* Slot count a live service id publishes, for the slot cleanup. */
struct live_count {
	uint32_t id;
	uint32_t base;
	uint32_t count;
};

static int live_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct live_count *)a)->id, y = ((const struct live_count *)b)->id;

	return x < y ? -1 : x > y;
}

/* Delete every slot outside the range its service publishes now. */
static void cleanup_slots(const struct kx_maps *m, const struct kx_table *t)
{
	struct live_count *live = calloc(t->n_svcs + 1, sizeof(*live)), *hit, k;
	struct kx_slot_key sk, next;
	struct kx_svc_val val;
	size_t n = 0, i;
	bool more;

	if (!live)
		return; /* stale slots are harmless: nothing reads past a count */
	for (i = 0; i < t->n_svcs; i++) {
		if (bpf_map_lookup_elem(m->svc, &t->svcs[i].key, &val))
			continue;
		live[n].id = val.id;
		live[n].base = kx_slot_base(val.flags);
		live[n++].count = val.count;
	}
	qsort(live, n, sizeof(*live), live_cmp);
	more = !bpf_map_get_next_key(m->slots, NULL, &sk);
	while (more) {
		more = !bpf_map_get_next_key(m->slots, &sk, &next);
		k.id = sk.svc_id;
		hit = bsearch(&k, live, n, sizeof(k), live_cmp);
		if (!hit || sk.slot < hit->base || sk.slot >= hit->base + hit->count)
			bpf_map_delete_elem(m->slots, &sk);
		sk = next;
	}
	free(live);
}

/* Remove services not wanted, slots past each count, backends no one uses. */
static void cleanup(const struct kx_maps *m, const struct kx_table *t,
		    const struct kx_snapshot *cur, struct want_backend *w, size_t n_w,
		    struct kx_sync_stats *st)
{
	size_t i;

	for (i = 0; i < cur->n_svcs; i++) {
		struct kx_svc_desc k = { .key = cur->svcs[i].key };

		if (bsearch(&k, t->svcs, t->n_svcs, sizeof(k), desc_cmp))
			continue;
		if (!bpf_map_delete_elem(m->svc, &cur->svcs[i].key))
			st->svc_removed++;
	}
	cleanup_slots(m, t);
	for (i = 0; i < cur->n_backends; i++) {
		struct want_backend *hit = find_want(w, n_w, &cur->backends[i].b);

		if (hit && hit->id == cur->backends[i].id)
			continue;
		if (!bpf_map_delete_elem(m->backends, &cur->backends[i].id))
			st->backends_removed++;
	}
}

int kx_sync_apply(const struct kx_maps *m, const struct kx_table *t, struct kx_sync_stats *st,
		  struct kx_err *err)
{
	struct kx_sync_stats dummy;
	struct kx_snapshot cur;
	struct want_backend *w;
	struct id_pool ids;
	struct kx_err first = { "" };
	size_t n_w, i;
	int ret = 0;

	if (!st)
		st = &dummy;
	memset(st, 0, sizeof(*st));
	if (kx_snapshot_read(m, &cur, err))
		return -1;
	w = distinct_backends(t, &n_w);
	if (!w || pool_init(&ids, KX_MAX_SERVICES)) {
		free(w);
		kx_snapshot_free(&cur);
		kx_errf(err, "sync: out of memory");
		return -1;
	}
	for (i = 0; i < cur.n_svcs; i++)
		pool_take(&ids, cur.svcs[i].val.id);

	if (write_backends(m, &cur, w, n_w, st, &first))
		ret = -1;
	for (i = 0; i < t->n_svcs; i++) {
		struct kx_err e;

		errno = 0;
		if (write_service(m, &t->svcs[i], find_svc(&cur, &t->svcs[i].key), &ids, w, n_w,
				  st, &e)) {
			pr_warn("%s", e.msg);
			if (!first.msg[0])
				first = e;
			ret = -1;
		}
	}
	cleanup(m, t, &cur, w, n_w, st);
	if (ret && err)
		*err = first;
	free(ids.used);
	free(w);
	kx_snapshot_free(&cur);
	return ret;
}
