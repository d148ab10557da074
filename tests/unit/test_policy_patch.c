// SPDX-License-Identifier: GPL-2.0
/*
 * kx_policy_patch_pods against kx_policy_build: after pods of other nodes
 * change in place (labels, address, phase, ports), the patched table must
 * be the built one field for field, or the patch must say it takes a build
 * and leave the table as it was. Named scenarios for each kind of /32 edit
 * and each fallback, then random clusters (polrand.h) with random changes.
 */
#include "testlib.h"
#include "polrand.h"

#define IN KX_POL_INGRESS
#define EG KX_POL_EGRESS

/* Fail unless two sets are the same field for field. */
static void assert_sets_equal(const struct kx_pol_set *x, const struct kx_pol_set *y, size_t i)
{
	if (x->dir != y->dir || x->deny_all != y->deny_all || x->n_rows != y->n_rows ||
	    x->n_prefixes != y->n_prefixes || x->n_policies != y->n_policies)
		fail_msg("set %zu: dir %u/%u deny_all %d/%d rows %zu/%zu prefixes %zu/%zu "
			 "policies %zu/%zu",
			 i, x->dir, y->dir, x->deny_all, y->deny_all, x->n_rows, y->n_rows,
			 x->n_prefixes, y->n_prefixes, x->n_policies, y->n_policies);
	for (size_t r = 0; r < x->n_rows; r++)
		if (x->rows[r].proto != y->rows[r].proto ||
		    x->rows[r].port_lo != y->rows[r].port_lo ||
		    x->rows[r].port_hi != y->rows[r].port_hi)
			fail_msg("set %zu: row %zu differs", i, r);
	for (size_t p = 0; p < x->n_prefixes; p++)
		if (x->prefixes[p].addr != y->prefixes[p].addr ||
		    x->prefixes[p].len != y->prefixes[p].len ||
		    x->prefixes[p].rows != y->prefixes[p].rows)
			fail_msg("set %zu: prefix %zu: %#x/%u %#llx, want %#x/%u %#llx", i, p,
				 ntohl(x->prefixes[p].addr), x->prefixes[p].len,
				 (unsigned long long)x->prefixes[p].rows,
				 ntohl(y->prefixes[p].addr), y->prefixes[p].len,
				 (unsigned long long)y->prefixes[p].rows);
	for (size_t p = 0; p < x->n_policies; p++)
		assert_int_equal(x->policies[p], y->policies[p]);
}

/* Fail unless two tables are the same field for field: pods, sets, namespaces, refusals. */
static void assert_tables_equal(const struct kx_pol_table *x, const struct kx_pol_table *y)
{
	assert_int_equal(x->n_pods, y->n_pods);
	for (size_t k = 0; k < x->n_pods; k++) {
		assert_int_equal(x->pods[k].addr, y->pods[k].addr);
		assert_int_equal(x->pods[k].pod, y->pods[k].pod);
		assert_int_equal(x->pods[k].set[IN], y->pods[k].set[IN]);
		assert_int_equal(x->pods[k].set[EG], y->pods[k].set[EG]);
	}
	assert_int_equal(x->n_sets, y->n_sets);
	for (size_t i = 0; i < x->n_sets; i++)
		assert_sets_equal(&x->sets[i], &y->sets[i], i);
	assert_int_equal(x->n_ns, y->n_ns);
	for (size_t i = 0; i < x->n_ns; i++) {
		assert_string_equal(x->ns[i].name, y->ns[i].name);
		assert_int_equal(x->ns[i].dirs, y->ns[i].dirs);
	}
	assert_int_equal(x->refused.n, y->refused.n);
	for (size_t i = 0; i < x->refused.n; i++) {
		assert_string_equal(x->refused.v[i].object, y->refused.v[i].object);
		assert_string_equal(x->refused.v[i].reason, y->refused.v[i].reason);
	}
}

/* The table of c for node n1. */
static void build_n1(const struct fx *c, struct kx_pol_table *t)
{
	struct kx_err err = {""};

	if (kx_policy_build(&c->st, "n1", t, &err))
		fail_msg("kx_policy_build: %s", err.msg);
}

/* One change under test: the cluster, its table before, and the pods' versions before. */
struct change {
	struct fx *c;
	struct kx_pol_table t, before;
	struct kx_pol_pod_change ch[4];
	struct k8s_pod was[4];
	size_t n;
};

