// SPDX-License-Identifier: GPL-2.0
/* The model on JSON fixtures: objects + node name -> desired service table. */
#include <netinet/in.h>
#include "testlib.h"
#include "model/model.h"

static void build(const char *file, const char *node, struct kx_table *t)
{
	char path[512];
	struct k8s_state st;
	struct kx_err err = { "" };

	snprintf(path, sizeof(path), "%s/%s", KX_FIXTURES, file);
	if (k8s_decode_file(path, &st, &err))
		fail_msg("decode %s: %s", path, err.msg);
	if (kx_model_build(&st, node, t, &err))
		fail_msg("model %s: %s", path, err.msg);
	k8s_state_free(&st);
}

/* The same from a JSON text. */
static void build_string(const char *json, const char *node, struct kx_table *t)
{
	struct kx_err err = { "" };
	struct k8s_state st;

	if (k8s_decode_string(json, &st, &err))
		fail_msg("decode: %s", err.msg);
	if (kx_model_build(&st, node, t, &err))
		fail_msg("model: %s", err.msg);
	k8s_state_free(&st);
}

/* The entry of scope at vip ("nodeport": a node port) port/proto. */
static const struct kx_svc_desc *find_in(const struct kx_table *t, const char *vip,
					 uint16_t port, uint8_t proto, uint8_t scope)
{
	uint32_t a = strcmp(vip, "nodeport") ? ip4(vip) : KX_VIP_NODEPORT;

	for (size_t i = 0; i < t->n_svcs; i++)
		if (t->svcs[i].key.vip == a && t->svcs[i].key.port == htons(port) &&
		    t->svcs[i].key.proto == proto && t->svcs[i].key.scope == scope)
			return &t->svcs[i];
	return NULL;
}

/* A ClusterIP entry, or an external address as reached from outside. */
static const struct kx_svc_desc *find(const struct kx_table *t, const char *vip, uint16_t port,
				      uint8_t proto)
{
	const struct kx_svc_desc *d = find_in(t, vip, port, proto, KX_SCOPE_EXTERNAL);

	return d ? d : find_in(t, vip, port, proto, KX_SCOPE_INTERNAL);
}

static void assert_backend(const struct kx_svc_desc *d, size_t i, const char *ip, uint16_t port,
			   uint8_t state)
{
	assert_true(i < d->n_backends);
	assert_int_equal(d->backends[i].addr, ip4(ip));
	assert_int_equal(d->backends[i].port, port);
	assert_int_equal(d->backends[i].state, state);
}

static void test_reference_cluster(void **unused)
{
	const struct kx_svc_desc *d;
	struct kx_table t;

	build("../../manifests/examples/reference-cluster.json", "node130", &t);
	assert_int_equal(t.n_svcs, 4); /* two service ports, two ClusterIP markers */
	d = find_in(&t, "12.0.182.73", 0, 0, KX_SCOPE_INTERNAL);
	assert_non_null(d);
	assert_int_equal(d->flags, KX_SVC_F_VIP);
	assert_int_equal(d->n_backends, 0);
	d = find(&t, "12.0.182.73", 5432, IPPROTO_TCP);
	assert_non_null(d);
	assert_string_equal(d->name, "test/test:postgres");
	assert_int_equal(d->key.scope, KX_SCOPE_INTERNAL);
	assert_int_equal(d->algo, KX_ALGO_RR);
	assert_int_equal(d->n_backends, 2);
	assert_backend(d, 0, "12.0.1.93", 5001, KX_BACKEND_ACTIVE);
	assert_backend(d, 1, "12.0.2.132", 5001, KX_BACKEND_ACTIVE);
	d = find(&t, "12.0.128.1", 443, IPPROTO_TCP);
	assert_non_null(d);
	assert_int_equal(d->n_backends, 1);
	assert_backend(d, 0, "10.124.242.130", 6443, KX_BACKEND_ACTIVE);
	assert_int_equal(t.node_ip, ip4("10.124.242.130"));
	assert_int_equal(t.pod_cidr, ip4("12.0.2.0"));
	assert_int_equal(t.pod_cidr_len, 24);
	/* one route per other node: <pod CIDR> via <InternalIP> */
	assert_int_equal(t.n_routes, 2);
	assert_int_equal(t.routes[0].dst, ip4("12.0.0.0"));
	assert_int_equal(t.routes[0].len, 24);
	assert_int_equal(t.routes[0].via, ip4("10.124.242.131"));
	assert_string_equal(t.routes[0].node, "node131");
	assert_int_equal(t.routes[1].dst, ip4("12.0.1.0"));
	assert_int_equal(t.routes[1].via, ip4("10.124.242.132"));
	kx_table_free(&t);
}

