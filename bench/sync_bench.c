// SPDX-License-Identifier: GPL-2.0
/*
 * Control-plane cost: with N services of E endpoints each held by the agent,
 * (1) a full initial sync into empty maps, (2) the time from an EndpointSlice
 * watch event (the line as the API server sends it) to the datapath change:
 * event parsing, store update, model, map writes; (3) the conntrack GC walk
 * and the metrics' conntrack count over a full kx_ct. The maps are a loaded
 * skeleton's own (nothing pinned, nothing attached).
 *
 * usage: sync_bench [SERVICES] [ENDPOINTS] [EVENTS]    (root)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <bpf/libbpf.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include "agent/apply.h"
#include "agent/ctgc.h"
#include "kxdp.skel.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void svc_line(char *buf, size_t n, int i)
{
	snprintf(buf, n,
		 "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Service\",\"apiVersion\":\"v1\","
		 "\"metadata\":{\"name\":\"s%d\",\"namespace\":\"bench\",\"resourceVersion\":\"%d\"},"
		 "\"spec\":{\"type\":\"ClusterIP\",\"clusterIP\":\"10.%d.%d.%d\",\"ports\":"
		 "[{\"name\":\"http\",\"port\":80,\"protocol\":\"TCP\",\"targetPort\":8080}]}}}",
		 i, i + 1, 96 + (i >> 16), (i >> 8) & 255, i & 255);
}

/* A slice of service i with e endpoints starting at pod number first. */
static void slice_line(char *buf, size_t n, int i, int e, int first, const char *type, int rv)
{
	int len = snprintf(buf, n,
			   "{\"type\":\"%s\",\"object\":{\"kind\":\"EndpointSlice\","
			   "\"apiVersion\":\"discovery.k8s.io/v1\",\"addressType\":\"IPv4\","
			   "\"metadata\":{\"name\":\"s%d-x\",\"namespace\":\"bench\","
			   "\"resourceVersion\":\"%d\",\"labels\":{\"kubernetes.io/service-name\":\"s%d\"}},"
			   "\"ports\":[{\"name\":\"http\",\"port\":8080,\"protocol\":\"TCP\"}],\"endpoints\":[",
			   type, i, rv, i);

	for (int j = 0; j < e; j++) {
		int p = first + j;

		len += snprintf(buf + len, n - len,
				"%s{\"addresses\":[\"10.%d.%d.%d\"],\"conditions\":{\"ready\":true}}",
				j ? "," : "", 128 + (p >> 16), (p >> 8) & 255, p & 255);
	}
	snprintf(buf + len, n - len, "]}}");
}

/* kx_ct full of flows (both entries) last seen at jiffies now. */
static int fill_ct(const struct kx_maps *m, uint64_t now)
{
	struct kx_ct_val v = { .dir = KX_CT_FORWARD, .last_seen = now };
	struct kx_ct_key k = { .proto = IPPROTO_TCP }, t;

	for (uint32_t i = 0; i < KX_CT_SIZE / 2; i++) {
		k.saddr = htonl(0x0c000000 + (i >> 14));
		k.sport = htons(1024 + (i & 16383));
		k.daddr = htonl(0x0a600001);
		k.dport = htons(80);
		v.dir = KX_CT_FORWARD;
		v.nat_addr = htonl(0x0a800001 + (i & 1023));
		v.nat_port = htons(8080);
		if (bpf_map_update_elem(m->ct, &k, &v, BPF_ANY))
			return -1;
		kx_ct_twin_key(&k, &v, &t);
		v.dir = KX_CT_REPLY;
		v.nat_addr = k.daddr;
		v.nat_port = k.dport;
		if (bpf_map_update_elem(m->ct, &t, &v, BPF_ANY))
			return -1;
	}
	return 0;
}

