// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "agent/metrics.h"
#include "policy/policy.h"
#include "datapath/stat_names.h"

/* Upper bounds (seconds) of the sync duration histogram's buckets. */
static const double sync_buckets[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
				       0.05,   0.1,   0.25,   0.5,   1,    2.5 };
#define N_BUCKETS (sizeof(sync_buckets) / sizeof(sync_buckets[0]))

struct entry_label {
	struct kx_svc_key key;
	uint32_t id;
	uint8_t flags;
	char owner[KX_OWNER_MAX];
};

/* The kinds kxdp_refused_objects counts; anything else is "other". */
static const char *const refused_kinds[] = {
	"Service", "EndpointSlice", "Node", "Pod", "Namespace", "NetworkPolicy", "other",
};
#define N_REFUSED_KINDS (sizeof(refused_kinds) / sizeof(refused_kinds[0]))

struct kx_metrics {
	struct kx_maps m;
	pthread_mutex_t lock;
	struct entry_label *entries; /* under lock */
	size_t n_entries;
	unsigned long long sync_count[N_BUCKETS + 1]; /* the last: +Inf */
	double sync_sum;
	unsigned long long syncs, update_errors, watch_restarts;
	uint64_t ct_evicted; /* the highest figure shown: a counter never goes back */
	char *refused_json; /* /refused */
	unsigned long refused[N_REFUSED_KINDS]; /* by refused_kinds[] */
	json_t *policy; /* /policy: the pods of this node, their sets and policies */
	const struct k8s_state *pol_state; /* the agent's Pods, Namespaces, NetworkPolicies */
};

struct kx_metrics *kx_metrics_new(const struct kx_maps *m)
{
	struct kx_metrics *x = calloc(1, sizeof(*x));

	if (!x)
		return NULL;
	x->m = *m;
	pthread_mutex_init(&x->lock, NULL);
	return x;
}

void kx_metrics_free(struct kx_metrics *x)
{
	if (!x)
		return;
	pthread_mutex_destroy(&x->lock);
	free(x->entries);
	free(x->refused_json);
	json_decref(x->policy);
	free(x);
}

void kx_metrics_sync_done(struct kx_metrics *x, double seconds, size_t failed)
{
	size_t b;

	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	for (b = 0; b < N_BUCKETS && seconds > sync_buckets[b]; b++)
		;
	x->sync_count[b]++;
	x->sync_sum += seconds;
	x->syncs++;
	x->update_errors += failed;
	pthread_mutex_unlock(&x->lock);
}

struct collect {
	struct entry_label *e;
	size_t n, cap;
};

static void collect_one(const struct kx_svc_key *k, const struct kx_svc_val *v, const char *owner,
			void *ctx)
{
	struct collect *c = ctx;

	if (v->flags & KX_SVC_F_VIP)
		return; /* a marker carries no traffic */
	if (c->n == c->cap) {
		void *p = realloc(c->e, (c->cap = c->cap ? 2 * c->cap : 64) * sizeof(*c->e));

		if (!p)
			return;
		c->e = p;
	}
	c->e[c->n] = (struct entry_label){ *k, v->id, v->flags, "" };
	snprintf(c->e[c->n].owner, sizeof(c->e[c->n].owner), "%s", owner);
	c->n++;
}

void kx_metrics_set_entries(struct kx_metrics *x, struct kx_syncer *s)
{
	struct collect c = { 0 };

	if (!x || !s)
		return;
	kx_syncer_foreach(s, collect_one, &c);
	pthread_mutex_lock(&x->lock);
	free(x->entries);
	x->entries = c.e;
	x->n_entries = c.n;
	pthread_mutex_unlock(&x->lock);
}

void kx_metrics_set_watch_restarts(struct kx_metrics *x, unsigned long restarts)
{
	if (!x)
		return;
	pthread_mutex_lock(&x->lock);
	x->watch_restarts = restarts;
	pthread_mutex_unlock(&x->lock);
}

static int refusal_cmp(const void *pa, const void *pb)
{
	const struct k8s_refusal *a = pa, *b = pb;
	int c = strcmp(a->kind, b->kind);

	return c ? c : strcmp(a->object, b->object);
}