/* Both tables of c built before any change. */
static void change_start(struct change *x, struct fx *c)
{
	memset(x, 0, sizeof(*x));
	x->c = c;
	build_n1(c, &x->t);
	build_n1(c, &x->before);
}

/* Pod id about to change: its version now kept as the one the table saw. */
static struct k8s_pod *change_pod(struct change *x, uint32_t pod)
{
	x->was[x->n] = x->c->st.pods[pod];
	x->ch[x->n] = (struct kx_pol_pod_change){pod, &x->was[x->n]};
	x->n++;
	return &x->c->st.pods[pod];
}

/* The patch's answer; patched: the table is the build's, else it is the one before. */
static int change_patch(struct change *x)
{
	struct kx_pol_table want;
	struct kx_err err = {""};
	int ret = kx_policy_patch_pods(&x->c->st, "n1", x->ch, x->n, &x->t, &err);

	if (ret < 0)
		fail_msg("kx_policy_patch_pods: %s", err.msg);
	if (ret == KX_POL_PATCH_FULL) {
		assert_tables_equal(&x->t, &x->before);
		return ret;
	}
	assert_int_equal(ret, 0);
	build_n1(x->c, &want);
	assert_tables_equal(&x->t, &want);
	kx_pol_table_free(&want);
	return ret;
}

/* The tables and the cluster, freed. */
static void change_end(struct change *x)
{
	kx_pol_table_free(&x->t);
	kx_pol_table_free(&x->before);
	fx_free(x->c);
}

/* The rows of the /32 of addr in the set of local pod 0 for dir; -1: no such /32. */
static long long slash32(const struct kx_pol_table *t, enum kx_pol_dir dir, const char *addr)
{
	const struct kx_pol_set *s = &t->sets[t->pods[0].set[dir]];

	for (size_t i = 0; i < s->n_prefixes; i++)
		if (s->prefixes[i].addr == fx_addr(addr) && s->prefixes[i].len == 32)
			return (long long)s->prefixes[i].rows;
	return -1;
}

/* Policy id: the pods podsel selects admit ingress TCP 80 from the pods peers selects. */
static void allow_80_from(struct fx *c, const char *id, const char *podsel, const char *peers)
{
	struct k8s_np_rule *r = fx_rule(c, fx_policy(c, id, podsel, "Ingress"), IN);

	fx_from_pods(c, r, peers, NULL);
	fx_port(r, P_TCP, 80, 0);
}

/* Local pod "ns0/srv" admitting ingress TCP 80 from app=web, and remote pods. */
static struct fx *web_cluster(void)
{
	struct fx *c = fx_new(8, 2, 4);

	fx_ns(c, "ns0", "");
	fx_pod(c, "ns0/srv", "n1", "10.0.0.1", "app=srv");
	fx_pod(c, "ns0/web", "n2", "10.0.1.1", "app=web");
	fx_pod(c, "ns0/db", "n2", "10.0.1.2", "app=db");
	fx_pod(c, "ns0/new", "n2", NULL, "app=web");
	allow_80_from(c, "ns0/allow-web", "app=srv", "app=web");
	return c;
}

static void test_label_change_adds_and_removes_a_slash32(void **unused)
{
	struct change x;

	change_start(&x, web_cluster());
	assert_int_equal(slash32(&x.t, IN, "10.0.1.1"), 1);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.2"), -1);
	change_pod(&x, 2)->labels = fx_labels(x.c, "app=web"); /* db becomes web */
	change_pod(&x, 1)->labels = fx_labels(x.c, "app=old"); /* web no more */
	assert_int_equal(change_patch(&x), 0);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.1"), -1);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.2"), 1);
	change_end(&x);
}

static void test_address_and_phase_changes(void **unused)
{
	struct change x;

	change_start(&x, web_cluster());
	change_pod(&x, 3)->addr = fx_addr("10.0.1.9"); /* new gets its address */
	change_pod(&x, 1)->finished = true;	       /* web is done */
	assert_int_equal(change_patch(&x), 0);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.9"), 1);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.1"), -1);
	change_end(&x);
	change_start(&x, web_cluster());
	change_pod(&x, 1)->addr = fx_addr("10.0.1.7"); /* web moves */
	assert_int_equal(change_patch(&x), 0);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.1"), -1);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.7"), 1);
	change_end(&x);
}

