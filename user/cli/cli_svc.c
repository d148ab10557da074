// SPDX-License-Identifier: GPL-2.0
/* kxdp svc list (the ipvsadm -Ln layout) and kxdp stats. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cli/cli.h"
#include "datapath/stat_names.h"

/* Connections per (service, backend) from conntrack forward entries. */
struct conn_count {
	uint32_t svc_id, backend_id;
	uint32_t active, inactive;
};

struct conn_counts {
	struct conn_count *c;
	size_t n, cap;
};

static int count_one(const void *key, const void *val, void *ctx)
{
	const struct kx_ct_key *k = key;
	const struct kx_ct_val *v = val;
	struct conn_counts *cc = ctx;
	size_t i;

	if (v->dir != KX_CT_FORWARD)
		return 0;
	for (i = 0; i < cc->n; i++)
		if (cc->c[i].svc_id == v->svc_id && cc->c[i].backend_id == v->backend_id)
			break;
	if (i == cc->n) {
		if (cc->n == cc->cap) {
			void *p = realloc(cc->c, (cc->cap = cc->cap ? cc->cap * 2 : 16) *
						     sizeof(*cc->c));

			if (!p)
				return -1;
			cc->c = p;
		}
		cc->c[cc->n++] = (struct conn_count){ v->svc_id, v->backend_id, 0, 0 };
	}
	/* ipvsadm: ActiveConn are established TCP, InActConn the rest */
	if (k->proto == IPPROTO_TCP && !(v->flags & KX_CT_F_CLOSING))
		cc->c[i].active++;
	else
		cc->c[i].inactive++;
	return 0;
}

static void conns_of(const struct conn_counts *cc, uint32_t svc_id, uint32_t bid, uint32_t *act,
		     uint32_t *inact)
{
	*act = *inact = 0;
	for (size_t k = 0; k < cc->n; k++)
		if (cc->c[k].svc_id == svc_id && cc->c[k].backend_id == bid) {
			*act = cc->c[k].active;
			*inact = cc->c[k].inactive;
		}
}

/* What an entry is beyond its address, comma-separated, also into arr. */
static void svc_flags(const struct kx_svc_entry *s, char *out, size_t n, json_t *arr)
{
	const char *names[8];
	size_t k = 0, len = 0;

	if (s->key.scope == KX_SCOPE_EXTERNAL || (s->val.flags & KX_SVC_F_IN_CLUSTER))
		names[k++] = s->key.vip == KX_VIP_NODEPORT ? "nodeport" : "external";
	if (s->val.flags & KX_SVC_F_IN_CLUSTER)
		names[k++] = "in-cluster";
	if (s->val.flags & KX_SVC_F_LOCAL)
		names[k++] = "local";
	if (s->val.flags & KX_SVC_F_SRC_RANGES)
		names[k++] = "src-ranges";
	if (s->val.flags & KX_SVC_F_HASH_PORT)
		names[k++] = "hash-port";
	if (s->val.flags & KX_SVC_F_VIP)
		names[k++] = "vip";
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", i ? "," : "",
					names[i]);
		json_array_append_new(arr, json_string(names[i]));
	}
}

/* Has bid been listed already for this entry? (mh: a backend fills many slots) */
static bool seen_before(uint32_t *seen, size_t *n, uint32_t bid)
{
	for (size_t i = 0; i < *n; i++)
		if (seen[i] == bid)
			return true;
	seen[(*n)++] = bid;
	return false;
}

static struct kx_svc_counter svc_counter(struct cli *c, uint32_t id)
{
	struct kx_svc_counter v = { 0 };

	bpf_map_lookup_elem(c->m.svc_stats, &id, &v);
	return v;
}

/* The backends of one entry, each once, as text rows or into jb. */
static void svc_backends(struct cli *c, const struct kx_snapshot *snap,
			 const struct kx_svc_entry *s, const struct conn_counts *cc, bool stats,
			 json_t *jb)
{
	uint32_t *seen = calloc(s->val.count + 1, sizeof(*seen));
	size_t n_seen = 0;

	for (uint32_t j = 0; seen && j < s->val.count; j++) {
		struct kx_slot_key sk = { s->val.id, kx_slot_base(s->val.flags) + j };
		const struct kx_backend *b;
		uint32_t bid, act, inact;
		char ip[INET_ADDRSTRLEN], dname[64];
		int weight;

		if (bpf_map_lookup_elem(c->m.slots, &sk, &bid) || seen_before(seen, &n_seen, bid))
			continue;
		b = kx_snapshot_backend(snap, bid);
		if (!b)
			continue;
		conns_of(cc, s->val.id, bid, &act, &inact);
		inet_ntop(AF_INET, &b->addr, ip, sizeof(ip));
		cli_addr_port(b->addr, b->port, dname, sizeof(dname));
		weight = b->state == KX_BACKEND_ACTIVE ? 1 : 0;
		if (!c->json && stats)
			printf("  -> %s\n", dname);
		else if (!c->json)
			printf("  -> %-28s %-7s %-6d %-10u %-10u\n", dname, "Masq", weight, act,
			       inact);
		json_array_append_new(jb, json_pack("{s:s, s:i, s:s, s:i, s:i, s:i, s:s}",
			"address", ip, "port", ntohs(b->port), "forward", "Masq", "weight", weight,
			"active_conns", act, "inactive_conns", inact,
			"state", weight ? "active" : "terminating"));
	}
	free(seen);
}

