// SPDX-License-Identifier: GPL-2.0
/*
 * One policy set: the rows (proto, port range) the policies selecting a pod
 * give, and the peer prefixes flattened for a longest-prefix match.
 *
 * Every rule is walked three times by walk_set: (A) its rows, deduplicated
 * and sorted, which fixes each row's bit; (B) the prefixes its peers use
 * (each pod's /32 once, every cidr and except); (C) each prefix's value:
 * the rows some peer admitting it gives (a pod's rows are gathered first,
 * then put on its /32). A PODS peer admits its pods' /32s, an ipBlock a
 * prefix its cidr holds and no except holds. Since every cidr and except is
 * a prefix of the set, the longest prefix holding any address is one every
 * peer agrees on, so its value is exactly the rows admitting that address.
 * A named egress port gives its row to one destination pod's /32 alone.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "policy/pol_int.h"

/* A set being flattened. */
struct flat {
	const struct pol_set_input *in;
	struct kx_pol_set *s;
	const struct kx_pol_set *fixed; /* pol_rule_bits: the set whose rows give the bits */
	struct kx_pol_row *cand; /* pass A: every row given, repeats included */
	size_t n_cand, cap_cand;
	size_t cap_prefixes;
	bool rule_gives;    /* pass B: the rule walked gives rows to its peers */
	uint64_t rule_mask; /* pass C: which rows */
	uint64_t dst_mask;  /* pol_rule_bits: the rows its named egress ports give */
	int err;	    /* -1: out of memory; pol_rule_bits: a row not fixed */
};

/* Where walk_rule sends each row: to the rule's peers (pod POL_NO_POD) or to one pod. */
typedef void (*emit_fn)(struct flat *f, struct kx_pol_row row, uint32_t pod);
/* What walk_set does after each rule's rows. */
typedef void (*rule_done_fn)(struct flat *f, const struct k8s_np_rule *r,
			     const struct pol_rule_peers *rp);

/* The rows named port entry e has on pod (one per container port of that name and protocol). */
static void walk_named(struct flat *f, uint32_t pod, const struct k8s_np_port *e, uint32_t only,
		       emit_fn emit)
{
	const struct k8s_pod *p = &f->in->st->pods[pod];

	for (size_t k = 0; k < p->n_ports; k++)
		if (pol_port_is(&p->ports[k], e))
			emit(f, (struct kx_pol_row){e->proto, p->ports[k].port, p->ports[k].port},
			     only);
}

/* Every row one rule gives: ingress named ports on the target, egress ones per destination. */
static void walk_rule(struct flat *f, const struct k8s_np_rule *r, const struct pol_rule_peers *rp,
		      emit_fn emit)
{
	static const struct kx_pol_row every = {.proto = 0, .port_lo = 0, .port_hi = 65535};

	if (!r->n_ports)
		emit(f, every, POL_NO_POD);
	for (size_t i = 0; i < r->n_ports; i++) {
		const struct k8s_np_port *e = &r->ports[i];

		if (!e->name[0])
			emit(f, pol_numeric_row(e), POL_NO_POD);
		else if (f->in->dir == KX_POL_INGRESS)
			walk_named(f, f->in->target, e, POL_NO_POD, emit);
		else
			for (size_t j = 0; j < rp->dst.n; j++)
				walk_named(f, rp->dst.v[j], e, rp->dst.v[j], emit);
	}
}

/* Every rule of the set's policies in the set's direction, then done on it. */
static void walk_set(struct flat *f, emit_fn emit, rule_done_fn done)
{
	const struct pol_set_input *in = f->in;

	for (size_t p = 0; p < in->n_policies && !f->err; p++) {
		uint32_t policy = in->policies[p];
		size_t n;
		const struct k8s_np_rule *rules = pol_rules(&in->st->netpols[policy], in->dir, &n);

		for (size_t i = 0; i < n && !f->err; i++) {
			const struct pol_rule_peers *rp = &in->cache[policy].rules[in->dir][i];

			f->rule_gives = false;
			f->rule_mask = 0;
			walk_rule(f, &rules[i], rp, emit);
			if (done)
				done(f, &rules[i], rp);
		}
	}
}

/* Rows ordered by proto, port_lo, port_hi (the set's order; bsearch too). */
static int row_cmp(const void *a, const void *b)
{
	const struct kx_pol_row *x = a, *y = b;

	if (x->proto != y->proto)
		return x->proto < y->proto ? -1 : 1;
	if (x->port_lo != y->port_lo)
		return x->port_lo < y->port_lo ? -1 : 1;
	return (x->port_hi > y->port_hi) - (x->port_hi < y->port_hi);
}

/* Pass A: note a row. */
static void emit_row(struct flat *f, struct kx_pol_row row, uint32_t pod)
{
	if (pol_grow((void **)&f->cand, &f->cap_cand, f->n_cand, sizeof(*f->cand)))
		f->err = -1;
	else
		f->cand[f->n_cand++] = row;
}

