// SPDX-License-Identifier: GPL-2.0
/*
 * The syncer's passes: one owner's entries made exactly its descriptors
 * (conflicts refused), or the whole table (gone owners and stale entries
 * first, so a full map makes room), each ending with the purge.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "lib/htab.h"
#include "datapath/sync_int.h"

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
			descs[i].key.proto == IPPROTO_TCP ? "TCP" : "UDP", sync_owner_name(s, r->owner));
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
	uint32_t id = sync_owner_id(s, owner, false);
	struct kx_svc_key *held;
	struct orec *o;
	size_t n_held = 0, i, j;
	int ret = 0;

	if (!take && owner_conflict(s, id, descs, n, err))
		return -1;
	if (n > 0)
		id = sync_owner_id(s, owner, true);
	held = calloc(n + 1, sizeof(*held));
	if (!held) {
		kx_errf(err, "sync: out of memory");
		return -1;
	}
	for (i = 0; i < n; i++) {
		struct kx_err e;

		if (!sync_service_write(s, &descs[i], id, st, &e)) {
			held[n_held++] = descs[i].key;
			continue;
		}
		pr_warn("%s", e.msg);
		if (!ret)
			*err = e;
		ret = -1;
		/* an entry it already had (or, a restart, found unclaimed in the maps, or
		 * takes over in a full pass) keeps its last set: the write left it whole */
		struct srec *had = htab_get(&s->svcs, &descs[i].key);

		if (had && (had->owner == id || !had->owner || take)) {
			had->owner = id;
			held[n_held++] = descs[i].key;
		}
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
				sync_service_remove(s, &o->keys[i], st);
		}
	}
	if (o) {
		free(o->keys);
		o->keys = held;
		o->n = n_held;
		held = NULL;
		if (!n_held)
			sync_owner_drop(s, id);
	}
	free(held);
	return ret;
}

int kx_syncer_owner(struct kx_syncer *s, const char *owner, const struct kx_svc_desc *descs,
		    size_t n, struct kx_sync_stats *st, struct kx_err *err)
{
	int ret = syncer_owner(s, owner, descs, n, false, st, err);

	sync_purge_gone(s);
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
		sync_service_remove(s, &key, st);
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
		sync_owner_key(t->svcs[i].owner, ok);
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
		sync_service_remove(s, &key, st);
		i = (size_t)-1;
	}
	if (!batch) {
		kx_errf(&first, "sync: out of memory");
		ret = -1;
	}
	if (ret && err)
		*err = first;
	sync_purge_gone(s);
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
