// SPDX-License-Identifier: GPL-2.0
/*
 * kxdp-agent: loads and pins the datapath, then keeps the maps equal to the
 * cluster state read from a Kubernetes List file (re-read when it changes)
 * or the API server. An object it cannot use is refused alone, in one line,
 * and everything else is served; a file that is no List keeps the last good
 * state serving.
 */
#include <arpa/inet.h>
#include <net/if.h>
#include <bpf/bpf.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "datapath/cgroup.h"
#include "agent/conflist.h"
#include "agent/hcport.h"
#include "agent/health.h"
#include "agent/metrics.h"
#include "k8s/k8s.h"
#include "agent/apply.h"
#include "k8s/kapi.h"
#include "lib/netlink.h"
#include "datapath/tc.h"
#include "datapath/loader.h"
#include "agent/ctgc.h"
#include "datapath/maps.h"
#include "model/model.h"
#include "datapath/sync.h"
#include "agent/takeover.h"

struct agent_opts {
	const char *node;
	const char *state; /* a List file, or NULL: the API server */
	const char *kubeconfig; /* NULL with no --state: in-cluster config */
	const char *bpffs;
	const char *uplink; /* NULL: the interface holding the node's InternalIP */
	const char *cni_conf_dir; /* "" = do not write the CNI config */
	const char *metrics_addr; /* /healthz, /readyz; "" = none */
	const char *service_cidr; /* unallocated ClusterIPs in it are refused */
	enum kx_xdp_mode xdp; /* how xdp_netdev goes on the uplink */
	bool nodeport_internal; /* node ports on the InternalIP only (kube-router's way) */
	const char *cgroup; /* cgroup v2 dir for the sock_* programs; NULL = the root, "" = none */
	uint32_t ct_gc_interval; /* seconds between conntrack GC walks; 0 = none */
	struct kx_ct_timeouts ct_timeouts;
	bool once;
};

/* What the agent keeps between applies. */
struct agent {
	struct agent_opts o;
	struct kx_maps maps;
	struct nl_sock *nl;
	int uplink_ifindex; /* where the uplink programs were last attached, 0 = none */
	struct kx_health *health;
	struct kx_syncer *syncer; /* mirror of the maps, kept across applies */
	struct kx_config cfg; /* what kx_config holds */
	struct kx_hcports *hc; /* health-check node ports being served */
	struct kx_metrics *metrics; /* what /metrics shows of the agent */
	uint32_t *neighs; /* other nodes' IPs with a managed neighbour entry */
	size_t n_neighs;
	int neigh_ifindex; /* on this interface */
	int clock_fd; /* ct_clock, for the conntrack GC; -1 = no GC */
	struct kx_clock clock0; /* the agent's first clock reading: HZ is measured from it */
	unsigned int hz; /* the kernel's, once measured */
	uint64_t last_gc_ns; /* CLOCK_MONOTONIC of the last GC walk */
	struct kx_cni_params cni; /* the conflist last written (cni.pod_cidr_len 0: none yet) */
	uint64_t last_files_ns; /* CLOCK_MONOTONIC of the last look at the agent's own files */
	struct k8s_refusals file_refused; /* items of the state file that do not decode */
	json_t *svc_refused; /* "ns/name" -> why the model refused that Service */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kxdp-agent --node NAME [--state FILE | --kubeconfig FILE] [--bpffs DIR]\n"
		   "                  [--uplink IF] [--cni-conf-dir DIR] [--once] [-v]\n"
		   "  --node NAME         this node's name (as in the Node object)\n"
		   "  --state FILE        Kubernetes List JSON (kubectl get nodes,services,endpointslices -A -o json)\n"
		   "  --kubeconfig FILE   list and watch the API server of this kubeconfig; with neither\n"
		   "                      option, the in-cluster config (service account,\n"
		   "                      KUBERNETES_SERVICE_HOST/PORT)\n"
		   "  --bpffs DIR         bpffs mount holding the pins (default " KX_DEFAULT_BPFFS ")\n"
		   "  --uplink IF         the node's uplink (default: the interface holding its InternalIP)\n"
		   "  --cni-conf-dir DIR  where to write " KX_CNI_CONFLIST " (default " KX_DEFAULT_CNI_CONF_DIR "; '' = nowhere)\n"
		   "  --metrics-addr A:P  serve /healthz and /readyz there (default " KX_DEFAULT_METRICS_ADDR "; '' = off)\n"
		   "  --xdp MODE          xdp_netdev on the uplink: auto (native; generic on veth),\n"
		   "                      native, generic or off (default auto)\n"
		   "  --service-cidr CIDR the cluster's Service CIDR: a ClusterIP in it that no Service\n"
		   "                      holds is refused, as kube-proxy does (default: none)\n"
		   "  --cgroup DIR        cgroup v2 directory whose processes reach ClusterIPs through the\n"
		   "                      sock_* programs (default: the cgroup v2 root; '' = none)\n"
		   "  --nodeport-addresses all|internal\n"
		   "                      where node ports answer: every address of the node, as\n"
		   "                      kube-proxy (default), or its InternalIP only, as kube-router\n"
		   "  --ct-gc-interval S  seconds between conntrack GC walks (default 30; 0 = none: the\n"
		   "                      LRU alone makes room)\n"
		   "  --ct-tcp-timeout S  idle seconds before an established TCP flow's conntrack goes\n"
		   "                      (default 86400, kube-proxy's 24 h)\n"
		   "  --ct-tcp-close-timeout S\n"
		   "                      ... a TCP flow after FIN or RST (default 120)\n"
		   "  --ct-udp-timeout S  ... a UDP flow (default 120)\n"
		   "  --once              apply the state once and exit\n"
		   "  -v            more log lines (repeat for debug)\n"
		   "exit codes: 0 ok, 1 failed (message on stderr), 2 bad usage\n");
}

