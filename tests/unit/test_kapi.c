// SPDX-License-Identifier: GPL-2.0
/*
 * The API client without a network: kubeconfig and in-cluster config, and
 * the watch stream split into events, applied to the store and marked dirty
 * per Service, with malformed, oversized and invalid events skipped; policy's
 * kinds (Pods, slimmed, Namespaces, NetworkPolicies) marked apart, Pods
 * changed in place by name.
 */
#include <stdlib.h>
#include <unistd.h>
#include "testlib.h"
#include "k8s/kapi.h"

static void test_kubeconfig_current_context_with_inline_data(void **unused)
{
	struct kapi_conf c;
	struct kx_err err = { "" };

	if (kapi_conf_kubeconfig(KX_FIXTURES "/kubeconfig.yaml", &c, &err))
		fail_msg("%s", err.msg);
	assert_string_equal(c.server, "https://10.124.242.130:6443"); /* trailing / dropped */
	assert_int_equal(c.ca_len, 28);
	assert_memory_equal(c.ca_data, "-----BEGIN CERTIFICATE-----\n", 28);
	assert_int_equal(c.cert_len, 4);
	assert_memory_equal(c.cert_data, "cert", 4);
	assert_memory_equal(c.key_data, "key", 3);
	assert_string_equal(c.token, "");
	kapi_conf_free(&c);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void test_kubeconfig_errors(void **unused)
{
	const char *path = "/tmp/kxdp-test-kubeconfig.yaml";
	struct kapi_conf c;
	struct kx_err err = { "" };

	write_file(path, "current-context: nope\ncontexts: []\n");
	assert_int_equal(kapi_conf_kubeconfig(path, &c, &err), -1);
	assert_non_null(strstr(err.msg, "current-context \"nope\" not found"));
	write_file(path, "clusters: [\n");
	assert_int_equal(kapi_conf_kubeconfig(path, &c, &err), -1);
	assert_non_null(strstr(err.msg, path));
	write_file(path, "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
			 "clusters:\n- name: c\n  cluster: {server: ftp://x}\n");
	assert_int_equal(kapi_conf_kubeconfig(path, &c, &err), -1);
	assert_non_null(strstr(err.msg, "is not an http(s) URL"));
	write_file(path, "current-context: a\ncontexts:\n- name: a\n  context: {cluster: c, user: u}\n"
			 "clusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority-data: '%%%'}\n");
	assert_int_equal(kapi_conf_kubeconfig(path, &c, &err), -1);
	assert_non_null(strstr(err.msg, "certificate-authority-data: not base64"));
	unlink(path);
	assert_int_equal(kapi_conf_kubeconfig("/nonexistent/kubeconfig", &c, &err), -1);
	assert_non_null(strstr(err.msg, "No such file"));
}

static void test_incluster_config_and_rotating_token(void **unused)
{
	char dir[] = "/tmp/kxdp-sa-XXXXXX", path[128], tok[64];
	struct kapi_conf c;
	struct kx_err err = { "" };

	assert_non_null(mkdtemp(dir));
	unsetenv("KUBERNETES_SERVICE_HOST");
	assert_int_equal(kapi_conf_incluster(dir, &c, &err), -1);
	assert_non_null(strstr(err.msg, "KUBERNETES_SERVICE_HOST"));
	setenv("KUBERNETES_SERVICE_HOST", "10.124.242.130", 1);
	setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
	assert_int_equal(kapi_conf_incluster(dir, &c, &err), 0);
	assert_string_equal(c.server, "https://10.124.242.130:6443");
	snprintf(path, sizeof(path), "%s/token", dir);
	assert_int_equal(kapi_conf_token(&c, tok, sizeof(tok), &err), -1); /* not there yet */
	write_file(path, "first\n");
	assert_int_equal(kapi_conf_token(&c, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "first");
	write_file(path, "second");
	assert_int_equal(kapi_conf_token(&c, tok, sizeof(tok), &err), 0);
	assert_string_equal(tok, "second"); /* re-read every time */
	unlink(path);
	rmdir(dir);
}

static int setup(void **state)
{
	struct kapi_conf conf = { .server = "https://unused.invalid" };
	struct kapi *k = calloc(1, sizeof(*k));
	struct kx_err err;

	if (kapi_init(k, &conf, &err))
		return -1;
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	kapi_free(*state);
	free(*state);
	return 0;
}

#define SVC_EVENT(type, name, ip)                                                            \
	"{\"type\":\"" type "\",\"object\":{\"kind\":\"Service\",\"metadata\":{\"name\":\"" name \
	"\",\"namespace\":\"ns\",\"resourceVersion\":\"7\"},\"spec\":{\"clusterIP\":\"" ip     \
	"\",\"ports\":[{\"port\":80}]}}}\n"
#define SLICE_EVENT(type, name, svc, ip)                                                       \
	"{\"type\":\"" type "\",\"object\":{\"kind\":\"EndpointSlice\",\"addressType\":\"IPv4\"," \
	"\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\",\"resourceVersion\":\"9\","    \
	"\"labels\":{\"kubernetes.io/service-name\":\"" svc "\"}},\"ports\":[{\"port\":80}],"      \
	"\"endpoints\":[{\"addresses\":[\"" ip "\"]}]}}\n"

static void feed_in_pieces(struct kapi *k, struct kapi_watch *w, const char *text, size_t piece)
{
	for (size_t n = strlen(text); n; ) {
		size_t take = n < piece ? n : piece;

		kapi_feed(k, w, text, take);
		text += take;
		n -= take;
	}
}

static void test_stream_split_into_events_whatever_the_chunks(void **state)
{
	struct kapi *k = *state;
	struct kapi_watch *w = &k->w[KAPI_SERVICES];
	const char *two = SVC_EVENT("ADDED", "a", "10.96.0.1") SVC_EVENT("ADDED", "b", "10.96.0.2");

	for (size_t piece = 1; piece < 40; piece += 7) {
		json_object_clear(k->store[KAPI_SERVICES]);
		feed_in_pieces(k, w, two, piece);
		assert_int_equal(json_object_size(k->store[KAPI_SERVICES]), 2);
	}
	assert_non_null(json_object_get(k->store[KAPI_SERVICES], "ns/a"));
	assert_string_equal(w->rv, "7");
	/* the kind is kept, the owner marked dirty */
	assert_non_null(json_object_get(k->dirty_owners, "ns/b"));
	feed_in_pieces(k, w, SVC_EVENT("DELETED", "a", "10.96.0.1"), 5);
	assert_null(json_object_get(k->store[KAPI_SERVICES], "ns/a"));
}

static void test_bad_events_are_skipped_and_the_rest_applied(void **state)
{
	struct kapi *k = *state;
	struct kapi_watch *w = &k->w[KAPI_SERVICES];
	unsigned long skipped = k->skipped;
	char *big = malloc(KAPI_MAX_EVENT + 100);

	kx_log_verbosity = -1;
	feed_in_pieces(k, w, SVC_EVENT("ADDED", "keep", "10.96.0.3"), 64);
	/* malformed, no object, unknown type, wrong kind, invalid field, then a good one */
	feed_in_pieces(k, w,
		       "{not json\n"
		       "{\"type\":\"ADDED\"}\n"
		       "{\"type\":\"WHAT\",\"object\":{}}\n"
		       "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\"}}}\n"
		       SVC_EVENT("MODIFIED", "keep", "10.96.0.300")
		       SVC_EVENT("ADDED", "after", "10.96.0.4"), 100);
	assert_int_equal(k->skipped, skipped + 5);
	json_t *keep = json_object_get(k->store[KAPI_SERVICES], "ns/keep");
	/* the invalid MODIFIED left the previous version in place */
	assert_string_equal(json_string_value(json_object_get(json_object_get(keep, "spec"),
							      "clusterIP")), "10.96.0.3");
	assert_non_null(json_object_get(k->store[KAPI_SERVICES], "ns/after"));
	/* ... and is listed as refused, with its field, until a valid version comes */
	struct k8s_refusals r = { 0 };

	assert_true(k->refused_changed);
	assert_int_equal(kapi_refusals(k, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].kind, "Service");
	assert_string_equal(r.v[0].object, "ns/keep");
	assert_non_null(strstr(r.v[0].reason, "spec.clusterIP: \"10.96.0.300\" is not an IP"));
	k8s_refusals_free(&r);
	feed_in_pieces(k, w, SVC_EVENT("MODIFIED", "keep", "10.96.0.6"), 64);
	assert_int_equal(kapi_refusals(k, &r), 0);
	assert_int_equal(r.n, 0);
	k8s_refusals_free(&r);
	/* an oversized line is skipped whole, the next one still parses */
	memset(big, 'x', KAPI_MAX_EVENT + 99);
	big[KAPI_MAX_EVENT + 99] = '\n';
	kapi_feed(k, w, big, KAPI_MAX_EVENT + 100);
	feed_in_pieces(k, w, SVC_EVENT("ADDED", "last", "10.96.0.5"), 1000);
	assert_int_equal(k->skipped, skipped + 6);
	assert_non_null(json_object_get(k->store[KAPI_SERVICES], "ns/last"));
	free(big);
}

static void test_410_error_event_and_bookmark(void **state)
{
	struct kapi *k = *state;
	struct kapi_watch *w = &k->w[KAPI_NODES];

	const char *bm = "{\"type\":\"BOOKMARK\",\"object\":{\"kind\":\"Node\",\"metadata\":"
			 "{\"resourceVersion\":\"1234\"}}}\n";

	kapi_feed(k, w, bm, strlen(bm));
	assert_string_equal(w->rv, "1234");
	assert_false(w->gone);
	const char *gone = "{\"type\":\"ERROR\",\"object\":{\"kind\":\"Status\",\"code\":410,"
			   "\"reason\":\"Expired\"}}\n";
	kapi_feed(k, w, gone, strlen(gone));
	assert_true(w->gone);
}

static void test_owner_state_holds_the_service_and_its_slices(void **state)
{
	struct kapi *k = *state;
	struct k8s_state st;
	struct kx_err err;

	feed_in_pieces(k, &k->w[KAPI_SERVICES], SVC_EVENT("ADDED", "web", "10.96.1.1"), 4096);
	feed_in_pieces(k, &k->w[KAPI_SLICES], SLICE_EVENT("ADDED", "web-1", "web", "10.0.0.1")
		       SLICE_EVENT("ADDED", "web-2", "web", "10.0.0.2")
		       SLICE_EVENT("ADDED", "db-1", "db", "10.0.0.3"), 4096);
	assert_int_equal(kapi_take_owner(k, "ns/web", &st, &err), 0);
	assert_int_equal(st.n_svcs, 1);
	assert_int_equal(st.n_slices, 2);
	k8s_state_free(&st);
	/* a slice moving to another service leaves the first one's set */
	feed_in_pieces(k, &k->w[KAPI_SLICES], SLICE_EVENT("MODIFIED", "web-2", "db", "10.0.0.2"),
		       4096);
	assert_non_null(json_object_get(k->dirty_owners, "ns/web"));
	assert_non_null(json_object_get(k->dirty_owners, "ns/db"));
	assert_int_equal(kapi_take_owner(k, "ns/web", &st, &err), 0);
	assert_int_equal(st.n_slices, 1);
	k8s_state_free(&st);
	assert_int_equal(kapi_take_owner(k, "ns/db", &st, &err), 0);
	assert_int_equal(st.n_svcs, 0);
	assert_int_equal(st.n_slices, 2);
	k8s_state_free(&st);
}

/* A Pod as the API sends it, with much that policy does not read. */
#define FULL_POD(type, rv, label, extra)                                                       \
	"{\"type\":\"" type "\",\"object\":{\"apiVersion\":\"v1\",\"kind\":\"Pod\","                \
	"\"metadata\":{\"name\":\"web-1\",\"namespace\":\"shop\",\"uid\":\"u1\","                \
	"\"resourceVersion\":\"" rv "\",\"labels\":{\"app\":\"" label "\"},"                       \
	"\"annotations\":{\"a\":\"b\"},\"managedFields\":[{\"manager\":\"kubelet\"}],"             \
	"\"ownerReferences\":[{\"kind\":\"ReplicaSet\",\"name\":\"web\"}]},"                      \
	"\"spec\":{\"nodeName\":\"n1\",\"hostNetwork\":false,\"volumes\":[{\"name\":\"v\"}],"      \
	"\"initContainers\":[{\"name\":\"i\",\"ports\":[{\"containerPort\":1}]}],"                 \
	"\"containers\":[{\"name\":\"web\",\"image\":\"nginx\",\"env\":[{\"name\":\"X\"}],"       \
	"\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},"                               \
	"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.0.5\",\"podIPs\":[{\"ip\":\"10.1.0.5\"}]," \
	"\"hostIP\":\"192.168.0.1\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"" extra "\"}]," \
	"\"containerStatuses\":[{\"name\":\"web\",\"restartCount\":3}]}}}\n"

static void test_slim_pod_keeps_what_the_decoder_reads(void **unused)
{
	json_t *ev = json_loads(FULL_POD("ADDED", "5", "web", "True"), 0, NULL);
	json_t *slim = kapi_slim_pod(json_object_get(ev, "object"));
	json_t *want = json_loads(
		"{\"apiVersion\":\"v1\",\"kind\":\"Pod\",\"metadata\":{\"name\":\"web-1\","
		"\"namespace\":\"shop\",\"uid\":\"u1\",\"resourceVersion\":\"5\",\"labels\":{\"app\":\"web\"}},"
		"\"spec\":{\"nodeName\":\"n1\",\"hostNetwork\":false,"
		"\"containers\":[{\"ports\":[{\"name\":\"http\",\"containerPort\":8080}]}]},"
		"\"status\":{\"phase\":\"Running\",\"podIP\":\"10.1.0.5\",\"podIPs\":[{\"ip\":\"10.1.0.5\"}]}}",
		0, NULL);
	char *got = json_dumps(slim, JSON_SORT_KEYS);

	assert_non_null(want);
	if (!json_equal(slim, want))
		fail_msg("slimmed to %s", got);
	free(got);
	/* the original is left whole */
	assert_non_null(json_object_get(json_object_get(json_object_get(ev, "object"), "status"),
					"conditions"));
	json_decref(slim);
	json_decref(want);
	/* a member of the wrong type stays, so the decoder still refuses the pod */
	json_decref(ev);
	ev = json_loads("{\"kind\":\"Pod\",\"metadata\":{\"name\":\"p\",\"namespace\":\"n\"},"
			"\"spec\":{\"containers\":[7,{\"ports\":{}}]},\"status\":\"x\"}",
			0, NULL);
	slim = kapi_slim_pod(ev);
	assert_true(json_equal(slim, ev));
	json_decref(slim);
	json_decref(ev);
}

static void test_policy_kinds_mark_policy_not_services(void **state)
{
	struct kapi *k = *state;
	const char *ns = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Namespace\","
			 "\"metadata\":{\"name\":\"shop\",\"resourceVersion\":\"3\"}}}\n";
	const char *np = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"NetworkPolicy\","
			 "\"metadata\":{\"name\":\"deny\",\"namespace\":\"shop\"},"
			 "\"spec\":{\"podSelector\":{}}}}\n";
	struct k8s_state st;
	struct kx_err err;
	json_t *stored;

	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("ADDED", "5", "web", "True"), 13);
	assert_true(k->policy_dirty);
	assert_false(k->dirty || k->full_dirty || k->nodes_dirty);
	assert_int_equal(json_object_size(k->dirty_owners), 0);
	stored = json_object_get(k->store[KAPI_PODS], "shop/web-1");
	assert_non_null(stored); /* slimmed */
	assert_null(json_object_get(json_object_get(stored, "metadata"), "managedFields"));
	assert_null(json_object_get(json_object_get(stored, "status"), "conditions"));
	kapi_feed(k, &k->w[KAPI_NAMESPACES], ns, strlen(ns));
	kapi_feed(k, &k->w[KAPI_NETPOLS], np, strlen(np));
	assert_non_null(json_object_get(k->store[KAPI_NAMESPACES], "/shop"));
	assert_false(k->dirty);
	/* policy's kinds alone, and policy_dirty cleared */
	feed_in_pieces(k, &k->w[KAPI_SERVICES], SVC_EVENT("ADDED", "a", "10.96.0.1"), 4096);
	assert_int_equal(kapi_take_policy(k, &st, &err), 0);
	assert_false(k->policy_dirty);
	assert_true(k->dirty); /* the Service's mark stays for the service side */
	assert_int_equal(st.n_svcs, 0);
	assert_int_equal(st.n_pods, 1);
	assert_int_equal(st.pods[0].addr, ip4("10.1.0.5"));
	assert_int_equal(st.pods[0].n_ports, 1);
	assert_int_equal(st.n_namespaces, 1);
	assert_int_equal(st.n_netpols, 1);
	k8s_state_free(&st);
	/* a status change policy does not read: no mark; a label change: marked */
	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("MODIFIED", "6", "web", "False"), 64);
	assert_false(k->policy_dirty);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
				    json_object_get(k->store[KAPI_PODS], "shop/web-1"), "metadata"),
							  "resourceVersion")), "6");
	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("MODIFIED", "7", "db", "False"), 64);
	assert_true(k->policy_dirty);
	/* the full state has every kind, and leaves policy_dirty to kapi_take_policy */
	assert_int_equal(kapi_take_state(k, &st, &err), 0);
	assert_int_equal(st.n_svcs, 1);
	assert_int_equal(st.n_pods, 1);
	assert_int_equal(st.n_netpols, 1);
	assert_true(k->policy_dirty);
	assert_false(k->dirty);
	k8s_state_free(&st);
	/* a deleted pod: gone, marked, the services untouched */
	k->policy_dirty = false;
	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("DELETED", "8", "db", "False"), 64);
	assert_null(json_object_get(k->store[KAPI_PODS], "shop/web-1"));
	assert_true(k->policy_dirty);
	assert_false(k->dirty);
}

