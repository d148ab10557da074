// SPDX-License-Identifier: GPL-2.0
/*
 * The NetworkPolicy compiler (user/policy) on clusters built in C: named
 * scenarios asserting the rows and prefixes of the sets, and a property
 * test comparing compiled sets with the reference evaluator on random
 * clusters.
 */
#include <time.h>
#include "testlib.h"
#include "polrand.h"

#define IN KX_POL_INGRESS
#define EG KX_POL_EGRESS

/* A protocol's name in texts; 0 (a row without ports) is "any". */
static const char *proto_name(uint8_t proto)
{
	return proto == P_TCP ? "tcp" : proto == P_UDP ? "udp" : proto == P_SCTP ? "sctp" : "any";
}

/* One of a few rotating buffers, for texts compared in one assertion. */
static char *text_buf(void)
{
	static char bufs[4][8192];
	static int next;

	next = (next + 1) % 4;
	bufs[next][0] = 0;
	return bufs[next];
}

/* A set's rows as text: "tcp 80, udp 53-60, any 0-65535". */
static const char *rows_text(const struct kx_pol_set *s)
{
	char *buf = text_buf();
	size_t n = 0;

	for (size_t i = 0; i < s->n_rows; i++) {
		const struct kx_pol_row *r = &s->rows[i];

		n += snprintf(buf + n, 8192 - n, "%s%s %u", i ? ", " : "", proto_name(r->proto),
			      r->port_lo);
		if (r->port_hi != r->port_lo)
			n += snprintf(buf + n, 8192 - n, "-%u", r->port_hi);
	}
	return buf;
}

/* A set's prefixes as text: "10.0.0.0/8 0x1, 10.1.0.0/16 0". */
static const char *prefixes_text(const struct kx_pol_set *s)
{
	char *buf = text_buf();
	size_t n = 0;

	for (size_t i = 0; i < s->n_prefixes && n < 8000; i++) {
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &s->prefixes[i].addr, a, sizeof(a));
		n += snprintf(buf + n, 8192 - n, "%s%s/%u %#llx", i ? ", " : "", a,
			      s->prefixes[i].len, (unsigned long long)s->prefixes[i].rows);
	}
	return buf;
}

/* Two sets whose direction, deny_all, rows and prefixes read the same. */
static bool same_text(const struct kx_pol_set *x, const struct kx_pol_set *y)
{
	return x->dir == y->dir && x->deny_all == y->deny_all &&
	       !strcmp(rows_text(x), rows_text(y)) && !strcmp(prefixes_text(x), prefixes_text(y));
}

/* Rows distinct and sorted, prefixes distinct, sorted, host bits 0, bits within the rows. */
static void check_set(const struct kx_pol_set *s)
{
	assert_true(s->n_rows <= KX_POL_SET_ROWS);
	if (s->deny_all)
		assert_true(!s->n_rows && !s->n_prefixes);
	for (size_t i = 1; i < s->n_rows; i++) {
		const struct kx_pol_row *a = &s->rows[i - 1], *b = &s->rows[i];

		assert_true(a->proto < b->proto ||
			    (a->proto == b->proto && a->port_lo < b->port_lo) ||
			    (a->proto == b->proto && a->port_lo == b->port_lo &&
			     a->port_hi < b->port_hi));
	}
	for (size_t i = 0; i < s->n_prefixes; i++) {
		const struct kx_pol_prefix *p = &s->prefixes[i];
		uint32_t mask = p->len ? ~0u << (32 - p->len) : 0;

		assert_true(p->len <= 32);
		assert_int_equal(ntohl(p->addr) & ~mask, 0);
		assert_true(s->n_rows == 64 || p->rows >> s->n_rows == 0);
		if (i)
			assert_true(ntohl(s->prefixes[i - 1].addr) < ntohl(p->addr) ||
				    (s->prefixes[i - 1].addr == p->addr &&
				     s->prefixes[i - 1].len < p->len));
	}
	for (size_t i = 1; i < s->n_policies; i++)
		assert_true(s->policies[i - 1] < s->policies[i]);
}

/* What a table must always be: pods sorted and local, every set used, checked, distinct. */
static void check_table(const struct fx *c, const char *node, const struct kx_pol_table *t)
{
	size_t local = 0;

	for (size_t i = 0; i < c->st.n_pods; i++) {
		const struct k8s_pod *p = &c->st.pods[i];

		local += !strcmp(p->node, node) && p->addr && !p->host_network && !p->finished;
	}
	assert_int_equal(t->n_pods, local);
	for (size_t k = 0; k < t->n_pods; k++) {
		assert_int_equal(t->pods[k].addr, c->st.pods[t->pods[k].pod].addr);
		assert_true(!k || ntohl(t->pods[k - 1].addr) <= ntohl(t->pods[k].addr));
		for (int dir = 0; dir < 2; dir++) {
			assert_true(t->pods[k].set[dir] >= -1 &&
				    t->pods[k].set[dir] < (int)t->n_sets);
			if (t->pods[k].set[dir] >= 0)
				assert_int_equal(t->sets[t->pods[k].set[dir]].dir, dir);
		}
	}
	for (size_t i = 0; i < t->n_sets; i++) {
		bool used = false;

		check_set(&t->sets[i]);
		for (size_t k = 0; k < t->n_pods; k++)
			used |= t->pods[k].set[0] == (int)i || t->pods[k].set[1] == (int)i;
		assert_true(used);
		for (size_t j = 0; j < i; j++)
			assert_false(same_text(&t->sets[i], &t->sets[j]));
	}
}

/* The table of cluster c seen from node, checked. */
static void build_table(const struct fx *c, const char *node, struct kx_pol_table *t)
{
	struct kx_err err = {""};

	if (kx_policy_build(&c->st, node, t, &err))
		fail_msg("kx_policy_build: %s", err.msg);
	check_table(c, node, t);
}