static void svc_list_header(bool stats)
{
	printf("kxdp datapath %s\n", KXDP_VERSION);
	if (stats) {
		printf("Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n"
		       "  -> RemoteAddress:Port\n");
		return;
	}
	printf("Prot LocalAddress:Port Scheduler Flags\n"
	       "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
}

/* kxdp svc list [VIP[:PORT]] [--stats] */
int cli_svc_list(struct cli *c)
{
	struct conn_counts cc = { 0 };
	struct kx_snapshot snap;
	uint32_t want_vip = 0;
	uint16_t want_port = 0;
	bool stats = false, filter = false;
	json_t *out = json_array();

	for (int i = 0; i < c->argc; i++) {
		if (!strcmp(c->argv[i], "--refused")) {
			json_decref(out);
			return cli_svc_refused(c);
		}
		if (!strcmp(c->argv[i], "--stats"))
			stats = true;
		else if (!filter && !cli_parse_vip(c->argv[i], &want_vip, &want_port))
			filter = true;
		else {
			fprintf(stderr, "kxdp: svc list: \"%s\" is not VIP[:PORT], --stats or --refused\n",
				c->argv[i]);
			json_decref(out);
			return 2;
		}
	}
	if (cli_snapshot(c, &snap)) {
		json_decref(out);
		return 1;
	}
	if (kx_map_foreach(c->m.ct, sizeof(struct kx_ct_key), sizeof(struct kx_ct_val), count_one,
			   &cc))
		fprintf(stderr, "kxdp: map %s: %s (connection counts left out)\n", KX_MAP_CT,
			strerror(errno));
	if (!c->json)
		svc_list_header(stats);
	for (size_t i = 0; i < snap.n_svcs; i++) {
		const struct kx_svc_entry *s = &snap.svcs[i];
		struct kx_svc_counter sc = svc_counter(c, s->val.id);
		char vip[INET_ADDRSTRLEN], name[64], flags[96], pers[32] = "";
		json_t *jb = json_array(), *jf = json_array(), *js;

		if (filter && (s->key.vip != want_vip || (want_port && ntohs(s->key.port) != want_port))) {
			json_decref(jb);
			json_decref(jf);
			continue;
		}
		inet_ntop(AF_INET, &s->key.vip, vip, sizeof(vip));
		cli_addr_port(s->key.vip, s->key.port, name, sizeof(name));
		svc_flags(s, flags, sizeof(flags), jf);
		/* a ClusterIP's marker is no virtual service: JSON only, for scripts */
		bool text = !c->json && !(s->val.flags & KX_SVC_F_VIP);
		if (s->val.affinity_timeout_s) /* ipvsadm shows ClientIP affinity so */
			snprintf(pers, sizeof(pers), " persistent %u", s->val.affinity_timeout_s);
		if (text && stats)
			printf("%-4s %-26s %8llu %8llu %8llu %8llu %8llu\n", cli_proto(s->key.proto),
			       name, (unsigned long long)sc.conns, (unsigned long long)sc.in_pkts,
			       (unsigned long long)sc.out_pkts, (unsigned long long)sc.in_bytes,
			       (unsigned long long)sc.out_bytes);
		else if (text)
			printf("%-4s %s %s%s%s%s\n", cli_proto(s->key.proto), name,
			       cli_algo(s->val.algo), pers, flags[0] ? " " : "", flags);
		svc_backends(c, &snap, s, &cc, stats, jb);
		js = json_pack("{s:I, s:I, s:I, s:I, s:I}", "conns", (json_int_t)sc.conns,
			       "in_pkts", (json_int_t)sc.in_pkts, "out_pkts", (json_int_t)sc.out_pkts,
			       "in_bytes", (json_int_t)sc.in_bytes, "out_bytes",
			       (json_int_t)sc.out_bytes);
		json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:s, s:s, s:i, s:i, s:o, s:o, s:o}",
			"protocol", cli_proto(s->key.proto), "vip", vip, "port", ntohs(s->key.port),
			"scope", s->key.scope == KX_SCOPE_EXTERNAL ? "external" : "internal",
			"scheduler", cli_algo(s->val.algo), "affinity_timeout_s",
			(int)s->val.affinity_timeout_s, "id", s->val.id, "flags", jf, "stats", js,
			"backends", jb));
	}
	if (c->json)
		cli_json_out(out);
	else
		json_decref(out);
	if (!c->json && !filter)
		cli_refused_after_list(c);
	free(cc.c);
	kx_snapshot_free(&snap);
	return 0;
}