/* Pass A: the set's distinct rows, sorted; more than fit leave none (deny_all). */
static void rows_fix(struct flat *f, size_t *n_wanted)
{
	size_t n = pol_sort_unique(f->cand, f->n_cand, sizeof(*f->cand), row_cmp);

	*n_wanted = n;
	f->s->deny_all = n > KX_POL_SET_ROWS;
	f->s->n_rows = f->s->deny_all ? 0 : n;
	if (f->s->n_rows)
		memcpy(f->s->rows, f->cand, f->s->n_rows * sizeof(*f->cand));
}

int kx_pol_prefix_cmp(const void *a, const void *b)
{
	const struct kx_pol_prefix *x = a, *y = b;
	uint32_t ax = ntohl(x->addr), ay = ntohl(y->addr);

	if (ax != ay)
		return ax < ay ? -1 : 1;
	return (int)x->len - (int)y->len;
}

/* Pass B: note prefix addr/len (host bits cleared). */
static void prefix_add(struct flat *f, uint32_t addr, uint8_t len)
{
	struct kx_pol_set *s = f->s;

	if (pol_grow((void **)&s->prefixes, &f->cap_prefixes, s->n_prefixes,
		     sizeof(*s->prefixes))) {
		f->err = -1;
		return;
	}
	s->prefixes[s->n_prefixes++] =
		(struct kx_pol_prefix){.addr = pol_net(addr, len), .len = len};
}

/* Pass B and C: every peer of a rule, its pods to on_pod, its ipBlocks to on_block. */
static void each_peer(struct flat *f, const struct k8s_np_rule *r, const struct pol_rule_peers *rp,
		      void (*on_pod)(struct flat *, uint32_t),
		      void (*on_block)(struct flat *, const struct k8s_np_peer *))
{
	size_t n;
	const struct k8s_np_peer *peers = pol_rule_peers(r, &n);

	for (size_t i = 0; i < n; i++) {
		if (peers[i].kind == K8S_PEER_BLOCK)
			on_block(f, &peers[i]);
		for (size_t j = 0; peers[i].kind == K8S_PEER_PODS && j < rp->pods[i].n; j++)
			on_pod(f, rp->pods[i].v[j]);
	}
}

/* Pass B: a pod's /32, the first time the set names the pod. */
static void prefix_add_pod(struct flat *f, uint32_t pod)
{
	struct pol_scratch *sc = f->in->scratch;

	if (sc->listed[pod])
		return;
	if (u32_push(&sc->pods, pod)) {
		f->err = -1;
		return;
	}
	sc->listed[pod] = true;
	prefix_add(f, f->in->st->pods[pod].addr, 32);
}

/* Pass B: an ipBlock's cidr and excepts. */
static void prefix_add_block(struct flat *f, const struct k8s_np_peer *peer)
{
	prefix_add(f, peer->cidr.addr, peer->cidr.len);
	for (size_t i = 0; i < peer->n_except; i++)
		prefix_add(f, peer->except[i].addr, peer->except[i].len);
}

/* Pass B: a row for one destination pod adds its /32; one for the peers, theirs after. */
static void emit_prefix(struct flat *f, struct kx_pol_row row, uint32_t pod)
{
	if (pod == POL_NO_POD)
		f->rule_gives = true;
	else
		prefix_add_pod(f, pod);
}

/* Pass B, after a rule: the prefixes of its peers when it gives them rows. */
static void rule_prefixes(struct flat *f, const struct k8s_np_rule *r,
			  const struct pol_rule_peers *rp)
{
	if (f->rule_gives)
		each_peer(f, r, rp, prefix_add_pod, prefix_add_block);
}

/* Pass C: the bit of a row (every row given is one of the set's). */
static uint64_t row_bit(const struct kx_pol_set *s, struct kx_pol_row row)
{
	const struct kx_pol_row *hit = bsearch(&row, s->rows, s->n_rows, sizeof(row), row_cmp);

	return hit ? 1ull << (hit - s->rows) : 0;
}

/* Pass C: a row for one destination pod goes to it now; one for the peers, after. */
static void emit_value(struct flat *f, struct kx_pol_row row, uint32_t pod)
{
	if (pod == POL_NO_POD)
		f->rule_mask |= row_bit(f->s, row);
	else
		f->in->scratch->rows[pod] |= row_bit(f->s, row);
}

/* Pass C: a pod gets the rule's rows. */
static void value_add_pod(struct flat *f, uint32_t pod)
{
	f->in->scratch->rows[pod] |= f->rule_mask;
}