/* A whole number of seconds, 1 to 10 years (0 too where zero_ok). */
static int parse_seconds(const char *opt, const char *arg, bool zero_ok, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(arg, &end, 10);
	if (errno || end == arg || *end || arg[0] == '-' || v > 315360000ul || (!v && !zero_ok)) {
		fprintf(stderr, "kxdp-agent: %s %s: want whole seconds, %s to 315360000\n", opt, arg,
			zero_ok ? "0" : "1");
		return -1;
	}
	*out = (uint32_t)v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{ "node", required_argument, NULL, 'n' },   { "state", required_argument, NULL, 's' },
		{ "bpffs", required_argument, NULL, 'b' },  { "once", no_argument, NULL, 'o' },
		{ "uplink", required_argument, NULL, 'u' }, { "cni-conf-dir", required_argument, NULL, 'c' },
		{ "kubeconfig", required_argument, NULL, 'k' },
		{ "metrics-addr", required_argument, NULL, 'm' },
		{ "service-cidr", required_argument, NULL, 'S' },
		{ "xdp", required_argument, NULL, 'X' },
		{ "nodeport-addresses", required_argument, NULL, 'N' },
		{ "cgroup", required_argument, NULL, 'G' },
		{ "ct-gc-interval", required_argument, NULL, 'I' },
		{ "ct-tcp-timeout", required_argument, NULL, 'T' },
		{ "ct-tcp-close-timeout", required_argument, NULL, 'C' },
		{ "ct-udp-timeout", required_argument, NULL, 'U' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->bpffs = KX_DEFAULT_BPFFS;
	o->cni_conf_dir = KX_DEFAULT_CNI_CONF_DIR;
	o->metrics_addr = KX_DEFAULT_METRICS_ADDR;
	o->ct_gc_interval = 30;
	o->ct_timeouts = (struct kx_ct_timeouts)KX_CT_TIMEOUTS_DEFAULT;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->node = optarg; break;
		case 's': o->state = optarg; break;
		case 'b': o->bpffs = optarg; break;
		case 'u': o->uplink = optarg; break;
		case 'k': o->kubeconfig = optarg; break;
		case 'm': o->metrics_addr = optarg; break;
		case 'S': o->service_cidr = optarg; break;
		case 'X':
			if (!strcmp(optarg, "auto"))
				o->xdp = KX_XDP_AUTO;
			else if (!strcmp(optarg, "native"))
				o->xdp = KX_XDP_NATIVE;
			else if (!strcmp(optarg, "generic"))
				o->xdp = KX_XDP_GENERIC;
			else if (!strcmp(optarg, "off"))
				o->xdp = KX_XDP_OFF;
			else {
				fprintf(stderr, "kxdp-agent: --xdp %s: want auto, native, generic or off\n",
					optarg);
				return -1;
			}
			break;
		case 'N':
			if (strcmp(optarg, "all") && strcmp(optarg, "internal")) {
				fprintf(stderr, "kxdp-agent: --nodeport-addresses %s: want all or internal\n",
					optarg);
				return -1;
			}
			o->nodeport_internal = !strcmp(optarg, "internal");
			break;
		case 'G': o->cgroup = optarg; break;
		case 'I':
			if (parse_seconds("--ct-gc-interval", optarg, true, &o->ct_gc_interval))
				return -1;
			break;
		case 'T':
			if (parse_seconds("--ct-tcp-timeout", optarg, false, &o->ct_timeouts.tcp))
				return -1;
			break;
		case 'C':
			if (parse_seconds("--ct-tcp-close-timeout", optarg, false,
					  &o->ct_timeouts.tcp_close))
				return -1;
			break;
		case 'U':
			if (parse_seconds("--ct-udp-timeout", optarg, false, &o->ct_timeouts.udp))
				return -1;
			break;
		case 'c': o->cni_conf_dir = optarg; break;
		case 'o': o->once = true; break;
		case 'v': kx_log_verbosity++; break;
		case 'h': usage(stdout); exit(0);
		default: usage(stderr); return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "kxdp-agent: unexpected argument \"%s\"\n", argv[optind]);
		return -1;
	}
	if (!o->node) {
		fprintf(stderr, "kxdp-agent: --node is required\n");
		usage(stderr);
		return -1;
	}
	if (o->service_cidr && o->service_cidr[0]) {
		uint32_t a;
		uint8_t l;

		if (kx_parse_cidr(o->service_cidr, &a, &l) != 1) {
			fprintf(stderr, "kxdp-agent: --service-cidr %s: want an IPv4 CIDR such as 10.96.0.0/12\n",
				o->service_cidr);
			return -1;
		}
	}
	if (o->state && o->kubeconfig) {
		fprintf(stderr, "kxdp-agent: --state and --kubeconfig exclude each other\n");
		return -1;
	}
	return 0;
}

