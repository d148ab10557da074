// SPDX-License-Identifier: GPL-2.0
/* The agent's apply paths: a whole state, one Service, the Nodes alone; then refusals, metrics. */
#include <string.h>
#include <time.h>
#include "agent/agent.h"
#include "agent/apply.h"

/*
 * What is refused now, for /refused, kxdp_refused_objects and the CLI: the
 * source's objects that do not decode (the state file's, or those the API
 * client refused), and the Services the model refused.
 */
void agent_report_refusals(struct agent *a, struct kapi *k)
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
	json_object_foreach(a->pol_refused, owner, why) {
		if (ok)
			ok = k8s_refuse(&all, "NetworkPolicy", owner, json_string_value(why));
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
int agent_apply_objects(struct agent *a, const struct k8s_state *ks, const char *source)
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
	agent_setup_node(a, &t);
	pr_info("applied %s: %zu services (+%zu ~%zu -%zu), backends +%zu -%zu%s; %zu objects refused",
		source, t.n_svcs, st.svc_added, st.svc_changed, st.svc_removed,
		st.backends_added, st.backends_removed, ret ? ", some did not fit" : "",
		ks->refused.n + t.refused.n);
	kx_table_free(&t);
	metrics_after_apply(a, start, st.failed);
	return ret;
}
/* Read the state file and apply it. */
int agent_apply_state(struct agent *a)
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
	ret = agent_apply_objects(a, &ks, source);
	if (agent_apply_policy(a, &ks, source))
		ret = -1;
	k8s_refusals_free(&a->file_refused); /* this file's refusals replace the last one's */
	a->file_refused = ks.refused;
	memset(&ks.refused, 0, sizeof(ks.refused));
	k8s_state_free(&ks);
	agent_report_refusals(a, NULL);
	kx_health_ready(a->health, ret == 0);
	return ret;
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
	agent_setup_node(a, &t);
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
/* Pod, Namespace or NetworkPolicy events: pods changed in place patched in, else all compiled. */
int agent_apply_policy_api(struct agent *a, struct kapi *k)
{
	struct k8s_state ks;
	struct kx_err err;
	int ret = agent_apply_policy_pods(a, k);

	if (ret <= 0) {
		agent_report_refusals(a, k);
		return ret;
	}
	if (kapi_take_policy(k, &ks, &err)) {
		pr_warn("policy objects rejected, the last policies stay: %s", err.msg);
		a->pol_current = false;
		return -1;
	}
	ret = agent_apply_policy(a, &ks, "API policy");
	k8s_state_free(&ks);
	agent_report_refusals(a, k);
	return ret;
}

/* After watch events: only the Services and Nodes they touched. */
int agent_apply_incremental(struct agent *a, struct kapi *k)
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
	agent_report_refusals(a, k);
	return ret;
}
