// SPDX-License-Identifier: GPL-2.0
/* The agent's main loops: a state file polled for changes, or the API server's watches. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include "agent/agent.h"

volatile sig_atomic_t agent_stop;

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
int agent_run_state_file(struct agent *a)
{
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	struct stat last = { 0 };
	int ret;

	if (stat(a->o.state, &last))
		pr_warn("state %s: %s", a->o.state, strerror(errno));
	ret = agent_apply_state(a);
	if (a->o.once)
		return ret;
	while (!agent_stop) {
		nanosleep(&tick, NULL);
		kx_health_beat(a->health);
		if (state_changed(a->o.state, &last))
			agent_apply_state(a);
		agent_gc_tick(a);
		agent_own_files_tick(a);
	}
	return 0;
}
/* --once against an API server: three failed tries at a first list are enough. */
static bool once_gave_up(const struct kapi *k)
{
	for (int i = 0; i < KAPI_N; i++) {
		if (!k->listed[i] && k->w[i].failures >= 3) {
			pr_err("--once: no complete list from the API server after 3 tries, giving up");
			return true;
		}
	}
	return false;
}
/* The API server: list, then apply after every batch of watch events. */
int agent_run_api(struct agent *a)
{
	struct kapi_conf conf;
	struct k8s_state ks;
	struct kx_err err;
	bool applied = false; /* a full apply happened: events can go one by one */
	struct kapi k;
	int ret = 0;

	if (a->o.kubeconfig ? kapi_conf_kubeconfig(a->o.kubeconfig, &conf, &err)
			    : kapi_conf_incluster(KX_SA_DIR, &conf, &err)) {
		pr_err("%s", err.msg);
		return -1;
	}
	if (kapi_init(&k, &conf, &err)) {
		pr_err("%s", err.msg);
		kapi_free(&k);
		return -1;
	}
	pr_info("API server %s: listing services, endpointslices, nodes, pods, namespaces and networkpolicies",
		conf.server);
	while (!agent_stop) {
		kapi_step(&k, 200);
		kx_health_beat(a->health);
		agent_gc_tick(a);
		agent_own_files_tick(a);
		if (a->o.once && !kapi_synced(&k) && once_gave_up(&k)) {
			ret = -1;
			break;
		}
		if (k.refused_changed && applied) /* a refused event changes no map */
			agent_report_refusals(a, &k);
		if (!kapi_synced(&k) || (!k.dirty && !k.policy_dirty))
			continue;
		kx_health_ready(a->health, false);
		if (!k.dirty) {
			ret = 0;
		} else if (!k.full_dirty && applied) {
			ret = agent_apply_incremental(a, &k);
		} else if (kapi_take_state(&k, &ks, &err)) {
			pr_warn("API objects rejected, keeping the last good state: %s", err.msg);
			continue;
		} else {
			ret = agent_apply_objects(a, &ks, "API state");
			k8s_state_free(&ks);
			agent_report_refusals(a, &k);
			applied = true;
		}
		if (k.policy_dirty && agent_apply_policy_api(a, &k))
			ret = -1;
		kx_health_ready(a->health, ret == 0);
		kx_metrics_set_watch_restarts(a->metrics, k.restarts);
		if (a->o.once)
			break;
	}
	kapi_free(&k);
	return ret;
}