/* One scenario: the cluster it builds and the table compiled from it, freed by teardown. */
struct scenario {
	struct fx *c;
	struct kx_pol_table t;
};

/* An empty cluster for a scenario. */
static int setup(void **state)
{
	struct scenario *sc = calloc(1, sizeof(*sc));

	if (!sc)
		return -1;
	sc->c = fx_new(16, 8, 8);
	*state = sc;
	return 0;
}

/* The scenario's table and cluster, freed. */
static int teardown(void **state)
{
	struct scenario *sc = *state;

	kx_pol_table_free(&sc->t);
	fx_free(sc->c);
	free(sc);
	return 0;
}

/* The scenario's table seen from node. */
static void build(struct scenario *sc, const char *node)
{
	build_table(sc->c, node, &sc->t);
}

/* The entry of pod index pod in t->pods, NULL when it is not a local endpoint. */
static const struct kx_pol_pod *table_pod(const struct kx_pol_table *t, uint32_t pod)
{
	for (size_t k = 0; k < t->n_pods; k++)
		if (t->pods[k].pod == pod)
			return &t->pods[k];
	return NULL;
}

/* The set of pod id for dir, NULL when no policy isolates it that way. */
static const struct kx_pol_set *set_of(const struct scenario *sc, const char *id,
				       enum kx_pol_dir dir)
{
	const struct kx_pol_pod *pp = table_pod(&sc->t, fx_pod_index(sc->c, id));

	if (!pp)
		fail_msg("pod %s is not a local endpoint", id);
	return pp->set[dir] >= 0 ? &sc->t.sets[pp->set[dir]] : NULL;
}

/* The compiled answer for local pod pp: isolated = a set; allowed = a row of its longest prefix. */
static bool compiled_allows(const struct kx_pol_table *t, const struct kx_pol_pod *pp,
			    enum kx_pol_dir dir, uint32_t peer, uint8_t proto, uint16_t port,
			    bool *isolated)
{
	const struct kx_pol_set *s = pp->set[dir] >= 0 ? &t->sets[pp->set[dir]] : NULL;
	uint64_t bits = s ? kx_pol_set_lookup(s, peer) : 0;

	*isolated = s;
	for (size_t i = 0; s && i < s->n_rows; i++) {
		const struct kx_pol_row *r = &s->rows[i];

		if ((bits >> i & 1) && (!r->proto || r->proto == proto) && port >= r->port_lo &&
		    port <= r->port_hi)
			return true;
	}
	return !s;
}

/* Whether local pod id allows peer on proto/port in dir; the table and the evaluator agree. */
static bool allows(const struct scenario *sc, const char *id, enum kx_pol_dir dir, const char *peer,
		   uint8_t proto, uint16_t port)
{
	uint32_t pod = fx_pod_index(sc->c, id);
	const struct kx_pol_pod *pp = table_pod(&sc->t, pod);
	struct kx_pol_verdict v;
	bool isolated, compiled;

	if (!pp)
		fail_msg("pod %s is not a local endpoint", id);
	compiled = compiled_allows(&sc->t, pp, dir, fx_addr(peer), proto, port, &isolated);
	kx_policy_eval(&sc->c->st, pod, dir, fx_addr(peer), proto, port, &v);
	if (v.allowed != compiled || v.isolated != isolated)
		fail_msg("%s %s %s %s/%u: table says %s%s, evaluator %s%s", id,
			 dir == IN ? "from" : "to", peer, proto_name(proto), port,
			 isolated ? "isolated " : "", compiled ? "allowed" : "denied",
			 v.isolated ? "isolated " : "", v.allowed ? "allowed" : "denied");
	return compiled;
}

/* A policy selecting pods, without rules: isolated, nothing allowed, no prefixes. */
static void test_default_deny(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct kx_pol_verdict v;
	const struct kx_pol_set *s;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/b", "n1", "10.0.1.2", "app=b");
	fx_policy(c, "x/deny", "", "Ingress");
	build(sc, "n1");
	s = set_of(sc, "x/a", IN);
	assert_non_null(s);
	assert_false(s->deny_all);
	assert_string_equal(rows_text(s), "");
	assert_string_equal(prefixes_text(s), "");
	assert_int_equal(s->n_policies, 1);
	assert_int_equal(s->policies[0], 0);
	assert_ptr_equal(set_of(sc, "x/b", IN), s);
	assert_null(set_of(sc, "x/a", EG));
	assert_int_equal(sc->t.n_sets, 1);
	assert_false(allows(sc, "x/a", IN, "10.0.1.2", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "192.0.2.1", P_UDP, 53));
	assert_true(allows(sc, "x/a", EG, "10.0.1.2", P_TCP, 80));
	kx_policy_eval(&c->st, fx_pod_index(c, "x/a"), IN, fx_addr("10.0.1.2"), P_TCP, 80, &v);
	assert_true(v.isolated);
	assert_false(v.allowed);
	assert_int_equal(v.n_selecting, 1);
	assert_int_equal(v.policy, -1);
	assert_int_equal(v.rule, -1);
}

/* ingress: [{}] admits every address on every port of every protocol: row 0, 0.0.0.0/0. */
static void test_allow_all_rule(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct kx_pol_verdict v;
	struct k8s_netpol *np;
	const struct kx_pol_set *s;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_policy(c, "x/deny", "", "Ingress,Egress");
	np = fx_policy(c, "x/all", "app=a", "Ingress");
	fx_rule(c, np, IN);
	build(sc, "n1");
	s = set_of(sc, "x/a", IN);
	assert_string_equal(rows_text(s), "any 0-65535");
	assert_string_equal(prefixes_text(s), "0.0.0.0/0 0x1");
	assert_int_equal(s->n_policies, 2);
	assert_true(allows(sc, "x/a", IN, "192.0.2.1", P_UDP, 53));
	assert_true(allows(sc, "x/a", IN, "10.9.9.9", P_SCTP, 1));
	assert_true(allows(sc, "x/a", IN, "10.9.9.9", IPPROTO_ICMP, 0));
	assert_string_equal(rows_text(set_of(sc, "x/a", EG)), "");
	assert_false(allows(sc, "x/a", EG, "192.0.2.1", P_TCP, 443));
	kx_policy_eval(&c->st, fx_pod_index(c, "x/a"), IN, fx_addr("192.0.2.1"), P_TCP, 80, &v);
	assert_int_equal(v.n_selecting, 2);
	assert_int_equal(v.policy, 1);
	assert_int_equal(v.rule, 0);
}