static void test_node_pod_cidr_sources(void **unused)
{
	const char *json =
		"{\"items\":["
		/* podCIDRs first, IPv6 ones skipped */
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"a\"},\"spec\":{\"podCIDR\":\"10.9.0.0/24\","
		"\"podCIDRs\":[\"fd00:1::/64\",\"10.1.0.0/24\"]},"
		"\"status\":{\"addresses\":[{\"type\":\"Hostname\",\"address\":\"a\"},"
		"{\"type\":\"InternalIP\",\"address\":\"192.168.0.1\"}]}},"
		/* only spec.podCIDR */
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"b\"},\"spec\":{\"podCIDR\":\"10.2.0.0/24\"},"
		"\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.2\"}]}},"
		/* only kube-router's annotation */
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"c\",\"annotations\":"
		"{\"kube-router.io/pod-cidr\":\"10.3.0.0/24\"}},"
		"\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.3\"}]}},"
		/* no address yet: no route */
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"d\"},\"spec\":{\"podCIDR\":\"10.4.0.0/24\"}},"
		/* no pod CIDR yet: no route */
		"{\"kind\":\"Node\",\"metadata\":{\"name\":\"e\"},"
		"\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.5\"}]}}"
		"]}";
	struct kx_err err = { "" };
	struct k8s_state st;
	struct kx_table t;

	if (k8s_decode_string(json, &st, &err) || kx_model_build(&st, "b", &t, &err))
		fail_msg("%s", err.msg);
	k8s_state_free(&st);
	assert_int_equal(t.node_ip, ip4("192.168.0.2"));
	assert_int_equal(t.pod_cidr, ip4("10.2.0.0"));
	assert_int_equal(t.n_routes, 2);
	assert_string_equal(t.routes[0].node, "a");
	assert_int_equal(t.routes[0].dst, ip4("10.1.0.0"));
	assert_int_equal(t.routes[0].via, ip4("192.168.0.1"));
	assert_string_equal(t.routes[1].node, "c");
	assert_int_equal(t.routes[1].dst, ip4("10.3.0.0"));
	assert_int_equal(t.routes[1].len, 24);
	kx_table_free(&t);
}

static void test_multiport_named_ports_several_slices(void **unused)
{
	const struct kx_svc_desc *d;
	struct kx_table t;

	build("multiport.json", "n1", &t);
	assert_int_equal(t.n_svcs, 6); /* SCTP skipped; http's node port, outside and inside; VIP */
	d = find(&t, "nodeport", 30080, IPPROTO_TCP);
	assert_non_null(d);
	assert_int_equal(d->key.scope, KX_SCOPE_EXTERNAL);
	assert_int_equal(d->n_backends, 4);
	assert_string_equal(d->name, "shop/web:http nodePort");
	d = find(&t, "10.96.0.10", 80, IPPROTO_TCP);
	assert_non_null(d);
	/* named target port: each slice's own number; other namespace and IPv6 ignored */
	assert_int_equal(d->n_backends, 4);
	assert_backend(d, 0, "10.244.0.7", 8080, KX_BACKEND_ACTIVE);
	assert_backend(d, 1, "10.244.1.5", 8080, KX_BACKEND_ACTIVE);
	assert_backend(d, 2, "10.244.1.5", 9090, KX_BACKEND_ACTIVE);
	assert_backend(d, 3, "10.244.2.9", 9090, KX_BACKEND_ACTIVE);
	d = find(&t, "10.96.0.10", 53, IPPROTO_UDP);
	assert_non_null(d);
	assert_int_equal(d->n_backends, 2);
	assert_backend(d, 0, "10.244.0.7", 5353, KX_BACKEND_ACTIVE);
	d = find(&t, "10.96.0.10", 53, IPPROTO_TCP);
	assert_non_null(d);
	assert_int_equal(d->n_backends, 2);
	assert_string_equal(d->name, "shop/web:dns-tcp");
	assert_null(find(&t, "10.96.0.10", 9, 132));
	kx_table_free(&t);
}

