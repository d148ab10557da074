// SPDX-License-Identifier: GPL-2.0
/*
 * NetworkPolicy, the agent's side: compile the Pods, Namespaces and
 * NetworkPolicies, program the result, log one line per policy whose
 * effect on this node changed (applied, refused, removed), and keep what
 * `kxdp policy list` and `explain` ask for (/policy).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include "agent/agent.h"

/* "ns/name" of policy i of st. */
static void policy_key(const struct k8s_state *st, uint32_t i, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", st->netpols[i].ns, st->netpols[i].name);
}

/* How many pods of this node policy i selects, per direction. */
static void selected_counts(const struct kx_pol_table *t, uint32_t i, size_t count[2])
{
	count[0] = count[1] = 0;
	for (size_t p = 0; p < t->n_pods; p++) {
		for (int d = 0; d < 2; d++) {
			const struct kx_pol_set *s;

			if (t->pods[p].set[d] < 0)
				continue;
			s = &t->sets[t->pods[p].set[d]];
			for (size_t j = 0; j < s->n_policies; j++)
				count[d] += s->policies[j] == i;
		}
	}
}

/* Each policy's one-line effect here, "ns/name" -> line, into out. */
static void policy_lines(const struct kx_pol_table *t, const struct k8s_state *st,
			 const json_t *refused, json_t *out)
{
	char key[64 + K8S_NAME_MAX], line[512];

	for (uint32_t i = 0; i < st->n_netpols; i++) {
		const struct k8s_netpol *np = &st->netpols[i];
		json_t *why;
		size_t count[2];

		policy_key(st, i, key, sizeof(key));
		why = json_object_get(refused, key);
		selected_counts(t, i, count);
		if (why)
			snprintf(line, sizeof(line), "refused: %s", json_string_value(why));
		else
			snprintf(line, sizeof(line),
				 "applied: %s%s%s, selects %zu pod%s of this node for ingress, %zu for egress",
				 np->ingress_type ? "Ingress" : "", np->ingress_type && np->egress_type ? "," : "",
				 np->egress_type ? "Egress" : "", count[0], count[0] == 1 ? "" : "s",
				 count[1]);
		json_object_set_new(out, key, json_string(line));
	}
}

/* Log what changed between the last lines and these (then kept as the last). */
static void log_policy_changes(struct agent *a, json_t *lines)
{
	const char *key;
	json_t *v;

	json_object_foreach(lines, key, v) {
		json_t *old = json_object_get(a->pol_lines, key);

		if (old && json_equal(old, v))
			continue;
		if (!strncmp(json_string_value(v), "refused", 7))
			pr_warn("policy %s %s", key, json_string_value(v));
		else
			pr_info("policy %s %s", key, json_string_value(v));
	}
	json_object_foreach(a->pol_lines, key, v) {
		if (!json_object_get(lines, key))
			pr_info("policy %s removed", key);
	}
	json_decref(a->pol_lines);
	a->pol_lines = lines;
}

/* The names of set si's policies, as a JSON array. */
static json_t *set_policy_names(const struct kx_pol_table *t, int32_t si,
				const struct k8s_state *st)
{
	json_t *arr = json_array();
	char key[64 + K8S_NAME_MAX];

	if (si < 0)
		return arr;
	for (size_t j = 0; j < t->sets[si].n_policies; j++) {
		policy_key(st, t->sets[si].policies[j], key, sizeof(key));
		json_array_append_new(arr, json_string(key));
	}
	return arr;
}

/* /policy: per pod of this node, its address, sets and the policies in them. */
static json_t *policy_view(const struct agent *a, const struct kx_pol_table *t,
			   const struct k8s_state *st)
{
	json_t *pods = json_array();

	for (size_t p = 0; p < t->n_pods; p++) {
		const struct kx_pol_pod *pp = &t->pods[p];
		const struct k8s_pod *pod = &st->pods[pp->pod];
		char ip[INET_ADDRSTRLEN];
		int32_t in = pp->set[KX_POL_INGRESS], eg = pp->set[KX_POL_EGRESS];

		inet_ntop(AF_INET, &pp->addr, ip, sizeof(ip));
		json_array_append_new(
			pods, json_pack("{s:s, s:s, s:s, s:i, s:i, s:o, s:o}", "namespace", pod->ns,
					"pod", pod->name, "ip", ip, "ingress_set",
					in < 0 ? 0 : kx_pol_sync_id(a->pol_syncer, (size_t)in),
					"egress_set", eg < 0 ? 0 : kx_pol_sync_id(a->pol_syncer, (size_t)eg),
					"ingress", set_policy_names(t, in, st), "egress",
					set_policy_names(t, eg, st)));
	}
	return json_pack("{s:o}", "pods", pods);
}

int agent_apply_policy(struct agent *a, struct k8s_state *st, const char *source)
{
	struct k8s_state kept = { 0 };
	struct k8s_refusals refused = { 0 };
	bool in_force;
	struct kx_pol_sync_stats ss;
	struct kx_pol_table t;
	struct kx_err err;
	json_t *lines;
	int ret;

	if (kx_policy_build(st, a->o.node, &t, &err)) {
		pr_warn("%s: policies not compiled, the last ones stay: %s", source, err.msg);
		return -1;
	}
	in_force = t.n_ns > 0 || t.n_sets > 0;
	if (in_force)
		agent_config_policy(a, true); /* before a pod points at a set */
	ret = kx_pol_sync_apply(a->pol_syncer, &a->maps, &t, st, &refused, &ss, &err);
	if (ret)
		pr_warn("%s: %s", source, err.msg);
	if (!in_force && !ret)
		agent_config_policy(a, false);
	json_object_clear(a->pol_refused);
	for (size_t i = 0; i < t.refused.n; i++)
		json_object_set_new(a->pol_refused, t.refused.v[i].object,
				    json_string(t.refused.v[i].reason));
	for (size_t i = 0; i < refused.n; i++)
		json_object_set_new(a->pol_refused, refused.v[i].object,
				    json_string(refused.v[i].reason));
	lines = json_object();
	policy_lines(&t, st, a->pol_refused, lines);
	log_policy_changes(a, lines);
	kx_metrics_set_policy(a->metrics, policy_view(a, &t, st));
	if (ss.sets_written || ss.prefixes_written || ss.prefixes_deleted || ss.pods_written)
		pr_info("applied %s: %zu policies, %zu sets over %zu pods of this node (%zu new, prefixes +%zu -%zu, pods %zu)%s",
			source, st->n_netpols, ss.sets, t.n_pods, ss.sets_written,
			ss.prefixes_written, ss.prefixes_deleted, ss.pods_written,
			ss.failed ? "; some sets did not fit: their pods deny" : "");
	k8s_refusals_free(&refused);
	kx_pol_table_free(&t);
	k8s_state_move_policy(st, &kept);
	kx_metrics_set_policy_state(a->metrics, &kept); /* for /policy/explain */
	return ret;
}
