// SPDX-License-Identifier: GPL-2.0
/* The agent's command line: its option table, usage and checks, into struct agent_opts. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kxdp-agent --node NAME [--state FILE | --kubeconfig FILE] [--bpffs DIR]\n"
		   "                  [--uplink IF] [--cni-conf-dir DIR] [--once] [-v]\n"
		   "  --node NAME         this node's name (as in the Node object)\n"
		   "  --state FILE        Kubernetes List JSON (kubectl get\n"
		   "                      nodes,services,endpointslices,pods,namespaces,networkpolicies -A -o json)\n"
		   "  --kubeconfig FILE   list and watch the API server of this kubeconfig; with neither\n"
		   "                      option, the in-cluster config (service account,\n"
		   "                      KUBERNETES_SERVICE_HOST/PORT)\n"
		   "  --bpffs DIR         bpffs mount holding the pins (default " KX_DEFAULT_BPFFS ")\n"
		   "  --uplink IF         the node's uplink (default: the interface holding its InternalIP)\n"
		   "  --cni-conf-dir DIR  where to write " KX_CNI_CONFLIST " (default " KX_DEFAULT_CNI_CONF_DIR "; '' = nowhere)\n"
		   "  --metrics-addr A:P  serve /healthz and /readyz there (default " KX_DEFAULT_METRICS_ADDR "; '' = off)\n"
		   "  --xdp MODE          xdp_netdev on the uplink: auto (native; generic on veth),\n"
		   "                      native, generic or off (default auto; off takes an earlier\n"
		   "                      run's xdp_netdev off the uplink)\n"
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

static int parse_xdp(const char *arg, enum kx_xdp_mode *out)
{
	static const char *const modes[] = {
		[KX_XDP_AUTO] = "auto", [KX_XDP_NATIVE] = "native",
		[KX_XDP_GENERIC] = "generic", [KX_XDP_OFF] = "off",
	};

	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (!strcmp(arg, modes[i])) {
			*out = (enum kx_xdp_mode)i;
			return 0;
		}
	}
	fprintf(stderr, "kxdp-agent: --xdp %s: want auto, native, generic or off\n", arg);
	return -1;
}

int agent_parse_opts(int argc, char **argv, struct agent_opts *o)
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
			if (parse_xdp(optarg, &o->xdp))
				return -1;
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