/*
 * NodePort, ExternalIPs, LoadBalancer ingress IPs (ipMode Proxy and hostnames
 * skipped), traffic policies (Local keeps this node's endpoints, with the
 * terminating fallback), source ranges on LB IPs only, health-check port.
 */
static void test_external_addresses_and_policies(void **unused)
{
	const struct kx_svc_desc *d;
	struct kx_table t;

	build("external.json", "n1", &t);
	/* lb: 2 ports x (ClusterIP + 2 x (node port, 1 external IP, 2 LB IPs)); internal: 1;
	 * each ClusterIP's marker */
	assert_int_equal(t.n_svcs, 21);
	d = find(&t, "10.96.0.20", 80, IPPROTO_TCP); /* internal policy Cluster: all ready */
	assert_non_null(d);
	assert_int_equal(d->key.scope, KX_SCOPE_INTERNAL);
	assert_int_equal(d->flags, 0);
	assert_int_equal(d->n_backends, 2);
	d = find(&t, "nodeport", 30080, IPPROTO_TCP); /* external policy Local: n1's only */
	assert_non_null(d);
	assert_int_equal(d->key.scope, KX_SCOPE_EXTERNAL);
	assert_int_equal(d->flags, KX_SVC_F_LOCAL);
	assert_int_equal(d->n_backends, 1);
	assert_backend(d, 0, "10.244.1.5", 8080, KX_BACKEND_ACTIVE);
	assert_non_null(find(&t, "nodeport", 30080, IPPROTO_UDP));
	d = find(&t, "203.0.113.7", 80, IPPROTO_TCP); /* external IP: no source ranges */
	assert_non_null(d);
	assert_int_equal(d->flags, KX_SVC_F_LOCAL);
	assert_string_equal(d->name, "shop/lb:http externalIP");
	d = find(&t, "203.0.113.10", 80, IPPROTO_UDP); /* LB IP: the ranges, IPv6 skipped */
	assert_non_null(d);
	assert_int_equal(d->flags, KX_SVC_F_LOCAL | KX_SVC_F_SRC_RANGES);
	assert_int_equal(d->n_src_ranges, 2);
	assert_int_equal(d->src_ranges[0].addr, ip4("198.51.100.0"));
	assert_int_equal(d->src_ranges[0].len, 24);
	assert_int_equal(d->src_ranges[1].len, 32);
	assert_non_null(find(&t, "203.0.113.12", 80, IPPROTO_TCP));
	/* the same addresses from inside: every endpoint (kube-proxy's short
	 * circuit), the LB IP's source ranges still apply */
	d = find_in(&t, "nodeport", 30080, IPPROTO_TCP, KX_SCOPE_INTERNAL);
	assert_non_null(d);
	assert_int_equal(d->flags, KX_SVC_F_IN_CLUSTER);
	assert_int_equal(d->n_backends, 2);
	assert_string_equal(d->name, "shop/lb:http nodePort (in-cluster)");
	d = find_in(&t, "203.0.113.10", 80, IPPROTO_TCP, KX_SCOPE_INTERNAL);
	assert_non_null(d);
	assert_int_equal(d->flags, KX_SVC_F_IN_CLUSTER | KX_SVC_F_SRC_RANGES);
	assert_int_equal(d->n_backends, 2);
	assert_int_equal(d->n_src_ranges, 2);
	assert_null(find(&t, "203.0.113.11", 80, IPPROTO_TCP)); /* ipMode Proxy */
	assert_int_equal(t.n_hcs, 1);
	assert_int_equal(t.hcs[0].port, 32000);
	assert_string_equal(t.hcs[0].owner, "shop/lb");
	assert_int_equal(t.hcs[0].local_endpoints, 1);
	/* internal policy Local: no ready one here, the terminating local one serves */
	d = find(&t, "10.96.0.30", 80, IPPROTO_TCP);
	assert_non_null(d);
	assert_int_equal(d->flags, KX_SVC_F_LOCAL);
	assert_int_equal(d->n_backends, 1);
	assert_backend(d, 0, "10.244.1.3", 8080, KX_BACKEND_TERMINATING);
	/* a ClusterIP Service has no node port and no source ranges */
	assert_null(find(&t, "nodeport", 30099, IPPROTO_TCP));
	kx_table_free(&t);

	build("external.json", "n3", &t); /* n3: no endpoint of lb */
	d = find(&t, "nodeport", 30080, IPPROTO_TCP);
	assert_non_null(d);
	assert_int_equal(d->n_backends, 0);
	assert_int_equal(t.hcs[0].local_endpoints, 0);
	kx_table_free(&t);
}

