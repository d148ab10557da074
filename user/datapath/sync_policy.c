// SPDX-License-Identifier: GPL-2.0
/* The NetworkPolicy syncer: see sync_policy.h for the order it keeps. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include "datapath/sync_policy.h"
#include "lib/log.h"

/* What kx_pol_peer and kx_pol_rows hold for one set id. */
struct pol_id {
	bool used;
	bool claimed; /* by a set of the apply under way */
	bool in_place; /* ... whose prefixes it gets in place */
	uint8_t dir;
	struct kx_pol_row rows[KX_POL_SET_ROWS];
	size_t n_rows;
	struct kx_pol_prefix *prefixes; /* sorted as the compiler sorts them */
	size_t n_prefixes;
};

struct kx_pol_syncer {
	struct pol_id ids[KX_POL_MAX_SETS];
	struct kx_pol_ep ep[KX_ENDPOINT_SLOTS]; /* what kx_pol_ep holds */
	uint16_t *set_ids; /* by set index of the last apply */
	size_t n_set_ids;
	struct kx_pol_ns_key *ns; /* what kx_pol_ns holds */
	size_t n_ns;
};

static struct kx_pol_peer_key peer_key(uint16_t id, const struct kx_pol_prefix *p)
{
	return (struct kx_pol_peer_key){ .prefixlen = 32 + p->len, .set = htonl(id),
					 .addr = p->addr };
}