static void test_pods_changed_in_place_named_apart(void **state)
{
	struct kapi *k = *state;
	const char *ns = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Namespace\","
			 "\"metadata\":{\"name\":\"shop\"}}}\n";
	struct k8s_state st, kept;
	struct kx_err err;
	uint32_t at[1];

	/* a new pod: everything again */
	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("ADDED", "5", "web", "True"), 64);
	assert_true(k->policy_dirty && k->policy_full);
	assert_int_equal(json_object_size(k->dirty_pods), 0);
	assert_int_equal(kapi_take_policy(k, &kept, &err), 0);
	assert_false(k->policy_dirty || k->policy_full);
	/* its labels changed: that pod alone, decoded alone */
	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("MODIFIED", "6", "db", "True"), 64);
	assert_true(k->policy_dirty);
	assert_false(k->policy_full);
	assert_non_null(json_object_get(k->dirty_pods, "shop/web-1"));
	assert_int_equal(kapi_take_changed_pods(k, &st, &err), 0);
	assert_false(k->policy_dirty);
	assert_int_equal(json_object_size(k->dirty_pods), 0);
	assert_int_equal(st.n_pods, 1);
	assert_int_equal(st.n_namespaces + st.n_netpols, 0);
	assert_string_equal(st.pods[0].labels.v[0].value, "db");
	/* swapped into the state kept from the last take: the old version comes back */
	assert_int_equal(k8s_state_swap_pods(&kept, &st, at), 0);
	assert_int_equal(at[0], 0);
	assert_string_equal(kept.pods[0].labels.v[0].value, "db");
	assert_string_equal(st.pods[0].labels.v[0].value, "web");
	k8s_state_free(&st);
	/* a pod the state does not have: nothing moved */
	kept.pods[0].name[0] = 'x';
	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("MODIFIED", "7", "web", "True"), 64);
	assert_int_equal(kapi_take_changed_pods(k, &st, &err), 0);
	assert_int_equal(k8s_state_swap_pods(&kept, &st, at), -1);
	assert_string_equal(kept.pods[0].labels.v[0].value, "db");
	k8s_state_free(&st);
	k8s_state_free(&kept);
	/* a Namespace, a pod deleted: everything again */
	kapi_feed(k, &k->w[KAPI_NAMESPACES], ns, strlen(ns));
	assert_true(k->policy_full);
	k->policy_full = false;
	feed_in_pieces(k, &k->w[KAPI_PODS], FULL_POD("DELETED", "8", "web", "True"), 64);
	assert_true(k->policy_full);
}

