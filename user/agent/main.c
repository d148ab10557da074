// SPDX-License-Identifier: GPL-2.0
/*
 * kxdp-agent: loads and pins the datapath, then keeps the maps equal to the
 * cluster state read from a Kubernetes List file (re-read when it changes)
 * or the API server. An object it cannot use is refused alone, in one line,
 * and everything else is served; a file that is no List keeps the last good
 * state serving.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "agent/agent.h"
#include "datapath/loader.h"

static void on_signal(int sig)
{
	agent_stop = sig;
}

/* Every fd -1 and every pointer NULL: what agent_free() expects of a part not made yet. */
static void agent_init(struct agent *a)
{
	memset(a, 0, sizeof(*a));
	kx_maps_init(&a->maps);
	a->clock_fd = -1;
}

/* /metrics, /healthz and the health-check node ports (not with --once). */
static void agent_serve(struct agent *a)
{
	struct kx_err err;

	a->metrics = kx_metrics_new(&a->maps);
	kx_metrics_set_policy_state(a->metrics, &a->pol_state); /* for /policy/explain */
	a->svc_refused = json_object();
	a->pol_refused = json_object();
	a->pol_lines = json_object();
	if (a->o.metrics_addr[0] && !a->o.once) {
		a->health = kx_health_start(a->o.metrics_addr, &err);
		if (!a->health)
			pr_warn("%s", err.msg); /* the datapath matters more than the probe */
		kx_health_set_metrics(a->health, a->metrics);
	}
	if (!a->o.once)
		a->hc = kx_hcports_new();
}

static void agent_free(struct agent *a)
{
	kx_health_stop(a->health);
	kx_metrics_free(a->metrics);
	k8s_state_free(&a->pol_state);
	kx_pol_table_free(&a->pol_table);
	json_decref(a->svc_refused);
	json_decref(a->pol_refused);
	json_decref(a->pol_lines);
	kx_pol_syncer_free(a->pol_syncer);
	k8s_refusals_free(&a->file_refused);
	kx_hcports_free(a->hc);
	kx_syncer_free(a->syncer);
	free(a->neighs);
	if (a->clock_fd >= 0)
		close(a->clock_fd);
	kx_nl_close(a->nl);
	kx_maps_close(&a->maps);
}

int main(int argc, char **argv)
{
	struct agent a;
	struct kx_err err;
	int ret = 1;

	agent_init(&a);
	kx_log_prog = "kxdp-agent";
	libbpf_set_print(kx_libbpf_print);
	if (agent_parse_opts(argc, argv, &a.o)) {
		ret = 2;
		goto cleanup;
	}
	if (kx_loader_load(a.o.bpffs, &err) || kx_maps_open_pinned(a.o.bpffs, &a.maps, &err)) {
		pr_err("%s", err.msg);
		goto cleanup;
	}
	a.nl = kx_nl_open(&err);
	if (!a.nl) {
		pr_err("%s", err.msg);
		goto cleanup;
	}
	pr_info("node %s: datapath loaded, pins under %s/%s", a.o.node, a.o.bpffs, KX_PIN_DIR);
	/* the mirror first: it completes the maps (kx_members of an upgrade)
	 * before the new programs go on the uplink, the cgroup and the pods */
	a.syncer = kx_syncer_new(&a.maps, &err);
	a.pol_syncer = a.syncer ? kx_pol_syncer_new(&a.maps, &err) : NULL;
	if (!a.pol_syncer) {
		pr_err("%s", err.msg);
		goto cleanup;
	}
	agent_node_init(&a);
	agent_gc_init(&a);
	agent_check_port_range();
	agent_reattach_pods(&a);
	agent_serve(&a);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	ret = (a.o.state ? agent_run_state_file(&a) : agent_run_api(&a)) ? 1 : 0;
	if (agent_stop)
		pr_info("signal %d: exiting, the datapath keeps running from its pins",
			(int)agent_stop);
cleanup:
	agent_free(&a);
	return ret;
}