/* An ipBlock beside the pods: a /32 whose rows its cidr's are is compacted away. */
static void test_slash32_kept_only_where_it_differs(void **unused)
{
	struct fx *c = web_cluster();
	struct k8s_np_rule *r = fx_rule(c, &c->st.netpols[0], IN);
	struct change x;

	fx_from_block(c, r, "10.0.1.0/24", "10.0.1.2/32");
	fx_port(r, P_TCP, 80, 0);
	change_start(&x, c);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.1"), -1);   /* web: what 10.0.1.0/24 says */
	assert_int_equal(slash32(&x.t, IN, "10.0.1.2"), 0);    /* db in the except: 0 beside 1 */
	change_pod(&x, 2)->labels = fx_labels(x.c, "app=web"); /* db admitted as a pod */
	assert_int_equal(change_patch(&x), 0);
	assert_int_equal(slash32(&x.t, IN, "10.0.1.2"), -1); /* 1, as the /24 says */
	change_end(&x);
}

/* Egress with a named port: a destination pod's rows on its /32. */
static struct fx *named_cluster(void)
{
	struct fx *c = fx_new(8, 2, 4);
	struct k8s_np_rule *r;

	fx_ns(c, "ns0", "");
	fx_pod(c, "ns0/cli", "n1", "10.0.0.1", "app=cli");
	fx_pod_port(fx_pod(c, "ns0/db1", "n2", "10.0.1.1", "app=db"), "sql", 5432, P_TCP);
	fx_pod_port(fx_pod(c, "ns0/db2", "n2", "10.0.1.2", "app=db"), "sql", 5432, P_TCP);
	fx_pod(c, "ns0/web", "n2", "10.0.1.3", "app=web");
	r = fx_rule(c, fx_policy(c, "ns0/to-db", "app=cli", "Egress"), EG);
	fx_from_pods(c, r, "app=db", NULL);
	fx_named(r, P_TCP, "sql");
	return c;
}

static void test_named_egress_ports(void **unused)
{
	struct k8s_pod *p;
	struct change x;

	change_start(&x, named_cluster());
	change_pod(&x, 1)->labels = fx_labels(x.c, "app=db,v=2"); /* still a destination */
	change_pod(&x, 3)->labels = fx_labels(x.c, "app=db");	  /* no sql port: no row */
	assert_int_equal(change_patch(&x), 0);
	change_end(&x);
	change_start(&x, named_cluster());
	change_pod(&x, 1)->labels = fx_labels(x.c, "app=web"); /* db2 still gives 5432 */
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL); /* conservative: a giver left */
	change_end(&x);
	change_start(&x, named_cluster());
	p = change_pod(&x, 3);
	p->ports = fx_mem(x.c, FX_POD_PORTS_MAX * sizeof(*p->ports));
	fx_pod_port(p, "sql", 3306, P_TCP);
	p->labels = fx_labels(x.c, "app=db"); /* a row the set lacks */
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL);
	change_end(&x);
}

static void test_local_pod_or_deny_all_takes_a_build(void **unused)
{
	struct change x;
	struct fx *c;
	struct k8s_np_rule *r;

	change_start(&x, web_cluster());
	change_pod(&x, 0)->labels = fx_labels(x.c, "app=other"); /* this node's: its selection */
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL);
	change_end(&x);
	change_start(&x, web_cluster());
	snprintf(change_pod(&x, 1)->node, K8S_NAME_MAX, "n1"); /* comes to this node */
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL);
	change_end(&x);
	c = web_cluster();
	r = fx_rule(c, &c->st.netpols[0], IN);
	for (int p = 0; p < KX_POL_SET_ROWS + 1; p++)
		fx_port(r, P_UDP, (uint16_t)(1000 + p), 0);
	change_start(&x, c);
	assert_true(x.t.sets[0].deny_all);
	change_pod(&x, 2)->labels = fx_labels(x.c, "app=web");
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL);
	change_end(&x);
}

/* Local pods a (role=x peers) and b (team=y peers), TCP 80 each: r1 in both, r2 in b's. */
static struct fx *two_sets_cluster(const char *r1_labels)
{
	struct fx *c = fx_new(8, 2, 4);

	fx_ns(c, "ns0", "");
	fx_pod(c, "ns0/a", "n1", "10.0.0.1", "app=a");
	fx_pod(c, "ns0/b", "n1", "10.0.0.2", "app=b");
	fx_pod(c, "ns0/r1", "n2", "10.0.1.1", r1_labels);
	fx_pod(c, "ns0/r2", "n2", "10.0.1.2", "team=y");
	allow_80_from(c, "ns0/pa", "app=a", "role=x");
	allow_80_from(c, "ns0/pb", "app=b", "team=y");
	return c;
}