static void test_refused_pod_listed_with_its_field(void **state)
{
	struct kapi *k = *state;
	const char *bad = "{\"type\":\"ADDED\",\"object\":{\"kind\":\"Pod\",\"metadata\":"
			  "{\"name\":\"p\",\"namespace\":\"n\"},\"spec\":{\"containers\":"
			  "[{\"ports\":[{\"containerPort\":70000}]}]}}}\n";
	struct k8s_refusals r = { 0 };

	kapi_feed(k, &k->w[KAPI_PODS], bad, strlen(bad));
	assert_null(json_object_get(k->store[KAPI_PODS], "n/p"));
	assert_false(k->policy_dirty);
	assert_int_equal(kapi_refusals(k, &r), 0);
	assert_int_equal(r.n, 1);
	assert_string_equal(r.v[0].kind, "Pod");
	assert_string_equal(r.v[0].object, "n/p");
	assert_string_equal(r.v[0].reason,
			    "pod n/p: spec.containers[0].ports[0].containerPort: 70000 is not a port (1-65535)");
	k8s_refusals_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubeconfig_current_context_with_inline_data),
		cmocka_unit_test(test_kubeconfig_errors),
		cmocka_unit_test(test_incluster_config_and_rotating_token),
		cmocka_unit_test_setup_teardown(test_stream_split_into_events_whatever_the_chunks,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_events_are_skipped_and_the_rest_applied,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_410_error_event_and_bookmark, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_state_holds_the_service_and_its_slices,
						setup, teardown),
		cmocka_unit_test(test_slim_pod_keeps_what_the_decoder_reads),
		cmocka_unit_test_setup_teardown(test_policy_kinds_mark_policy_not_services, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_pods_changed_in_place_named_apart, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_refused_pod_listed_with_its_field, setup,
						teardown),
	};

	kx_log_verbosity = -1;
	return cmocka_run_group_tests_name("kapi", tests, NULL, NULL);
}