void kx_metrics_set_refused(struct kx_metrics *x, const struct k8s_refusals *r)
{
	unsigned long counts[N_REFUSED_KINDS] = { 0 };
	struct k8s_refusal *sorted;
	json_t *arr = json_array();
	char *text;
	size_t i, k;

	if (!x || !arr)
		goto out;
	sorted = calloc(r->n + 1, sizeof(*sorted));
	if (!sorted)
		goto out;
	memcpy(sorted, r->v, r->n * sizeof(*sorted));
	qsort(sorted, r->n, sizeof(*sorted), refusal_cmp);
	for (i = 0; i < r->n; i++) {
		for (k = 0; k < N_REFUSED_KINDS - 1; k++)
			if (!strcmp(sorted[i].kind, refused_kinds[k]))
				break;
		counts[k]++;
		json_array_append_new(arr, json_pack("{s:s,s:s,s:s}", "kind", sorted[i].kind,
						     "object", sorted[i].object, "reason",
						     sorted[i].reason));
	}
	free(sorted);
	text = json_dumps(arr, JSON_INDENT(2));
	if (!text)
		goto out;
	pthread_mutex_lock(&x->lock);
	free(x->refused_json);
	x->refused_json = text;
	memcpy(x->refused, counts, sizeof(counts));
	pthread_mutex_unlock(&x->lock);
out:
	json_decref(arr);
}

void kx_metrics_set_policy(struct kx_metrics *x, json_t *view)
{
	if (!x) {
		json_decref(view);
		return;
	}
	pthread_mutex_lock(&x->lock);
	json_decref(x->policy);
	x->policy = view;
	pthread_mutex_unlock(&x->lock);
}

char *kx_metrics_policy_json(struct kx_metrics *x)
{
	char *text;

	pthread_mutex_lock(&x->lock);
	text = json_dumps(x->policy ? x->policy : json_pack("{s:[]}", "pods"), JSON_COMPACT);
	pthread_mutex_unlock(&x->lock);
	return text;
}

void kx_metrics_set_policy_state(struct kx_metrics *x, const struct k8s_state *st)
{
	kx_metrics_policy_lock(x);
	if (x)
		x->pol_state = st;
	kx_metrics_policy_unlock(x);
}

/* Explain waits while the agent changes the policy state. */
void kx_metrics_policy_lock(struct kx_metrics *x)
{
	if (x)
		pthread_mutex_lock(&x->lock);
}

void kx_metrics_policy_unlock(struct kx_metrics *x)
{
	if (x)
		pthread_mutex_unlock(&x->lock);
}

/* The policy endpoint (a pod, not hostNetwork, not finished) holding addr, or -1. */
static int32_t pod_at(const struct k8s_state *st, uint32_t addr)
{
	for (size_t i = 0; i < st->n_pods; i++) {
		const struct k8s_pod *p = &st->pods[i];

		if (p->addr == addr && !p->host_network && !p->finished)
			return (int32_t)i;
	}
	return -1;
}

/* One direction's verdict of pod as JSON (null when addr is no pod). */
static json_t *explain_dir(const struct k8s_state *st, int32_t pod, enum kx_pol_dir dir,
			   uint32_t peer, uint8_t proto, uint16_t port)
{
	struct kx_pol_verdict v;
	json_t *o;

	if (pod < 0)
		return json_null();
	kx_policy_eval(st, (uint32_t)pod, dir, peer, proto, port, &v);
	o = json_pack("{s:s, s:s, s:b, s:b, s:i}", "namespace", st->pods[pod].ns, "pod",
		      st->pods[pod].name, "isolated", v.isolated, "allowed", v.allowed,
		      "selecting", (json_int_t)v.n_selecting);
	if (v.policy >= 0) {
		char name[64 + K8S_NAME_MAX];

		snprintf(name, sizeof(name), "%s/%s", st->netpols[v.policy].ns,
			 st->netpols[v.policy].name);
		json_object_set_new(o, "policy", json_string(name));
		json_object_set_new(o, "rule", json_integer(v.rule));
	}
	if (v.isolated) {
		json_t *names = json_array();
		char name[64 + K8S_NAME_MAX];

		for (size_t i = 0; i < st->n_netpols; i++) { /* each alone: does it select pod? */
			struct kx_pol_verdict one;
			struct k8s_state only = *st;

			only.netpols = (struct k8s_netpol *)&st->netpols[i];
			only.n_netpols = 1;
			kx_policy_eval(&only, (uint32_t)pod, dir, peer, proto, port, &one);
			if (!one.isolated)
				continue;
			snprintf(name, sizeof(name), "%s/%s", st->netpols[i].ns, st->netpols[i].name);
			json_array_append_new(names, json_string(name));
		}
		json_object_set_new(o, "policies", names);
	}
	return o;
}

