// SPDX-License-Identifier: GPL-2.0
/*
 * kx_policy_patch_pods: a table brought up to date, without a build, after
 * pods of other nodes changed in place. Such a pod decides nothing in a set
 * but the /32 of each address it held or holds: whether the rules of the
 * set's policies admit that address (the pod's labels, an ipBlock), and,
 * with named egress ports, the rows the pods there give. The prefixes
 * shorter than /32 are the policies' cidrs and excepts, which no pod
 * changes. So for every set and such address, the value a build gives that
 * /32 is computed from the rules alone, and the /32 is kept only where it
 * differs from the longest shorter prefix holding the address: what
 * flatten.c's compaction keeps. Whatever else would change (this node's
 * pods or their selection, a set's rows, sets merging or splitting) is left
 * to kx_policy_build.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "policy/pol_int.h"

/* An endpoint pod at a changed address, and its namespace's labels. */
struct addr_pod {
	uint32_t pod;
	const struct k8s_labels *ns_labels;
};

/* An address a changed pod held or holds, and the endpoint pods there now. */
struct patch_addr {
	uint32_t addr; /* network order */
	struct addr_pod *pods;
	size_t n_pods, cap_pods;
};

/* What a set holds for one /32: kept or not, and its rows. */
struct slash32 {
	uint64_t rows;
	bool kept;
};

/* One patch's working state. */
struct patch {
	const struct k8s_state *st;
	struct kx_pol_table *t;
	struct patch_addr *addrs; /* sorted by address (host order), distinct */
	size_t n_addrs, cap_addrs;
	struct u32_vec *users;	      /* by set: the t->pods entries pointing at it */
	struct u32_vec sel, sel0;     /* one pod's selecting policies; the first pod's */
	struct u32_vec dst;	      /* the pods at an address a rule admits */
	struct slash32 *want, *other; /* by address: a set's /32 for one pod, another's */
	struct kx_pol_prefix **fresh; /* by set: its patched prefixes, NULL: unchanged */
	size_t *n_fresh;
};

/* Whether pod p is a policy endpoint of node (its selection is the table's). */
static bool local_endpoint(const struct k8s_pod *p, const char *node)
{
	return pol_endpoint(p) && !strcmp(p->node, node);
}

/* KX_POL_PATCH_FULL when a change or the table is beyond a patch, else 0. */
static int patch_check(const struct patch *pt, const char *node,
		       const struct kx_pol_pod_change *changes, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (changes[i].pod >= pt->st->n_pods ||
		    local_endpoint(&pt->st->pods[changes[i].pod], node) ||
		    local_endpoint(changes[i].was, node))
			return KX_POL_PATCH_FULL;
	}
	for (size_t i = 0; i < pt->t->n_sets; i++)
		if (pt->t->sets[i].deny_all)
			return KX_POL_PATCH_FULL;
	return 0;
}

/* qsort and bsearch order of changed addresses (host order). */
static int addr_cmp(const void *a, const void *b)
{
	uint32_t x = ntohl(((const struct patch_addr *)a)->addr);
	uint32_t y = ntohl(((const struct patch_addr *)b)->addr);

	return (x > y) - (x < y);
}

/* A changed pod's address, when it is an endpoint there. */
static int addr_add(struct patch *pt, const struct k8s_pod *p)
{
	if (!pol_endpoint(p))
		return 0;
	if (pol_grow((void **)&pt->addrs, &pt->cap_addrs, pt->n_addrs, sizeof(*pt->addrs)))
		return -1;
	pt->addrs[pt->n_addrs++] = (struct patch_addr){.addr = p->addr};
	return 0;
}

/* Every endpoint pod of st at a changed address, onto that address. */
static int addrs_fill(struct patch *pt)
{
	for (uint32_t i = 0; i < pt->st->n_pods; i++) {
		const struct k8s_pod *p = &pt->st->pods[i];
		struct patch_addr key = {.addr = p->addr}, *a;

		if (!pol_endpoint(p))
			continue;
		a = bsearch(&key, pt->addrs, pt->n_addrs, sizeof(key), addr_cmp);
		if (!a)
			continue;
		if (pol_grow((void **)&a->pods, &a->cap_pods, a->n_pods, sizeof(*a->pods)))
			return -1;
		a->pods[a->n_pods++] = (struct addr_pod){i, pol_ns_labels(pt->st, p->ns)};
	}
	return 0;
}