/* podSelector alone: pods of the policy's namespace only, on any node. */
static void test_pod_selector_own_namespace(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/client", "n2", "10.0.2.1", "role=client");
	fx_pod(c, "y/client", "n2", "10.0.3.1", "role=client");
	fx_pod(c, "x/other", "n2", "10.0.2.2", "role=other");
	np = fx_policy(c, "x/p", "app=a", "Ingress");
	r = fx_rule(c, np, IN);
	fx_from_pods(c, r, "role=client", NULL);
	fx_port(r, P_TCP, 80, 0);
	build(sc, "n1");
	assert_int_equal(sc->t.n_pods, 1);
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "tcp 80");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "10.0.2.1/32 0x1");
	assert_true(allows(sc, "x/a", IN, "10.0.2.1", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "10.0.2.1", P_TCP, 81));
	assert_false(allows(sc, "x/a", IN, "10.0.2.1", P_UDP, 80));
	assert_false(allows(sc, "x/a", IN, "10.0.3.1", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "10.0.2.2", P_TCP, 80));
}

/* namespaceSelector {} alone: every pod of every namespace, each /32, but not 0.0.0.0/0. */
static void test_namespace_selector_empty_is_all_pods_only(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_ns(c, "x", "");
	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "y/b", "n2", "10.0.3.1", "");
	fx_pod(c, "z/c", "n2", "10.0.4.1", "");
	fx_pod(c, "z/host", "n2", "192.168.0.2", "")->host_network = true;
	np = fx_policy(c, "x/p", "app=a", "Ingress");
	r = fx_rule(c, np, IN);
	fx_from_pods(c, r, NULL, "");
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "any 0-65535");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)),
			    "10.0.1.1/32 0x1, 10.0.3.1/32 0x1, 10.0.4.1/32 0x1");
	assert_true(allows(sc, "x/a", IN, "10.0.4.1", P_UDP, 53));
	assert_false(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "192.168.0.2", P_TCP, 80));
}

/* Both selectors in one peer must both hold (AND); several peers are alternatives (OR). */
static void test_and_within_a_peer_or_between_peers(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_ns(c, "y", "team=blue");
	fx_ns(c, "z", "team=red");
	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/c", "n1", "10.0.1.3", "app=c");
	fx_pod(c, "y/b1", "n2", "10.0.3.1", "role=db");
	fx_pod(c, "y/b2", "n2", "10.0.3.2", "role=web");
	fx_pod(c, "z/r1", "n2", "10.0.4.1", "role=db");
	fx_pod(c, "z/r2", "n2", "10.0.4.2", "role=web");
	np = fx_policy(c, "x/and", "app=a", "Ingress");
	fx_from_pods(c, fx_rule(c, np, IN), "role=db", "team=blue");
	np = fx_policy(c, "x/or", "app=c", "Ingress");
	r = fx_rule(c, np, IN);
	fx_from_pods(c, r, NULL, "team=blue");
	fx_from_pods(c, r, "role=db", "");
	build(sc, "n1");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "10.0.3.1/32 0x1");
	assert_string_equal(prefixes_text(set_of(sc, "x/c", IN)),
			    "10.0.3.1/32 0x1, 10.0.3.2/32 0x1, 10.0.4.1/32 0x1");
	assert_false(allows(sc, "x/a", IN, "10.0.4.1", P_TCP, 80));
	assert_true(allows(sc, "x/c", IN, "10.0.4.1", P_TCP, 80));
	assert_false(allows(sc, "x/c", IN, "10.0.4.2", P_TCP, 80));
}

/* In, NotIn, Exists, DoesNotExist in podSelector: which policies select which pod. */
static void test_match_expressions_each_operator(void **state)
{
	static const char *const sels[] = {"tier in (web|db)", "env notin (prod)", "env", "!tier",
					   "tier=web,env"};
	struct scenario *sc = *state;
	struct fx *c = sc->c;

	fx_pod(c, "x/p1", "n1", "10.0.1.1", "tier=web,env=prod");
	fx_pod(c, "x/p2", "n1", "10.0.1.2", "tier=db");
	fx_pod(c, "x/p3", "n1", "10.0.1.3", "env=dev");
	fx_pod(c, "x/p4", "n1", "10.0.1.4", "");
	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "x/sel%d", i);
		fx_port(fx_rule(c, fx_policy(c, name, sels[i], "Ingress"), IN), P_TCP, 1000 + i, 0);
	}
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/p1", IN)), "tcp 1000, tcp 1002, tcp 1004");
	assert_string_equal(rows_text(set_of(sc, "x/p2", IN)), "tcp 1000, tcp 1001");
	assert_string_equal(rows_text(set_of(sc, "x/p3", IN)), "tcp 1001, tcp 1002, tcp 1003");
	assert_string_equal(rows_text(set_of(sc, "x/p4", IN)), "tcp 1001, tcp 1003");
	assert_string_equal(prefixes_text(set_of(sc, "x/p4", IN)), "0.0.0.0/0 0x3");
	assert_true(allows(sc, "x/p4", IN, "8.8.8.8", P_TCP, 1003));
	assert_false(allows(sc, "x/p4", IN, "8.8.8.8", P_TCP, 1002));
}