char *kx_metrics_policy_explain(struct kx_metrics *x, uint32_t src, uint32_t dst, uint8_t proto,
				uint16_t port)
{
	static const struct k8s_state none;
	const struct k8s_state *st;
	json_t *o;
	char *text;
	int32_t s, d;

	pthread_mutex_lock(&x->lock);
	st = x->pol_state ? x->pol_state : &none;
	s = pod_at(st, src);
	d = pod_at(st, dst);
	o = json_pack("{s:o, s:o}", "egress", explain_dir(st, s, KX_POL_EGRESS, dst, proto, port),
		      "ingress", explain_dir(st, d, KX_POL_INGRESS, src, proto, port));
	pthread_mutex_unlock(&x->lock);
	text = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return text;
}

/* Policy p's sets in direction dir ("ingress"/"egress"), from the /policy view: bit per set id. */
static void policy_sets(json_t *view, const char *p, const char *dir, unsigned char *ids)
{
	char key[32];
	json_t *pod, *name;
	size_t i, j;

	snprintf(key, sizeof(key), "%s_set", dir);
	memset(ids, 0, KX_POL_MAX_SETS / 8);
	json_array_foreach(json_object_get(view, "pods"), i, pod) {
		json_int_t id = json_integer_value(json_object_get(pod, key));

		json_array_foreach(json_object_get(pod, dir), j, name)
			if (!strcmp(json_string_value(name), p) && id > 0 && id < KX_POL_MAX_SETS)
				ids[id / 8] |= (unsigned char)(1 << (id % 8));
	}
}

/* kxdp_policy_*: per policy and direction, first packets its sets allowed and denied. */
static void render_policy(struct kx_metrics *x, FILE *f)
{
	static const char *const dirs[] = { "ingress", "egress" };
	unsigned char ids[KX_POL_MAX_SETS / 8];
	json_t *seen = json_object(), *pod, *name;
	const char *p;
	size_t i, j;

	fprintf(f, "# HELP kxdp_policy_flows_total First packets of flows judged by the policy sets a NetworkPolicy is in, by direction and verdict.\n"
		   "# TYPE kxdp_policy_flows_total counter\n");
	json_array_foreach(json_object_get(x->policy, "pods"), i, pod)
		for (int d = 0; d < 2; d++)
			json_array_foreach(json_object_get(pod, dirs[d]), j, name)
				json_object_set_new(seen, json_string_value(name), json_true());
	json_object_foreach(seen, p, name) {
		for (int d = 0; d < 2; d++) {
			struct kx_pol_counter sum = { 0 }, c;

			policy_sets(x->policy, p, dirs[d], ids);
			for (uint32_t id = 0; id < KX_POL_MAX_SETS; id++)
				if ((ids[id / 8] >> (id % 8) & 1) &&
				    !bpf_map_lookup_elem(x->m.pol_stats, &id, &c)) {
					sum.allowed += c.allowed;
					sum.denied += c.denied;
				}
			fprintf(f, "kxdp_policy_flows_total{policy=\"%s\",direction=\"%s\",verdict=\"allowed\"} %llu\n"
				   "kxdp_policy_flows_total{policy=\"%s\",direction=\"%s\",verdict=\"denied\"} %llu\n",
				p, dirs[d], (unsigned long long)sum.allowed, p, dirs[d],
				(unsigned long long)sum.denied);
		}
	}
	json_decref(seen);
}

char *kx_metrics_refused_json(struct kx_metrics *x)
{
	char *text;

	pthread_mutex_lock(&x->lock);
	text = strdup(x->refused_json ? x->refused_json : "[]");
	pthread_mutex_unlock(&x->lock);
	return text;
}