/* The changed addresses (old and new of each pod), the pods there, each set's users. */
static int patch_prepare(struct patch *pt, const struct kx_pol_pod_change *changes, size_t n)
{
	struct kx_pol_table *t = pt->t;

	for (size_t i = 0; i < n; i++)
		if (addr_add(pt, changes[i].was) || addr_add(pt, &pt->st->pods[changes[i].pod]))
			return -1;
	if (pt->n_addrs)
		pt->n_addrs = pol_sort_unique(pt->addrs, pt->n_addrs, sizeof(*pt->addrs), addr_cmp);
	pt->users = calloc(t->n_sets + 1, sizeof(*pt->users));
	pt->fresh = calloc(t->n_sets + 1, sizeof(*pt->fresh));
	pt->n_fresh = calloc(t->n_sets + 1, sizeof(*pt->n_fresh));
	pt->want = calloc(pt->n_addrs + 1, sizeof(*pt->want));
	pt->other = calloc(pt->n_addrs + 1, sizeof(*pt->other));
	if (!pt->users || !pt->fresh || !pt->n_fresh || !pt->want || !pt->other)
		return -1;
	for (uint32_t k = 0; k < t->n_pods; k++)
		for (int dir = 0; dir < 2; dir++)
			if (t->pods[k].set[dir] >= 0 &&
			    u32_push(&pt->users[t->pods[k].set[dir]], k))
				return -1;
	return addrs_fill(pt);
}

/* Whether pod version q is an endpoint rule r admits with a container port r names. */
static bool named_gives(const struct k8s_state *st, const struct k8s_netpol *np,
			const struct k8s_np_rule *r, const struct k8s_pod *q)
{
	if (!pol_endpoint(q) || !pol_rule_admits_pod(np, r, q, pol_ns_labels(st, q->ns)))
		return false;
	for (size_t i = 0; i < r->n_ports; i++)
		for (size_t k = 0; r->ports[i].name[0] && k < q->n_ports; k++)
			if (pol_port_is(&q->ports[k], &r->ports[i]))
				return true;
	return false;
}

/* Whether two versions of a pod have the same container ports, in the same order. */
static bool same_ports(const struct k8s_pod *a, const struct k8s_pod *b)
{
	if (a->n_ports != b->n_ports)
		return false;
	for (size_t k = 0; k < a->n_ports; k++)
		if (a->ports[k].port != b->ports[k].port ||
		    a->ports[k].proto != b->ports[k].proto ||
		    strcmp(a->ports[k].name, b->ports[k].name))
			return false;
	return true;
}

/* Whether a changed pod gives the same rows through the named egress ports of set s. */
static bool named_rows_stay(const struct patch *pt, const struct kx_pol_set *s,
			    const struct kx_pol_pod_change *c)
{
	const struct k8s_pod *now = &pt->st->pods[c->pod];

	for (size_t p = 0; s->dir == KX_POL_EGRESS && p < s->n_policies; p++) {
		const struct k8s_netpol *np = &pt->st->netpols[s->policies[p]];
		size_t n;
		const struct k8s_np_rule *rules = pol_rules(np, KX_POL_EGRESS, &n);

		for (size_t i = 0; i < n; i++) {
			bool before, after;

			if (!pol_rule_has_named(&rules[i]))
				continue;
			before = named_gives(pt->st, np, &rules[i], c->was);
			after = named_gives(pt->st, np, &rules[i], now);
			if (before != after || (before && !same_ports(c->was, now)))
				return false;
		}
	}
	return true;
}

/* KX_POL_PATCH_FULL when some set's rows would change with the changed pods, else 0. */
static int rows_check(const struct patch *pt, const struct kx_pol_pod_change *changes, size_t n)
{
	for (size_t i = 0; i < pt->t->n_sets; i++)
		for (size_t c = 0; c < n; c++)
			if (!named_rows_stay(pt, &pt->t->sets[i], &changes[c]))
				return KX_POL_PATCH_FULL;
	return 0;
}