/* kube-router's annotations: scheduler (and its fallback), schedflags, service.local. */
static void test_kube_router_annotations(void **unused)
{
	static const char *json =
		"{\"items\":["
		"{\"kind\":\"Service\",\"metadata\":{\"name\":\"m\",\"namespace\":\"t\",\"annotations\":"
		"{\"kube-router.io/service.scheduler\":\"mh\"}},\"spec\":{\"clusterIP\":\"10.0.0.1\","
		"\"ports\":[{\"port\":80}]}},"
		"{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"namespace\":\"t\",\"annotations\":"
		"{\"kube-router.io/service.scheduler\":\"sh\",\"kube-router.io/service.schedflags\":"
		"\"flag-1,flag-2\",\"kube-router.io/service.local\":\"true\"}},"
		"\"spec\":{\"clusterIP\":\"10.0.0.2\",\"ports\":[{\"port\":80}]}},"
		"{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\",\"namespace\":\"t\",\"annotations\":"
		"{\"kube-router.io/service.scheduler\":\"wlc\"}},\"spec\":{\"clusterIP\":\"10.0.0.3\","
		"\"ports\":[{\"port\":80}]}},"
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"m1\",\"namespace\":\"t\","
		"\"labels\":{\"kubernetes.io/service-name\":\"m\"}},\"addressType\":\"IPv4\","
		"\"ports\":[{\"port\":80}],\"endpoints\":[{\"addresses\":[\"10.1.0.1\"]},"
		"{\"addresses\":[\"10.1.0.2\"]},{\"addresses\":[\"10.1.0.3\"]}]},"
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"s1\",\"namespace\":\"t\","
		"\"labels\":{\"kubernetes.io/service-name\":\"s\"}},\"addressType\":\"IPv4\","
		"\"ports\":[{\"port\":80}],\"endpoints\":[{\"addresses\":[\"10.1.0.1\"],"
		"\"nodeName\":\"n1\"},{\"addresses\":[\"10.1.0.9\"],\"nodeName\":\"n2\"}]}]}";
	const struct kx_svc_desc *d;
	struct kx_table t;
	size_t per[3] = { 0 };

	build_string(json, "n1", &t);
	d = find(&t, "10.0.0.1", 80, IPPROTO_TCP);
	assert_int_equal(d->algo, KX_ALGO_MH);
	assert_int_equal(d->n_backends, KX_MAGLEV_SMALL); /* the slots are the Maglev table */
	for (size_t i = 0; i < d->n_backends; i++)
		per[ntohl(d->backends[i].addr) - ntohl(ip4("10.1.0.1"))]++;
	for (int i = 0; i < 3; i++) /* each backend about a third of the table */
		assert_in_range(per[i], KX_MAGLEV_SMALL / 3 - 40, KX_MAGLEV_SMALL / 3 + 40);
	d = find(&t, "10.0.0.2", 80, IPPROTO_TCP);
	assert_int_equal(d->algo, KX_ALGO_SH);
	assert_int_equal(d->flags, KX_SVC_F_HASH_PORT | KX_SVC_F_LOCAL); /* service.local */
	assert_int_equal(d->n_backends, 1);
	assert_int_equal(find(&t, "10.0.0.3", 80, IPPROTO_TCP)->algo, KX_ALGO_RR);
	assert_int_equal(find(&t, "10.0.0.3", 80, IPPROTO_TCP)->affinity_timeout_s, 0);
	kx_table_free(&t);
}

/*
 * A Service without selector, its slice made by hand, publishNotReadyAddresses:
 * endpoints not ready serve (what the slice controller would have marked).
 */
