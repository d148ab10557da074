// SPDX-License-Identifier: GPL-2.0
/*
 * NetworkPolicy's cost, measured with BPF_PROG_RUN (minus an empty program)
 * on a cluster of 10,000 pods (100 namespaces, app labels app0..app99) where
 * POLICIES ingress policies isolate server B (each admits one app from every
 * namespace on TCP 8080) and POLICIES egress policies isolate client A (each
 * admits one app as destination), compiled and programmed by the real
 * compiler and syncer. Pods of this node: A (isolated egress), B (isolated
 * ingress), C and D (no policy selects them), E (an app no policy admits).
 *
 *   first_to_isolated, first_from_isolated, first_unselected: a SYN's cost,
 *     cold (repeat 1, a fresh source port each: judged, entries made);
 *   judged_denied_warm, unselected_warm: E -> B (judged every run: denied,
 *     dropped) and D -> C (no policy), warm (repeat 10^6): their difference
 *     is the lookup's cost less bpf_redirect_peer's;
 *   later_isolated_warm, later_unselected_warm: an ACK after its flow's
 *     SYN (a conntrack hit) to B, and D -> C's;
 *   compile_program_ms: kx_policy_build and kx_pol_sync_apply from empty;
 *   label_change_ms: one pod's label changed (its /32 leaves both sets),
 *     the agent's way: the table patched (kx_policy_patch_pods), then synced;
 *   label_change_decode_ms: before that, the agent decoding that pod from
 *     the API client's store and swapping it into its state;
 *   label_change_full_ms: another pod's the same, built and synced again.
 *
 * usage: policy_cost [POLICIES] [ITERATIONS] [csv]   (root)
 */
#include <netinet/in.h>
#include <time.h>
#include "../tests/unit/testlib.h"
#include "../tests/unit/polfix.h"
#include "bpfrun.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"
#include "datapath/sync_policy.h"
#include "k8s/kapi.h"

#define PODS 10000
#define APPS 100

static const uint8_t pod_mac[6] = { 2, 0, 0, 0, 0, 0xa }, host[6] = { 2, 0, 0, 0, 0, 0xc };

/* The i'th pod's address: 12.0.0.0/16, so every pod has its own endpoint slot. */
static void pod_ip(int i, char *out, size_t n)
{
	snprintf(out, n, "12.0.%d.%d", (i + 1) / 256, (i + 1) % 256);
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* The cluster: pods 0..4 are A, B, C, D, E on node n0; the rest on n1. */
static struct fx *cluster(int policies)
{
	static const char *const roles[] = { "role=client,app=app0", "role=server,app=app0",
					     "role=other,app=app0", "role=other,app=app0",
					     "role=other,app=nomatch" };
	struct fx *c = fx_new(PODS, APPS, 2 * (size_t)policies);
	char id[64], labels[64], ip[32], sel[32];

	for (int n = 0; n < APPS; n++) {
		snprintf(id, sizeof(id), "ns%d", n);
		fx_ns(c, id, "");
	}
	for (int i = 0; i < PODS; i++) {
		snprintf(id, sizeof(id), "ns%d/pod%d", i / (PODS / APPS), i);
		snprintf(labels, sizeof(labels), "app=app%d", i % APPS);
		pod_ip(i, ip, sizeof(ip));
		fx_pod(c, id, i < 5 ? "n0" : "n1", ip, i < 5 ? roles[i] : labels);
	}
	for (int k = 0; k < policies; k++) {
		struct k8s_np_rule *r;

		snprintf(sel, sizeof(sel), "app=app%d", k % APPS);
		snprintf(id, sizeof(id), "ns0/in%d", k);
		r = fx_rule(c, fx_policy(c, id, "role=server", "Ingress"), KX_POL_INGRESS);
		fx_from_pods(c, r, sel, "");
		fx_port(r, IPPROTO_TCP, 8080, 0);
		snprintf(id, sizeof(id), "ns0/out%d", k);
		r = fx_rule(c, fx_policy(c, id, "role=client", "Egress"), KX_POL_EGRESS);
		fx_from_pods(c, r, sel, "");
		fx_port(r, IPPROTO_TCP, 8080, 0);
	}
	return c;
}

/* Sync t (compiled from c), or exit: the prefixes written or deleted. */
static size_t sync_or_die(struct fx *c, struct kx_pol_syncer *s, const struct kx_maps *m,
			  const struct kx_pol_table *t)
{
	struct k8s_refusals refused = { 0 };
	struct kx_pol_sync_stats st;
	struct kx_err err;

	if (kx_pol_sync_apply(s, m, t, &c->st, &refused, &st, &err)) {
		fprintf(stderr, "policy sync: %s\n", err.msg);
		exit(1);
	}
	k8s_refusals_free(&refused);
	return st.prefixes_written + st.prefixes_deleted;
}

/* Build and sync c's policies into t (freed first); ms taken. */
static double program(struct fx *c, struct kx_pol_syncer *s, const struct kx_maps *m,
		      struct kx_pol_table *t)
{
	struct kx_err err;
	double start = now_ms();

	kx_pol_table_free(t);
	if (kx_policy_build(&c->st, "n0", t, &err)) {
		fprintf(stderr, "policy: %s\n", err.msg);
		exit(1);
	}
	sync_or_die(c, s, m, t);
	return now_ms() - start;
}

/* Pod i of c as the API client's store keeps it (kapi_slim_pod), labelled app=app. */
static json_t *pod_json(const struct k8s_pod *p, const char *app)
{
	char ip[INET_ADDRSTRLEN];
	json_t *full, *slim;

	inet_ntop(AF_INET, &p->addr, ip, sizeof(ip));
	full = json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}}, s:{s:s, s:[{s:[]}]},"
			 " s:{s:s, s:s, s:[{s:s}]}}",
			 "kind", "Pod", "apiVersion", "v1", "metadata", "name", p->name,
			 "namespace", p->ns, "resourceVersion", "2", "labels", "app", app, "spec",
			 "nodeName", p->node, "containers", "ports", "status", "phase", "Running",
			 "podIP", ip, "podIPs", "ip", ip);
	slim = kapi_slim_pod(full);
	json_decref(full);
	return slim;
}

