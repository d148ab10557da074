// SPDX-License-Identifier: GPL-2.0
/*
 * NetworkPolicy compiler cost: a synthetic cluster of PODS pods in PODS/100
 * namespaces, POLICIES policies of mixed shapes (default deny, podSelector,
 * namespaceSelector, ipBlock with excepts, numeric and named ports both
 * ways), LOCAL pods on the node compiled for; the time of a full
 * kx_policy_build, best of RUNS, and what it produced; then label changes of
 * other nodes' pods patched in (kx_policy_patch_pods). "wide": every policy
 * is in ns0, selects all its pods and admits every pod of the cluster
 * (namespaceSelector {}), the worst overlap of peers.
 *
 * usage: pol_bench [PODS] [POLICIES] [LOCAL] [RUNS] [wide]
 */
#include <time.h>
#include "../tests/unit/polfix.h"

/* Monotonic milliseconds. */
static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Pod i: namespace i / 100, app and tier labels, container ports; every (pods/local)-th local. */
static void bench_pod(struct fx *c, int i, int pods, int local)
{
	static const char *const tiers[] = {"web", "api", "db"};
	char id[64], labels[96], ip[INET_ADDRSTRLEN], node[16];
	uint32_t addr = htonl(0x0a000000 | (uint32_t)(i + 1));
	struct k8s_pod *p;

	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(id, sizeof(id), "ns%d/pod%d", i / 100, i);
	snprintf(labels, sizeof(labels), "app=app%d,tier=%s,version=v%d", i % 20, tiers[i % 3],
		 i % 2);
	snprintf(node, sizeof(node), "n%d", i % (pods / local) ? 1 + i % 50 : 0);
	p = fx_pod(c, id, node, ip, labels);
	fx_pod_port(p, "http", 8080 + i % 2, IPPROTO_TCP);
	fx_pod_port(p, "metrics", 9090, IPPROTO_TCP);
	if (i % 7 == 0)
		fx_pod_port(p, "dns", 53, IPPROTO_UDP);
}

/* Policy k of namespace ns: one of eight shapes. */
static void bench_policy(struct fx *c, int ns, int k)
{
	char id[64], sel[64], peer[64];
	struct k8s_np_rule *r;

	snprintf(id, sizeof(id), "ns%d/pol%d", ns, k);
	snprintf(sel, sizeof(sel), "app=app%d", (ns + k) % 20);
	snprintf(peer, sizeof(peer), "app in (app%d|app%d)", k % 20, (k + 7) % 20);
	switch (k % 8) {
	case 0:
		fx_policy(c, id, "", "Ingress");
		return;
	case 1:
		r = fx_rule(c, fx_policy(c, id, sel, "Ingress"), KX_POL_INGRESS);
		fx_from_pods(c, r, peer, NULL);
		fx_port(r, IPPROTO_TCP, 8080, 0);
		return;
	case 2:
		r = fx_rule(c, fx_policy(c, id, "tier=web", "Ingress"), KX_POL_INGRESS);
		fx_from_pods(c, r, "tier=web", "team notin (t3)");
		fx_port(r, IPPROTO_TCP, 80, 0);
		fx_port(r, IPPROTO_TCP, 443, 0);
		return;
	case 3:
		r = fx_rule(c, fx_policy(c, id, sel, "Egress"), KX_POL_EGRESS);
		fx_from_block(c, r, "0.0.0.0/0", "10.0.0.0/8,192.168.0.0/16");
		fx_port(r, IPPROTO_TCP, 443, 0);
		return;
	case 4:
		r = fx_rule(c, fx_policy(c, id, sel, "Egress"), KX_POL_EGRESS);
		fx_from_pods(c, r, NULL, "");
		fx_named(r, IPPROTO_TCP, "http");
		return;
	case 5:
		r = fx_rule(c, fx_policy(c, id, "", "Ingress"), KX_POL_INGRESS);
		fx_from_pods(c, r, "tier=api", "");
		fx_named(r, IPPROTO_TCP, "metrics");
		return;
	case 6:
		r = fx_rule(c, fx_policy(c, id, sel, "Ingress,Egress"), KX_POL_INGRESS);
		fx_from_block(c, r, "10.0.0.0/8", "10.0.16.0/20,10.0.32.0/24");
		fx_port(r, IPPROTO_TCP, 8000, 8100);
		return;
	default:
		r = fx_rule(c, fx_policy(c, id, "tier=api", "Egress"), KX_POL_EGRESS);
		fx_from_pods(c, r, "tier=db", NULL);
		fx_port(r, IPPROTO_TCP, 5432, 0);
		fx_port(r, IPPROTO_UDP, 53, 0);
	}
}