/* One more prefix read back into id's mirror. */
static int mirror_add_prefix(struct pol_id *d, const struct kx_pol_prefix *p)
{
	struct kx_pol_prefix *grown;

	grown = realloc(d->prefixes, (d->n_prefixes + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	d->prefixes = grown;
	d->prefixes[d->n_prefixes++] = *p;
	return 0;
}

/* kx_pol_peer into the mirror, each id's prefixes sorted. */
static int load_peers(struct kx_pol_syncer *s, const struct kx_maps *m)
{
	struct kx_pol_peer_key k, next;
	int e;

	for (e = bpf_map_get_next_key(m->pol_peer, NULL, &next); !e;
	     e = bpf_map_get_next_key(m->pol_peer, &k, &next)) {
		uint32_t id = ntohl(next.set);
		struct kx_pol_prefix p = { .addr = next.addr, .len = (uint8_t)(next.prefixlen - 32) };

		k = next;
		if (id >= KX_POL_MAX_SETS || bpf_map_lookup_elem(m->pol_peer, &k, &p.rows))
			continue;
		s->ids[id].used = true;
		if (mirror_add_prefix(&s->ids[id], &p))
			return -1;
	}
	for (size_t i = 0; i < KX_POL_MAX_SETS; i++)
		if (s->ids[i].n_prefixes)
			qsort(s->ids[i].prefixes, s->ids[i].n_prefixes, sizeof(struct kx_pol_prefix),
			      kx_pol_prefix_cmp);
	return 0;
}

/* The rows of a used id, from kx_pol_rows (a row's hi is never 0). */
static void load_rows(struct pol_id *d, uint16_t id, const struct kx_maps *m)
{
	for (uint32_t i = 0; i < KX_POL_SET_ROWS; i++) {
		uint32_t idx = id * KX_POL_SET_ROWS + i;
		struct kx_pol_row_val r;

		if (bpf_map_lookup_elem(m->pol_rows, &idx, &r) || !r.port_hi)
			continue;
		d->rows[i] = (struct kx_pol_row){ r.proto, r.port_lo, r.port_hi };
		d->n_rows = i + 1;
	}
}

/* kx_pol_ep, the ids it names and kx_pol_ns into the mirror. */
static int load_eps_and_ns(struct kx_pol_syncer *s, const struct kx_maps *m)
{
	struct kx_pol_ns_key k, next;
	int e;

	for (uint32_t slot = 0; slot < KX_ENDPOINT_SLOTS; slot++) {
		struct kx_pol_ep *ep = &s->ep[slot];

		if (bpf_map_lookup_elem(m->pol_ep, &slot, ep) || !ep->addr)
			continue;
		for (int d = 0; d < 2; d++)
			if (ep->set[d] > KX_POL_SET_DENY && ep->set[d] < KX_POL_MAX_SETS) {
				s->ids[ep->set[d]].used = true;
				s->ids[ep->set[d]].dir = (uint8_t)d;
			}
	}
	for (e = bpf_map_get_next_key(m->pol_ns, NULL, &next); !e;
	     e = bpf_map_get_next_key(m->pol_ns, &k, &next)) {
		struct kx_pol_ns_key *grown = realloc(s->ns, (s->n_ns + 1) * sizeof(*grown));

		if (!grown)
			return -1;
		s->ns = grown;
		s->ns[s->n_ns++] = next;
		k = next;
	}
	return 0;
}

struct kx_pol_syncer *kx_pol_syncer_new(const struct kx_maps *m, struct kx_err *err)
{
	struct kx_pol_syncer *s = calloc(1, sizeof(*s));

	if (!s || load_peers(s, m) || load_eps_and_ns(s, m)) {
		kx_errf(err, "policy syncer: out of memory reading the maps");
		kx_pol_syncer_free(s);
		return NULL;
	}
	for (uint16_t id = KX_POL_SET_DENY + 1; id < KX_POL_MAX_SETS; id++)
		if (s->ids[id].used)
			load_rows(&s->ids[id], id, m);
	return s;
}

void kx_pol_syncer_free(struct kx_pol_syncer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < KX_POL_MAX_SETS; i++)
		free(s->ids[i].prefixes);
	free(s->set_ids);
	free(s->ns);
	free(s);
}

uint16_t kx_pol_sync_id(const struct kx_pol_syncer *s, size_t i)
{
	return i < s->n_set_ids ? s->set_ids[i] : KX_POL_SET_DENY;
}

/* Whether id d holds set's rows: field by field (the padding of a row is anything). */
static bool same_rows(const struct pol_id *d, const struct kx_pol_set *set)
{
	if (d->dir != set->dir || d->n_rows != set->n_rows)
		return false;
	for (size_t i = 0; i < set->n_rows; i++)
		if (d->rows[i].proto != set->rows[i].proto ||
		    d->rows[i].port_lo != set->rows[i].port_lo ||
		    d->rows[i].port_hi != set->rows[i].port_hi)
			return false;
	return true;
}

/* Whether id d holds set exactly: its rows, then every prefix and its value. */
static bool same_content(const struct pol_id *d, const struct kx_pol_set *set)
{
	if (!same_rows(d, set) || d->n_prefixes != set->n_prefixes)
		return false;
	for (size_t i = 0; i < set->n_prefixes; i++)
		if (kx_pol_prefix_cmp(&d->prefixes[i], &set->prefixes[i]) ||
		    d->prefixes[i].rows != set->prefixes[i].rows)
			return false;
	return true;
}

/* An unclaimed id holding exactly set, or 0. */
static uint16_t find_exact(struct kx_pol_syncer *s, const struct kx_pol_set *set)
{
	for (uint16_t id = KX_POL_SET_DENY + 1; id < KX_POL_MAX_SETS; id++)
		if (s->ids[id].used && !s->ids[id].claimed && same_content(&s->ids[id], set))
			return id;
	return 0;
}

/*
 * The id the first pod of set i points at now, when its rows are set's and
 * no set claimed it: set's prefixes go there in place. 0 otherwise.
 */
static uint16_t find_in_place(struct kx_pol_syncer *s, const struct kx_pol_table *t, size_t i)
{
	const struct kx_pol_set *set = &t->sets[i];

	for (size_t p = 0; p < t->n_pods; p++) {
		const struct kx_pol_pod *pod = &t->pods[p];
		const struct kx_pol_ep *cur = &s->ep[kx_endpoint_slot(pod->addr)];
		uint16_t id;

		if (pod->set[set->dir] != (int32_t)i)
			continue;
		id = cur->addr == pod->addr ? cur->set[set->dir] : 0;
		if (id > KX_POL_SET_DENY && id < KX_POL_MAX_SETS && s->ids[id].used &&
		    !s->ids[id].claimed && same_rows(&s->ids[id], set))
			return id;
		return 0;
	}
	return 0;
}

/* Delete every prefix of id (the map and the mirror). */
static void clear_prefixes(struct pol_id *d, uint16_t id, const struct kx_maps *m,
			   struct kx_pol_sync_stats *st)
{
	for (size_t i = 0; i < d->n_prefixes; i++) {
		struct kx_pol_peer_key k = peer_key(id, &d->prefixes[i]);

		if (!bpf_map_delete_elem(m->pol_peer, &k))
			st->prefixes_deleted++;
	}
	free(d->prefixes);
	d->prefixes = NULL;
	d->n_prefixes = 0;
}

/* Adopt set's prefixes as id's mirror (a copy). */
static int mirror_prefixes(struct pol_id *d, const struct kx_pol_set *set)
{
	struct kx_pol_prefix *copy = NULL;

	if (set->n_prefixes) {
		copy = malloc(set->n_prefixes * sizeof(*copy));
		if (!copy)
			return -1;
		memcpy(copy, set->prefixes, set->n_prefixes * sizeof(*copy));
	}
	free(d->prefixes);
	d->prefixes = copy;
	d->n_prefixes = set->n_prefixes;
	return 0;
}

/* A free id with its counters zeroed, or 0 when all are taken. */
static uint16_t alloc_id(struct kx_pol_syncer *s, const struct kx_maps *m)
{
	struct kx_pol_counter zero = { 0 };

	for (uint16_t id = KX_POL_SET_DENY + 1; id < KX_POL_MAX_SETS; id++) {
		uint32_t key = id;

		if (s->ids[id].used)
			continue;
		bpf_map_update_elem(m->pol_stats, &key, &zero, BPF_ANY);
		return id;
	}
	return 0;
}

/*
 * Rows 0..n of id: set's, zeros past its own (rows no prefix bit names are
 * never read: only a freed id's are zeroed, for readers of the map). 0 or
 * -errno.
 */
static int write_rows(uint16_t id, const struct kx_pol_set *set, size_t n,
		      const struct kx_maps *m)
{
	for (uint32_t i = 0; i < n && i < KX_POL_SET_ROWS; i++) {
		uint32_t idx = id * KX_POL_SET_ROWS + i;
		struct kx_pol_row_val r = { 0 };

		if (i < set->n_rows)
			r = (struct kx_pol_row_val){ .proto = set->rows[i].proto,
						     .port_lo = set->rows[i].port_lo,
						     .port_hi = set->rows[i].port_hi };
		if (bpf_map_update_elem(m->pol_rows, &idx, &r, BPF_ANY))
			return -errno;
	}
	return 0;
}

/* Set's prefixes under id; 0, or -errno with none of them left. */
static int write_prefixes(uint16_t id, const struct kx_pol_set *set, const struct kx_maps *m,
			  struct kx_pol_sync_stats *st)
{
	struct kx_pol_peer_key k;
	size_t i;
	int ret = 0;

	for (i = 0; i < set->n_prefixes; i++) {
		k = peer_key(id, &set->prefixes[i]);
		if (bpf_map_update_elem(m->pol_peer, &k, &set->prefixes[i].rows, BPF_ANY)) {
			ret = -errno;
			break;
		}
		st->prefixes_written++;
	}
	while (ret && i--) {
		k = peer_key(id, &set->prefixes[i]);
		bpf_map_delete_elem(m->pol_peer, &k);
	}
	return ret;
}

/* A new id holding set whole; 0 or -errno (then nothing of it is left). */
static int write_new(struct kx_pol_syncer *s, const struct kx_maps *m, const struct kx_pol_set *set,
		     uint16_t *out, struct kx_pol_sync_stats *st)
{
	static const struct kx_pol_set none;
	uint16_t id = alloc_id(s, m);
	struct pol_id *d = &s->ids[id];
	int ret;

	if (!id)
		return -ENOSPC;
	ret = write_rows(id, set, set->n_rows, m);
	if (!ret)
		ret = write_prefixes(id, set, m, st);
	if (!ret && mirror_prefixes(d, set))
		ret = -ENOMEM;
	if (ret) {
		write_rows(id, &none, set->n_rows, m);
		return ret;
	}
	d->used = d->claimed = true;
	d->dir = set->dir;
	d->n_rows = set->n_rows;
	memcpy(d->rows, set->rows, sizeof(d->rows));
	st->sets_written++;
	*out = id;
	return 0;
}

/* A prefix change: the new value (upsert) or a removal. */
struct pfx_change {
	struct kx_pol_prefix p;
	bool del;
};

static int change_cmp(const void *a, const void *b)
{
	const struct pfx_change *x = a, *y = b;

	if (x->del != y->del) /* upserts first */
		return x->del ? 1 : -1;
	if (x->del) /* removals shortest first */
		return (int)x->p.len - (int)y->p.len;
	return (int)y->p.len - (int)x->p.len; /* upserts longest first */
}

/* The changes taking old (sorted) to new (sorted) into out (n_old + n_new room). */
static size_t diff_prefixes(const struct kx_pol_prefix *old, size_t n_old,
			    const struct kx_pol_prefix *new, size_t n_new, struct pfx_change *out)
{
	size_t i = 0, j = 0, n = 0;

	while (i < n_old || j < n_new) {
		int c = i == n_old ? 1 : j == n_new ? -1 : kx_pol_prefix_cmp(&old[i], &new[j]);

		if (c < 0) {
			out[n++] = (struct pfx_change){ old[i++], true };
		} else if (c > 0) {
			out[n++] = (struct pfx_change){ new[j++], false };
		} else {
			if (old[i].rows != new[j].rows)
				out[n++] = (struct pfx_change){ new[j], false };
			i++;
			j++;
		}
	}
	return n;
}

/* Id's prefixes made set's, in the safe order; 0 or -errno (the mirror says what holds). */
static int write_in_place(struct kx_pol_syncer *s, const struct kx_maps *m, uint16_t id,
			  const struct kx_pol_set *set, struct kx_pol_sync_stats *st)
{
	struct pol_id *d = &s->ids[id];
	struct pfx_change *ch = malloc((d->n_prefixes + set->n_prefixes + 1) * sizeof(*ch));
	size_t n;
	int ret = 0;

	if (!ch)
		return -ENOMEM;
	n = diff_prefixes(d->prefixes, d->n_prefixes, set->prefixes, set->n_prefixes, ch);
	qsort(ch, n, sizeof(*ch), change_cmp);
	for (size_t i = 0; i < n && !ret; i++) {
		struct kx_pol_peer_key k = peer_key(id, &ch[i].p);

		if (ch[i].del) {
			bpf_map_delete_elem(m->pol_peer, &k);
			st->prefixes_deleted++;
		} else if (bpf_map_update_elem(m->pol_peer, &k, &ch[i].p.rows, BPF_ANY)) {
			ret = -errno;
		} else {
			st->prefixes_written++;
		}
	}
	free(ch);
	if (!ret && mirror_prefixes(d, set))
		ret = -ENOMEM;
	return ret;
}

/* Report each policy of set i: its pods deny, the set could not be written. */
static void refuse_set(const struct kx_pol_table *t, size_t i, const struct k8s_state *st,
		       struct k8s_refusals *refused, int why)
{
	const struct kx_pol_set *set = &t->sets[i];
	char object[64 + K8S_NAME_MAX], reason[256];

	for (size_t p = 0; p < set->n_policies; p++) {
		const struct k8s_netpol *np = &st->netpols[set->policies[p]];

		snprintf(object, sizeof(object), "%s/%s", np->ns, np->name);
		snprintf(reason, sizeof(reason),
			 "%s set of its pods could not be programmed (%s: %s); they deny all %s (fail closed)",
			 set->dir == KX_POL_INGRESS ? "ingress" : "egress",
			 why == -ENOSPC ? "all policy set ids taken" : "kx_pol_peer or kx_pol_rows",
			 strerror(-why), set->dir == KX_POL_INGRESS ? "ingress" : "egress");
		k8s_refuse(refused, "NetworkPolicy", object, reason);
	}
}

/* Phase one: each set an id (exact, in place, or new); ids[] by set index. */
static int assign_ids(struct kx_pol_syncer *s, const struct kx_maps *m,
		      const struct kx_pol_table *t, const struct k8s_state *st,
		      struct k8s_refusals *refused, uint16_t *ids, struct kx_pol_sync_stats *stats)
{
	for (size_t i = 0; i < t->n_sets; i++) {
		ids[i] = t->sets[i].deny_all ? KX_POL_SET_DENY : find_exact(s, &t->sets[i]);
		if (ids[i] > KX_POL_SET_DENY)
			s->ids[ids[i]].claimed = true;
	}
	for (size_t i = 0; i < t->n_sets; i++) {
		if (ids[i])
			continue;
		ids[i] = find_in_place(s, t, i);
		if (ids[i])
			s->ids[ids[i]].claimed = s->ids[ids[i]].in_place = true;
	}
	for (size_t i = 0; i < t->n_sets; i++) {
		int ret;

		if (ids[i])
			continue;
		ret = write_new(s, m, &t->sets[i], &ids[i], stats);
		if (ret == -ENOMEM)
			return -1;
		if (ret) {
			ids[i] = KX_POL_SET_DENY;
			stats->failed++;
			refuse_set(t, i, st, refused, ret);
		}
	}
	return 0;
}

/* The kx_pol_ep entry pod should have. */
static struct kx_pol_ep pod_entry(const struct kx_pol_pod *pod, const uint16_t *ids)
{
	struct kx_pol_ep e = { .addr = pod->addr };

	for (int d = 0; d < 2; d++)
		e.set[d] = pod->set[d] < 0 ? 0 : ids[pod->set[d]];
	return e;
}

/* Write pods' entries; with later false, only those pointing at no in-place id. */
static void write_pods(struct kx_pol_syncer *s, const struct kx_maps *m,
		       const struct kx_pol_table *t, const uint16_t *ids, bool later,
		       struct kx_pol_sync_stats *st)
{
	for (size_t p = 0; p < t->n_pods; p++) {
		struct kx_pol_ep e = pod_entry(&t->pods[p], ids);
		uint32_t slot = kx_endpoint_slot(e.addr);
		bool waits = s->ids[e.set[0]].in_place || s->ids[e.set[1]].in_place;

		if (waits != later)
			continue;
		/* the CNI writes a new pod's start here too: the map, not the mirror */
		if (!bpf_map_lookup_elem(m->pol_ep, &slot, &s->ep[slot]) &&
		    !memcmp(&s->ep[slot], &e, sizeof(e)))
			continue;
		if (bpf_map_update_elem(m->pol_ep, &slot, &e, BPF_ANY)) {
			pr_warn("policy: pod %s: kx_pol_ep: %s", inet_ntoa((struct in_addr){ e.addr }),
				strerror(errno));
			continue;
		}
		s->ep[slot] = e;
		st->pods_written++;
	}
}

static int pod_addr_cmp(const void *key, const void *elem)
{
	uint32_t a = ntohl(*(const uint32_t *)key), b = ntohl(((const struct kx_pol_pod *)elem)->addr);

	return a < b ? -1 : a > b;
}

/*
 * Entries of addresses t has no pod for: gone, unless the pod is wired
 * (kx_endpoints) and still waiting, denied, for the agent to know it.
 */
static void clear_gone_pods(struct kx_pol_syncer *s, const struct kx_maps *m,
			    const struct kx_pol_table *t, struct kx_pol_sync_stats *st)
{
	for (uint32_t slot = 0; slot < KX_ENDPOINT_SLOTS; slot++) {
		struct kx_pol_ep *e = &s->ep[slot], zero = { 0 };
		struct kx_endpoint wired;

		if (!e->addr || bsearch(&e->addr, t->pods, t->n_pods, sizeof(t->pods[0]),
					pod_addr_cmp))
			continue;
		if ((e->set[0] == KX_POL_SET_DENY || e->set[1] == KX_POL_SET_DENY) &&
		    !bpf_map_lookup_elem(m->endpoints, &slot, &wired) && wired.addr == e->addr)
			continue;
		if (!bpf_map_update_elem(m->pol_ep, &slot, &zero, BPF_ANY)) {
			*e = zero;
			st->pods_written++;
		}
	}
}

/* Ids no pod points at any more: emptied and given back. */
static void free_unused_ids(struct kx_pol_syncer *s, const struct kx_maps *m,
			    struct kx_pol_sync_stats *st)
{
	static const struct kx_pol_set none;
	bool pointed[KX_POL_MAX_SETS] = { false };

	for (uint32_t slot = 0; slot < KX_ENDPOINT_SLOTS; slot++)
		if (s->ep[slot].addr)
			pointed[s->ep[slot].set[0] % KX_POL_MAX_SETS] =
				pointed[s->ep[slot].set[1] % KX_POL_MAX_SETS] = true;
	st->sets = 0;
	for (uint16_t id = KX_POL_SET_DENY + 1; id < KX_POL_MAX_SETS; id++) {
		struct pol_id *d = &s->ids[id];

		d->claimed = d->in_place = false;
		if (!d->used)
			continue;
		if (pointed[id]) {
			st->sets++;
			continue;
		}
		clear_prefixes(d, id, m, st);
		write_rows(id, &none, d->n_rows, m);
		memset(d, 0, sizeof(*d));
	}
}

static int ns_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kx_pol_ns_key *)a)->name, ((const struct kx_pol_ns_key *)b)->name);
}