/* The uplink: --uplink, or the interface that holds the node's InternalIP. */
static int find_uplink(struct agent *a, const struct kx_table *t, struct kx_link *l)
{
	struct kx_err err = { "" };
	char ip[INET_ADDRSTRLEN];
	int r;

	if (a->o.uplink)
		r = kx_nl_link_by_name(a->nl, a->o.uplink, l, &err);
	else if (t->node_ip)
		r = kx_nl_link_by_addr(a->nl, t->node_ip, l, &err);
	else {
		pr_warn("node %s: no InternalIP in the state, so no uplink: pass --uplink",
			a->o.node);
		return -1;
	}
	if (r == -ENODEV && !a->o.uplink) {
		inet_ntop(AF_INET, &t->node_ip, ip, sizeof(ip));
		pr_warn("node %s: no interface holds its InternalIP %s: pass --uplink", a->o.node,
			ip);
	} else if (r) {
		pr_warn("%s", err.msg);
	}
	return r ? -1 : 0;
}

/*
 * SNATed node-port flows take source ports KX_SNAT_PORT_MIN..MAX of the node's
 * address; a local port range reaching into them could give a node socket
 * the same tuple. Said once, not changed: the range is the admin's.
 */
static void check_port_range(void)
{
	const char *path = "/proc/sys/net/ipv4/ip_local_port_range";
	FILE *f = fopen(path, "r");
	unsigned lo, hi;

	if (!f)
		return;
	if (fscanf(f, "%u %u", &lo, &hi) == 2 && hi >= KX_SNAT_PORT_MIN && lo <= KX_SNAT_PORT_MAX)
		pr_warn("%s is %u-%u: it overlaps the node-port SNAT ports %d-%d; lower its top to %d",
			path, lo, hi, KX_SNAT_PORT_MIN, KX_SNAT_PORT_MAX, KX_SNAT_PORT_MIN - 1);
	fclose(f);
}

/* IP forwarding: pods on other nodes are reached through this node's stack. */
static void enable_forwarding(void)
{
	const char *path = "/proc/sys/net/ipv4/ip_forward";
	char cur = '0';
	FILE *f = fopen(path, "r+");

	if (!f) {
		pr_warn("%s: %s", path, strerror(errno));
		return;
	}
	if (fread(&cur, 1, 1, f) == 1 && cur != '1') {
		rewind(f);
		if (fputs("1\n", f) < 0)
			pr_warn("%s: %s", path, strerror(errno));
		else
			pr_info("IP forwarding enabled (%s)", path);
	}
	fclose(f);
}

/*
 * Every other node's IP gets a neighbour entry the kernel keeps resolved, so
 * xdp_netdev can send node-port traffic to a backend there at once; entries
 * of nodes gone are removed.
 */
static void sync_neighbours(struct agent *a, const struct kx_nl_route *want, size_t n,
			    int ifindex)
{
	uint32_t *now = calloc(n + 1, sizeof(*now));
	struct kx_err err = { "" };
	size_t i, j, added = 0;

	if (!now)
		return;
	for (i = 0; i < n; i++) {
		for (j = 0; j < a->n_neighs && a->neigh_ifindex == ifindex; j++)
			if (a->neighs[j] == want[i].gw)
				break;
		if (j == a->n_neighs || a->neigh_ifindex != ifindex) {
			if (kx_nl_neigh_managed(a->nl, ifindex, want[i].gw, true, &err)) {
				pr_warn("%s", err.msg);
				continue;
			}
			added++;
		}
		now[i] = want[i].gw;
	}
	for (j = 0; j < a->n_neighs; j++) {
		for (i = 0; i < n && now[i] != a->neighs[j]; i++)
			;
		if (i == n && a->neighs[j] && kx_nl_neigh_managed(a->nl, a->neigh_ifindex, a->neighs[j], false, &err))
			pr_warn("%s", err.msg);
	}
	if (added)
		pr_info("managed neighbour entries for %zu other node%s", added, added == 1 ? "" : "s");
	free(a->neighs);
	a->neighs = now;
	a->n_neighs = n;
	a->neigh_ifindex = ifindex;
}