/* Selectors of peers with every operator, on pod and namespace labels. */
static void test_peer_expressions(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;

	fx_ns(c, "y", "team=blue");
	fx_ns(c, "z", "team=red,env=dev");
	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a,tier=front");
	fx_pod(c, "x/b", "n1", "10.0.1.2", "app=b,tier=front");
	fx_pod(c, "y/p", "n2", "10.0.3.1", "role=db");
	fx_pod(c, "z/q", "n2", "10.0.4.1", "role=web");
	fx_pod(c, "w/r", "n2", "10.0.5.1", "role=db");
	np = fx_policy(c, "x/exp", "app=a", "Ingress");
	fx_from_pods(c, fx_rule(c, np, IN), "role notin (web),!tier", "team notin (blue)");
	np = fx_policy(c, "x/exists", "app=b", "Ingress");
	fx_from_pods(c, fx_rule(c, np, IN), "role in (db|web)", "env");
	build(sc, "n1");
	/* w has no Namespace object: team is absent, so NotIn holds */
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "10.0.5.1/32 0x1");
	assert_string_equal(prefixes_text(set_of(sc, "x/b", IN)), "10.0.4.1/32 0x1");
	assert_true(allows(sc, "x/a", IN, "10.0.5.1", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "10.0.3.1", P_TCP, 80));
}

/* A namespace without its object has no labels: DoesNotExist matches, metadata.name does not. */
static void test_unknown_namespace_has_no_labels(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;

	fx_ns(c, "x", "");
	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/b", "n1", "10.0.1.2", "app=b");
	fx_pod(c, "ghost/g", "n2", "10.0.9.1", "");
	fx_pod(c, "x/c", "n2", "10.0.1.3", "");
	np = fx_policy(c, "x/dne", "app=a", "Ingress");
	fx_from_pods(c, fx_rule(c, np, IN), NULL, "!kubernetes.io/metadata.name");
	np = fx_policy(c, "x/name", "app=b", "Ingress");
	fx_from_pods(c, fx_rule(c, np, IN), NULL, "kubernetes.io/metadata.name in (ghost|x)");
	build(sc, "n1");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "10.0.9.1/32 0x1");
	assert_string_equal(prefixes_text(set_of(sc, "x/b", IN)),
			    "10.0.1.1/32 0x1, 10.0.1.2/32 0x1, 10.0.1.3/32 0x1");
	assert_false(allows(sc, "x/b", IN, "10.0.9.1", P_TCP, 80));
}

/*
 * ipBlock 10.0.0.0/8 except 10.1.0.0/16 on one rule, a pod 10.1.2.3 allowed
 * by another: the except must not hide the pod from the second rule.
 */
static void test_ipblock_except_beside_another_rule(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "y/probe", "n2", "10.1.2.3", "role=probe");
	fx_pod(c, "y/other", "n2", "10.1.2.4", "role=other");
	np = fx_policy(c, "x/p", "app=a", "Ingress");
	r = fx_rule(c, np, IN);
	fx_from_block(c, r, "10.0.0.0/8", "10.1.0.0/16");
	fx_port(r, P_TCP, 80, 0);
	r = fx_rule(c, np, IN);
	fx_from_pods(c, r, "role=probe", "");
	fx_port(r, P_TCP, 443, 0);
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "tcp 80, tcp 443");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)),
			    "10.0.0.0/8 0x1, 10.1.0.0/16 0, 10.1.2.3/32 0x2");
	assert_true(allows(sc, "x/a", IN, "10.1.2.3", P_TCP, 443));
	assert_false(allows(sc, "x/a", IN, "10.1.2.3", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "10.1.2.4", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "10.1.2.4", P_TCP, 443));
	assert_true(allows(sc, "x/a", IN, "10.2.0.1", P_TCP, 80));
	assert_true(allows(sc, "x/a", IN, "10.255.255.255", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "11.0.0.0", P_TCP, 80));
}

/* ipBlocks match pod addresses too; a pod inside an except passes only by another block. */
static void test_ipblock_on_pod_addresses(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/b", "n2", "10.0.2.1", "app=b");
	np = fx_policy(c, "x/p", "app=a", "Egress");
	r = fx_rule(c, np, EG);
	fx_from_block(c, r, "10.0.2.1/32", NULL);
	fx_from_block(c, r, "10.0.0.0/16", "10.0.2.0/24,10.0.3.0/24");
	fx_port(r, P_UDP, 53, 0);
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", EG)), "udp 53");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", EG)),
			    "10.0.0.0/16 0x1, 10.0.2.0/24 0, 10.0.2.1/32 0x1, 10.0.3.0/24 0");
	assert_true(allows(sc, "x/a", EG, "10.0.2.1", P_UDP, 53));
	assert_false(allows(sc, "x/a", EG, "10.0.2.2", P_UDP, 53));
	assert_true(allows(sc, "x/a", EG, "10.0.4.2", P_UDP, 53));
	assert_false(allows(sc, "x/a", EG, "10.0.3.9", P_UDP, 53));
}

/* A prefix answering as the one around it does is dropped: here the pod's /32 inside 0/0. */
static void test_redundant_prefixes_dropped(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/b", "n2", "10.0.1.2", "app=b");
	np = fx_policy(c, "x/p", "app=a", "Ingress");
	fx_port(fx_rule(c, np, IN), P_TCP, 80, 0);
	r = fx_rule(c, np, IN);
	fx_from_pods(c, r, "app=b", NULL);
	fx_port(r, P_TCP, 80, 0);
	r = fx_rule(c, np, IN);
	fx_from_block(c, r, "10.0.0.0/16", "10.0.1.0/24");
	fx_port(r, P_TCP, 80, 0);
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "tcp 80");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "0.0.0.0/0 0x1");
	assert_true(allows(sc, "x/a", IN, "10.0.1.9", P_TCP, 80));
}

