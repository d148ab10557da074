// SPDX-License-Identifier: GPL-2.0
/*
 * kxdp-agent: loads and pins the datapath, then keeps the maps equal to the
 * cluster state read from a Kubernetes List file (re-read when it changes).
 * A bad file is reported in one line and the last good state keeps serving.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "k8s.h"
#include "loader.h"
#include "maps.h"
#include "model.h"
#include "sync.h"

struct agent_opts {
	const char *node;
	const char *state;
	const char *bpffs;
	bool once;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	stop = sig;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: kxdp-agent --node NAME --state FILE [--bpffs DIR] [--once] [-v]\n"
		   "  --node NAME   this node's name (as in the Node object)\n"
		   "  --state FILE  Kubernetes List JSON (kubectl get nodes,services,endpointslices -A -o json)\n"
		   "  --bpffs DIR   bpffs mount holding the pins (default " KX_DEFAULT_BPFFS ")\n"
		   "  --once        apply the state once and exit\n"
		   "  -v            more log lines (repeat for debug)\n"
		   "exit codes: 0 ok, 1 failed (message on stderr), 2 bad usage\n");
}

static int parse_opts(int argc, char **argv, struct agent_opts *o)
{
	static const struct option longopts[] = {
		{ "node", required_argument, NULL, 'n' },   { "state", required_argument, NULL, 's' },
		{ "bpffs", required_argument, NULL, 'b' },  { "once", no_argument, NULL, 'o' },
		{ "verbose", no_argument, NULL, 'v' },      { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->bpffs = KX_DEFAULT_BPFFS;
	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'n': o->node = optarg; break;
		case 's': o->state = optarg; break;
		case 'b': o->bpffs = optarg; break;
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
	if (!o->node || !o->state) {
		fprintf(stderr, "kxdp-agent: --node and --state are required\n");
		usage(stderr);
		return -1;
	}
	return 0;
}

/* Read, model and apply the state file once. The maps change only if it is valid. */
static int apply_state(const struct agent_opts *o, const struct kx_maps *maps)
{
	struct kx_sync_stats st;
	struct k8s_state ks;
	struct kx_table t;
	struct kx_err err;
	int ret;

	if (k8s_decode_file(o->state, &ks, &err)) {
		pr_warn("state %s rejected, keeping the last good state: %s", o->state, err.msg);
		return -1;
	}
	ret = kx_model_build(&ks, o->node, &t, &err);
	k8s_state_free(&ks);
	if (ret) {
		pr_warn("state %s rejected, keeping the last good state: %s", o->state, err.msg);
		return -1;
	}
	ret = kx_sync_apply(maps, &t, &st, &err);
	pr_info("applied %s: %zu services (+%zu ~%zu -%zu), backends +%zu -%zu%s", o->state,
		t.n_svcs, st.svc_added, st.svc_changed, st.svc_removed, st.backends_added,
		st.backends_removed, ret ? ", some did not fit" : "");
	if (ret)
		pr_warn("%s", err.msg);
	kx_table_free(&t);
	return ret;
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

int main(int argc, char **argv)
{
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	struct agent_opts o = { 0 };
	struct stat last = { 0 };
	struct kx_maps maps;
	struct kx_err err;
	int ret;

	kx_log_prog = "kxdp-agent";
	libbpf_set_print(kx_libbpf_print);
	if (parse_opts(argc, argv, &o))
		return 2;
	if (kx_loader_load(o.bpffs, &err) || kx_maps_open_pinned(o.bpffs, &maps, &err)) {
		pr_warn("%s", err.msg);
		return 1;
	}
	pr_info("node %s: datapath loaded, pins under %s/%s", o.node, o.bpffs, KX_PIN_DIR);
	if (stat(o.state, &last))
		pr_warn("state %s: %s", o.state, strerror(errno));
	ret = apply_state(&o, &maps);
	if (o.once) {
		kx_maps_close(&maps);
		return ret ? 1 : 0;
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	while (!stop) {
		nanosleep(&tick, NULL);
		if (state_changed(o.state, &last))
			apply_state(&o, &maps);
	}
	pr_info("signal %d: exiting, the datapath keeps running from its pins", (int)stop);
	kx_maps_close(&maps);
	return 0;
}