/* kx_nodes: every other node's IP -> name and pod CIDR, for `kxdp route list`. */
static void sync_node_names(struct agent *a, const struct kx_table *t)
{
	uint32_t k, prev;
	bool first = true;
	size_t i;

	for (i = 0; i < t->n_routes; i++) {
		struct kx_node_info ni = { .pod_cidr = t->routes[i].dst,
					   .pod_cidr_len = t->routes[i].len }, cur;
		char via[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN];

		snprintf(ni.name, sizeof(ni.name), "%.63s", t->routes[i].node);
		if (!bpf_map_lookup_elem(a->maps.nodes, &t->routes[i].via, &cur) &&
		    !memcmp(&cur, &ni, sizeof(ni)))
			continue;
		if (bpf_map_update_elem(a->maps.nodes, &t->routes[i].via, &ni, BPF_ANY)) {
			pr_warn("map %s: node %s: %s", KX_MAP_NODES, t->routes[i].node,
				strerror(errno));
			continue;
		}
		inet_ntop(AF_INET, &t->routes[i].via, via, sizeof(via));
		inet_ntop(AF_INET, &t->routes[i].dst, dst, sizeof(dst));
		pr_info("node %s: its pods %s/%u are reached via %s", t->routes[i].node, dst,
			t->routes[i].len, via);
	}
	while (!bpf_map_get_next_key(a->maps.nodes, first ? NULL : &prev, &k)) {
		struct kx_node_info gone;

		for (i = 0; i < t->n_routes && t->routes[i].via != k; i++)
			;
		if (i == t->n_routes && !bpf_map_lookup_elem(a->maps.nodes, &k, &gone) &&
		    !bpf_map_delete_elem(a->maps.nodes, &k)) {
			pr_info("node %s: gone, no more route to its pods", gone.name);
			first = true; /* deleted under the walk: start over */
			continue;
		}
		prev = k;
		first = false;
	}
}

/* Routes to other nodes' pods; a node off the uplink's subnet is reported. */
static void sync_routes(struct agent *a, const struct kx_table *t, const struct kx_link *up)
{
	struct kx_nl_route *want = calloc(t->n_routes + 1, sizeof(*want));
	struct kx_route_stats st;
	struct kx_err err = { "" };
	size_t n = 0;

	if (!want) {
		pr_warn("routes: out of memory");
		return;
	}
	for (size_t i = 0; i < t->n_routes; i++) {
		const struct kx_route_desc *r = &t->routes[i];
		char via[INET_ADDRSTRLEN], dst[INET_ADDRSTRLEN], own[INET_ADDRSTRLEN];

		if (!kx_nl_on_link_subnet(a->nl, up->ifindex, r->via)) {
			inet_ntop(AF_INET, &r->via, via, sizeof(via));
			inet_ntop(AF_INET, &r->dst, dst, sizeof(dst));
			inet_ntop(AF_INET, &up->addr, own, sizeof(own));
			pr_warn("node %s: InternalIP %s is not on uplink %s's subnet (%s/%u): its pods %s/%u are unreachable from here",
				r->node, via, up->name, own, up->prefixlen, dst, r->len);
			continue;
		}
		want[n++] = (struct kx_nl_route){ r->dst, r->len, r->via, up->ifindex };
	}
	if (kx_nl_routes_sync(a->nl, KX_RTPROT_NODE, want, n, &st, &err))
		pr_warn("routes: %s", err.msg);
	if (st.added || st.replaced || st.removed)
		pr_info("routes to other nodes' pods: %zu in place (+%zu ~%zu -%zu)", n,
			st.added, st.replaced, st.removed);
	sync_neighbours(a, want, n, up->ifindex);
	sync_node_names(a, t);
	free(want);
}

static void write_cni_config(struct agent *a, const struct kx_table *t, const struct kx_link *up)
{
	struct kx_cni_params p = { t->pod_cidr, t->pod_cidr_len, up ? up->mtu : 1500,
				   a->o.bpffs };
	struct kx_err err = { "" };
	int r;

	if (!a->o.cni_conf_dir[0])
		return;
	if (!t->pod_cidr_len) {
		pr_warn("node %s: no pod CIDR in the state yet, CNI config not written", a->o.node);
		return;
	}
	if (mkdir(a->o.cni_conf_dir, 0755) && errno != EEXIST)
		pr_warn("mkdir %s: %s", a->o.cni_conf_dir, strerror(errno));
	r = kx_conflist_write(a->o.cni_conf_dir, &p, &err);
	if (r < 0)
		pr_warn("%s", err.msg);
	else if (r > 0)
		pr_info("CNI config written: %s/%s", a->o.cni_conf_dir, KX_CNI_CONFLIST);
	if (r >= 0)
		a->cni = p;
}