/* The labels of one service entry: Service, address, port, protocol, scope. */
static void entry_labels(const struct entry_label *e, char *out, size_t n)
{
	char ns[64] = "", name[KX_OWNER_MAX] = "", vip[INET_ADDRSTRLEN];
	const char *slash = strchr(e->owner, '/');

	if (slash) {
		snprintf(ns, sizeof(ns), "%.*s", (int)(slash - e->owner), e->owner);
		snprintf(name, sizeof(name), "%s", slash + 1);
	}
	inet_ntop(AF_INET, &e->key.vip, vip, sizeof(vip));
	snprintf(out, n,
		 "namespace=\"%s\",service=\"%s\",address=\"%s\",port=\"%u\",protocol=\"%s\",scope=\"%s\"",
		 ns, name, e->key.vip == KX_VIP_NODEPORT ? "nodeport" : vip, ntohs(e->key.port),
		 e->key.proto == IPPROTO_TCP ? "TCP" : "UDP",
		 e->key.scope == KX_SCOPE_EXTERNAL ? "external" :
		 (e->flags & KX_SVC_F_IN_CLUSTER) ? "in-cluster" : "internal");
}

static void render_services(struct kx_metrics *x, FILE *f)
{
	static const char *const help[][2] = {
		{ "kxdp_service_connections_total", "New connections (flows) to a service entry." },
		{ "kxdp_service_packets_total", "Packets of a service entry, by direction." },
		{ "kxdp_service_bytes_total", "Bytes of a service entry, by direction." },
	};
	struct kx_svc_counter *c = calloc(x->n_entries + 1, sizeof(*c));
	char lab[512];

	if (!c)
		return;
	for (size_t i = 0; i < x->n_entries; i++)
		bpf_map_lookup_elem(x->m.svc_stats, &x->entries[i].id, &c[i]);
	for (size_t h = 0; h < 3; h++) {
		fprintf(f, "# HELP %s %s\n# TYPE %s counter\n", help[h][0], help[h][1], help[h][0]);
		for (size_t i = 0; i < x->n_entries; i++) {
			entry_labels(&x->entries[i], lab, sizeof(lab));
			if (h == 0) {
				fprintf(f, "%s{%s} %llu\n", help[h][0], lab,
					(unsigned long long)c[i].conns);
				continue;
			}
			fprintf(f, "%s{%s,direction=\"in\"} %llu\n", help[h][0], lab,
				(unsigned long long)(h == 1 ? c[i].in_pkts : c[i].in_bytes));
			fprintf(f, "%s{%s,direction=\"out\"} %llu\n", help[h][0], lab,
				(unsigned long long)(h == 1 ? c[i].out_pkts : c[i].out_bytes));
		}
	}
	fprintf(f, "# HELP kxdp_service_entries Service entries in the datapath.\n"
		   "# TYPE kxdp_service_entries gauge\nkxdp_service_entries %zu\n",
		x->n_entries);
	free(c);
}

static bool is_drop(const char *name)
{
	return !strncmp(name, "drop_", 5) || !strncmp(name, "reject_", 7);
}

static void render_datapath(struct kx_metrics *x, FILE *f)
{
	int ncpu = libbpf_num_possible_cpus();
	struct kx_counter *per = calloc(ncpu > 0 ? ncpu : 1, sizeof(*per));
	uint64_t pk[KX_STAT_MAX] = { 0 }, by[KX_STAT_MAX] = { 0 };

	if (!per || ncpu <= 0) {
		free(per);
		return;
	}
	for (uint32_t i = 0; i < KX_STAT_MAX; i++) {
		if (bpf_map_lookup_elem(x->m.stats, &i, per))
			continue;
		for (int k = 0; k < ncpu; k++) {
			pk[i] += per[k].packets;
			by[i] += per[k].bytes;
		}
	}
	free(per);
	fprintf(f, "# HELP kxdp_datapath_packets_total What the datapath did with packets, by event.\n"
		   "# TYPE kxdp_datapath_packets_total counter\n");
	for (uint32_t i = 0; i < KX_STAT_MAX; i++)
		fprintf(f, "kxdp_datapath_packets_total{event=\"%s\"} %llu\n", kx_stat_name(i),
			(unsigned long long)pk[i]);
	fprintf(f, "# HELP kxdp_datapath_bytes_total Bytes of those packets, by event.\n"
		   "# TYPE kxdp_datapath_bytes_total counter\n");
	for (uint32_t i = 0; i < KX_STAT_MAX; i++)
		fprintf(f, "kxdp_datapath_bytes_total{event=\"%s\"} %llu\n", kx_stat_name(i),
			(unsigned long long)by[i]);
	fprintf(f, "# HELP kxdp_drops_total Packets dropped or refused, by reason.\n"
		   "# TYPE kxdp_drops_total counter\n");
	for (uint32_t i = 0; i < KX_STAT_MAX; i++)
		if (is_drop(kx_stat_name(i)))
			fprintf(f, "kxdp_drops_total{reason=\"%s\"} %llu\n", kx_stat_name(i),
				(unsigned long long)pk[i]);
}