/* Whether rule r of np admits the address: an ipBlock holds it, a pod there matches, no peers. */
static bool rule_admits_addr(const struct k8s_state *st, const struct k8s_netpol *np,
			     const struct k8s_np_rule *r, const struct patch_addr *a)
{
	for (size_t i = 0; i < r->n_peers; i++) {
		const struct k8s_np_peer *peer = &r->peers[i];

		if (peer->kind == K8S_PEER_BLOCK && pol_block_admits(peer, a->addr))
			return true;
		for (size_t j = 0; peer->kind == K8S_PEER_PODS && j < a->n_pods; j++)
			if (pol_peer_has_pod(np, peer, &st->pods[a->pods[j].pod],
					     a->pods[j].ns_labels))
				return true;
	}
	return !r->n_peers;
}

/* Into pt->dst, the pods at the address rule r admits, where its named egress ports resolve. */
static int rule_dst(struct patch *pt, const struct k8s_netpol *np, const struct k8s_np_rule *r,
		    enum kx_pol_dir dir, const struct patch_addr *a)
{
	pt->dst.n = 0;
	if (dir != KX_POL_EGRESS || !pol_rule_has_named(r))
		return 0;
	for (size_t j = 0; j < a->n_pods; j++)
		if (pol_rule_admits_pod(np, r, &pt->st->pods[a->pods[j].pod],
					a->pods[j].ns_labels) &&
		    u32_push(&pt->dst, a->pods[j].pod))
			return -1;
	return 0;
}

/* The rows policy p's rules give the address in set s (target: the set's pod), ORed into *value. */
static int policy_value(struct patch *pt, const struct kx_pol_set *s, uint32_t p, uint32_t target,
			const struct patch_addr *a, uint64_t *value)
{
	const struct k8s_netpol *np = &pt->st->netpols[p];
	struct pol_set_input in = {.st = pt->st, .target = target, .dir = s->dir};
	size_t n;
	const struct k8s_np_rule *rules = pol_rules(np, s->dir, &n);

	for (size_t i = 0; i < n; i++) {
		uint64_t peers, dst;

		if (rule_dst(pt, np, &rules[i], s->dir, a))
			return -1;
		if (pol_rule_bits(&in, s, &rules[i], &pt->dst, &peers, &dst))
			return KX_POL_PATCH_FULL; /* a row s lacks: its rows would change */
		if (peers && rule_admits_addr(pt->st, np, &rules[i], a))
			*value |= peers;
		*value |= dst;
	}
	return 0;
}

/* The rows of the longest prefix of s shorter than /32 holding addr (0: none). */
static uint64_t enclosing_rows(const struct kx_pol_set *s, uint32_t addr)
{
	for (int len = 31; len >= 0 && s->n_prefixes; len--) {
		struct kx_pol_prefix key = {.addr = pol_net(addr, (uint8_t)len),
					    .len = (uint8_t)len};
		const struct kx_pol_prefix *hit =
			bsearch(&key, s->prefixes, s->n_prefixes, sizeof(key), kx_pol_prefix_cmp);

		if (hit)
			return hit->rows;
	}
	return 0;
}

/* Each changed address's /32 as a build makes it in set s for a pod selected by pols. */
static int set_wants(struct patch *pt, const struct kx_pol_set *s, const struct u32_vec *pols,
		     uint32_t target, struct slash32 *out)
{
	for (size_t a = 0; a < pt->n_addrs; a++) {
		uint64_t rows = 0;

		for (size_t i = 0; i < pols->n; i++) {
			int ret = policy_value(pt, s, pols->v[i], target, &pt->addrs[a], &rows);

			if (ret)
				return ret;
		}
		out[a] = (struct slash32){rows, rows != enclosing_rows(s, pt->addrs[a].addr)};
	}
	return 0;
}

/* Into pt->sel, the policies of set s selecting pod (s's own where no other pod shares it). */
static int pod_selection(struct patch *pt, const struct kx_pol_set *s, uint32_t pod)
{
	pt->sel.n = 0;
	for (size_t i = 0; i < s->n_policies; i++)
		if (pol_selects(&pt->st->netpols[s->policies[i]], &pt->st->pods[pod]) &&
		    u32_push(&pt->sel, s->policies[i]))
			return -1;
	return 0;
}

