// SPDX-License-Identifier: GPL-2.0
/* Backends gone from a service entry: their UDP conntrack entries and clients' affinity purged. */
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "datapath/sync_int.h"

static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void sync_gone_add(struct kx_syncer *s, uint32_t svc_id, uint32_t bid, bool affinity_only)
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

size_t sync_bids_minus(const uint32_t *bids, size_t n, const uint32_t *keep, size_t n_keep,
		       uint32_t **out)
{
	uint32_t *old = malloc((n + 1) * sizeof(*old)), *kept = malloc((n_keep + 1) * sizeof(*kept));
	size_t m = 0;

	*out = NULL;
	if (!old || !kept) {
		free(old);
		free(kept);
		return (size_t)-1;
	}
	memcpy(old, bids, n * sizeof(*old));
	memcpy(kept, keep, n_keep * sizeof(*kept));
	qsort(old, n, sizeof(*old), u32_cmp);
	qsort(kept, n_keep, sizeof(*kept), u32_cmp);
	for (size_t i = 0; i < n; i++) {
		if ((i && old[i] == old[i - 1]) ||
		    bsearch(&old[i], kept, n_keep, sizeof(*kept), u32_cmp))
			continue;
		old[m++] = old[i]; /* in place: m <= i */
	}
	free(kept);
	*out = old;
	return m;
}

/* Note the backends of bids[0..n) that left entry svc_id: those not in keep[0..n_keep). */
void sync_note_gone(struct kx_syncer *s, uint32_t svc_id, const uint32_t *bids, size_t n,
		    const uint32_t *keep, size_t n_keep)
{
	uint32_t *gone;
	size_t m = sync_bids_minus(bids, n, keep, n_keep, &gone);

	for (size_t i = 0; m != (size_t)-1 && i < m; i++)
		sync_gone_add(s, svc_id, gone[i], false);
	free(gone);
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
void sync_svc_id_free(struct kx_syncer *s, uint32_t id)
{
	if (s->n_freed == s->cap_freed) {
		size_t cap = s->cap_freed ? 2 * s->cap_freed : 64;
		uint32_t *ids = realloc(s->freed_ids, cap * sizeof(*ids));

		if (!ids) { /* the pairs then wait for the LRU or the entry's next change */
			idpool_give(&s->svc_ids, id);
			return;
		}
		s->freed_ids = ids;
		s->cap_freed = cap;
	}
	s->freed_ids[s->n_freed++] = id;
}

/* The ids of entries removed this pass, purged now: free for new entries. */
static void svc_ids_release(struct kx_syncer *s)
{
	for (size_t i = 0; i < s->n_freed; i++)
		idpool_give(&s->svc_ids, s->freed_ids[i]);
	s->n_freed = 0;
}

void sync_purge_gone(struct kx_syncer *s)
{
	struct purge_ctx p = { s, 0 };

	if (!s->n_gone) {
		svc_ids_release(s);
		return;
	}
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
	svc_ids_release(s);
}
