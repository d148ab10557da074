// SPDX-License-Identifier: GPL-2.0
/*
 * NetworkPolicy, the agent's side: compile the Pods, Namespaces and
 * NetworkPolicies (or, when only pods of other nodes changed in place,
 * patch them into the table kept from the last compile), program the
 * result, log one line per policy whose effect on this node changed
 * (applied, refused, removed), and keep what `kxdp policy list` and
 * `explain` ask for (/policy).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "agent/agent.h"

/* "ns/name" of policy i of st. */
static void policy_key(const struct k8s_state *st, uint32_t i, char *out, size_t n)
{
	snprintf(out, n, "%s/%s", st->netpols[i].ns, st->netpols[i].name);
}

/* How many pods of this node each policy selects: count[2 * policy + dir] (NULL: no memory). */
static size_t *selected_counts(const struct kx_pol_table *t, size_t n_netpols)
{
	size_t *count = calloc(2 * n_netpols + 1, sizeof(*count));

	for (size_t p = 0; count && p < t->n_pods; p++) {
		for (int d = 0; d < 2; d++) {
			const struct kx_pol_set *s;

			if (t->pods[p].set[d] < 0)
				continue;
			s = &t->sets[t->pods[p].set[d]];
			for (size_t j = 0; j < s->n_policies; j++)
				count[2 * s->policies[j] + d]++;
		}
	}
	return count;
}