static void test_publish_not_ready_addresses(void **unused)
{
	static const char *json =
		"{\"items\":[{\"kind\":\"Service\",\"metadata\":{\"name\":\"p\",\"namespace\":\"t\"},"
		"\"spec\":{\"clusterIP\":\"10.0.0.5\",\"publishNotReadyAddresses\":true,"
		"\"ports\":[{\"port\":80}]}},"
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"p-manual\",\"namespace\":\"t\","
		"\"labels\":{\"kubernetes.io/service-name\":\"p\"}},\"addressType\":\"IPv4\","
		"\"ports\":[{\"port\":80}],\"endpoints\":[{\"addresses\":[\"10.1.0.1\"],"
		"\"conditions\":{\"ready\":false}},{\"addresses\":[\"10.1.0.2\"],"
		"\"conditions\":{\"ready\":true}}]}]}";
	const struct kx_svc_desc *d;
	struct kx_table t;

	build_string(json, "n1", &t);
	d = find(&t, "10.0.0.5", 80, IPPROTO_TCP);
	assert_int_equal(d->n_backends, 2);
	assert_backend(d, 0, "10.1.0.1", 80, KX_BACKEND_ACTIVE);
	kx_table_free(&t);
}

/* Found by make fuzz: a slice naming the same port twice overflowed the backend array. */
static void test_slice_naming_a_port_twice(void **unused)
{
	static const char *json =
		"{\"items\":[{\"kind\":\"Service\",\"metadata\":{\"name\":\"p\",\"namespace\":\"t\"},"
		"\"spec\":{\"clusterIP\":\"10.0.0.5\",\"ports\":[{\"name\":\"a\",\"port\":80}]}},"
		"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"p-1\",\"namespace\":\"t\","
		"\"labels\":{\"kubernetes.io/service-name\":\"p\"}},\"addressType\":\"IPv4\","
		"\"ports\":[{\"name\":\"a\",\"port\":8080},{\"name\":\"a\",\"port\":8081}],"
		"\"endpoints\":[{\"addresses\":[\"10.1.0.1\"]},{\"addresses\":[\"10.1.0.2\"]}]}]}";
	const struct kx_svc_desc *d;
	struct kx_table t;

	build_string(json, "n1", &t);
	d = find(&t, "10.0.0.5", 80, IPPROTO_TCP);
	assert_int_equal(d->n_backends, 2); /* the first naming counts */
	assert_backend(d, 0, "10.1.0.1", 8080, KX_BACKEND_ACTIVE);
	kx_table_free(&t);
}

static void test_ready_terminating_headless_externalname(void **unused)
{
	const struct kx_svc_desc *d;
	struct kx_table t;

	build("conditions.json", "n1", &t);
	assert_int_equal(t.n_svcs, 8); /* mixed, draining, empty, dual; and their markers */
	d = find(&t, "10.96.1.1", 80, IPPROTO_TCP);
	assert_non_null(d);
	/* ready ones only; nil conditions mean ready; terminating not used while any is ready */
	assert_int_equal(d->n_backends, 2);
	assert_backend(d, 0, "10.0.0.1", 8080, KX_BACKEND_ACTIVE);
	assert_backend(d, 1, "10.0.0.4", 8080, KX_BACKEND_ACTIVE);
	d = find(&t, "10.96.1.2", 80, IPPROTO_TCP);
	assert_non_null(d);
	/* none ready: fall back to serving + terminating (KEP-1669) */
	assert_int_equal(d->n_backends, 1);
	assert_backend(d, 0, "10.0.1.1", 80, KX_BACKEND_TERMINATING);
	d = find(&t, "10.96.1.3", 80, IPPROTO_TCP);
	assert_non_null(d);
	assert_int_equal(d->n_backends, 0); /* kept: the datapath rejects it */
	assert_non_null(find(&t, "10.96.1.4", 80, IPPROTO_TCP)); /* dual stack: its IPv4 */
	kx_table_free(&t);
}

struct bad_case {
	const char *json;
	const char *want; /* substring of the one-line error */
};

#define SVC(spec) \
	"{\"items\":[{\"kind\":\"Service\",\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"},\"spec\":" spec "}]}"
#define DUP_SVC(name, created, ip, np)                                                            \
	"{\"kind\":\"Service\",\"metadata\":{\"name\":\"" name "\",\"namespace\":\"ns\","            \
	"\"creationTimestamp\":\"" created "\"},\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"" ip \
	"\",\"ports\":[{\"port\":80,\"nodePort\":" #np "}]}}"
#define SLICE(body)                                                                               \
	"{\"items\":[{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"s\",\"namespace\":\"ns\"," \
	"\"labels\":{\"kubernetes.io/service-name\":\"n\"}},\"addressType\":\"IPv4\"," body "}]}"