/* The GC walk over a full kx_ct: nothing idle (the usual walk), then all idle. */
static int bench_ct(const struct kx_maps *m)
{
	struct kx_ct_timeouts to = KX_CT_TIMEOUTS_DEFAULT;
	uint64_t now = 1ull << 40;
	struct kx_ct_gc_result r;
	struct kx_ct_usage u;
	struct kx_err err;
	double t0, t_keep, t_all, t_count;

	if (fill_ct(m, now))
		return -1;
	t0 = now_ms();
	if (kx_ct_usage(m, &u))
		return -1;
	t_count = now_ms() - t0;
	t0 = now_ms();
	if (kx_ct_gc(m, &to, now + 100, 250, &r, &err) || r.expired)
		return -1;
	t_keep = now_ms() - t0;
	t0 = now_ms();
	if (kx_ct_gc(m, &to, now + 1000ull * 86400 * 250, 250, &r, &err) ||
	    r.expired != u.entries)
		return -1;
	t_all = now_ms() - t0;
	printf("| conntrack: count %llu entries (metrics scrape, kxdp stats) | %.0f ms |\n",
	       (unsigned long long)u.entries, t_count);
	printf("| conntrack GC walk, %llu entries, none idle | %.0f ms |\n",
	       (unsigned long long)u.entries, t_keep);
	printf("| conntrack GC walk, %llu entries, all idle (deleted) | %.0f ms |\n",
	       (unsigned long long)u.entries, t_all);
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	int n_svc = argc > 1 ? atoi(argv[1]) : 10000, n_ep = argc > 2 ? atoi(argv[2]) : 10;
	int n_ev = argc > 3 ? atoi(argv[3]) : 1000;
	struct kapi_conf conf = { .server = "https://unused.invalid" };
	struct kxdp *skel = kxdp__open_and_load();
	struct kx_sync_stats st = { 0 };
	struct kx_syncer *syncer;
	struct k8s_state ks;
	struct kx_table t;
	struct kx_err err;
	struct kx_maps m;
	struct kapi k;
	double t0, t_parse, t_sync, t_model, *lat = calloc(n_ev, sizeof(double));
	char *line = malloc(1 << 20), owner[64];

	kx_log_verbosity = -1;
	libbpf_set_print(kx_libbpf_print);
	if (!skel || kx_maps_from_object(skel->obj, &m, &err) || kapi_init(&k, &conf, &err)) {
		fprintf(stderr, "sync_bench: setup failed (run as root): %s\n",
			skel ? err.msg : strerror(errno));
		return 1;
	}
	syncer = kx_syncer_new(&m, &err);
	if (!syncer) {
		fprintf(stderr, "sync_bench: %s\n", err.msg);
		return 1;
	}
	t0 = now_ms();
	for (int i = 0; i < n_svc; i++) {
		svc_line(line, 1 << 20, i);
		kapi_handle_line(&k, &k.w[KAPI_SERVICES], line, strlen(line));
		slice_line(line, 1 << 20, i, n_ep, i * n_ep, "ADDED", i + 1);
		kapi_handle_line(&k, &k.w[KAPI_SLICES], line, strlen(line));
	}
	t_parse = now_ms() - t0;
	t0 = now_ms();
	if (kapi_take_state(&k, &ks, &err) || kx_model_build(&ks, "bench-node", &t, &err)) {
		fprintf(stderr, "sync_bench: model: %s\n", err.msg);
		return 1;
	}
	t_model = now_ms() - t0;
	if (kx_syncer_full(syncer, &t, &st, &err)) {
		fprintf(stderr, "sync_bench: full sync: %s\n", err.msg);
		return 1;
	}
	t_sync = now_ms() - t0;
	k8s_state_free(&ks);
	kx_table_free(&t);

	srand(1);
	for (int e = 0; e < n_ev; e++) {
		int i = rand() % n_svc;
		/* one endpoint replaced by a new pod: a realistic rolling-update step */
		slice_line(line, 1 << 20, i, n_ep, n_svc * n_ep + e * n_ep, "MODIFIED", n_svc + e + 2);
		snprintf(owner, sizeof(owner), "bench/s%d", i);
		t0 = now_ms();
		kapi_handle_line(&k, &k.w[KAPI_SLICES], line, strlen(line));
		if (kx_apply_owner(syncer, NULL, &k, "bench-node", owner, &st, NULL, &err)) {
			fprintf(stderr, "sync_bench: event %d: %s\n", e, err.msg);
			return 1;
		}
		lat[e] = now_ms() - t0;
		json_object_clear(k.dirty_owners);
	}
	qsort(lat, n_ev, sizeof(*lat), cmp_double);
	printf("| measure (%d services x %d endpoints) | value |\n|---|---|\n", n_svc, n_ep);
	printf("| initial: decode %d watch events into the store | %.0f ms |\n", 2 * n_svc, t_parse);
	printf("| initial: full sync (model + %d service entries, %d backends into empty maps) | %.0f ms |\n",
	       n_svc, n_svc * n_ep, t_sync);
	printf("|   of which decoding the store and the model | %.0f ms |\n", t_model);
	printf("| EndpointSlice event -> maps changed, p50 | %.3f ms |\n", lat[n_ev / 2]);
	printf("| EndpointSlice event -> maps changed, p99 | %.3f ms |\n", lat[n_ev * 99 / 100]);
	printf("| EndpointSlice event -> maps changed, max | %.3f ms |\n", lat[n_ev - 1]);
	if (bench_ct(&m))
		fprintf(stderr, "sync_bench: conntrack: %s\n", strerror(errno));
	kx_syncer_free(syncer);
	kapi_free(&k);
	kxdp__destroy(skel);
	free(line);
	free(lat);
	return 0;
}