static void render_conntrack(struct kx_metrics *x, FILE *f)
{
	struct kx_ct_usage u;

	if (kx_ct_usage(&x->m, &u))
		return;
	pthread_mutex_lock(&x->lock);
	if (u.evicted > x->ct_evicted)
		x->ct_evicted = u.evicted;
	u.evicted = x->ct_evicted;
	pthread_mutex_unlock(&x->lock);
	fprintf(f, "# HELP kxdp_conntrack_entries Conntrack entries (two per flow).\n"
		   "# TYPE kxdp_conntrack_entries gauge\nkxdp_conntrack_entries %llu\n"
		   "# HELP kxdp_conntrack_capacity Conntrack entries the table holds.\n"
		   "# TYPE kxdp_conntrack_capacity gauge\nkxdp_conntrack_capacity %d\n"
		   "# HELP kxdp_conntrack_fill_ratio Conntrack entries over capacity.\n"
		   "# TYPE kxdp_conntrack_fill_ratio gauge\nkxdp_conntrack_fill_ratio %.6f\n"
		   "# HELP kxdp_conntrack_evictions_total Conntrack entries the full table evicted to make room (flows that lost their NAT).\n"
		   "# TYPE kxdp_conntrack_evictions_total counter\nkxdp_conntrack_evictions_total %llu\n",
		(unsigned long long)u.entries, KX_CT_SIZE, (double)u.entries / KX_CT_SIZE,
		(unsigned long long)u.evicted);
}

static void render_agent(struct kx_metrics *x, FILE *f)
{
	unsigned long long cum = 0;

	fprintf(f, "# HELP kxdp_sync_duration_seconds Time to apply a change to the maps.\n"
		   "# TYPE kxdp_sync_duration_seconds histogram\n");
	for (size_t b = 0; b < N_BUCKETS; b++) {
		cum += x->sync_count[b];
		fprintf(f, "kxdp_sync_duration_seconds_bucket{le=\"%g\"} %llu\n", sync_buckets[b],
			cum);
	}
	cum += x->sync_count[N_BUCKETS];
	fprintf(f, "kxdp_sync_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
		   "kxdp_sync_duration_seconds_sum %.6f\nkxdp_sync_duration_seconds_count %llu\n",
		cum, x->sync_sum, x->syncs);
	fprintf(f, "# HELP kxdp_map_update_errors_total Service entries that could not be written.\n"
		   "# TYPE kxdp_map_update_errors_total counter\nkxdp_map_update_errors_total %llu\n"
		   "# HELP kxdp_watch_restarts_total API watches restarted (reconnect or relist).\n"
		   "# TYPE kxdp_watch_restarts_total counter\nkxdp_watch_restarts_total %llu\n",
		x->update_errors, x->watch_restarts);
	fprintf(f, "# HELP kxdp_refused_objects Objects the agent refused (invalid or in conflict), by kind; the rest is served.\n"
		   "# TYPE kxdp_refused_objects gauge\n");
	for (size_t k = 0; k < N_REFUSED_KINDS; k++)
		fprintf(f, "kxdp_refused_objects{kind=\"%s\"} %lu\n", refused_kinds[k],
			x->refused[k]);
}

char *kx_metrics_render(struct kx_metrics *x)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	pthread_mutex_lock(&x->lock);
	render_services(x, f);
	render_agent(x, f);
	render_policy(x, f);
	pthread_mutex_unlock(&x->lock);
	render_datapath(x, f);
	render_conntrack(x, f);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