static const struct bad_case bad_cases[] = {
	{ "{\"items\": [", "invalid JSON" },
	{ "[1,2]", "want a JSON object" },
	{ "{\"items\": 5}", "items: want an array" },
	{ "{\"items\": [7]}", "items[0]: want an object" },
	{ "{\"items\": [{\"metadata\":{}}]}", "items[0]: kind: missing" },
	{ "{\"items\":[{\"kind\":\"ConfigMap\",\"metadata\":{\"name\":\"x\"}}]}",
	  "items[0]: kind: unknown kind \"ConfigMap\" (want Service, EndpointSlice, Node, Pod, Namespace or NetworkPolicy)" },
	{ "{\"items\":[{\"kind\":\"Service\",\"metadata\":{\"namespace\":\"ns\"},\"spec\":{}}]}",
	  "metadata.name: missing" },
	{ "{\"items\":[{\"kind\":\"Service\",\"metadata\":{\"name\":\"n\",\"namespace\":\"ns\"}}]}",
	  "service ns/n: spec: missing" },
	{ SVC("{\"clusterIP\":\"1.2.3\",\"ports\":[{\"port\":80}]}"),
	  "service ns/n: spec.clusterIP: \"1.2.3\" is not an IP address" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":0}]}"),
	  "service ns/n: spec.ports[0].port: 0 is not a port" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":80},{\"port\":65536}]}"),
	  "spec.ports[1].port: 65536 is not a port" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":\"80\"}]}"),
	  "spec.ports[0].port: want a port number" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":80,\"protocol\":\"ICMP\"}]}"),
	  "unknown protocol \"ICMP\"" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"ports\":{\"port\":80}}"), "spec.ports: want an array" },
	{ SVC("{\"type\":\"Magic\",\"clusterIP\":\"1.2.3.4\"}"), "spec.type: unknown type" },
	{ SLICE("\"ports\":[{\"port\":80}],\"endpoints\":[{\"addresses\":[\"300.1.1.1\"]}]"),
	  "endpointslice ns/s: endpoints[0].addresses[0]: \"300.1.1.1\" is not an IP address" },
	{ SLICE("\"ports\":[{\"port\":80}],\"endpoints\":[{\"addresses\":[\"1.1.1.1\"],"
		"\"conditions\":{\"ready\":\"yes\"}}]"),
	  "endpoints[0].conditions.ready: want true or false" },
	{ SLICE("\"ports\":[{\"port\":80}],\"endpoints\":[{\"addresses\":[]}]"),
	  "endpoints[0].addresses: missing" },
	{ SLICE("\"ports\":[{\"port\":-1}],\"endpoints\":[]"), "ports[0].port: -1 is not a port" },
	{ "{\"items\":[{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"spec\":{\"podCIDR\":\"12.0.0.0/33\"}}]}",
	  "node n1: spec.podCIDR: \"12.0.0.0/33\" is not a CIDR" },
	{ "{\"items\":[{\"kind\":\"Node\",\"metadata\":{\"name\":\"n1\"},\"status\":{\"addresses\":"
	  "[{\"type\":\"InternalIP\",\"address\":\"x\"}]}}]}",
	  "node n1: status.addresses[0].address: \"x\" is not an IP address" },
	{ "{\"items\":["
	  "{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"},\"spec\":{\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":80}]}},"
	  "{\"kind\":\"Service\",\"metadata\":{\"name\":\"b\",\"namespace\":\"ns\"},\"spec\":{\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":80}]}}]}",
	  "service ns/b: spec.clusterIP: 1.2.3.4 is already service ns/a's" },
	{ SVC("{\"type\":\"NodePort\",\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":80,\"nodePort\":70000}]}"),
	  "spec.ports[0].nodePort: 70000 is not a port" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"externalTrafficPolicy\":\"Nearby\",\"ports\":[]}"),
	  "spec.externalTrafficPolicy: unknown policy \"Nearby\" (Cluster or Local)" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"externalIPs\":[\"1.2.3\"],\"ports\":[]}"),
	  "spec.externalIPs[0]: \"1.2.3\" is not an IP address" },
	{ SVC("{\"type\":\"LoadBalancer\",\"clusterIP\":\"1.2.3.4\",\"loadBalancerSourceRanges\":[\"10.0.0.0/40\"],\"ports\":[]}"),
	  "spec.loadBalancerSourceRanges[0]: want a CIDR" },
	{ "{\"items\":[{\"kind\":\"Service\",\"metadata\":{\"name\":\"s\",\"namespace\":\"ns\"},"
	  "\"spec\":{\"type\":\"LoadBalancer\",\"clusterIP\":\"1.2.3.4\",\"ports\":[]},"
	  "\"status\":{\"loadBalancer\":{\"ingress\":[{\"ip\":7}]}}}]}",
	  "service ns/s: status.loadBalancer.ingress[0].ip: want an IP address string" },
	{ "{\"items\":["
	  "{\"kind\":\"Service\",\"metadata\":{\"name\":\"a\",\"namespace\":\"ns\"},\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"1.2.3.4\",\"ports\":[{\"port\":80,\"nodePort\":30080}]}},"
	  "{\"kind\":\"Service\",\"metadata\":{\"name\":\"b\",\"namespace\":\"ns\"},\"spec\":{\"type\":\"NodePort\",\"clusterIP\":\"1.2.3.5\",\"ports\":[{\"port\":80,\"nodePort\":30080}]}}]}",
	  "nodePort 30080/TCP is already served by service ns/a" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"sessionAffinity\":\"Sticky\",\"ports\":[]}"),
	  "spec.sessionAffinity: unknown \"Sticky\" (None or ClientIP)" },
	{ SVC("{\"clusterIP\":\"1.2.3.4\",\"sessionAffinity\":\"ClientIP\",\"sessionAffinityConfig\":"
	      "{\"clientIP\":{\"timeoutSeconds\":0}},\"ports\":[]}"),
	  "spec.sessionAffinityConfig.clientIP.timeoutSeconds: want 1-86400 seconds" },
};