static void test_sets_merging_or_splitting_take_a_build(void **unused)
{
	struct change x;

	change_start(&x, two_sets_cluster("role=x,team=y"));
	assert_int_equal(x.t.n_sets, 2);
	change_pod(&x, 3)->labels = fx_labels(x.c, "role=x,team=y"); /* a's set becomes b's */
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL);
	change_end(&x);
	change_start(&x, two_sets_cluster("role=x,team=y"));
	change_pod(&x, 3)->labels = fx_labels(x.c, "role=x"); /* r2 swaps sets: still two */
	assert_int_equal(change_patch(&x), 0);
	change_end(&x);
	x.c = two_sets_cluster("role=x,team=y");
	x.c->st.pods[3].labels = fx_labels(x.c, "");
	change_start(&x, x.c);
	assert_int_equal(x.t.n_sets, 1); /* equal content: one set for a and b */
	change_pod(&x, 2)->labels = fx_labels(x.c, "team=y"); /* a's and b's differ */
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL);
	change_end(&x);
	x.c = two_sets_cluster("role=x,team=y");
	x.c->st.pods[3].labels = fx_labels(x.c, "");
	change_start(&x, x.c);
	change_pod(&x, 3)->labels = fx_labels(x.c, "role=x,team=y"); /* both gain r2 alike */
	assert_int_equal(change_patch(&x), 0);
	assert_int_equal(x.t.n_sets, 1);
	change_end(&x);
}

static void test_nothing_changed_and_bad_index(void **unused)
{
	struct change x;

	change_start(&x, web_cluster());
	change_pod(&x, 1); /* the same version */
	assert_int_equal(change_patch(&x), 0);
	x.ch[0].pod = 99;
	assert_int_equal(change_patch(&x), KX_POL_PATCH_FULL);
	change_end(&x);
}

/* A random change of pod i: labels mostly, sometimes address, phase, ports or node. */
static void rnd_change(struct change *x, struct rng *r, uint32_t i)
{
	struct k8s_pod *p = change_pod(x, i);
	char labels[128];

	rnd_labels(r, 3, pod_keys, pod_values, labels, sizeof(labels));
	p->labels = fx_labels(x->c, labels);
	switch (rnd(r, 12)) {
	case 0:
		p->addr = htonl(0x0a000000 | rnd(r, 4) << 8 | rnd(r, 64));
		break;
	case 1:
		p->finished = !p->finished;
		break;
	case 2:
		p->addr = 0;
		break;
	case 3:
		p->ports = fx_mem(x->c, FX_POD_PORTS_MAX * sizeof(*p->ports));
		p->n_ports = 0;
		fx_pod_port(p, PICK(r, port_names), port_numbers[rnd(r, 5)], protos[rnd(r, 4)]);
		break;
	case 4:
		snprintf(p->node, sizeof(p->node), "%s", rnd(r, 2) ? "n1" : "n3");
	}
}

/* Random clusters, 1 to 3 pods changed at random: patched == built, or a build asked for. */
static void test_property_patch_is_the_build(void **unused)
{
	const char *env = getenv("KX_POLICY_ITERATIONS");
	int iterations = env ? atoi(env) : 3000, patched = 0;

	for (int it = 0; it < iterations; it++) {
		struct rng r = {0x9e3779b97f4a7c15ull * (it + 1) ^ 0x5bd1e995};
		struct change x;
		bool seen[12] = {false};

		change_start(&x, rnd_cluster(&r));
		for (uint32_t k = 1 + rnd(&r, 3); k; k--) {
			uint32_t i = rnd(&r, (uint32_t)x.c->st.n_pods);

			if (!seen[i])
				rnd_change(&x, &r, i);
			seen[i] = true;
		}
		patched += change_patch(&x) == 0;
		change_end(&x);
	}
	print_message("%d random changes, %d patched, %d left to a build\n", iterations, patched,
		      iterations - patched);
	assert_true(patched > iterations / 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_change_adds_and_removes_a_slash32),
		cmocka_unit_test(test_address_and_phase_changes),
		cmocka_unit_test(test_slash32_kept_only_where_it_differs),
		cmocka_unit_test(test_named_egress_ports),
		cmocka_unit_test(test_local_pod_or_deny_all_takes_a_build),
		cmocka_unit_test(test_sets_merging_or_splitting_take_a_build),
		cmocka_unit_test(test_nothing_changed_and_bad_index),
		cmocka_unit_test(test_property_patch_is_the_build),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