/* Every datapath counter summed over CPUs; then every service entry's. */
int cli_stats(struct cli *c)
{
	int ncpu = libbpf_num_possible_cpus();
	struct kx_counter *per = calloc(ncpu > 0 ? ncpu : 1, sizeof(*per));
	json_t *out = json_object(), *counters = json_object(), *svcs = json_array();
	struct kx_snapshot snap;
	struct kx_ct_usage u;

	if (!per || ncpu <= 0 || cli_snapshot(c, &snap)) {
		free(per);
		json_decref(out);
		json_decref(counters);
		json_decref(svcs);
		return 1;
	}
	if (!c->json)
		printf("%-22s %12s %14s\n", "counter", "packets", "bytes");
	for (uint32_t i = 0; i < KX_STAT_MAX; i++) {
		uint64_t pk = 0, by = 0;

		if (bpf_map_lookup_elem(c->m.stats, &i, per))
			continue;
		for (int k = 0; k < ncpu; k++) {
			pk += per[k].packets;
			by += per[k].bytes;
		}
		json_object_set_new(counters, kx_stat_name(i),
				    json_pack("{s:I, s:I}", "packets", (json_int_t)pk, "bytes",
					      (json_int_t)by));
		if (!c->json)
			printf("%-22s %12llu %14llu\n", kx_stat_name(i), (unsigned long long)pk,
			       (unsigned long long)by);
	}
	if (kx_ct_usage(&c->m, &u))
		fprintf(stderr, "kxdp: map %s: %s (conntrack figures left out)\n", KX_MAP_CT,
			strerror(errno));
	else {
		json_object_set_new(out, "conntrack",
				    json_pack("{s:I, s:i, s:I}", "entries", (json_int_t)u.entries,
					      "capacity", KX_CT_SIZE, "evicted",
					      (json_int_t)u.evicted));
		if (!c->json)
			printf("\nconntrack: %llu of %d entries, %llu evicted when full\n",
			       (unsigned long long)u.entries, KX_CT_SIZE,
			       (unsigned long long)u.evicted);
	}
	if (!c->json)
		printf("\n%-4s %-26s %8s %8s %8s %10s %10s\n", "Prot", "Service", "Conns", "InPkts",
		       "OutPkts", "InBytes", "OutBytes");
	for (size_t i = 0; i < snap.n_svcs; i++) {
		const struct kx_svc_entry *s = &snap.svcs[i];
		struct kx_svc_counter sc = svc_counter(c, s->val.id);
		char name[64], vip[INET_ADDRSTRLEN];

		if (s->val.flags & KX_SVC_F_VIP)
			continue; /* a marker carries no traffic of its own */
		cli_addr_port(s->key.vip, s->key.port, name, sizeof(name));
		inet_ntop(AF_INET, &s->key.vip, vip, sizeof(vip));
		if (!c->json)
			printf("%-4s %-26s %8llu %8llu %8llu %10llu %10llu\n", cli_proto(s->key.proto),
			       name, (unsigned long long)sc.conns, (unsigned long long)sc.in_pkts,
			       (unsigned long long)sc.out_pkts, (unsigned long long)sc.in_bytes,
			       (unsigned long long)sc.out_bytes);
		json_array_append_new(svcs, json_pack("{s:s, s:s, s:i, s:s, s:I, s:I, s:I, s:I, s:I}",
			"protocol", cli_proto(s->key.proto), "vip", vip, "port", ntohs(s->key.port),
			"scope", s->key.scope == KX_SCOPE_EXTERNAL ? "external" : "internal",
			"conns", (json_int_t)sc.conns, "in_pkts", (json_int_t)sc.in_pkts,
			"out_pkts", (json_int_t)sc.out_pkts, "in_bytes", (json_int_t)sc.in_bytes,
			"out_bytes", (json_int_t)sc.out_bytes));
	}
	json_object_set_new(out, "counters", counters);
	json_object_set_new(out, "services", svcs);
	if (c->json)
		cli_json_out(out);
	else
		json_decref(out);
	kx_snapshot_free(&snap);
	free(per);
	return 0;
}