/* Policy k of the wide cluster: ns0's pods open to every pod on one port. */
static void wide_policy(struct fx *c, int k)
{
	char id[64];
	struct k8s_np_rule *r;

	snprintf(id, sizeof(id), "ns0/wide%d", k);
	r = fx_rule(c, fx_policy(c, id, "", "Ingress"), KX_POL_INGRESS);
	fx_from_pods(c, r, k % 2 ? "version=v1" : NULL, "");
	fx_port(r, IPPROTO_TCP, 1000 + k % 50, 0);
}

/* The synthetic cluster. */
static struct fx *bench_cluster(int pods, int policies, int local, bool wide)
{
	int nss = (pods + 99) / 100;
	struct fx *c = fx_new(pods, nss, policies);

	for (int n = 0; n < nss; n++) {
		char name[16], labels[32];

		snprintf(name, sizeof(name), "ns%d", n);
		snprintf(labels, sizeof(labels), "team=t%d", n % 10);
		fx_ns(c, name, labels);
	}
	for (int i = 0; i < pods; i++)
		bench_pod(c, i, pods, local);
	for (int k = 0; k < policies; k++) {
		if (wide)
			wide_policy(c, k);
		else
			bench_policy(c, k % nss, k / nss);
	}
	return c;
}

/* Sets, prefixes and refusals of a table, on one line. */
static void report(const struct kx_pol_table *t)
{
	size_t prefixes = 0, rows = 0;

	for (size_t i = 0; i < t->n_sets; i++) {
		prefixes += t->sets[i].n_prefixes;
		rows += t->sets[i].n_rows;
	}
	printf("local pods %zu, sets %zu, rows %zu, prefixes %zu, refused %zu\n", t->n_pods,
	       t->n_sets, rows, prefixes, t->refused.n);
}

/*
 * Every 97th pod of another node relabelled (app, tier, version moved on),
 * each patched into t (kx_policy_patch_pods) as the agent does: the mean
 * and the longest patch, and how many took a build instead.
 */
static void patches(struct fx *c, struct kx_pol_table *t)
{
	static const char *const tiers[] = {"web", "api", "db"};
	int patched = 0, built = 0;
	double sum = 0, max = 0;

	for (uint32_t i = 7; i < c->st.n_pods; i += 97) {
		struct k8s_pod was = c->st.pods[i];
		struct kx_pol_pod_change ch = {i, &was};
		struct kx_err err = {""};
		char labels[96];
		double start, ms;
		int ret;

		if (!strcmp(was.node, "n0"))
			continue;
		snprintf(labels, sizeof(labels), "app=app%u,tier=%s,version=v%u", (i + 3) % 20,
			 tiers[(i + 1) % 3], (i + 1) % 2);
		c->st.pods[i].labels = fx_labels(c, labels);
		start = now_ms();
		ret = kx_policy_patch_pods(&c->st, "n0", &ch, 1, t, &err);
		ms = now_ms() - start;
		if (ret > 0) { /* what the agent does then */
			kx_pol_table_free(t);
			ret = kx_policy_build(&c->st, "n0", t, &err) ? -1 : 1;
		}
		if (ret < 0) {
			fprintf(stderr, "pol_bench: %s\n", err.msg);
			exit(1);
		}
		patched += !ret;
		built += ret;
		sum += ret ? 0 : ms;
		max = !ret && ms > max ? ms : max;
	}
	printf("kx_policy_patch_pods: %d label changes of other nodes' pods: mean %.3f ms, "
	       "longest %.3f ms; %d took a build\n",
	       patched, patched ? sum / patched : 0, max, built);
}

/* Build RUNS times, print the best and the table's size; then patch label changes in. */
int main(int argc, char **argv)
{
	int pods = argc > 1 ? atoi(argv[1]) : 10000;
	int policies = argc > 2 ? atoi(argv[2]) : 1000;
	int local = argc > 3 ? atoi(argv[3]) : 100;
	int runs = argc > 4 ? atoi(argv[4]) : 5;
	bool wide = argc > 5 && !strcmp(argv[5], "wide");
	struct fx *c;
	double best = 1e12;

	if (pods < 1 || policies < 0 || local < 1 || local > pods || runs < 1) {
		fprintf(stderr, "usage: pol_bench [PODS] [POLICIES] [LOCAL] [RUNS] [wide]\n");
		return 2;
	}
	c = bench_cluster(pods, policies, local, wide);
	for (int i = 0; i < runs; i++) {
		struct kx_pol_table t;
		struct kx_err err = {""};
		double start = now_ms(), ms;

		if (kx_policy_build(&c->st, "n0", &t, &err)) {
			fprintf(stderr, "pol_bench: %s\n", err.msg);
			return 1;
		}
		ms = now_ms() - start;
		best = ms < best ? ms : best;
		if (i < runs - 1) {
			kx_pol_table_free(&t);
			continue;
		}
		report(&t);
		printf("kx_policy_build: %d pods, %d policies: best of %d %.1f ms\n", pods,
		       policies, runs, best);
		patches(c, &t);
		kx_pol_table_free(&t);
	}
	fx_free(c);
	return 0;
}