/* Each policy's one-line effect here, "ns/name" -> line, into out; -1 out of memory. */
static int policy_lines(const struct kx_pol_table *t, const struct k8s_state *st,
			const json_t *refused, json_t *out)
{
	char key[64 + K8S_NAME_MAX], line[512];
	size_t *counts = selected_counts(t, st->n_netpols);

	for (uint32_t i = 0; counts && i < st->n_netpols; i++) {
		const struct k8s_netpol *np = &st->netpols[i];
		const size_t *count = &counts[2 * i];
		json_t *why;

		policy_key(st, i, key, sizeof(key));
		why = json_object_get(refused, key);
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
	free(counts);
	return counts ? 0 : -1;
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

/* The ids the syncer gave t's sets at the last apply (NULL: out of memory). */
static uint16_t *sync_ids(const struct agent *a, size_t n_sets)
{
	uint16_t *ids = calloc(n_sets + 1, sizeof(*ids));

	for (size_t i = 0; ids && i < n_sets; i++)
		ids[i] = kx_pol_sync_id(a->pol_syncer, i);
	return ids;
}

/* Whether the syncer gave t's sets other ids than before (none known: yes). */
static bool ids_moved(const struct agent *a, const uint16_t *before, size_t n_sets)
{
	for (size_t i = 0; before && i < n_sets; i++)
		if (kx_pol_sync_id(a->pol_syncer, i) != before[i])
			return true;
	return !before;
}

/* What is not in force and why: the compiler's refusals, then the syncer's; whether it changed. */
static bool set_refused(struct agent *a, const struct k8s_refusals *synced)
{
	const struct k8s_refusals *built = &a->pol_table.refused;
	json_t *now = json_object();
	bool changed;

	for (size_t i = 0; i < built->n; i++)
		json_object_set_new(now, built->v[i].object, json_string(built->v[i].reason));
	for (size_t i = 0; i < synced->n; i++)
		json_object_set_new(now, synced->v[i].object, json_string(synced->v[i].reason));
	changed = !json_equal(now, a->pol_refused);
	json_object_clear(a->pol_refused);
	json_object_update(a->pol_refused, now);
	json_decref(now);
	return changed;
}

/* The per-policy lines, logged where they changed (memory short: the last ones stay). */
static void update_lines(struct agent *a)
{
	json_t *lines = json_object();

	if (!lines || policy_lines(&a->pol_table, &a->pol_state, a->pol_refused, lines)) {
		pr_warn("policy: out of memory, the per-policy lines are not updated");
		json_decref(lines);
		return;
	}
	log_policy_changes(a, lines);
}

/*
 * a->pol_table (a->pol_state's) into the maps; then what is refused, the
 * per-policy lines and /policy. After a patch the sets' policies and this
 * node's pods are the same: lines and /policy change only with the
 * refusals and the set ids.
 */
static int program(struct agent *a, const char *source, bool patched)
{
	const struct kx_pol_table *t = &a->pol_table;
	uint16_t *ids_before = patched ? sync_ids(a, t->n_sets) : NULL;
	struct k8s_refusals refused = { 0 };
	bool in_force = t->n_ns > 0 || t->n_sets > 0, refusals_changed;
	struct kx_pol_sync_stats ss;
	struct kx_err err;
	int ret;

	if (in_force)
		agent_config_policy(a, true); /* before a pod points at a set */
	ret = kx_pol_sync_apply(a->pol_syncer, &a->maps, t, &a->pol_state, &refused, &ss, &err);
	if (ret)
		pr_warn("%s: %s", source, err.msg);
	if (!in_force && !ret)
		agent_config_policy(a, false);
	refusals_changed = set_refused(a, &refused);
	if (!patched || refusals_changed)
		update_lines(a);
	if (!patched || ids_moved(a, ids_before, t->n_sets))
		kx_metrics_set_policy(a->metrics, policy_view(a, t, &a->pol_state));
	if (ss.sets_written || ss.prefixes_written || ss.prefixes_deleted || ss.pods_written)
		pr_info("applied %s: %zu policies, %zu sets over %zu pods of this node (%zu new, prefixes +%zu -%zu, pods %zu)%s",
			source, a->pol_state.n_netpols, ss.sets, t->n_pods, ss.sets_written,
			ss.prefixes_written, ss.prefixes_deleted, ss.pods_written,
			ss.failed ? "; some sets did not fit: their pods deny" : "");
	k8s_refusals_free(&refused);
	free(ids_before);
	return ret;
}

/* st's Pods, Namespaces and NetworkPolicies become the kept ones (explain waits meanwhile). */
static void keep_state(struct agent *a, struct k8s_state *st)
{
	struct k8s_state old;

	kx_metrics_policy_lock(a->metrics);
	old = a->pol_state;
	memset(&a->pol_state, 0, sizeof(a->pol_state));
	k8s_state_move_policy(st, &a->pol_state);
	kx_metrics_policy_unlock(a->metrics);
	k8s_state_free(&old);
}

/* st compiled into t; a failure leaves the last policies in force, and the next change builds. */
static int build(struct agent *a, const struct k8s_state *st, struct kx_pol_table *t,
		 const char *source)
{
	struct kx_err err;

	if (!kx_policy_build(st, a->o.node, t, &err))
		return 0;
	pr_warn("%s: policies not compiled, the last ones stay: %s", source, err.msg);
	a->pol_current = false;
	return -1;
}

/* t, compiled from the kept state (or the one about to be kept), becomes the kept table. */
static void keep_table(struct agent *a, struct kx_pol_table *t)
{
	kx_pol_table_free(&a->pol_table);
	a->pol_table = *t;
	a->pol_current = true;
}

/* The kept state compiled afresh and programmed. */
static int rebuild(struct agent *a, const char *source)
{
	struct kx_pol_table t;

	if (build(a, &a->pol_state, &t, source))
		return -1;
	keep_table(a, &t);
	return program(a, source, false);
}

int agent_apply_policy(struct agent *a, struct k8s_state *st, const char *source)
{
	struct kx_pol_table t;

	if (build(a, st, &t, source))
		return -1;
	keep_table(a, &t);
	keep_state(a, st);
	return program(a, source, false);
}

/* The kept table patched with the pods of ch (in the kept state now) and programmed, or built. */
static int patch_table(struct agent *a, const struct kx_pol_pod_change *ch, size_t n,
		       const char *source)
{
	struct kx_err err;
	int ret = kx_policy_patch_pods(&a->pol_state, a->o.node, ch, n, &a->pol_table, &err);

	if (!ret)
		return program(a, source, true);
	pr_debug("%s: %s, compiled afresh", source,
		 ret < 0 ? err.msg : "beyond a patch (this node's pods, a set's rows, sets merging)");
	return rebuild(a, source);
}

/* fresh's pods (changed in place) into the kept state and table; 1: one is not in the state. */
static int patch_in(struct agent *a, struct k8s_state *fresh, const char *source)
{
	uint32_t *at = calloc(fresh->n_pods + 1, sizeof(*at));
	struct kx_pol_pod_change *ch = calloc(fresh->n_pods + 1, sizeof(*ch));
	int ret = at && ch ? 0 : 1;

	kx_metrics_policy_lock(a->metrics);
	if (!ret)
		ret = k8s_state_swap_pods(&a->pol_state, fresh, at) ? 1 : 0;
	kx_metrics_policy_unlock(a->metrics);
	for (size_t i = 0; !ret && i < fresh->n_pods; i++)
		ch[i] = (struct kx_pol_pod_change){ at[i], &fresh->pods[i] };
	if (!ret)
		ret = patch_table(a, ch, fresh->n_pods, source);
	free(at);
	free(ch);
	return ret;
}

int agent_apply_policy_pods(struct agent *a, struct kapi *k)
{
	size_t n = json_object_size(k->dirty_pods);
	struct k8s_state fresh;
	struct kx_err err;
	char source[64];
	int ret;

	if (!a->pol_current || k->policy_full || n > AGENT_PATCH_MAX)
		return 1;
	if (kapi_take_changed_pods(k, &fresh, &err))
		return 1;
	snprintf(source, sizeof(source), "API pods (%zu changed)", fresh.n_pods);
	ret = fresh.refused.n ? 1 : fresh.n_pods ? patch_in(a, &fresh, source) : 0;
	k8s_state_free(&fresh);
	return ret;
}