/* Pod i decoded the agent's way: from the store (dirty_pods) and swapped into c; ms taken. */
static double pod_decoded(struct fx *c, uint32_t i, const char *app, struct k8s_state *fresh,
			  uint32_t *at)
{
	struct kapi k = { 0 };
	struct kx_err err;
	char key[64 + K8S_NAME_MAX];
	double start, ms;

	snprintf(key, sizeof(key), "%s/%s", c->st.pods[i].ns, c->st.pods[i].name);
	k.store[KAPI_PODS] = json_object();
	k.dirty_pods = json_object();
	json_object_set_new(k.store[KAPI_PODS], key, pod_json(&c->st.pods[i], app));
	json_object_set_new(k.dirty_pods, key, json_true());
	start = now_ms();
	if (kapi_take_changed_pods(&k, fresh, &err) || fresh->n_pods != 1 ||
	    k8s_state_swap_pods(&c->st, fresh, at)) {
		fprintf(stderr, "pod %s: not decoded into the state\n", key);
		exit(1);
	}
	ms = now_ms() - start;
	json_decref(k.store[KAPI_PODS]);
	json_decref(k.dirty_pods);
	return ms;
}

/*
 * Pod i relabelled app=app the agent's way: decoded and swapped in (ms into
 * *decode_ms), t patched and synced (ms returned).
 */
static double label_patched(struct fx *c, struct kx_pol_syncer *s, const struct kx_maps *m,
			    struct kx_pol_table *t, uint32_t i, const char *app, double *decode_ms)
{
	struct kx_pol_pod_change ch = { 0 };
	char key[80];
	struct k8s_state fresh;
	struct kx_err err;
	double start, ms;
	size_t changed;
	int ret;

	*decode_ms = pod_decoded(c, i, app, &fresh, &ch.pod);
	ch.was = &fresh.pods[0];
	start = now_ms();
	ret = kx_policy_patch_pods(&c->st, "n0", &ch, 1, t, &err);
	if (ret) {
		fprintf(stderr, "policy patch: %s\n", ret < 0 ? err.msg : "a build asked for");
		exit(1);
	}
	changed = sync_or_die(c, s, m, t);
	ms = now_ms() - start;
	if (changed != 2) /* its /32 out of the ingress and the egress set */
		fprintf(stderr, "label change: %zu prefixes changed, not 2\n", changed);
	k8s_state_swap_pods(&c->st, &fresh, &ch.pod); /* the arena's pod back, the decoded one freed */
	k8s_state_free(&fresh);
	snprintf(key, sizeof(key), "app=%s", app); /* the arena's pod as the table has it */
	c->st.pods[i].labels = fx_labels(c, key);
	return ms;
}

static void wire(const struct kx_maps *m)
{
	char ip[32];

	for (int i = 0; i < 5; i++) {
		struct kx_endpoint ep = { .ifindex = 1 };
		struct kx_err err;

		pod_ip(i, ip, sizeof(ip));
		ep.addr = ip4(ip);
		memcpy(ep.pod_mac, pod_mac, 6);
		memcpy(ep.host_mac, host, 6);
		if (kx_endpoint_put(m->endpoints, &ep, &err)) {
			fprintf(stderr, "%s\n", err.msg);
			exit(1);
		}
	}
}

/* KX_CFG_F_POLICY, as the agent sets it once a policy exists. */
static void policy_in_force(const struct kx_maps *m)
{
	struct kx_config cfg = { .flags = KX_CFG_F_POLICY };
	uint32_t zero = 0;

	if (bpf_map_update_elem(m->config, &zero, &cfg, BPF_ANY)) {
		fprintf(stderr, "kx_config: %s\n", strerror(errno));
		exit(1);
	}
}

