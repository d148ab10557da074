// SPDX-License-Identifier: GPL-2.0
/*
 * The agent's NetworkPolicy path (user/agent/policy.c, linked in) over the
 * real API store, compiler, syncer and maps (the skeleton loaded, nothing
 * attached): a whole take, then a pod of another node relabelled (decoded
 * alone, swapped in, patched, synced), then a pod of this node relabelled
 * (a build again), then a new pod (a whole take asked for); the maps, the
 * per-policy lines, /policy and explain after each. Needs root.
 */
#include <netinet/in.h>
#include "bpftest.h"
#include "agent/agent.h"

#define SRV "12.0.2.20" /* this node's pod the policy isolates */
#define WEB "12.0.1.1"
#define DB "12.0.1.2"

/* The stand-in for node.c's: the test's kx_config is left alone. */
void agent_config_policy(struct agent *a, bool on)
{
}

/* What the test holds: the skeleton (first, for kx_fx_teardown), an API store, an agent. */
struct fx {
	struct kxdp *skel;
	struct kapi k;
	struct agent a;
};

static int setup(void **state)
{
	struct kapi_conf conf = { .server = "https://unused.invalid" };
	struct fx *f = calloc(1, sizeof(*f));
	struct kx_err err = { "" };

	*state = f;
	if (!f || kx_fx_load(&f->skel, &f->a.maps) || kapi_init(&f->k, &conf, &err))
		return -1;
	f->a.o.node = "n1";
	f->a.pol_syncer = kx_pol_syncer_new(&f->a.maps, &err);
	f->a.metrics = kx_metrics_new(&f->a.maps);
	kx_metrics_set_policy_state(f->a.metrics, &f->a.pol_state);
	f->a.pol_refused = json_object();
	f->a.pol_lines = json_object();
	return f->a.pol_syncer && f->a.metrics ? 0 : -1;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kx_metrics_free(f->a.metrics);
	k8s_state_free(&f->a.pol_state);
	kx_pol_table_free(&f->a.pol_table);
	kx_pol_syncer_free(f->a.pol_syncer);
	json_decref(f->a.pol_refused);
	json_decref(f->a.pol_lines);
	kapi_free(&f->k);
	return kx_fx_teardown(state);
}

/* One watch event of kind: a Pod of ns0 (app label, node, address) or another object. */
static void feed(struct fx *f, enum kapi_kind kind, const char *type, const char *object)
{
	char line[1024];

	snprintf(line, sizeof(line), "{\"type\":\"%s\",\"object\":%s}\n", type, object);
	kapi_feed(&f->k, &f->k.w[kind], line, strlen(line));
}

static void feed_pod(struct fx *f, const char *type, const char *name, const char *node,
		     const char *ip, const char *app)
{
	char pod[512];

	snprintf(pod, sizeof(pod),
		 "{\"kind\":\"Pod\",\"metadata\":{\"name\":\"%s\",\"namespace\":\"ns0\","
		 "\"labels\":{\"app\":\"%s\"}},\"spec\":{\"nodeName\":\"%s\"},"
		 "\"status\":{\"phase\":\"Running\",\"podIP\":\"%s\"}}",
		 name, app, node, ip);
	feed(f, KAPI_PODS, type, pod);
}

/* The rows kx_pol_peer gives peer in srv's ingress set; -1: srv not isolated or no match. */
static long long peer_rows(struct fx *f, const char *peer)
{
	uint32_t slot = kx_endpoint_slot(ip4(SRV));
	struct kx_pol_peer_key key = { .prefixlen = 64, .addr = ip4(peer) };
	struct kx_pol_ep ep;
	uint64_t rows;

	if (bpf_map_lookup_elem(f->a.maps.pol_ep, &slot, &ep) || ep.set[KX_POL_INGRESS] <= 1)
		return -1;
	key.set = htonl(ep.set[KX_POL_INGRESS]);
	return bpf_map_lookup_elem(f->a.maps.pol_peer, &key, &rows) ? -1 : (long long)rows;
}

/* The agent's line for policy ns0/allow-web. */
static const char *line(struct fx *f)
{
	return json_string_value(json_object_get(f->a.pol_lines, "ns0/allow-web"));
}