/* Whether a set of these policies is flattened for each pod: an ingress rule names a port. */
static bool per_pod(const struct k8s_state *st, const struct kx_pol_set *s)
{
	for (size_t p = 0; s->dir == KX_POL_INGRESS && p < s->n_policies; p++) {
		size_t n;
		const struct k8s_np_rule *rules =
			pol_rules(&st->netpols[s->policies[p]], s->dir, &n);

		for (size_t i = 0; i < n; i++)
			if (pol_rule_has_named(&rules[i]))
				return true;
	}
	return false;
}

/* Whether two pods' selections are the same policies. */
static bool same_selection(const struct u32_vec *x, const struct u32_vec *y)
{
	return x->n == y->n && !memcmp(x->v, y->v, x->n * sizeof(*x->v));
}

/* Whether two pods would have the same /32s. */
static bool same_wants(const struct patch *pt)
{
	for (size_t a = 0; a < pt->n_addrs; a++)
		if (pt->want[a].kept != pt->other[a].kept ||
		    (pt->want[a].kept && pt->want[a].rows != pt->other[a].rows))
			return false;
	return true;
}

/* Into pt->want, set i's /32s: the same for every pod sharing it, else FULL (it would split). */
static int set_target(struct patch *pt, size_t i)
{
	const struct kx_pol_set *s = &pt->t->sets[i];
	const struct u32_vec *users = &pt->users[i];
	struct u32_vec own = {.v = s->policies, .n = s->n_policies};
	bool each = users->n > 1 && per_pod(pt->st, s);
	int ret;

	if (users->n == 1)
		return set_wants(pt, s, &own, pt->t->pods[users->v[0]].pod, pt->want);
	for (size_t u = 0; u < users->n; u++) {
		uint32_t pod = pt->t->pods[users->v[u]].pod;

		if (pod_selection(pt, s, pod))
			return -1;
		if (u && !each && same_selection(&pt->sel, &pt->sel0))
			continue;
		ret = set_wants(pt, s, &pt->sel, pod, u ? pt->other : pt->want);
		if (ret)
			return ret;
		if (u && !same_wants(pt))
			return KX_POL_PATCH_FULL;
		if (!u) { /* the first pod's selection kept, to compare the others' with */
			struct u32_vec first = pt->sel;

			pt->sel = pt->sel0;
			pt->sel0 = first;
		}
	}
	return 0;
}

/* What set s holds now for addr's /32. */
static struct slash32 slash32_now(const struct kx_pol_set *s, uint32_t addr)
{
	struct kx_pol_prefix key = {.addr = addr, .len = 32};
	const struct kx_pol_prefix *hit = s->n_prefixes ? bsearch(&key, s->prefixes, s->n_prefixes,
								  sizeof(key), kx_pol_prefix_cmp)
							: NULL;

	return hit ? (struct slash32){hit->rows, true} : (struct slash32){0, false};
}

/* Whether set s holds the /32s wanted already. */
static bool set_holds(const struct patch *pt, const struct kx_pol_set *s)
{
	for (size_t a = 0; a < pt->n_addrs; a++) {
		struct slash32 now = slash32_now(s, pt->addrs[a].addr);

		if (now.kept != pt->want[a].kept || (now.kept && now.rows != pt->want[a].rows))
			return false;
	}
	return true;
}

/* Set i's prefixes with every changed /32 as wanted, into pt->fresh[i] (the same order). */
static int set_rewrite(struct patch *pt, size_t i)
{
	const struct kx_pol_set *s = &pt->t->sets[i];
	struct kx_pol_prefix *out = malloc((s->n_prefixes + pt->n_addrs + 1) * sizeof(*out));
	size_t from = 0, n = 0;

	if (!out)
		return -1;
	for (size_t a = 0; a < pt->n_addrs; a++) {
		struct kx_pol_prefix key;

		memset(&key, 0, sizeof(key));
		key.addr = pt->addrs[a].addr;
		key.len = 32;
		while (from < s->n_prefixes && kx_pol_prefix_cmp(&s->prefixes[from], &key) < 0)
			out[n++] = s->prefixes[from++];
		if (from < s->n_prefixes && !kx_pol_prefix_cmp(&s->prefixes[from], &key))
			from++;
		key.rows = pt->want[a].rows;
		if (pt->want[a].kept)
			out[n++] = key;
	}
	while (from < s->n_prefixes)
		out[n++] = s->prefixes[from++];
	pt->fresh[i] = out;
	pt->n_fresh[i] = n;
	return 0;
}