/* kx_pol_ns made t->ns: every namespace's directions, the gone ones deleted. */
static int sync_ns(struct kx_pol_syncer *s, const struct kx_maps *m, const struct kx_pol_table *t)
{
	struct kx_pol_ns_key *now = calloc(t->n_ns + 1, sizeof(*now));

	if (!now)
		return -1;
	for (size_t i = 0; i < t->n_ns; i++) {
		snprintf(now[i].name, sizeof(now[i].name), "%s", t->ns[i].name);
		if (bpf_map_update_elem(m->pol_ns, &now[i], &t->ns[i].dirs, BPF_ANY))
			pr_warn("policy: namespace %s: kx_pol_ns: %s", t->ns[i].name,
				strerror(errno));
	}
	qsort(now, t->n_ns, sizeof(*now), ns_cmp);
	for (size_t i = 0; i < s->n_ns; i++)
		if (!bsearch(&s->ns[i], now, t->n_ns, sizeof(*now), ns_cmp))
			bpf_map_delete_elem(m->pol_ns, &s->ns[i]);
	free(s->ns);
	s->ns = now;
	s->n_ns = t->n_ns;
	return 0;
}

int kx_pol_sync_apply(struct kx_pol_syncer *s, const struct kx_maps *m,
		      const struct kx_pol_table *t, const struct k8s_state *st,
		      struct k8s_refusals *refused, struct kx_pol_sync_stats *stats,
		      struct kx_err *err)
{
	uint16_t *ids = calloc(t->n_sets + 1, sizeof(*ids));

	memset(stats, 0, sizeof(*stats));
	if (!ids || assign_ids(s, m, t, st, refused, ids, stats))
		goto oom;
	write_pods(s, m, t, ids, false, stats);
	for (size_t i = 0; i < t->n_sets; i++) {
		int ret;

		if (ids[i] <= KX_POL_SET_DENY || !s->ids[ids[i]].in_place)
			continue;
		ret = write_in_place(s, m, ids[i], &t->sets[i], stats);
		if (ret == -ENOMEM)
			goto oom;
		if (ret) { /* what was written stays valid per prefix; the pods deny */
			s->ids[ids[i]].in_place = false;
			ids[i] = KX_POL_SET_DENY;
			stats->failed++;
			refuse_set(t, i, st, refused, ret);
		}
	}
	write_pods(s, m, t, ids, true, stats);
	write_pods(s, m, t, ids, false, stats); /* those whose in-place set failed */
	clear_gone_pods(s, m, t, stats);
	free_unused_ids(s, m, stats);
	if (sync_ns(s, m, t))
		goto oom;
	free(s->set_ids);
	s->set_ids = ids;
	s->n_set_ids = t->n_sets;
	return 0;
oom:
	free(ids);
	kx_errf(err, "policy: out of memory");
	return -1;
}