/* kx_config from a->cfg. */
static int write_config(struct agent *a, struct kx_err *err)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(a->maps.config, &zero, &a->cfg, BPF_ANY)) {
		kx_errf(err, "map %s: %s", KX_MAP_CONFIG, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * The Service CIDR from --service-cidr into a->cfg, over what kx_config
 * holds: a restarted agent keeps the node fields (node ports keep answering)
 * until its first sync confirms or changes them.
 */
static void config_service_cidr(struct agent *a)
{
	uint32_t zero = 0;
	uint8_t len = 0;

	if (bpf_map_lookup_elem(a->maps.config, &zero, &a->cfg))
		memset(&a->cfg, 0, sizeof(a->cfg));
	a->cfg.svc_cidr = 0;
	a->cfg.svc_mask = 0;
	if (!a->o.service_cidr || !a->o.service_cidr[0])
		return;
	kx_parse_cidr(a->o.service_cidr, &a->cfg.svc_cidr, &len);
	a->cfg.svc_mask = len ? htonl(0xffffffffu << (32 - len)) : 0;
	a->cfg.svc_cidr &= a->cfg.svc_mask;
}

/*
 * The node's side of kx_config: its InternalIP (the source of SNATed node
 * port traffic), the uplink, and the addresses node ports answer on.
 */
static void config_node(struct agent *a, const struct kx_table *t, const struct kx_link *up)
{
	struct kx_config c = a->cfg;
	struct kx_err err = { "" };
	int n;

	c.node_ip = t->node_ip;
	c.uplink_ifindex = up ? (uint32_t)up->ifindex : 0;
	memset(c.node_addrs, 0, sizeof(c.node_addrs));
	c.n_node_addrs = 0;
	if (a->o.nodeport_internal) {
		c.node_addrs[0] = t->node_ip;
		c.n_node_addrs = t->node_ip ? 1 : 0;
	} else {
		n = kx_nl_addrs_v4(a->nl, c.node_addrs, KX_NODE_ADDRS, &err);
		if (n < 0)
			pr_warn("node ports: %s", err.msg);
		c.n_node_addrs = n < 0 ? 0 : (uint32_t)n;
	}
	if (!memcmp(&c, &a->cfg, sizeof(c)))
		return;
	a->cfg = c;
	if (write_config(a, &err))
		pr_warn("%s", err.msg);
	else
		pr_info("node ports answer on %u address%s of node %s", c.n_node_addrs,
			c.n_node_addrs == 1 ? "" : "es", a->o.node);
}

/* The node around the maps: uplink programs, routes, forwarding, CNI config. */
static void setup_node(struct agent *a, const struct kx_table *t)
{
	struct kx_err err = { "" };
	struct kx_link up;
	bool have_uplink = !find_uplink(a, t, &up);

	if (have_uplink && up.ifindex != a->uplink_ifindex) {
		if (kx_tc_attach_uplink(up.ifindex, up.name, up.kind, a->o.xdp, a->o.bpffs, &err)) {
			pr_warn("%s", err.msg);
		} else {
			a->uplink_ifindex = up.ifindex;
			pr_info("uplink %s: %s attached (TC ingress)", up.name, KX_PROG_TC_NETDEV);
		}
	}
	if (have_uplink) {
		enable_forwarding();
		sync_routes(a, t, &up);
	}
	config_node(a, t, have_uplink ? &up : NULL);
	write_cni_config(a, t, have_uplink ? &up : NULL);
}

/*
 * What is refused now, for /refused, kxdp_refused_objects and the CLI: the
 * source's objects that do not decode (the state file's, or those the API
 * client refused), and the Services the model refused.
 */
static void report_refusals(struct agent *a, struct kapi *k)
{
	struct k8s_refusals all = { 0 };
	const char *owner;
	json_t *why;
	bool ok = true;

	if (k) {
		ok = !kapi_refusals(k, &all);
		k->refused_changed = false;
	}
	for (size_t i = 0; ok && !k && i < a->file_refused.n; i++)
		ok = k8s_refuse(&all, a->file_refused.v[i].kind, a->file_refused.v[i].object,
				a->file_refused.v[i].reason);
	json_object_foreach(a->svc_refused, owner, why) {
		if (ok)
			ok = k8s_refuse(&all, "Service", owner, json_string_value(why));
	}
	if (ok)
		kx_metrics_set_refused(a->metrics, &all);
	else
		pr_warn("refused objects: out of memory, /refused not updated");
	k8s_refusals_free(&all);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* After an apply: its duration and failures, and the entries' Services, for /metrics. */
static void metrics_after_apply(struct agent *a, double start, size_t failed)
{
	kx_metrics_sync_done(a->metrics, now_s() - start, failed);
	kx_metrics_set_entries(a->metrics, a->syncer);
}

static int apply_objects(struct agent *a, const struct k8s_state *ks, const char *source)
{
	double start = now_s();
	struct kx_sync_stats st;
	struct kx_table t;
	struct kx_err err;
	int ret;

	ret = kx_model_build(ks, a->o.node, &t, &err);
	if (ret) {
		pr_warn("%s rejected, keeping the last good state: %s", source, err.msg);
		return -1;
	}
	json_object_clear(a->svc_refused);
	for (size_t i = 0; i < t.refused.n; i++) {
		pr_warn("%s: refused, not served: %s", source, t.refused.v[i].reason);
		json_object_set_new(a->svc_refused, t.refused.v[i].object,
				    json_string(t.refused.v[i].reason));
	}
	memset(&st, 0, sizeof(st));
	ret = kx_syncer_full(a->syncer, &t, &st, &err);
	if (ret)
		pr_warn("%s", err.msg);
	if (a->hc)
		kx_hcports_sync(a->hc, NULL, t.hcs, t.n_hcs);
	setup_node(a, &t);
	pr_info("applied %s: %zu services (+%zu ~%zu -%zu), backends +%zu -%zu%s; %zu objects refused",
		source, t.n_svcs, st.svc_added, st.svc_changed, st.svc_removed,
		st.backends_added, st.backends_removed, ret ? ", some did not fit" : "",
		ks->refused.n + t.refused.n);
	kx_table_free(&t);
	metrics_after_apply(a, start, st.failed);
	return ret;
}

/* Read the state file and apply it. */
static int apply_state(struct agent *a)
{
	struct k8s_state ks;
	struct kx_err err;
	char source[4200];
	int ret;

	snprintf(source, sizeof(source), "state %s", a->o.state);
	if (k8s_decode_file(a->o.state, &ks, &err)) {
		pr_warn("%s rejected, keeping the last good state: %s", source, err.msg);
		return -1;
	}
	for (size_t i = 0; i < ks.refused.n; i++)
		pr_warn("%s: refused, not served: %s", source, ks.refused.v[i].reason);
	ret = apply_objects(a, &ks, source);
	k8s_refusals_free(&a->file_refused); /* this file's refusals replace the last one's */
	a->file_refused = ks.refused;
	memset(&ks.refused, 0, sizeof(ks.refused));
	k8s_state_free(&ks);
	report_refusals(a, NULL);
	kx_health_ready(a->health, ret == 0);
	return ret;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The conntrack GC's clock: ct_clock's pin, and a first reading to measure HZ from. */
static void ct_gc_init(struct agent *a)
{
	struct kx_err err = { "" };
	char path[4200];

	a->clock_fd = -1;
	if (!a->o.ct_gc_interval || a->o.once)
		return;
	if (kx_pin_path(path, sizeof(path), a->o.bpffs, "ct_clock") ||
	    (a->clock_fd = bpf_obj_get(path)) < 0) {
		pr_warn("program %s: %s: no conntrack GC (the LRU alone makes room)", path,
			strerror(errno));
		return;
	}
	if (kx_ct_clock(a->clock_fd, &a->clock0, &err)) {
		pr_warn("%s: no conntrack GC (the LRU alone makes room)", err.msg);
		close(a->clock_fd);
		a->clock_fd = -1;
		return;
	}
	a->last_gc_ns = mono_ns();
}

/* Every --ct-gc-interval seconds: idle flows leave kx_ct. */
static void ct_gc_tick(struct agent *a)
{
	struct kx_ct_gc_result r;
	struct kx_err err = { "" };
	struct kx_clock now;
	uint64_t t = mono_ns();

	if (a->clock_fd < 0 || t - a->last_gc_ns < (uint64_t)a->o.ct_gc_interval * 1000000000ull)
		return;
	a->last_gc_ns = t;
	if (kx_ct_clock(a->clock_fd, &now, &err)) {
		pr_warn("conntrack GC: %s", err.msg);
		return;
	}
	if (!a->hz) {
		a->hz = kx_ct_hz(&a->clock0, &now);
		if (!a->hz) {
			pr_warn("conntrack GC: jiffies advance at no standard HZ (%llu in %llu ns): GC off",
				(unsigned long long)(now.jiffies - a->clock0.jiffies),
				(unsigned long long)(now.mono_ns - a->clock0.mono_ns));
			close(a->clock_fd);
			a->clock_fd = -1;
			return;
		}
		pr_info("conntrack GC: kernel HZ %u, a walk every %u s; idle timeouts TCP %u s, TCP closing %u s, UDP %u s",
			a->hz, a->o.ct_gc_interval, a->o.ct_timeouts.tcp,
			a->o.ct_timeouts.tcp_close, a->o.ct_timeouts.udp);
	}
	if (kx_ct_gc(&a->maps, &a->o.ct_timeouts, now.jiffies, a->hz, &r, &err))
		pr_warn("%s", err.msg);
	if (r.expired)
		pr_debug("conntrack GC: %llu of %llu entries idle past their timeout, deleted",
			 (unsigned long long)r.expired, (unsigned long long)r.scanned);
}

static void reattach_pods(struct agent *a);

/*
 * Every second: the agent's own files, removed behind its back, come back
 * without a cluster change: map pins (pinned again from the agent's fds, so
 * no state is lost), program pins (the programs loaded and pinned again, the
 * pods' filters replaced in place) and the conflist.
 */
static void own_files_tick(struct agent *a)
{
	static const char *const progs[] = { KX_PROG_TC_FROM_POD, KX_PROG_TC_TO_POD };
	struct kx_err err = { "" };
	char path[4200];
	uint64_t t = mono_ns();
	int n;

	if (a->o.once || t - a->last_files_ns < 1000000000ull)
		return;
	a->last_files_ns = t;
	n = kx_maps_repin(a->o.bpffs, &a->maps, &err);
	if (n < 0) { /* a reload now would pin new, empty maps beside the agent's */
		pr_warn("%s: programs not reloaded", err.msg);
		return;
	}
	else if (n)
		pr_warn("%d map pins under %s/%s were removed: pinned again", n, a->o.bpffs,
			KX_PIN_DIR);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (kx_pin_path(path, sizeof(path), a->o.bpffs, progs[i]) || !access(path, F_OK))
			continue;
		pr_warn("program pin %s was removed: loading and pinning the programs again", path);
		if (kx_loader_load(a->o.bpffs, &err))
			pr_warn("%s", err.msg);
		else
			reattach_pods(a);
		break;
	}
	snprintf(path, sizeof(path), "%s/%s", a->o.cni_conf_dir, KX_CNI_CONFLIST);
	if (a->o.cni_conf_dir[0] && a->cni.pod_cidr_len && access(path, F_OK)) {
		if (kx_conflist_write(a->o.cni_conf_dir, &a->cni, &err) < 0)
			pr_warn("%s", err.msg);
		else
			pr_warn("CNI config %s was removed: written again", path);
	}
}

/* Has the file changed since *last (inode, size, mtime)? Renames count. */
static bool state_changed(const char *path, struct stat *last)
{
	struct stat now;

	if (stat(path, &now))
		return false;
	if (now.st_ino == last->st_ino && now.st_size == last->st_size &&
	    now.st_mtim.tv_sec == last->st_mtim.tv_sec &&
	    now.st_mtim.tv_nsec == last->st_mtim.tv_nsec)
		return false;
	*last = now;
	return true;
}

/* --state: apply, then re-apply whenever the file changes. */
static int run_state_file(struct agent *a)
{
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	struct stat last = { 0 };
	int ret;

	if (stat(a->o.state, &last))
		pr_warn("state %s: %s", a->o.state, strerror(errno));
	ret = apply_state(a);
	if (a->o.once)
		return ret;
	while (!stop) {
		nanosleep(&tick, NULL);
		kx_health_beat(a->health);
		if (state_changed(a->o.state, &last))
			apply_state(a);
		ct_gc_tick(a);
		own_files_tick(a);
	}
	return 0;
}

/* The sock_* programs for host clients of ClusterIPs, on --cgroup (default: the root). */
static void attach_cgroup(struct agent *a)
{
	struct kx_err err = { "" };
	char root[4096];
	const char *dir = a->o.cgroup;

	if (dir && !dir[0])
		return;
	if (!dir) {
		if (kx_cgroup2_root(root, sizeof(root), &err)) {
			pr_warn("%s", err.msg);
			return;
		}
		dir = root;
	}
	if (kx_cgroup_attach(a->o.bpffs, dir, &err))
		pr_warn("host clients of ClusterIPs: %s", err.msg);
	else
		pr_info("cgroup %s: sock_connect4/sendmsg4/recvmsg4/getpeername4 attached", dir);
}

struct reattach {
	const char *bpffs;
	int n;
};

static int reattach_one(const struct kx_endpoint *ep, void *ctx)
{
	struct reattach *r = ctx;
	struct kx_err err = { "" };
	char name[IF_NAMESIZE];

	if (!if_indextoname(ep->ifindex, name))
		return 0; /* another netns's, or gone: the CNI cleans up */
	if (kx_tc_attach_pod(ep->ifindex, r->bpffs, &err))
		pr_warn("pod veth %s: %s", name, err.msg);
	else
		r->n++;
	return 0;
}

/*
 * After a (re)load: every pod veth of this node gets the programs just
 * pinned, replacing the old ones in place (no detach, no gap).
 */
static void reattach_pods(struct agent *a)
{
	/* (also after own_files_tick reloaded the programs) */
	struct reattach r = { a->o.bpffs, 0 };

	if (kx_endpoint_foreach(a->maps.endpoints, reattach_one, &r))
		pr_warn("map %s: %s", KX_MAP_ENDPOINTS, strerror(errno));
	if (r.n)
		pr_info("pod veths: programs replaced in place on %d", r.n);
}

/* Node changes: routes, uplink, CNI config, from the Nodes alone. */
static int apply_nodes(struct agent *a, struct kapi *k)
{
	struct k8s_state ks;
	struct kx_table t;
	struct kx_err err;
	int ret;

	if (kapi_take_nodes(k, &ks, &err)) {
		pr_warn("nodes rejected, keeping the last good state: %s", err.msg);
		return -1;
	}
	ret = kx_model_build(&ks, a->o.node, &t, &err);
	k8s_state_free(&ks);
	if (ret) {
		pr_warn("nodes rejected, keeping the last good state: %s", err.msg);
		return -1;
	}
	setup_node(a, &t);
	kx_table_free(&t);
	return 0;
}

/* One Service's objects changed: rebuild its entries, touch nothing else. */
static int apply_owner(struct agent *a, struct kapi *k, const char *owner)
{
	struct kx_sync_stats st = { 0 };
	struct kx_err err = { "" };
	double start = now_s();
	size_t ports = 0;
	int ret = kx_apply_owner(a->syncer, a->hc, k, a->o.node, owner, &st, &ports, &err);

	metrics_after_apply(a, start, st.failed);
	if (ret && !st.failed) {
		pr_warn("service %s refused, its last good state stays: %s", owner, err.msg);
		json_object_set_new(a->svc_refused, owner, json_string(err.msg));
		return -1;
	}
	json_object_del(a->svc_refused, owner);
	pr_info("service %s: %zu entries (+%zu ~%zu -%zu), backends +%zu -%zu", owner, ports,
		st.svc_added, st.svc_changed, st.svc_removed, st.backends_added,
		st.backends_removed);
	return ret;
}

/* After watch events: only the Services and Nodes they touched. */
static int apply_incremental(struct agent *a, struct kapi *k)
{
	const char *owner;
	json_t *v;
	int ret = 0;

	if (k->nodes_dirty && apply_nodes(a, k))
		ret = -1;
	json_object_foreach(k->dirty_owners, owner, v) {
		if (apply_owner(a, k, owner))
			ret = -1;
	}
	json_object_clear(k->dirty_owners);
	k->dirty = false;
	report_refusals(a, k);
	return ret;
}

/* --once against an API server: three failed tries at a first list are enough. */
static bool once_gave_up(const struct kapi *k)
{
	for (int i = 0; i < KAPI_N; i++) {
		if (!k->listed[i] && k->w[i].failures >= 3) {
			pr_warn("--once: no complete list from the API server after 3 tries, giving up");
			return true;
		}
	}
	return false;
}

/* The API server: list, then apply after every batch of watch events. */
static int run_api(struct agent *a)
{
	struct kapi_conf conf;
	struct k8s_state ks;
	struct kx_err err;
	bool applied = false; /* a full apply happened: events can go one by one */
	struct kapi k;
	int ret = 0;

	if (a->o.kubeconfig ? kapi_conf_kubeconfig(a->o.kubeconfig, &conf, &err)
			    : kapi_conf_incluster(KX_SA_DIR, &conf, &err)) {
		pr_warn("%s", err.msg);
		return -1;
	}
	if (kapi_init(&k, &conf, &err)) {
		pr_warn("%s", err.msg);
		kapi_free(&k);
		return -1;
	}
	pr_info("API server %s: listing services, endpointslices and nodes", conf.server);
	while (!stop) {
		kapi_step(&k, 200);
		kx_health_beat(a->health);
		ct_gc_tick(a);
		own_files_tick(a);
		if (a->o.once && !kapi_synced(&k) && once_gave_up(&k)) {
			ret = -1;
			break;
		}
		if (k.refused_changed && applied) /* a refused event changes no map */
			report_refusals(a, &k);
		if (!kapi_synced(&k) || !k.dirty)
			continue;
		kx_health_ready(a->health, false);
		if (!k.full_dirty && applied) {
			ret = apply_incremental(a, &k);
		} else if (kapi_take_state(&k, &ks, &err)) {
			pr_warn("API objects rejected, keeping the last good state: %s", err.msg);
			continue;
		} else {
			ret = apply_objects(a, &ks, "API state");
			k8s_state_free(&ks);
			report_refusals(a, &k);
			applied = true;
		}
		kx_health_ready(a->health, ret == 0);
		kx_metrics_set_watch_restarts(a->metrics, k.restarts);
		if (a->o.once)
			break;
	}
	kapi_free(&k);
	return ret;
}

int main(int argc, char **argv)
{
	struct agent a = { 0 };
	struct kx_err err;
	int ret;

	kx_log_prog = "kxdp-agent";
	libbpf_set_print(kx_libbpf_print);
	if (parse_opts(argc, argv, &a.o))
		return 2;
	if (kx_loader_load(a.o.bpffs, &err) || kx_maps_open_pinned(a.o.bpffs, &a.maps, &err)) {
		pr_warn("%s", err.msg);
		return 1;
	}
	a.nl = kx_nl_open(&err);
	if (!a.nl) {
		pr_warn("%s", err.msg);
		kx_maps_close(&a.maps);
		return 1;
	}
	pr_info("node %s: datapath loaded, pins under %s/%s", a.o.node, a.o.bpffs, KX_PIN_DIR);
	struct kx_takeover_paths kr = { a.o.cni_conf_dir, "/proc/net/ip_vs" };

	if (!kx_kube_router_report(a.nl, &kr))
		pr_debug("kube-router: nothing of it on this node");
	config_service_cidr(&a);
	a.cfg.netns_cookie = kx_netns_cookie(&err);
	if (!a.cfg.netns_cookie)
		pr_warn("%s", err.msg);
	if (write_config(&a, &err))
		pr_warn("%s", err.msg);
	attach_cgroup(&a);
	ct_gc_init(&a);
	check_port_range();
	reattach_pods(&a);
	a.syncer = kx_syncer_new(&a.maps, &err);
	if (!a.syncer) {
		pr_warn("%s", err.msg);
		kx_nl_close(a.nl);
		kx_maps_close(&a.maps);
		return 1;
	}
	a.metrics = kx_metrics_new(&a.maps);
	a.svc_refused = json_object();
	if (a.o.metrics_addr[0] && !a.o.once) {
		a.health = kx_health_start(a.o.metrics_addr, &err);
		if (!a.health)
			pr_warn("%s", err.msg); /* the datapath matters more than the probe */
		kx_health_set_metrics(a.health, a.metrics);
	}
	if (!a.o.once)
		a.hc = kx_hcports_new();
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ret = a.o.state ? run_state_file(&a) : run_api(&a);
	if (stop)
		pr_info("signal %d: exiting, the datapath keeps running from its pins", (int)stop);
	kx_health_stop(a.health);
	kx_metrics_free(a.metrics);
	json_decref(a.svc_refused);
	k8s_refusals_free(&a.file_refused);
	kx_hcports_free(a.hc);
	kx_syncer_free(a.syncer);
	free(a.neighs);
	if (a.clock_fd >= 0)
		close(a.clock_fd);
	kx_nl_close(a.nl);
	kx_maps_close(&a.maps);
	return ret ? 1 : 0;
}