/* The first three cases are no List at all: the whole document is refused. */
#define N_WHOLE_CASES 3

/* The one refusal a decoded and modelled case made (decode's or the model's). */
static const struct k8s_refusal *only_refusal(const struct k8s_state *st,
					      const struct kx_table *t, size_t i)
{
	if (st->refused.n + t->refused.n != 1)
		fail_msg("case %zu: %zu refusals, want 1: %s", i, st->refused.n + t->refused.n,
			 bad_cases[i].json);
	return st->refused.n ? &st->refused.v[0] : &t->refused.v[0];
}

static void test_malformed_input_one_line_error(void **unused)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		struct kx_err err = { "" };
		const struct k8s_refusal *r;
		struct k8s_state st;
		struct kx_table t;
		const char *msg;

		if (k8s_decode_string(bad_cases[i].json, &st, &err)) {
			if (i >= N_WHOLE_CASES)
				fail_msg("case %zu refused whole: %s", i, err.msg);
			msg = err.msg;
		} else {
			if (i < N_WHOLE_CASES)
				fail_msg("case %zu (no List) decoded", i);
			if (kx_model_build(&st, "n1", &t, &err))
				fail_msg("case %zu: model failed: %s", i, err.msg);
			r = only_refusal(&st, &t, i);
			msg = r->reason;
			assert_true(r->kind[0] && r->object[0]);
		}
		if (!strstr(msg, bad_cases[i].want))
			fail_msg("case %zu: error \"%s\" lacks \"%s\"", i, msg, bad_cases[i].want);
		if (strchr(msg, '\n'))
			fail_msg("case %zu: error is not one line: %s", i, msg);
		if (i >= N_WHOLE_CASES) {
			kx_table_free(&t);
			k8s_state_free(&st);
		}
	}
}

/* A Service, its slice and a Node that are all valid. */
#define GOOD_SVC                                                                                 \
	"{\"kind\":\"Service\",\"metadata\":{\"name\":\"good\",\"namespace\":\"ok\"},"          \
	"\"spec\":{\"clusterIP\":\"10.96.9.9\",\"ports\":[{\"port\":443,\"targetPort\":8443}]}}"
#define GOOD_SLICE                                                                               \
	"{\"kind\":\"EndpointSlice\",\"metadata\":{\"name\":\"good-1\",\"namespace\":\"ok\","   \
	"\"labels\":{\"kubernetes.io/service-name\":\"good\"}},\"addressType\":\"IPv4\","           \
	"\"ports\":[{\"port\":8443}],\"endpoints\":[{\"addresses\":[\"10.1.0.7\"]}]}"
