// SPDX-License-Identifier: GPL-2.0
/* kxdp: shows what the datapath holds, from the pinned maps. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>
#include "kxdp_abi.h"
#include "maps.h"
#include "sync.h"

#define KXDP_VERSION "0.1.0"

static const char *const stat_names[KX_STAT_MAX] = {
	[KX_STAT_PASS] = "pass",
	[KX_STAT_MALFORMED] = "malformed",
	[KX_STAT_ARP_REPLY] = "arp_reply",
	[KX_STAT_REDIRECT_LOCAL] = "redirect_local",
	[KX_STAT_SVC_NEW] = "svc_new",
	[KX_STAT_SVC_ESTABLISHED] = "svc_established",
	[KX_STAT_REVNAT] = "revnat",
	[KX_STAT_REJECT_NO_BACKEND] = "reject_no_backend",
	[KX_STAT_DROP_SPOOFED] = "drop_spoofed",
	[KX_STAT_DROP_NO_SLOT] = "drop_no_slot",
	[KX_STAT_DROP_CT_FULL] = "drop_ct_full",
	[KX_STAT_DROP_REWRITE] = "drop_rewrite",
	[KX_STAT_XDP_PASS] = "xdp_pass",
	[KX_STAT_REJECT_NO_SERVICE] = "reject_no_service",
	[KX_STAT_EXT_NEW] = "external_new",
	[KX_STAT_EXT_ESTABLISHED] = "external_established",
	[KX_STAT_EXT_TX] = "external_tx",
	[KX_STAT_DROP_NO_LOCAL] = "drop_no_local",
	[KX_STAT_DROP_SRC_RANGE] = "drop_src_range",
	[KX_STAT_DROP_NO_ROUTE] = "drop_no_route",
	[KX_STAT_DROP_NO_SNAT_PORT] = "drop_no_snat_port",
	[KX_STAT_SOCK_CONNECT] = "sock_connect",
	[KX_STAT_SOCK_REFUSED] = "sock_refused",
	[KX_STAT_DROP_EXT_NO_BACKEND] = "drop_ext_no_backend",
	[KX_STAT_HAIRPIN] = "hairpin",
	[KX_STAT_REJECT_NO_PORT] = "reject_no_port",
	[KX_STAT_ECHO_REPLY] = "echo_reply",
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kxdp [--bpffs DIR] [-o json] COMMAND\n"
		   "  svc list     services and backends, in the ipvsadm -Ln layout\n"
		   "  stats        datapath counters and drop reasons\n"
		   "  pods         pods wired on this node (kx_endpoints)\n"
		   "  version      print the version\n"
		   "exit codes: 0 ok, 1 failed (message on stderr), 2 bad usage\n");
}

/* Connections per (service, backend) from conntrack forward entries. */
struct conn_count {
	uint32_t svc_id, backend_id;
	uint32_t active, inactive;
};

static struct conn_count *count_conns(int ct_fd, size_t *n_out)
{
	struct kx_ct_key k, prev;
	struct kx_ct_val v;
	struct conn_count *c = NULL;
	size_t n = 0, cap = 0, i;
	bool first = true;

	for (; !bpf_map_get_next_key(ct_fd, first ? NULL : &prev, &k); prev = k, first = false) {
		if (bpf_map_lookup_elem(ct_fd, &k, &v) || v.dir != KX_CT_FORWARD)
			continue;
		for (i = 0; i < n; i++)
			if (c[i].svc_id == v.svc_id && c[i].backend_id == v.backend_id)
				break;
		if (i == n) {
			if (n == cap) {
				void *p = realloc(c, (cap = cap ? cap * 2 : 16) * sizeof(*c));

				if (!p)
					break;
				c = p;
			}
			c[n++] = (struct conn_count){ v.svc_id, v.backend_id, 0, 0 };
		}
		if (k.proto == IPPROTO_TCP && !(v.flags & KX_CT_F_CLOSING))
			c[i].active++;
		else
			c[i].inactive++;
	}
	*n_out = n;
	return c;
}

static const char *proto_name(uint8_t p)
{
	return p == IPPROTO_TCP ? "TCP" : p == IPPROTO_UDP ? "UDP" : p == 0 ? "any" : "?";
}