/* A policy selecting no pod has no effect on pods, but its namespace is listed. */
static void test_policy_selecting_no_pod(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_policy(c, "x/none", "app=nothing", "Ingress,Egress");
	fx_policy(c, "y/other-namespace", "", "Ingress,Egress");
	build(sc, "n1");
	assert_int_equal(sc->t.n_sets, 0);
	assert_null(set_of(sc, "x/a", IN));
	assert_null(set_of(sc, "x/a", EG));
	assert_true(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 22));
	assert_int_equal(sc->t.n_ns, 2);
	assert_string_equal(sc->t.ns[0].name, "x");
	assert_int_equal(sc->t.ns[0].dirs, 3);
}

/* Ingress named ports resolve on each selected pod: its own number, or nothing. */
static void test_named_port_ingress(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_pod *p;

	p = fx_pod(c, "x/a", "n1", "10.0.1.1", "app=web");
	fx_pod_port(p, "http", 8080, P_TCP);
	p = fx_pod(c, "x/b", "n1", "10.0.1.2", "app=web");
	fx_pod_port(p, "metrics", 9100, P_TCP);
	fx_pod_port(p, "http", 9090, P_TCP);
	fx_pod(c, "x/c", "n1", "10.0.1.3", "app=web");
	np = fx_policy(c, "x/p", "app=web", "Ingress");
	fx_named(fx_rule(c, np, IN), P_TCP, "http");
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "tcp 8080");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "0.0.0.0/0 0x1");
	assert_string_equal(rows_text(set_of(sc, "x/b", IN)), "tcp 9090");
	assert_string_equal(rows_text(set_of(sc, "x/c", IN)), "");
	assert_string_equal(prefixes_text(set_of(sc, "x/c", IN)), "");
	assert_int_equal(sc->t.n_sets, 3);
	assert_true(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 8080));
	assert_false(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 9090));
	assert_true(allows(sc, "x/b", IN, "192.0.2.1", P_TCP, 9090));
	assert_false(allows(sc, "x/c", IN, "192.0.2.1", P_TCP, 8080));
}

/* Egress named ports resolve per destination: each number admits only the pods defining it. */
static void test_named_port_egress_per_destination(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/b", "n1", "10.0.1.2", "app=b");
	fx_pod_port(fx_pod(c, "y/s1", "n2", "10.0.3.1", "app=srv"), "http", 8080, P_TCP);
	fx_pod_port(fx_pod(c, "y/s2", "n2", "10.0.3.2", "app=srv"), "http", 9090, P_TCP);
	fx_pod(c, "y/s3", "n2", "10.0.3.3", "app=srv");
	fx_pod_port(fx_pod(c, "y/s4", "n2", "10.0.3.4", "app=other"), "http", 7070, P_TCP);
	np = fx_policy(c, "x/p", "app=a", "Egress");
	r = fx_rule(c, np, EG);
	fx_from_pods(c, r, "app=srv", "");
	fx_named(r, P_TCP, "http");
	np = fx_policy(c, "x/block", "app=b", "Egress");
	r = fx_rule(c, np, EG);
	fx_from_block(c, r, "0.0.0.0/0", "10.0.3.2/32");
	fx_named(r, P_TCP, "http");
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", EG)), "tcp 8080, tcp 9090");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", EG)),
			    "10.0.3.1/32 0x1, 10.0.3.2/32 0x2");
	assert_true(allows(sc, "x/a", EG, "10.0.3.1", P_TCP, 8080));
	assert_false(allows(sc, "x/a", EG, "10.0.3.1", P_TCP, 9090));
	assert_true(allows(sc, "x/a", EG, "10.0.3.2", P_TCP, 9090));
	assert_false(allows(sc, "x/a", EG, "10.0.3.4", P_TCP, 7070));
	assert_string_equal(rows_text(set_of(sc, "x/b", EG)), "tcp 7070, tcp 8080");
	assert_string_equal(prefixes_text(set_of(sc, "x/b", EG)),
			    "10.0.3.1/32 0x2, 10.0.3.4/32 0x1");
	assert_true(allows(sc, "x/b", EG, "10.0.3.4", P_TCP, 7070));
	assert_false(allows(sc, "x/b", EG, "10.0.3.2", P_TCP, 9090));
	assert_false(allows(sc, "x/b", EG, "192.0.2.1", P_TCP, 8080));
}

/* A named port whose container port has another protocol does not match. */
static void test_named_port_wrong_protocol(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_netpol *np;
	struct k8s_np_rule *r;

	fx_pod_port(fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a"), "dns", 53, P_TCP);
	fx_pod(c, "x/b", "n1", "10.0.1.2", "app=b");
	fx_pod_port(fx_pod(c, "y/d", "n2", "10.0.3.1", "app=dns"), "dns", 53, P_TCP);
	fx_pod_port(fx_pod(c, "y/e", "n2", "10.0.3.2", "app=dns"), "dns", 5353, P_UDP);
	np = fx_policy(c, "x/in", "app=a", "Ingress");
	fx_named(fx_rule(c, np, IN), P_UDP, "dns");
	np = fx_policy(c, "x/out", "app=b", "Egress");
	r = fx_rule(c, np, EG);
	fx_from_pods(c, r, "app=dns", "");
	fx_named(r, P_UDP, "dns");
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "");
	assert_false(allows(sc, "x/a", IN, "10.0.3.1", P_UDP, 53));
	assert_false(allows(sc, "x/a", IN, "10.0.3.1", P_TCP, 53));
	assert_string_equal(rows_text(set_of(sc, "x/b", EG)), "udp 5353");
	assert_string_equal(prefixes_text(set_of(sc, "x/b", EG)), "10.0.3.2/32 0x1");
	assert_false(allows(sc, "x/b", EG, "10.0.3.1", P_UDP, 53));
	assert_false(allows(sc, "x/b", EG, "10.0.3.1", P_TCP, 53));
	assert_true(allows(sc, "x/b", EG, "10.0.3.2", P_UDP, 5353));
}