#define GOOD_NODE                                                                                \
	"{\"kind\":\"Node\",\"metadata\":{\"name\":\"n2\"},\"spec\":{\"podCIDR\":\"10.1.2.0/24\"}," \
	"\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"192.168.0.2\"}]}}"

/* Every bad object among good ones: refused alone, the good ones served. */
static void test_bad_object_refused_alone(void **unused)
{
	json_t *good = json_loads("[" GOOD_SVC "," GOOD_SLICE "," GOOD_NODE "]", 0, NULL);

	assert_non_null(good);
	for (size_t i = N_WHOLE_CASES; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		json_t *doc = json_loads(bad_cases[i].json, 0, NULL);
		const struct kx_svc_desc *d;
		struct kx_err err = { "" };
		struct k8s_state st;
		struct kx_table t;
		char *text;

		assert_non_null(doc);
		json_array_extend(json_object_get(doc, "items"), good);
		text = json_dumps(doc, 0);
		if (k8s_decode_string(text, &st, &err) || kx_model_build(&st, "n1", &t, &err))
			fail_msg("case %zu: %s", i, err.msg);
		assert_true(strstr(only_refusal(&st, &t, i)->reason, bad_cases[i].want));
		d = find(&t, "10.96.9.9", 443, IPPROTO_TCP);
		if (!d || d->n_backends != 1 || d->backends[0].addr != ip4("10.1.0.7"))
			fail_msg("case %zu: the good Service is not served with its endpoint", i);
		assert_int_equal(t.n_routes, 1); /* the good Node's */
		assert_int_equal(t.routes[0].via, ip4("192.168.0.2"));
		kx_table_free(&t);
		k8s_state_free(&st);
		free(text);
		json_decref(doc);
	}
	json_decref(good);
}

/* Two Services on one ClusterIP or node port: the older keeps it, whatever their order. */
static void test_duplicate_address_older_service_keeps_it(void **unused)
{
	static const char *const orders[] = {
		"{\"items\":[" DUP_SVC("young", "2026-11-02T00:00:00Z", "10.96.0.5", 30080) ","
		DUP_SVC("old", "2026-11-01T00:00:00Z", "10.96.0.5", 30081) "]}",
		"{\"items\":[" DUP_SVC("old", "2026-11-01T00:00:00Z", "10.96.0.5", 30081) ","
		DUP_SVC("young", "2026-11-02T00:00:00Z", "10.96.0.5", 30080) "]}",
		"{\"items\":[" DUP_SVC("young", "2026-11-02T00:00:00Z", "10.96.0.6", 30081) ","
		DUP_SVC("old", "2026-11-01T00:00:00Z", "10.96.0.5", 30081) "]}",
	};

	for (size_t i = 0; i < sizeof(orders) / sizeof(orders[0]); i++) {
		const struct kx_svc_desc *d;
		struct kx_table t;

		build_string(orders[i], "n1", &t);
		assert_int_equal(t.refused.n, 1);
		assert_string_equal(t.refused.v[0].kind, "Service");
		assert_string_equal(t.refused.v[0].object, "ns/young");
		for (size_t k = 0; k < t.n_svcs; k++)
			assert_string_equal(t.svcs[k].owner, "ns/old"); /* nothing of young is left */
		d = find(&t, "10.96.0.5", 80, IPPROTO_TCP);
		assert_non_null(d);
		assert_non_null(find(&t, "nodeport", 30081, IPPROTO_TCP));
		kx_table_free(&t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reference_cluster),
		cmocka_unit_test(test_node_pod_cidr_sources),
		cmocka_unit_test(test_multiport_named_ports_several_slices),
		cmocka_unit_test(test_external_addresses_and_policies),
		cmocka_unit_test(test_kube_router_annotations),
		cmocka_unit_test(test_publish_not_ready_addresses),
		cmocka_unit_test(test_slice_naming_a_port_twice),
		cmocka_unit_test(test_ready_terminating_headless_externalname),
		cmocka_unit_test(test_malformed_input_one_line_error),
		cmocka_unit_test(test_bad_object_refused_alone),
		cmocka_unit_test(test_duplicate_address_older_service_keeps_it),
	};

	kx_log_verbosity = KX_LOG_WARN - 1;
	return cmocka_run_group_tests_name("model", tests, NULL, NULL);
}