/* What an entry is beyond its address: "nodeport,local,src-ranges", "" for a plain ClusterIP. */
static void svc_flags(const struct kx_svc_entry *s, char *out, size_t n, json_t *arr)
{
	const char *names[6];
	size_t k = 0, len = 0;

	if (s->key.scope == KX_SCOPE_EXTERNAL || (s->val.flags & KX_SVC_F_IN_CLUSTER))
		names[k++] = s->key.vip == KX_VIP_NODEPORT ? "nodeport" : "external";
	if (s->val.flags & KX_SVC_F_IN_CLUSTER)
		names[k++] = "in-cluster";
	if (s->val.flags & KX_SVC_F_LOCAL)
		names[k++] = "local";
	if (s->val.flags & KX_SVC_F_SRC_RANGES)
		names[k++] = "src-ranges";
	if (s->val.flags & KX_SVC_F_VIP)
		names[k++] = "vip";
	out[0] = '\0';
	for (size_t i = 0; i < k; i++) {
		len += (size_t)snprintf(out + len, len < n ? n - len : 0, "%s%s", i ? "," : "",
					names[i]);
		json_array_append_new(arr, json_string(names[i]));
	}
}

static const char *algo_name(uint8_t algo)
{
	static const char *const names[] = { [KX_ALGO_RR] = "rr", [KX_ALGO_SH] = "sh",
					     [KX_ALGO_MH] = "mh", [KX_ALGO_RANDOM] = "random" };

	return algo < sizeof(names) / sizeof(names[0]) && names[algo] ? names[algo] : "?";
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

static int svc_list(const struct kx_maps *m, bool json)
{
	struct kx_snapshot snap;
	struct conn_count *cc;
	struct kx_err err;
	json_t *out = json_array();
	size_t n_cc, i, j, k;

	if (kx_snapshot_read(m, &snap, &err)) {
		fprintf(stderr, "kxdp: %s\n", err.msg);
		return 1;
	}
	cc = count_conns(m->ct, &n_cc);
	if (!json) {
		printf("kxdp datapath %s (services=%zu, backends=%zu)\n", KXDP_VERSION,
		       snap.n_svcs, snap.n_backends);
		printf("Prot LocalAddress:Port Scheduler Flags\n");
		printf("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
	}
	for (i = 0; i < snap.n_svcs; i++) {
		const struct kx_svc_entry *s = &snap.svcs[i];
		char vip[INET_ADDRSTRLEN], name[64], flags[64];
		json_t *jb = json_array(), *jf = json_array();

		inet_ntop(AF_INET, &s->key.vip, vip, sizeof(vip));
		snprintf(name, sizeof(name), "%s:%u", vip, ntohs(s->key.port));
		uint32_t *seen = calloc(s->val.count + 1, sizeof(*seen));
		size_t n_seen = 0;

		svc_flags(s, flags, sizeof(flags), jf);
		if (!json)
			printf("%s  %s %s%s%s\n", proto_name(s->key.proto), name,
			       algo_name(s->val.algo), flags[0] ? " " : "", flags);
		for (j = 0; seen && j < s->val.count; j++) {
			struct kx_slot_key sk = { s->val.id, kx_slot_base(s->val.flags) + (uint32_t)j };
			const struct kx_backend *b;
			uint32_t bid, act = 0, inact = 0;
			char ip[INET_ADDRSTRLEN], dname[64];

			if (bpf_map_lookup_elem(m->slots, &sk, &bid) || seen_before(seen, &n_seen, bid))
				continue;
			b = kx_snapshot_backend(&snap, bid);
			if (!b)
				continue;
			for (k = 0; k < n_cc; k++)
				if (cc[k].svc_id == s->val.id && cc[k].backend_id == bid) {
					act = cc[k].active;
					inact = cc[k].inactive;
				}
			inet_ntop(AF_INET, &b->addr, ip, sizeof(ip));
			snprintf(dname, sizeof(dname), "%s:%u", ip, ntohs(b->port));
			if (!json)
				printf("  -> %-28s %-7s %-6d %-10u %-10u\n", dname, "Masq",
				       b->state == KX_BACKEND_ACTIVE ? 1 : 0, act, inact);
			json_array_append_new(jb, json_pack("{s:s, s:i, s:s, s:i, s:i, s:i, s:s}",
				"address", ip, "port", ntohs(b->port), "forward", "Masq",
				"weight", b->state == KX_BACKEND_ACTIVE ? 1 : 0,
				"active_conns", act, "inactive_conns", inact,
				"state", b->state == KX_BACKEND_ACTIVE ? "active" : "terminating"));
		}
		free(seen);
		json_array_append_new(out, json_pack("{s:s, s:s, s:i, s:s, s:i, s:o, s:o}",
			"protocol", proto_name(s->key.proto), "vip", vip, "port", ntohs(s->key.port),
			"scheduler", algo_name(s->val.algo), "id", s->val.id, "flags", jf,
			"backends", jb));
	}
	if (json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(out);
	free(cc);
	kx_snapshot_free(&snap);
	return 0;
}

static int stats_show(const struct kx_maps *m, bool json)
{
	int ncpu = libbpf_num_possible_cpus();
	struct kx_counter *per = calloc(ncpu > 0 ? ncpu : 1, sizeof(*per));
	json_t *out = json_object();

	if (!per || ncpu <= 0) {
		fprintf(stderr, "kxdp: stats: cannot size per-CPU values\n");
		return 1;
	}
	if (!json)
		printf("%-20s %12s %14s\n", "counter", "packets", "bytes");
	for (uint32_t i = 0; i < KX_STAT_MAX; i++) {
		uint64_t pk = 0, by = 0;

		if (bpf_map_lookup_elem(m->stats, &i, per))
			continue;
		for (int c = 0; c < ncpu; c++) {
			pk += per[c].packets;
			by += per[c].bytes;
		}
		if (json)
			json_object_set_new(out, stat_names[i],
					    json_pack("{s:I, s:I}", "packets", (json_int_t)pk,
						      "bytes", (json_int_t)by));
		else
			printf("%-20s %12llu %14llu\n", stat_names[i], (unsigned long long)pk,
			       (unsigned long long)by);
	}
	if (json) {
		json_dumpf(out, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(out);
	free(per);
	return 0;
}

static void mac_str(const __u8 *mac, char *buf)
{
	sprintf(buf, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		mac[5]);
}

static int pod_row(const struct kx_endpoint *ep, void *ctx)
{
	char ip[INET_ADDRSTRLEN], name[IF_NAMESIZE] = "?", pod[18], host[18];
	json_t *arr = ctx;

	inet_ntop(AF_INET, &ep->addr, ip, sizeof(ip));
	if_indextoname(ep->ifindex, name);
	mac_str(ep->pod_mac, pod);
	mac_str(ep->host_mac, host);
	if (arr)
		json_array_append_new(arr, json_pack("{s:s, s:i, s:s, s:s, s:s}", "ip", ip,
						     "ifindex", (int)ep->ifindex, "veth", name,
						     "pod_mac", pod, "host_mac", host));
	else
		printf("%-15s %-15s %7u %-17s %-17s\n", ip, name, ep->ifindex, pod, host);
	return 0;
}

static int pods_show(const struct kx_maps *m, bool json)
{
	json_t *arr = json ? json_array() : NULL;

	if (!json)
		printf("%-15s %-15s %7s %-17s %-17s\n", "pod IP", "host veth", "ifindex",
		       "pod MAC", "host MAC");
	if (kx_endpoint_foreach(m->endpoints, pod_row, arr)) {
		fprintf(stderr, "kxdp: map %s: %s\n", KX_MAP_ENDPOINTS, strerror(errno));
		json_decref(arr);
		return 1;
	}
	if (json) {
		json_dumpf(arr, stdout, JSON_INDENT(2));
		putchar('\n');
	}
	json_decref(arr);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "bpffs", required_argument, NULL, 'b' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *bpffs = KX_DEFAULT_BPFFS;
	struct kx_maps m;
	struct kx_err err;
	bool json = false;
	int c, ret;

	libbpf_set_print(kx_libbpf_print);
	while ((c = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'b': bpffs = optarg; break;
		case 'o':
			if (strcmp(optarg, "json")) {
				fprintf(stderr, "kxdp: -o: unknown format \"%s\" (json)\n", optarg);
				return 2;
			}
			json = true;
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	/* Options may also follow the command: kxdp svc list -o json. */
	for (int i = optind; i < argc; i++) {
		if (!strcmp(argv[i], "-o") && i + 1 < argc && !strcmp(argv[i + 1], "json")) {
			json = true;
			argv[i] = argv[i + 1] = "";
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[optind], "version")) {
		printf("kxdp %s\n", KXDP_VERSION);
		return 0;
	}
	bool svc = !strcmp(argv[optind], "svc") && optind + 1 < argc &&
		   !strcmp(argv[optind + 1], "list");
	bool stats = !strcmp(argv[optind], "stats");
	bool pods = !strcmp(argv[optind], "pods");
	if (!svc && !stats && !pods) {
		fprintf(stderr, "kxdp: unknown command \"%s\"\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	if (kx_maps_open_pinned(bpffs, &m, &err)) {
		fprintf(stderr, "kxdp: %s\n", err.msg);
		return 1;
	}
	ret = svc ? svc_list(&m, json) : pods ? pods_show(&m, json) : stats_show(&m, json);
	kx_maps_close(&m);
	return ret;
}
