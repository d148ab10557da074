// SPDX-License-Identifier: GPL-2.0
/* The syncer's mirror of the maps: loaded once from them, owners named, freed. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "datapath/sync_int.h"

void sync_owner_key(const char *name, char out[KX_OWNER_MAX])
{
	memset(out, 0, KX_OWNER_MAX);
	snprintf(out, KX_OWNER_MAX, "%s", name);
}

uint32_t sync_owner_id(struct kx_syncer *s, const char *name, bool create)
{
	char k[KX_OWNER_MAX];
	uint32_t *id, nid;
	struct orec o = { 0 };

	sync_owner_key(name, k);
	id = htab_get(&s->owner_ids, k);
	if (id || !create)
		return id ? *id : 0;
	nid = ++s->next_owner;
	memcpy(o.name, k, KX_OWNER_MAX);
	if (!htab_put(&s->owner_ids, k, &nid) || !htab_put(&s->owners, &nid, &o))
		return 0;
	return nid;
}

void sync_owner_drop(struct kx_syncer *s, uint32_t id)
{
	struct orec *o = htab_get(&s->owners, &id);

	if (!o)
		return;
	htab_del(&s->owner_ids, o->name);
	free(o->keys);
	htab_del(&s->owners, &id);
}

const char *sync_owner_name(struct kx_syncer *s, uint32_t id)
{
	struct orec *o = htab_get(&s->owners, &id);

	return o ? o->name : "(another service)";
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

struct members_ctx {
	struct kx_syncer *s;
	struct htab want; /* struct kx_member_key -> "" */
};

static int stale_member(const void *key, const void *val, void *ctx)
{
	struct members_ctx *c = ctx;

	if (!htab_get(&c->want, key))
		bpf_map_delete_elem(c->s->m.members, key);
	return 0;
}

/*
 * kx_members as the mirror says (an agent of before kx_members left none; a
 * crash mid-update may have left extra ones): the affinity entries' backends
 * written first, then the pairs of no published set deleted.
 */
static void members_load(struct kx_syncer *s)
{
	struct members_ctx c = { .s = s };
	struct kx_member_key k;
	void *key, *val;

	if (htab_init(&c.want, sizeof(k), 1))
		return;
	for (size_t i = 0; htab_next(&s->svcs, &i, &key, &val); i++) {
		struct srec *r = val;
		size_t n = r->bids ? sync_member_count(&r->val) : 0;

		k.svc_id = r->val.id;
		for (size_t j = 0; j < n; j++) {
			k.backend_id = r->bids[j];
			htab_put(&c.want, &k, "");
		}
		if (sync_members_update(s, r->val.id, r->bids, n, NULL, 0, true))
			pr_warn("map %s: service entry %u: %s", KX_MAP_MEMBERS, r->val.id,
				strerror(errno));
	}
	if (kx_map_foreach(s->m.members, sizeof(k), 1, stale_member, &c))
		pr_warn("map %s: %s", KX_MAP_MEMBERS, strerror(errno));
	htab_free(&c.want);
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
		idpool_take(&s->backend_ids, r.id);
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
		idpool_take(&s->svc_ids, r.val.id);
		htab_put(&s->svcs, &snap.svcs[i].key, &r);
	}
	kx_snapshot_free(&snap);
	members_load(s);
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
	    idpool_init(&s->svc_ids, KX_MAX_SERVICES) || idpool_init(&s->backend_ids, KX_MAX_BACKENDS)) {
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
	free(s->freed_ids);
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

void kx_syncer_foreach(struct kx_syncer *s,
		       void (*fn)(const struct kx_svc_key *k, const struct kx_svc_val *v,
		       const char *owner, void *ctx),
		       void *ctx)
{
	void *k, *v;

	for (size_t i = 0; htab_next(&s->svcs, &i, &k, &v); i++) {
		const struct srec *r = v;

		fn(k, &r->val, r->owner ? sync_owner_name(s, r->owner) : "", ctx);
	}
}