/* Cold: a SYN from pod src to pod dst:8080, a fresh source port each, average ns. */
static double first_packets(int prog, int src, int dst, int iters, double empty1)
{
	char s[32], d[32];
	uint8_t f[128];
	double sum = 0;

	pod_ip(src, s, sizeof(s));
	pod_ip(dst, d, sizeof(d));
	for (int i = 0; i < iters; i++) {
		size_t n = build_l4(f, host, pod_mac, IPPROTO_TCP, s, (uint16_t)(10000 + i % 50000),
				    d, 8080, 0x02, NULL);

		sum += run_ns(prog, f, n, 1);
	}
	return sum / iters - empty1;
}

/* Warm: one packet (TCP flags) from src to dst:8080 rerun big times. */
static double warm(int prog, int src, int dst, uint8_t flags, int big, double empty)
{
	char s[32], d[32];
	uint8_t f[128];
	size_t n;

	pod_ip(src, s, sizeof(s));
	pod_ip(dst, d, sizeof(d));
	if (flags == 0x10) { /* its flow's SYN first: the ACK is then a conntrack hit */
		n = build_l4(f, host, pod_mac, IPPROTO_TCP, s, 40000, d, 8080, 0x02, NULL);
		run_ns(prog, f, n, 1);
	}
	n = build_l4(f, host, pod_mac, IPPROTO_TCP, s, 40000, d, 8080, flags, NULL);
	return run_ns(prog, f, n, big) - empty;
}

int main(int argc, char **argv)
{
	int policies = argc > 1 ? atoi(argv[1]) : 100, iters = argc > 2 ? atoi(argv[2]) : 20000;
	bool csv = argc > 3 && !strcmp(argv[3], "csv");
	int big = 1000000, prog, empty_fd;
	struct kxdp *skel = kxdp__open_and_load();
	struct kx_pol_syncer *s;
	double empty, empty1 = 0, r[11];
	struct kx_pol_table t = { 0 };
	struct kx_maps m;
	struct kx_err err;
	struct fx *c;
	uint8_t f[128];
	size_t n;

	if (!skel || kx_maps_from_object(skel->obj, &m, &err)) {
		fprintf(stderr, "load kxdp: %s (run as root)\n", skel ? err.msg : strerror(errno));
		return 1;
	}
	s = kx_pol_syncer_new(&m, &err);
	c = cluster(policies);
	policy_in_force(&m);
	wire(&m);
	r[7] = program(c, s, &m, &t);
	r[8] = label_patched(c, s, &m, &t, 9500, "nomatch", &r[10]);
	c->st.pods[9501].labels = fx_labels(c, "app=nomatch");
	r[9] = program(c, s, &m, &t);
	kx_pol_table_free(&t);
	prog = bpf_program__fd(skel->progs.tc_from_pod);
	empty_fd = empty_prog();
	n = build_l4(f, host, pod_mac, IPPROTO_TCP, "12.0.0.4", 1000, "12.0.0.3", 8080, 0x10, NULL);
	empty = run_ns(empty_fd, f, n, big);
	for (int i = 0; i < iters; i++)
		empty1 += run_ns(empty_fd, f, n, 1);
	empty1 /= iters;
	r[0] = first_packets(prog, 3, 1, iters, empty1); /* D -> B: to an isolated pod */
	r[1] = first_packets(prog, 0, 2, iters, empty1); /* A -> C: from an isolated pod */
	r[2] = first_packets(prog, 3, 2, iters, empty1); /* D -> C: no policy */
	r[3] = warm(prog, 4, 1, 0x02, big, empty); /* E -> B: judged, denied */
	r[4] = warm(prog, 3, 2, 0x02, big, empty); /* D -> C */
	r[5] = warm(prog, 3, 1, 0x10, big, empty); /* D -> B, established */
	r[6] = warm(prog, 3, 2, 0x10, big, empty); /* D -> C */
	if (csv) {
		static const char *const names[] = { "first_to_isolated", "first_from_isolated",
						     "first_unselected", "judged_denied_warm",
						     "unselected_warm", "later_isolated_warm",
						     "later_unselected_warm", "compile_program_ms",
						     "label_change_ms", "label_change_full_ms",
						     "label_change_decode_ms" };

		for (int i = 0; i < 11; i++)
			printf("%s,%.2f\n", names[i], r[i]);
	} else {
		printf("%d policies each way over %d pods (ns; ms for the last two)\n", policies, PODS);
		printf("first packet to an isolated pod     %.1f (no policy: %.1f)\n", r[0], r[2]);
		printf("first packet from an isolated pod   %.1f\n", r[1]);
		printf("judged and denied, warm             %.1f (no policy, delivered: %.1f)\n", r[3],
		       r[4]);
		printf("later packet, isolated pod, warm    %.1f (no policy: %.1f)\n", r[5], r[6]);
		printf("compile and program                 %.1f ms\n", r[7]);
		printf("one label change, patched           %.2f ms (+%.2f ms decoding it)\n", r[8],
		       r[10]);
		printf("one label change, built again       %.1f ms\n", r[9]);
	}
	kx_pol_syncer_free(s);
	fx_free(c);
	kxdp__destroy(skel);
	return 0;
}