/* Set i as the patch leaves it. */
static struct kx_pol_set set_patched(const struct patch *pt, size_t i)
{
	struct kx_pol_set s = pt->t->sets[i];

	if (pt->fresh[i]) {
		s.prefixes = pt->fresh[i];
		s.n_prefixes = pt->n_fresh[i];
	}
	return s;
}

/* Whether sets i and j could be equal once patched: direction and sizes. */
static bool sets_alike(const struct patch *pt, size_t i, size_t j)
{
	const struct kx_pol_set *x = &pt->t->sets[i], *y = &pt->t->sets[j];
	size_t nx = pt->fresh[i] ? pt->n_fresh[i] : x->n_prefixes;
	size_t ny = pt->fresh[j] ? pt->n_fresh[j] : y->n_prefixes;

	return i != j && x->dir == y->dir && x->n_rows == y->n_rows && nx == ny;
}

/* Whether a rewritten set equals another set: the build would share one. */
static bool sets_merge(const struct patch *pt)
{
	for (size_t i = 0; i < pt->t->n_sets; i++) {
		for (size_t j = 0; pt->fresh[i] && j < pt->t->n_sets; j++) {
			struct kx_pol_set x, y;

			if (!sets_alike(pt, i, j))
				continue;
			x = set_patched(pt, i);
			y = set_patched(pt, j);
			if (pol_set_equal(&x, &y))
				return true;
		}
	}
	return false;
}

/* Every set's /32s worked out, and the sets that change rewritten aside. */
static int sets_patch(struct patch *pt)
{
	for (size_t i = 0; i < pt->t->n_sets; i++) {
		int ret = pt->users[i].n ? set_target(pt, i) : 0;

		if (!ret && pt->users[i].n && !set_holds(pt, &pt->t->sets[i]))
			ret = set_rewrite(pt, i);
		if (ret)
			return ret;
	}
	return sets_merge(pt) ? KX_POL_PATCH_FULL : 0;
}

/* The rewritten prefixes into the table, the old ones freed. */
static void patch_commit(struct patch *pt)
{
	for (size_t i = 0; i < pt->t->n_sets; i++) {
		if (!pt->fresh[i])
			continue;
		free(pt->t->sets[i].prefixes);
		pt->t->sets[i].prefixes = pt->fresh[i];
		pt->t->sets[i].n_prefixes = pt->n_fresh[i];
		pt->fresh[i] = NULL;
	}
}

/* The working state, freed (prefixes not committed with it). */
static void patch_free(struct patch *pt)
{
	for (size_t a = 0; a < pt->n_addrs; a++)
		free(pt->addrs[a].pods);
	for (size_t i = 0; pt->users && i < pt->t->n_sets; i++)
		free(pt->users[i].v);
	for (size_t i = 0; pt->fresh && i < pt->t->n_sets; i++)
		free(pt->fresh[i]);
	free(pt->addrs);
	free(pt->users);
	free(pt->fresh);
	free(pt->n_fresh);
	free(pt->want);
	free(pt->other);
	free(pt->sel.v);
	free(pt->sel0.v);
	free(pt->dst.v);
}

/* The table after pods of other nodes changed in place (see policy.h). */
int kx_policy_patch_pods(const struct k8s_state *st, const char *node,
			 const struct kx_pol_pod_change *changes, size_t n, struct kx_pol_table *t,
			 struct kx_err *err)
{
	struct patch pt = {.st = st, .t = t};
	int ret = patch_check(&pt, node, changes, n);

	if (!ret)
		ret = patch_prepare(&pt, changes, n);
	if (!ret)
		ret = rows_check(&pt, changes, n);
	if (!ret)
		ret = sets_patch(&pt);
	if (!ret)
		patch_commit(&pt);
	patch_free(&pt);
	if (ret < 0)
		kx_errf(err, "policy: out of memory patching %zu pods into %zu sets", n, t->n_sets);
	return ret;
}