/* endPort gives a range; a protocol alone (port 0) every port of that protocol. */
static void test_end_port_and_whole_protocol(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct k8s_np_rule *r;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	r = fx_rule(c, fx_policy(c, "x/p", "app=a", "Ingress"), IN);
	fx_port(r, P_TCP, 8000, 8080);
	fx_port(r, P_UDP, 0, 0);
	fx_port(r, P_TCP, 8000, 8080);
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "tcp 8000-8080, udp 0-65535");
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "0.0.0.0/0 0x3");
	assert_true(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 8000));
	assert_true(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 8080));
	assert_false(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 8081));
	assert_false(allows(sc, "x/a", IN, "192.0.2.1", P_TCP, 7999));
	assert_true(allows(sc, "x/a", IN, "192.0.2.1", P_UDP, 1));
	assert_false(allows(sc, "x/a", IN, "192.0.2.1", P_SCTP, 8000));
}

/* An P_SCTP-only rule isolates the pod: P_TCP to the same port is denied. */
static void test_sctp_only_rule_isolates_tcp(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_port(fx_rule(c, fx_policy(c, "x/p", "app=a", "Ingress"), IN), P_SCTP, 80, 0);
	build(sc, "n1");
	assert_string_equal(rows_text(set_of(sc, "x/a", IN)), "sctp 80");
	assert_true(allows(sc, "x/a", IN, "10.0.2.1", P_SCTP, 80));
	assert_false(allows(sc, "x/a", IN, "10.0.2.1", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "10.0.2.1", P_UDP, 80));
}

/* A P_UDP-only rule: P_UDP 53 passes, P_TCP 53 does not. */
static void test_udp_only_rule(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_port(fx_rule(c, fx_policy(c, "x/p", "app=a", "Egress"), EG), P_UDP, 53, 0);
	build(sc, "n1");
	assert_null(set_of(sc, "x/a", IN));
	assert_string_equal(rows_text(set_of(sc, "x/a", EG)), "udp 53");
	assert_true(allows(sc, "x/a", EG, "10.96.0.10", P_UDP, 53));
	assert_false(allows(sc, "x/a", EG, "10.96.0.10", P_TCP, 53));
}

/* hostNetwork, finished and address-less pods are neither selected nor peers. */
static void test_host_network_and_finished_pods_excluded(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	struct kx_pol_verdict v;
	struct k8s_netpol *np;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=web");
	fx_pod(c, "x/host", "n1", "192.168.0.10", "app=web")->host_network = true;
	fx_pod(c, "x/done", "n1", "10.0.1.5", "app=web")->finished = true;
	fx_pod(c, "x/new", "n1", NULL, "app=web");
	fx_pod(c, "x/peer", "n2", "10.0.2.1", "role=client");
	fx_pod(c, "x/peerhost", "n2", "192.168.0.11", "role=client")->host_network = true;
	fx_pod(c, "x/peerdone", "n2", "10.0.2.9", "role=client")->finished = true;
	np = fx_policy(c, "x/p", "app=web", "Ingress");
	fx_from_pods(c, fx_rule(c, np, IN), "role=client", NULL);
	build(sc, "n1");
	assert_int_equal(sc->t.n_pods, 1);
	assert_int_equal(sc->t.pods[0].pod, fx_pod_index(c, "x/a"));
	assert_string_equal(prefixes_text(set_of(sc, "x/a", IN)), "10.0.2.1/32 0x1");
	assert_false(allows(sc, "x/a", IN, "192.168.0.11", P_TCP, 80));
	assert_false(allows(sc, "x/a", IN, "10.0.2.9", P_TCP, 80));
	assert_true(allows(sc, "x/a", IN, "10.0.2.1", P_TCP, 80));
	kx_policy_eval(&c->st, fx_pod_index(c, "x/host"), IN, fx_addr("10.9.9.9"), P_TCP, 80, &v);
	assert_false(v.isolated);
	assert_true(v.allowed);
	assert_int_equal(v.n_selecting, 0);
}

/* Pods with the same content share a set, whichever policies give it; others do not. */
static void test_sets_shared_by_content(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	const struct kx_pol_set *s;

	fx_pod(c, "x/a1", "n1", "10.0.1.1", "app=web");
	fx_pod(c, "x/a2", "n1", "10.0.1.2", "app=web");
	fx_pod(c, "x/b", "n1", "10.0.1.3", "app=api");
	fx_pod(c, "x/c", "n1", "10.0.1.4", "app=other");
	fx_port(fx_rule(c, fx_policy(c, "x/web", "app=web", "Ingress"), IN), P_TCP, 80, 0);
	fx_port(fx_rule(c, fx_policy(c, "x/api", "app=api", "Ingress"), IN), P_TCP, 80, 0);
	fx_port(fx_rule(c, fx_policy(c, "x/other", "app=other", "Ingress"), IN), P_TCP, 81, 0);
	build(sc, "n1");
	s = set_of(sc, "x/a1", IN);
	assert_ptr_equal(set_of(sc, "x/a2", IN), s);
	assert_ptr_equal(set_of(sc, "x/b", IN), s);
	assert_ptr_not_equal(set_of(sc, "x/c", IN), s);
	assert_int_equal(sc->t.n_sets, 2);
	assert_int_equal(s->n_policies, 2);
	assert_int_equal(s->policies[0], 0);
	assert_int_equal(s->policies[1], 1);
}

/* A rule with ports 1..n (P_TCP) for every address. */
static void ports_rule(struct fx *c, struct k8s_netpol *np, int n)
{
	struct k8s_np_rule *r = fx_rule(c, np, IN);

	for (int i = 1; i <= n; i++)
		fx_port(r, P_TCP, i, 0);
}