/* Whether explain lets peer reach srv on TCP 80 (the agent's objects, not the maps). */
static bool explained_allowed(struct fx *f, const char *peer)
{
	char *text = kx_metrics_policy_explain(f->a.metrics, ip4(peer), ip4(SRV), IPPROTO_TCP, 80);
	json_t *o = json_loads(text, 0, NULL);
	bool allowed = json_is_true(json_object_get(json_object_get(o, "ingress"), "allowed"));

	json_decref(o);
	free(text);
	return allowed;
}

/* A whole take, as the agent's loop does it when a patch will not do. */
static void take_all(struct fx *f)
{
	struct k8s_state st;
	struct kx_err err;

	assert_int_equal(agent_apply_policy_pods(&f->a, &f->k), 1);
	assert_int_equal(kapi_take_policy(&f->k, &st, &err), 0);
	assert_int_equal(agent_apply_policy(&f->a, &st, "test"), 0);
	k8s_state_free(&st);
}

static void test_pods_patched_in_or_built(void **state)
{
	struct fx *f = *state;
	char *view, *now;

	feed(f, KAPI_NAMESPACES, "ADDED", "{\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ns0\"}}");
	feed(f, KAPI_NETPOLS, "ADDED",
	     "{\"kind\":\"NetworkPolicy\",\"metadata\":{\"name\":\"allow-web\",\"namespace\":\"ns0\"},"
	     "\"spec\":{\"podSelector\":{\"matchLabels\":{\"app\":\"srv\"}},\"ingress\":[{\"from\":"
	     "[{\"podSelector\":{\"matchLabels\":{\"app\":\"web\"}}}],\"ports\":[{\"port\":80}]}]}}");
	feed_pod(f, "ADDED", "srv", "n1", SRV, "srv");
	feed_pod(f, "ADDED", "web", "n2", WEB, "web");
	feed_pod(f, "ADDED", "db", "n2", DB, "db");
	take_all(f);
	assert_int_equal(peer_rows(f, WEB), 1);
	assert_int_equal(peer_rows(f, DB), -1);
	assert_string_equal(line(f), "applied: Ingress, selects 1 pod of this node for ingress, 0 for egress");
	view = kx_metrics_policy_json(f->a.metrics);

	/* db relabelled web: that pod alone decoded and patched in */
	feed_pod(f, "MODIFIED", "db", "n2", DB, "web");
	assert_false(f->k.policy_full);
	assert_int_equal(agent_apply_policy_pods(&f->a, &f->k), 0);
	assert_false(f->k.policy_dirty);
	assert_int_equal(peer_rows(f, DB), 1);
	assert_true(explained_allowed(f, DB));
	assert_string_equal(line(f), "applied: Ingress, selects 1 pod of this node for ingress, 0 for egress");
	now = kx_metrics_policy_json(f->a.metrics); /* the same pods, sets and ids */
	assert_string_equal(now, view);
	free(now);
	free(view);

	/* web relabelled and db again: both at once */
	feed_pod(f, "MODIFIED", "web", "n2", WEB, "old");
	feed_pod(f, "MODIFIED", "db", "n2", DB, "db");
	assert_int_equal(agent_apply_policy_pods(&f->a, &f->k), 0);
	assert_int_equal(peer_rows(f, WEB), -1);
	assert_int_equal(peer_rows(f, DB), -1);
	assert_false(explained_allowed(f, WEB));

	/* this node's pod relabelled: a build from the kept objects, no policy selects it now */
	feed_pod(f, "MODIFIED", "srv", "n1", SRV, "other");
	assert_int_equal(agent_apply_policy_pods(&f->a, &f->k), 0);
	assert_string_equal(line(f), "applied: Ingress, selects 0 pods of this node for ingress, 0 for egress");
	assert_int_equal(f->a.pol_table.n_sets, 0);

	/* a new pod: a whole take */
	feed_pod(f, "MODIFIED", "srv", "n1", SRV, "srv");
	feed_pod(f, "ADDED", "web2", "n2", "12.0.1.3", "web");
	assert_true(f->k.policy_full);
	take_all(f);
	assert_int_equal(peer_rows(f, "12.0.1.3"), 1);
	assert_string_equal(line(f), "applied: Ingress, selects 1 pod of this node for ingress, 0 for egress");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pods_patched_in_or_built),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