/* Pass C, last: each listed pod's rows onto its /32; the scratch left zero. */
static void pods_fold(struct flat *f)
{
	struct pol_scratch *sc = f->in->scratch;
	struct kx_pol_set *s = f->s;

	for (size_t i = 0; i < sc->pods.n; i++) {
		uint32_t pod = sc->pods.v[i];
		struct kx_pol_prefix key = {.addr = f->in->st->pods[pod].addr, .len = 32}, *hit;

		hit = s->n_prefixes
			      ? bsearch(&key, s->prefixes, s->n_prefixes, sizeof(key), kx_pol_prefix_cmp)
			      : NULL;
		if (hit)
			hit->rows |= sc->rows[pod];
		sc->rows[pod] = 0;
		sc->listed[pod] = false;
	}
	sc->pods.n = 0;
}

/* Whether some except of an ipBlock holds prefix p (then the block does not admit it). */
static bool except_holds(const struct k8s_np_peer *peer, const struct kx_pol_prefix *p)
{
	for (size_t i = 0; i < peer->n_except; i++)
		if (peer->except[i].len <= p->len &&
		    pol_prefix_holds(peer->except[i].addr, peer->except[i].len, p->addr))
			return true;
	return false;
}

/* Pass C: every prefix inside an ipBlock's cidr and inside none of its excepts gets the rows. */
static void value_add_block(struct flat *f, const struct k8s_np_peer *peer)
{
	struct kx_pol_set *s = f->s;
	struct kx_pol_prefix key = {.addr = pol_net(peer->cidr.addr, peer->cidr.len)};
	size_t lo = 0, hi = s->n_prefixes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (kx_pol_prefix_cmp(&s->prefixes[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (struct kx_pol_prefix *p = s->prefixes + lo; p < s->prefixes + s->n_prefixes; p++) {
		if (!pol_prefix_holds(key.addr, peer->cidr.len, p->addr))
			break;
		if (p->len >= peer->cidr.len && !except_holds(peer, p))
			p->rows |= f->rule_mask;
	}
}

/* Pass C, after a rule: its rows to every prefix its peers admit. */
static void rule_values(struct flat *f, const struct k8s_np_rule *r,
			const struct pol_rule_peers *rp)
{
	if (f->rule_mask)
		each_peer(f, r, rp, value_add_pod, value_add_block);
}

/* pol_rule_bits: a row's bit, for the rule's peers or its destination pods; one not fixed fails. */
static void emit_bits(struct flat *f, struct kx_pol_row row, uint32_t pod)
{
	uint64_t bit = row_bit(f->fixed, row);

	if (!bit)
		f->err = -1;
	if (pod == POL_NO_POD)
		f->rule_mask |= bit;
	else
		f->dst_mask |= bit;
}

/* The rows one rule of set s gives, as s's bits: to its peers, and to the pods dst names. */
int pol_rule_bits(const struct pol_set_input *in, const struct kx_pol_set *s,
		  const struct k8s_np_rule *r, const struct u32_vec *dst, uint64_t *peers,
		  uint64_t *to_dst)
{
	struct pol_rule_peers rp = {.dst = *dst};
	struct flat f = {.in = in, .fixed = s};

	walk_rule(&f, r, &rp, emit_bits);
	*peers = f.rule_mask;
	*to_dst = f.dst_mask;
	return f.err;
}

/*
 * Drop each prefix whose value is its enclosing prefix's (none: 0): the
 * longest match then lands on the enclosing one, with the same answer.
 */
static void prefixes_compact(struct kx_pol_set *s)
{
	struct kx_pol_prefix outer[33]; /* the prefixes holding the current one, shortest first */
	size_t depth = 0, n = 0;

	for (size_t i = 0; i < s->n_prefixes; i++) {
		struct kx_pol_prefix p = s->prefixes[i];
		uint64_t around;

		while (depth &&
		       !pol_prefix_holds(outer[depth - 1].addr, outer[depth - 1].len, p.addr))
			depth--;
		around = depth ? outer[depth - 1].rows : 0;
		outer[depth++] = p;
		if (p.rows != around)
			s->prefixes[n++] = p;
	}
	s->n_prefixes = n;
}

/* Passes A, B, C and the compaction; a set with too many rows stops after A, deny_all. */
int pol_set_flatten(const struct pol_set_input *in, struct kx_pol_set *s, size_t *n_wanted)
{
	struct flat f = {.in = in, .s = s};

	memset(s, 0, sizeof(*s));
	s->dir = in->dir;
	walk_set(&f, emit_row, NULL);
	if (!f.err)
		rows_fix(&f, n_wanted);
	free(f.cand);
	if (f.err || s->deny_all)
		return f.err;
	walk_set(&f, emit_prefix, rule_prefixes);
	s->n_prefixes =
		pol_sort_unique(s->prefixes, s->n_prefixes, sizeof(*s->prefixes), kx_pol_prefix_cmp);
	walk_set(&f, emit_value, rule_values);
	pods_fold(&f);
	prefixes_compact(s);
	if (f.err) {
		free(s->prefixes);
		s->prefixes = NULL;
		s->n_prefixes = 0;
	}
	return f.err;
}