/* More than 64 rows: the set denies all, and each of its policies is refused naming the pod. */
static void test_too_many_rows_fails_closed(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;
	const struct kx_pol_set *s;
	bool isolated;

	fx_pod(c, "x/a", "n1", "10.0.1.1", "app=a");
	fx_pod(c, "x/a2", "n1", "10.0.1.2", "app=a");
	fx_pod(c, "x/b", "n1", "10.0.1.3", "app=b");
	ports_rule(c, fx_policy(c, "x/big", "app=a", "Ingress"), 70);
	fx_policy(c, "x/also", "", "Ingress");
	ports_rule(c, fx_policy(c, "x/fits", "app=b", "Ingress"), 64);
	build(sc, "n1");
	s = set_of(sc, "x/a", IN);
	assert_true(s->deny_all);
	assert_int_equal(s->n_rows, 0);
	assert_int_equal(s->n_prefixes, 0);
	assert_ptr_equal(set_of(sc, "x/a2", IN), s);
	assert_false(compiled_allows(&sc->t, table_pod(&sc->t, 0), IN, fx_addr("10.0.2.1"), P_TCP,
				     1, &isolated));
	assert_true(isolated);
	assert_int_equal(sc->t.refused.n, 2);
	assert_string_equal(sc->t.refused.v[0].kind, "NetworkPolicy");
	assert_string_equal(sc->t.refused.v[0].object, "x/big");
	assert_string_equal(sc->t.refused.v[1].object, "x/also");
	assert_string_equal(sc->t.refused.v[0].reason,
			    "pod x/a ingress: the policies selecting it need 70 port ranges, "
			    "more than 64; the pod denies all ingress (fails closed)");
	s = set_of(sc, "x/b", IN);
	assert_false(s->deny_all);
	assert_int_equal(s->n_rows, 64);
	assert_string_equal(prefixes_text(s), "0.0.0.0/0 0xffffffffffffffff");
	assert_true(allows(sc, "x/b", IN, "10.0.2.1", P_TCP, 64));
}

/* t->ns: namespaces with an isolating policy, by name, their directions ORed. */
static void test_isolating_namespaces(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;

	fx_policy(c, "b/in", "", "Ingress");
	fx_policy(c, "a/out", "app=x", "Egress");
	fx_policy(c, "b/out", "", "Egress");
	fx_policy(c, "c/neither", "", "");
	build(sc, "n1");
	assert_int_equal(sc->t.n_ns, 2);
	assert_string_equal(sc->t.ns[0].name, "a");
	assert_int_equal(sc->t.ns[0].dirs, 1 << KX_POL_EGRESS);
	assert_string_equal(sc->t.ns[1].name, "b");
	assert_int_equal(sc->t.ns[1].dirs, 1 << KX_POL_INGRESS | 1 << KX_POL_EGRESS);
}

/* t->pods: every local pod with an address by address (host order), unisolated ones too. */
static void test_pods_sorted_by_address(void **state)
{
	struct scenario *sc = *state;
	struct fx *c = sc->c;

	fx_pod(c, "x/a", "n1", "10.0.0.20", "");
	fx_pod(c, "x/b", "n1", "10.0.0.3", "app=b");
	fx_pod(c, "x/c", "n1", "9.0.0.1", "");
	fx_pod(c, "x/d", "n2", "10.0.0.4", "app=b");
	fx_policy(c, "x/p", "app=b", "Egress");
	build(sc, "n1");
	assert_int_equal(sc->t.n_pods, 3);
	assert_int_equal(sc->t.pods[0].pod, 2);
	assert_int_equal(sc->t.pods[1].pod, 1);
	assert_int_equal(sc->t.pods[2].pod, 0);
	assert_int_equal(sc->t.pods[0].set[IN], -1);
	assert_int_equal(sc->t.pods[0].set[EG], -1);
	assert_int_equal(sc->t.pods[1].set[IN], -1);
	assert_int_equal(sc->t.pods[1].set[EG], 0);
}

/* Longest prefix wins; no prefix holding the address: nothing. */
static void test_set_lookup(void **state)
{
	struct kx_pol_prefix p[] = {
		{fx_addr("0.0.0.0"), 0, 1},
		{fx_addr("10.0.0.0"), 8, 2},
		{fx_addr("10.1.0.0"), 16, 0},
		{fx_addr("10.1.2.3"), 32, 4},
	};
	struct kx_pol_set s = {.prefixes = p, .n_prefixes = 4};

	assert_int_equal(kx_pol_set_lookup(&s, fx_addr("192.0.2.1")), 1);
	assert_int_equal(kx_pol_set_lookup(&s, fx_addr("10.9.0.1")), 2);
	assert_int_equal(kx_pol_set_lookup(&s, fx_addr("10.1.0.1")), 0);
	assert_int_equal(kx_pol_set_lookup(&s, fx_addr("10.1.2.3")), 4);
	s.n_prefixes = 0;
	assert_int_equal(kx_pol_set_lookup(&s, fx_addr("10.1.2.3")), 0);
}

/* Probe addresses: every pod's, the edges of every cidr and except, a few random ones. */
static size_t probe_addrs(const struct fx *c, struct rng *r, uint32_t *out, size_t max)
{
	size_t n = 0;

#define ADD(a)                                                                                     \
	do {                                                                                       \
		if (n < max)                                                                       \
			out[n++] = (a);                                                            \
	} while (0)
	for (size_t i = 0; i < c->st.n_pods; i++)
		ADD(c->st.pods[i].addr);
	for (size_t p = 0; p < c->st.n_netpols; p++) {
		for (int dir = 0; dir < 2; dir++) {
			const struct k8s_netpol *np = &c->st.netpols[p];
			const struct k8s_np_rule *rules = dir ? np->egress : np->ingress;

			for (size_t i = 0; i < (dir ? np->n_egress : np->n_ingress); i++) {
				for (size_t j = 0; j < rules[i].n_peers; j++) {
					const struct k8s_np_peer *pe = &rules[i].peers[j];

					for (size_t e = 0; e <= pe->n_except; e++) {
						struct k8s_prefix x =
							e ? pe->except[e - 1] : pe->cidr;
						uint32_t lo = ntohl(x.addr),
							 hi = lo | ~mask_of(x.len);

						if (pe->kind != K8S_PEER_BLOCK)
							break;
						ADD(htonl(lo));
						ADD(htonl(lo - 1));
						ADD(htonl(hi));
						ADD(htonl(hi + 1));
					}
				}
			}
		}
	}
	for (int i = 0; i < 4; i++)
		ADD(rnd_addr(r));
#undef ADD
	return n;
}

