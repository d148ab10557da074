// SPDX-License-Identifier: GPL-2.0
/*
 * kxdp: shows what the datapath holds, from the pinned maps, the way an
 * operator of kube-router reads ipvsadm -Ln, brctl show and ip route.
 * The commands live in user/cli/cli_*.c.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <bpf/libbpf.h>
#include "cli/cli.h"
#include "agent/health.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: kxdp [--bpffs DIR] [--agent IP:PORT] [-o json] COMMAND [ARGS]\n"
		   "  svc list [VIP[:PORT]] [--stats]\n"
		   "                      services and backends in the ipvsadm -Ln layout, then the\n"
		   "                      objects the agent refused; --stats: connections, packets\n"
		   "                      and bytes (ipvsadm -Ln --stats)\n"
		   "  svc list --refused  only the objects the agent refused (invalid, or an address\n"
		   "                      another Service holds), each with its reason\n"
		   "  ep list             pods wired on this node (IP, veth, MACs): brctl show\n"
		   "  ct list [--svc VIP[:PORT]] [--backend IP]\n"
		   "                      conntrack entries, filtered\n"
		   "  ct flush [--svc VIP[:PORT]] [--backend IP]\n"
		   "                      delete those entries\n"
		   "  route list          pod-CIDR routes kxdp owns and the node each leads to\n"
		   "  policy list         per pod of this node: the NetworkPolicies isolating it,\n"
		   "                      per direction, and its policy sets in the maps\n"
		   "  policy explain SRC DST:PORT[/PROTO]\n"
		   "                      would a new connection pass: the datapath's verdict here,\n"
		   "                      and which policy and rule allow it, or why none does\n"
		   "  stats               datapath counters, drops by reason, per-service counters\n"
		   "  version             print the version\n"
		   "  -o json             one JSON document instead of text (any command)\n"
		   "  --bpffs DIR         bpffs holding the agent's pins (default " KX_DEFAULT_BPFFS ")\n"
		   "  --agent IP:PORT     the agent's --metrics-addr (default " KX_DEFAULT_METRICS_ADDR ")\n"
		   "exit codes: 0 ok, 1 failed (message on stderr), 2 bad usage\n");
}

/* "-o json" anywhere after the command: kxdp svc list -o json. */
static int take_output_opt(int argc, char **argv, bool *json)
{
	int out = 0;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
			if (i + 1 == argc || strcmp(argv[i + 1], "json")) {
				fprintf(stderr, "kxdp: -o: want json\n");
				return -1;
			}
			*json = true;
			i++;
			continue;
		}
		argv[out++] = argv[i];
	}
	return out;
}

static int ct_list(struct cli *c)
{
	return cli_ct(c, false);
}

static int ct_flush(struct cli *c)
{
	return cli_ct(c, true);
}

/* The commands on the maps: sub NULL takes no subcommand ("pods": ep list's earlier name). */
static const struct command {
	const char *cmd, *sub;
	int (*run)(struct cli *c);
} commands[] = {
	{ "svc", "list", cli_svc_list },
	{ "stats", NULL, cli_stats },
	{ "ep", "list", cli_ep_list },
	{ "pods", NULL, cli_ep_list },
	{ "ct", "list", ct_list },
	{ "ct", "flush", ct_flush },
	{ "route", "list", cli_route_list },
	{ "policy", "list", cli_policy_list },
	{ "policy", "explain", cli_policy_explain },
};
#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

/* The first entry of cmd, or NULL: an unknown command. */
static const struct command *command_find(const char *cmd)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].cmd, cmd))
			return &commands[i];
	return NULL;
}

/* cmd's entry for sub (any for a command without subcommands), or NULL. */
static const struct command *command_sub(const char *cmd, const char *sub)
{
	for (size_t i = 0; i < N_COMMANDS; i++)
		if (!strcmp(commands[i].cmd, cmd) &&
		    (!commands[i].sub || !strcmp(commands[i].sub, sub)))
			return &commands[i];
	return NULL;
}

/* Options before the command; 0, or the exit code to leave with. */
static int parse_opts(int argc, char **argv, const char **bpffs, struct cli *c)
{
	static const struct option longopts[] = {
		{ "bpffs", required_argument, NULL, 'b' },
		{ "agent", required_argument, NULL, 'a' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "+o:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'b': *bpffs = optarg; break;
		case 'a': c->agent = optarg; break;
		case 'o':
			if (strcmp(optarg, "json")) {
				fprintf(stderr, "kxdp: -o: unknown format \"%s\" (json)\n", optarg);
				return 2;
			}
			c->json = true;
			break;
		case 'h': usage(stdout); return -1;
		default: usage(stderr); return 2;
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	const char *bpffs = KX_DEFAULT_BPFFS, *cmd, *sub;
	struct cli c = { .json = false, .agent = KX_DEFAULT_METRICS_ADDR };
	const struct command *e;
	struct kx_err err;
	int ret, n;
	bool single;

	kx_log_prog = "kxdp";
	libbpf_set_print(kx_libbpf_print);
	ret = parse_opts(argc, argv, &bpffs, &c);
	if (ret)
		return ret < 0 ? 0 : ret;
	n = take_output_opt(argc - optind, argv + optind, &c.json);
	if (n < 0)
		return 2;
	if (n == 0) {
		usage(stderr);
		return 2;
	}
	cmd = argv[optind];
	sub = n > 1 ? argv[optind + 1] : "";
	if (!strcmp(cmd, "version")) {
		printf(c.json ? "{\"version\": \"%s\"}\n" : "kxdp %s\n", KXDP_VERSION);
		return 0;
	}
	if (!strcmp(cmd, "help") || !strcmp(cmd, "--help")) {
		usage(stdout);
		return 0;
	}
	e = command_find(cmd);
	single = e && !e->sub;
	if (!e || (!single && n < 2)) {
		fprintf(stderr, "kxdp: %s \"%s\" (try kxdp --help)\n",
			e ? "missing subcommand after" : "unknown command", cmd);
		return 2;
	}
	c.argv = argv + optind + (single ? 1 : 2);
	c.argc = n - (single ? 1 : 2);
	if (kx_maps_open_pinned(bpffs, &c.m, &err)) {
		fprintf(stderr, "kxdp: %s\n", err.msg);
		return 1;
	}
	e = command_sub(cmd, sub);
	if (e) {
		ret = e->run(&c);
	} else {
		fprintf(stderr, "kxdp: unknown command \"%s %s\" (try kxdp --help)\n", cmd, sub);
		ret = 2;
	}
	kx_maps_close(&c.m);
	return ret;
}