/* A probe port and protocol: near the policies' numbers, a pod's, or anything. */
static void probe_port(struct rng *r, uint8_t *proto, uint16_t *port)
{
	static const uint8_t all[] = {P_TCP, P_UDP, P_SCTP, IPPROTO_ICMP, P_TCP};
	uint32_t k = rnd(r, 8);

	*proto = all[rnd(r, 5)];
	if (k < 5)
		*port = port_numbers[rnd(r, 5)] + (int)rnd(r, 3) - 1;
	else if (k < 7)
		*port = port_numbers[rnd(r, 5)] + rnd(r, 101);
	else
		*port = rnd(r, 65536);
}

/* Print the cluster of a failing seed, enough to rebuild it by hand. */
static void dump_cluster(const struct fx *c)
{
	for (size_t i = 0; i < c->st.n_pods; i++) {
		const struct k8s_pod *p = &c->st.pods[i];
		char a[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &p->addr, a, sizeof(a));
		fprintf(stderr, "pod %zu %s/%s %s %s%s%s ports", i, p->ns, p->name, p->node, a,
			p->host_network ? " hostNetwork" : "", p->finished ? " finished" : "");
		for (size_t k = 0; k < p->n_ports; k++)
			fprintf(stderr, " %s:%u/%s", p->ports[k].name, p->ports[k].port,
				proto_name(p->ports[k].proto));
		fprintf(stderr, "\n");
	}
	for (size_t i = 0; i < c->st.n_netpols; i++)
		fprintf(stderr, "policy %zu %s/%s in=%d eg=%d rules %zu/%zu\n", i,
			c->st.netpols[i].ns, c->st.netpols[i].name, c->st.netpols[i].ingress_type,
			c->st.netpols[i].egress_type, c->st.netpols[i].n_ingress,
			c->st.netpols[i].n_egress);
}

/* Compare table and evaluator for one local pod and direction over the probes. */
static void property_pod(const struct fx *c, struct rng *r, const struct kx_pol_table *t,
			 const struct kx_pol_pod *pp, enum kx_pol_dir dir, const uint32_t *addrs,
			 size_t n_addrs, uint64_t seed)
{
	if (pp->set[dir] >= 0 && t->sets[pp->set[dir]].deny_all) {
		assert_true(t->refused.n > 0);
		return;
	}
	for (size_t a = 0; a < n_addrs; a++) {
		for (int k = 0; k < 3; k++) {
			struct kx_pol_verdict v;
			uint8_t proto;
			uint16_t port;
			bool isolated, compiled;

			probe_port(r, &proto, &port);
			compiled = compiled_allows(t, pp, dir, addrs[a], proto, port, &isolated);
			kx_policy_eval(&c->st, pp->pod, dir, addrs[a], proto, port, &v);
			if (compiled == v.allowed && isolated == v.isolated)
				continue;
			dump_cluster(c);
			fail_msg("seed %#llx: pod %u %s peer %#x %s/%u: table %d/%d, evaluator "
				 "%d/%d",
				 (unsigned long long)seed, pp->pod,
				 dir == IN ? "ingress" : "egress", ntohl(addrs[a]),
				 proto_name(proto), port, isolated, compiled, v.isolated,
				 v.allowed);
		}
	}
}

/* Random small clusters: for every local pod and direction, table == evaluator. */
static void test_property_table_matches_evaluator(void **state)
{
	const char *env = getenv("KX_POLICY_ITERATIONS");
	int iterations = env ? atoi(env) : 3000;
	clock_t start = clock();

	for (int it = 0; it < iterations; it++) {
		uint64_t seed = 0x9e3779b97f4a7c15ull * (it + 1);
		struct rng r = {seed};
		struct fx *c = rnd_cluster(&r);
		struct kx_pol_table t;
		uint32_t addrs[2048];
		size_t n_addrs = probe_addrs(c, &r, addrs, 2048);

		build_table(c, "n1", &t);
		for (size_t k = 0; k < t.n_pods; k++)
			for (int dir = 0; dir < 2; dir++)
				property_pod(c, &r, &t, &t.pods[k], dir, addrs, n_addrs, seed);
		kx_pol_table_free(&t);
		fx_free(c);
	}
	print_message("%d random clusters in %.2f s\n", iterations,
		      (double)(clock() - start) / CLOCKS_PER_SEC);
}

/* Scenarios first, the property test last. */
int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_default_deny, setup, teardown),
		cmocka_unit_test_setup_teardown(test_allow_all_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pod_selector_own_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_namespace_selector_empty_is_all_pods_only,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_and_within_a_peer_or_between_peers, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_match_expressions_each_operator, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_peer_expressions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_namespace_has_no_labels, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ipblock_except_beside_another_rule, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ipblock_on_pod_addresses, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redundant_prefixes_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_policy_selecting_no_pod, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_port_ingress, setup, teardown),
		cmocka_unit_test_setup_teardown(test_named_port_egress_per_destination, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_named_port_wrong_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_port_and_whole_protocol, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sctp_only_rule_isolates_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_only_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_host_network_and_finished_pods_excluded, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_sets_shared_by_content, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_rows_fails_closed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_isolating_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pods_sorted_by_address, setup, teardown),
		cmocka_unit_test(test_set_lookup),
		cmocka_unit_test(test_property_table_matches_evaluator),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
