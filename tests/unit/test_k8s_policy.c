// SPDX-License-Identifier: GPL-2.0
/*
 * Decoding what NetworkPolicy needs: Pods, Namespaces and NetworkPolicies
 * into the structs of k8s.h, every peer and port shape, the API's defaults,
 * and each invalid field refused alone with one line naming object and field.
 */
#include <netinet/in.h>
#include "testlib.h"
#include "k8s/k8s.h"
#include "policy/policy.h"

static void decode_fixture(struct k8s_state *st)
{
	struct kx_err err = { "" };

	if (k8s_decode_file(KX_FIXTURES "/policy.json", st, &err))
		fail_msg("decode: %s", err.msg);
	if (st->refused.n)
		fail_msg("refused %s: %s", st->refused.v[0].object, st->refused.v[0].reason);
}

static const struct k8s_pod *pod(const struct k8s_state *st, const char *name)
{
	for (size_t i = 0; i < st->n_pods; i++)
		if (!strcmp(st->pods[i].name, name))
			return &st->pods[i];
	fail_msg("no pod %s", name);
	return NULL;
}

static const struct k8s_netpol *netpol(const struct k8s_state *st, const char *name)
{
	for (size_t i = 0; i < st->n_netpols; i++)
		if (!strcmp(st->netpols[i].name, name))
			return &st->netpols[i];
	fail_msg("no policy %s", name);
	return NULL;
}

static void assert_label(const struct k8s_labels *l, size_t i, const char *key, const char *value)
{
	assert_true(i < l->n);
	assert_string_equal(l->v[i].key, key);
	assert_string_equal(l->v[i].value, value);
}

static void assert_pod_port(const struct k8s_pod *p, size_t i, const char *name, uint16_t port,
			    uint8_t proto)
{
	assert_true(i < p->n_ports);
	assert_string_equal(p->ports[i].name, name);
	assert_int_equal(p->ports[i].port, port);
	assert_int_equal(p->ports[i].proto, proto);
}

/* Requirement i of s: key op, with the values given (NULL-terminated). */
static void assert_req(const struct k8s_selector *s, size_t i, const char *key, uint8_t op, ...)
{
	const char *v;
	va_list ap;
	size_t n = 0;

	assert_true(i < s->n_reqs);
	assert_string_equal(s->reqs[i].key, key);
	assert_int_equal(s->reqs[i].op, op);
	va_start(ap, op);
	while ((v = va_arg(ap, const char *))) {
		assert_true(n < s->reqs[i].n_values);
		assert_string_equal(s->reqs[i].values[n++], v);
	}
	va_end(ap);
	assert_int_equal(s->reqs[i].n_values, n);
}

static void assert_np_port(const struct k8s_np_port *p, uint8_t proto, uint16_t port,
			   uint16_t end_port, const char *name)
{
	assert_int_equal(p->proto, proto);
	assert_int_equal(p->port, port);
	assert_int_equal(p->end_port, end_port);
	assert_string_equal(p->name, name);
}

static void test_pods(void **unused)
{
	struct k8s_state st;
	const struct k8s_pod *p;

	decode_fixture(&st);
	assert_int_equal(st.n_pods, 4);
	p = pod(&st, "web-1");
	assert_string_equal(p->ns, "shop");
	assert_string_equal(p->node, "node1");
	assert_int_equal(p->labels.n, 3); /* sorted by key; an empty value is a value */
	assert_label(&p->labels, 0, "app", "web");
	assert_label(&p->labels, 1, "role", "");
	assert_label(&p->labels, 2, "tier", "front");
	assert_int_equal(p->addr, ip4("10.1.0.5")); /* the IPv4 one of podIPs, IPv6 first */
	assert_false(p->host_network);
	assert_false(p->finished);
	assert_int_equal(p->n_ports, 3); /* every container's, init containers' not */
	assert_pod_port(p, 0, "http", 8080, IPPROTO_TCP);
	assert_pod_port(p, 1, "metrics", 9090, IPPROTO_UDP);
	assert_pod_port(p, 2, "", 9000, IPPROTO_SCTP);
	p = pod(&st, "job-1");
	assert_int_equal(p->addr, ip4("10.1.0.6")); /* status.podIP alone */
	assert_true(p->finished);
	assert_int_equal(p->labels.n, 0);
	assert_int_equal(p->n_ports, 0);
	p = pod(&st, "proxy");
	assert_true(p->host_network);
	assert_int_equal(p->addr, ip4("192.168.0.2"));
	p = pod(&st, "pending");
	assert_int_equal(p->addr, 0);
	assert_string_equal(p->node, "");
	assert_false(p->finished);
	k8s_state_free(&st);
}

static void test_namespaces_get_their_name_label(void **unused)
{
	struct k8s_state st;

	decode_fixture(&st);
	assert_int_equal(st.n_namespaces, 2);
	assert_string_equal(st.namespaces[0].name, "shop");
	assert_int_equal(st.namespaces[0].labels.n, 2);
	assert_label(&st.namespaces[0].labels, 0, "kubernetes.io/metadata.name", "shop");
	assert_label(&st.namespaces[0].labels, 1, "team", "a");
	assert_string_equal(st.namespaces[1].name, "kube-system");
	assert_int_equal(st.namespaces[1].labels.n, 1); /* already there: not twice */
	assert_label(&st.namespaces[1].labels, 0, "kubernetes.io/metadata.name", "kube-system");
	k8s_state_free(&st);
}

static void test_policy_selectors_and_peers(void **unused)
{
	const struct k8s_np_peer *peers;
	const struct k8s_netpol *np;
	struct k8s_state st;

	decode_fixture(&st);
	assert_int_equal(st.n_netpols, 4);
	np = netpol(&st, "all-shapes");
	assert_string_equal(np->ns, "shop");
	/* matchLabels by key, then matchExpressions in order */
	assert_int_equal(np->pod_sel.n_reqs, 4);
	assert_req(&np->pod_sel, 0, "app", K8S_SEL_IN, "web", NULL);
	assert_req(&np->pod_sel, 1, "tier", K8S_SEL_IN, "front", NULL);
	assert_req(&np->pod_sel, 2, "track", K8S_SEL_IN, "stable", "beta", NULL);
	assert_req(&np->pod_sel, 3, "canary", K8S_SEL_DOES_NOT_EXIST, NULL);
	assert_true(np->ingress_type && np->egress_type);
	assert_int_equal(np->n_ingress, 2);
	assert_int_equal(np->ingress[0].n_peers, 5);
	peers = np->ingress[0].peers;
	/* podSelector alone: those pods of the policy's namespace */
	assert_int_equal(peers[0].kind, K8S_PEER_PODS);
	assert_true(peers[0].has_pod_sel && !peers[0].has_ns_sel);
	assert_req(&peers[0].pod_sel, 0, "role", K8S_SEL_IN, "client", NULL);
	/* namespaceSelector alone: every pod of those namespaces */
	assert_int_equal(peers[1].kind, K8S_PEER_PODS);
	assert_true(!peers[1].has_pod_sel && peers[1].has_ns_sel);
	assert_req(&peers[1].ns_sel, 0, "team", K8S_SEL_IN, "a", NULL);
	/* both, the pod one empty: present, and matching every pod */
	assert_true(peers[2].has_pod_sel && peers[2].has_ns_sel);
	assert_int_equal(peers[2].pod_sel.n_reqs, 0);
	assert_int_equal(peers[2].ns_sel.n_reqs, 2);
	assert_req(&peers[2].ns_sel, 0, "env", K8S_SEL_NOT_IN, "prod", NULL);
	assert_req(&peers[2].ns_sel, 1, "team", K8S_SEL_EXISTS, NULL);
	/* ipBlock: host bits of the cidr (and of an except) masked off */
	assert_int_equal(peers[3].kind, K8S_PEER_BLOCK);
	assert_int_equal(peers[3].cidr.addr, ip4("10.0.0.0"));
	assert_int_equal(peers[3].cidr.len, 8);
	assert_int_equal(peers[3].n_except, 2);
	assert_int_equal(peers[3].except[0].addr, ip4("10.1.0.0"));
	assert_int_equal(peers[3].except[0].len, 16);
	assert_int_equal(peers[3].except[1].addr, ip4("10.2.3.0"));
	assert_int_equal(peers[3].except[1].len, 24);
	/* an IPv6 block matches no IPv4 address: neither refused nor everything */
	assert_int_equal(peers[4].kind, K8S_PEER_NONE);
	/* a rule of nothing: from every source, to every port */
	assert_int_equal(np->ingress[1].n_peers, 0);
	assert_int_equal(np->ingress[1].n_ports, 0);
	assert_int_equal(np->n_egress, 1);
	assert_int_equal(np->egress[0].peers[0].kind, K8S_PEER_BLOCK);
	assert_int_equal(np->egress[0].peers[0].cidr.len, 0);
	assert_int_equal(np->egress[0].peers[0].except[0].addr, ip4("169.254.0.0"));
	k8s_state_free(&st);
}

static void test_policy_ports(void **unused)
{
	const struct k8s_np_rule *r;
	struct k8s_state st;

	decode_fixture(&st);
	r = &netpol(&st, "all-shapes")->ingress[0];
	assert_int_equal(r->n_ports, 4);
	assert_np_port(&r->ports[0], IPPROTO_TCP, 80, 0, ""); /* TCP by default */
	assert_np_port(&r->ports[1], IPPROTO_UDP, 0, 0, "dns");
	assert_np_port(&r->ports[2], IPPROTO_TCP, 8000, 8080, "");
	assert_np_port(&r->ports[3], IPPROTO_SCTP, 0, 0, ""); /* every SCTP port */
	assert_np_port(&netpol(&st, "all-shapes")->egress[0].ports[0], IPPROTO_UDP, 53, 0, "");
	k8s_state_free(&st);
}

static void test_policy_types_defaults(void **unused)
{
	const struct k8s_netpol *np;
	struct k8s_state st;

	decode_fixture(&st);
	np = netpol(&st, "default-deny"); /* no policyTypes, no egress: ingress only */
	assert_true(np->ingress_type);
	assert_false(np->egress_type);
	assert_int_equal(np->pod_sel.n_reqs, 0);
	assert_int_equal(np->n_ingress, 0);
	np = netpol(&st, "egress-rules"); /* egress rules given: both */
	assert_true(np->ingress_type);
	assert_true(np->egress_type);
	assert_int_equal(np->n_egress, 1);
	assert_int_equal(np->egress[0].n_peers, 0);
	np = netpol(&st, "egress-empty"); /* egress: [] is no rule: as the API defaults it */
	assert_true(np->ingress_type);
	assert_false(np->egress_type);
	assert_int_equal(np->n_ingress, 1);
	k8s_state_free(&st);
}

/* Good objects of every policy kind; a bad case's item goes before them. */
#define GOOD                                                                                     \
	"{'kind':'Pod','metadata':{'name':'good','namespace':'ok','labels':{'a':'b'}},"           \
	"'spec':{'containers':[{'ports':[{'containerPort':80}]}]},'status':{'podIP':'10.1.0.9'}}," \
	"{'kind':'Namespace','metadata':{'name':'ok'}},"                                         \
	"{'kind':'NetworkPolicy','metadata':{'name':'good','namespace':'ok'},"                    \
	"'spec':{'podSelector':{'matchLabels':{'a':'b'}},'ingress':[{'from':[{'podSelector':{}}]}]}}"

#define NP(spec) "{'kind':'NetworkPolicy','metadata':{'name':'bad','namespace':'t'},'spec':" spec "}"
#define POD(spec) "{'kind':'Pod','metadata':{'name':'bad','namespace':'t'},'spec':" spec "}"
#define FROM(peer) NP("{'podSelector':{},'ingress':[{'from':[" peer "]}]}")
#define TO(peer) NP("{'podSelector':{},'egress':[{'to':[" peer "]}]}")
#define NP_PORTS(ports) NP("{'podSelector':{},'ingress':[{'ports':[" ports "]}]}")
#define NP_IS "networkpolicy t/bad: "

static const struct {
	const char *item; /* JSON with ' for " */
	const char *kind;
	const char *want; /* the whole reason */
} bad_cases[] = {
	{ NP("{'podSelector':{'matchExpressions':[{'key':'a','operator':'Like','values':['x']}]}}"),
	  "NetworkPolicy",
	  NP_IS "spec.podSelector.matchExpressions[0].operator: unknown operator \"Like\" (In, NotIn, Exists or DoesNotExist)" },
	{ FROM("{'podSelector':{'matchExpressions':[{'key':'a','operator':'In'}]}}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].from[0].podSelector.matchExpressions[0].values: In needs at least one value" },
	{ TO("{'namespaceSelector':{'matchExpressions':[{'key':'a','operator':'Exists'},"
	     "{'key':'b','operator':'Exists','values':['x']}]}}"),
	  "NetworkPolicy",
	  NP_IS "spec.egress[0].to[0].namespaceSelector.matchExpressions[1].values: Exists takes no values" },
	{ FROM("{'ipBlock':{'cidr':'10.0.0.0/33'}}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].from[0].ipBlock.cidr: \"10.0.0.0/33\" is not a CIDR" },
	{ FROM("{'ipBlock':{}}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].from[0].ipBlock.cidr: missing" },
	{ TO("{'ipBlock':{'cidr':'192.168.0.0/16','except':['192.168.1.0/24','10.1.0.0/16']}}"),
	  "NetworkPolicy",
	  NP_IS "spec.egress[0].to[0].ipBlock.except[1]: 10.1.0.0/16 is not inside cidr 192.168.0.0/16" },
	{ TO("{'ipBlock':{'cidr':'192.168.0.0/16','except':['192.168.0.0/16']}}"), "NetworkPolicy",
	  NP_IS "spec.egress[0].to[0].ipBlock.except[0]: 192.168.0.0/16 is not inside cidr 192.168.0.0/16" },
	{ NP_PORTS("{'port':80,'endPort':70}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].endPort: 70 is below port 80" },
	{ NP_PORTS("{'port':'http','endPort':90}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].endPort: cannot go with the named port \"http\" (a numeric port only)" },
	{ NP_PORTS("{'protocol':'UDP','endPort':90}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].endPort: needs a numeric port" },
	{ NP_PORTS("{'port':80},{'protocol':'ICMP','port':80}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[1].protocol: unknown protocol \"ICMP\" (TCP, UDP or SCTP)" },
	{ NP("{'podSelector':{},'policyTypes':['Ingress','Both']}"), "NetworkPolicy",
	  NP_IS "spec.policyTypes[1]: unknown policy type \"Both\" (Ingress or Egress)" },
	{ FROM("{'podSelector':{}},{'ipBlock':{'cidr':'10.0.0.0/8'},'namespaceSelector':{}}"),
	  "NetworkPolicy", NP_IS "spec.ingress[0].from[1]: ipBlock cannot be combined with a selector" },
	{ TO("{}"), "NetworkPolicy",
	  NP_IS "spec.egress[0].to[0]: empty peer (want podSelector, namespaceSelector or ipBlock)" },
	{ NP_PORTS("{'port':'http--alt'}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].port: \"http--alt\" is not a port name (1-15 of a-z, 0-9, '-'; a letter; no '-' at an end or twice)" },
	{ NP_PORTS("{'port':'a-very-long-name'}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].port: \"a-very-long-name\" is not a port name (1-15 of a-z, 0-9, '-'; a letter; no '-' at an end or twice)" },
	{ NP_PORTS("{'port':'Http'}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].port: \"Http\" is not a port name (1-15 of a-z, 0-9, '-'; a letter; no '-' at an end or twice)" },
	{ NP_PORTS("{'port':'80'}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].port: \"80\" is a string: a port number is written without quotes" },
	{ NP_PORTS("{'port':0}"), "NetworkPolicy",
	  NP_IS "spec.ingress[0].ports[0].port: 0 is not a port (1-65535)" },
	{ NP("{'podSelector':{'matchLabels':{'a':1}}}"), "NetworkPolicy",
	  NP_IS "spec.podSelector.matchLabels[a]: want a string" },
	{ NP("{'podSelector':{},'ingress':{}}"), "NetworkPolicy", NP_IS "spec.ingress: want an array" },
	{ POD("{'containers':[{'ports':[{'containerPort':80},{'containerPort':0}]}]}"), "Pod",
	  "pod t/bad: spec.containers[0].ports[1].containerPort: 0 is not a port (1-65535)" },
	{ POD("{'containers':[{},{'ports':[{'containerPort':80,'protocol':'ICMP'}]}]}"), "Pod",
	  "pod t/bad: spec.containers[1].ports[0].protocol: unknown protocol \"ICMP\" (TCP, UDP or SCTP)" },
	{ "{'kind':'Pod','metadata':{'name':'bad','namespace':'t','labels':{'app':true}}}", "Pod",
	  "pod t/bad: metadata.labels[app]: want a string" },
	{ "{'kind':'Pod','metadata':{'name':'bad','namespace':'t'},'status':{'podIPs':[{'ip':'10.1'}]}}",
	  "Pod", "pod t/bad: status.podIPs[0].ip: \"10.1\" is not an IP address" },
	{ "{'kind':'Namespace','metadata':{'name':'bad','labels':{'x':null}}}", "Namespace",
	  "namespace bad: metadata.labels[x]: want a string" },
};

/* The JSON of a case: ' turned into ", the bad item first, then the good ones. */
static char *case_list(const char *item)
{
	size_t n = strlen(item) + sizeof(GOOD) + 32;
	char *s = malloc(n);

	assert_non_null(s);
	snprintf(s, n, "{'items':[%s,%s]}", item, GOOD);
	for (char *p = s; *p; p++)
		if (*p == '\'')
			*p = '"';
	return s;
}

static void test_bad_object_refused_alone_in_one_line(void **unused)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		char *text = case_list(bad_cases[i].item);
		struct kx_err err = { "" };
		struct k8s_state st;

		if (k8s_decode_string(text, &st, &err))
			fail_msg("case %zu refused whole: %s", i, err.msg);
		if (st.refused.n != 1)
			fail_msg("case %zu: %zu refusals, want 1", i, st.refused.n);
		if (strcmp(st.refused.v[0].reason, bad_cases[i].want))
			fail_msg("case %zu: \"%s\", want \"%s\"", i, st.refused.v[0].reason,
				 bad_cases[i].want);
		assert_string_equal(st.refused.v[0].kind, bad_cases[i].kind);
		assert_string_equal(st.refused.v[0].object,
				    strcmp(bad_cases[i].kind, "Namespace") ? "t/bad" : "bad");
		/* the good ones are all there */
		assert_int_equal(st.n_pods, 1);
		assert_int_equal(st.pods[0].addr, ip4("10.1.0.9"));
		assert_int_equal(st.n_namespaces, 1);
		assert_int_equal(st.n_netpols, 1);
		assert_string_equal(st.netpols[0].name, "good");
		assert_int_equal(st.netpols[0].ingress[0].peers[0].kind, K8S_PEER_PODS);
		k8s_state_free(&st);
		free(text);
	}
}

/* Row i of set s is (proto, lo, hi). */
static void assert_row(const struct kx_pol_set *s, size_t i, uint8_t proto, uint16_t lo, uint16_t hi)
{
	assert_true(i < s->n_rows);
	assert_int_equal(s->rows[i].proto, proto);
	assert_int_equal(s->rows[i].port_lo, lo);
	assert_int_equal(s->rows[i].port_hi, hi);
}

/* Prefix i of set s is addr/len with the row mask rows. */
static void assert_prefix(const struct kx_pol_set *s, size_t i, const char *addr, uint8_t len,
			  uint64_t rows)
{
	assert_true(i < s->n_prefixes);
	assert_addr(s->prefixes[i].addr, addr);
	assert_int_equal(s->prefixes[i].len, len);
	assert_int_equal(s->prefixes[i].rows, rows);
}

/* The fixture compiled for node1, web-1 given the label track=value ("" = none). */
static void compile_fixture(struct k8s_state *st, struct kx_pol_table *t, const char *track)
{
	struct kx_err err = { "" };

	decode_fixture(st);
	for (size_t i = 0; track[0] && i < st->n_pods; i++) {
		struct k8s_labels *l = &st->pods[i].labels;

		if (strcmp(st->pods[i].name, "web-1"))
			continue;
		l->v = realloc(l->v, (l->n + 1) * sizeof(*l->v));
		l->v[l->n++] = (struct k8s_label){ strdup("track"), strdup(track) }; /* after "tier": sorted */
	}
	if (kx_policy_build(st, "node1", t, &err))
		fail_msg("build: %s", err.msg);
}

static void test_fixture_compiled_rows_and_prefixes(void **state)
{
	struct kx_pol_table t;
	struct k8s_state st;
	const struct kx_pol_set *in, *eg;

	/* web-1 (10.1.0.5) is node1's only endpoint (proxy is hostNetwork):
	 * default-deny, egress-rules and egress-empty select it; egress-empty
	 * opens every ingress, egress-rules every egress */
	compile_fixture(&st, &t, "");
	assert_int_equal(t.n_pods, 1);
	assert_addr(t.pods[0].addr, "10.1.0.5");
	in = &t.sets[t.pods[0].set[KX_POL_INGRESS]];
	eg = &t.sets[t.pods[0].set[KX_POL_EGRESS]];
	assert_int_equal(in->n_rows, 1);
	assert_row(in, 0, 0, 0, 65535);
	assert_int_equal(in->n_prefixes, 1);
	assert_prefix(in, 0, "0.0.0.0", 0, 1);
	assert_int_equal(in->n_policies, 3);
	assert_int_equal(eg->n_rows, 1);
	assert_prefix(eg, 0, "0.0.0.0", 0, 1);
	assert_int_equal(eg->n_policies, 1);
	assert_int_equal(t.n_ns, 1);
	assert_string_equal(t.ns[0].name, "shop");
	assert_int_equal(t.ns[0].dirs, 1 << KX_POL_INGRESS | 1 << KX_POL_EGRESS);
	kx_pol_table_free(&t);
	k8s_state_free(&st);

	/* track=stable: all-shapes selects it too. Ingress rows: every protocol
	 * (its second rule, and egress-empty), TCP 80, TCP 8000-8080, every SCTP
	 * port (the named UDP port "dns" is not web-1's); its ipBlock except's
	 * /16 and /24 admit only the every-protocol row, web-1's own /32 (a peer
	 * by namespace team=a) all four */
	compile_fixture(&st, &t, "stable");
	in = &t.sets[t.pods[0].set[KX_POL_INGRESS]];
	eg = &t.sets[t.pods[0].set[KX_POL_EGRESS]];
	assert_int_equal(in->n_rows, 4);
	assert_row(in, 0, 0, 0, 65535);
	assert_row(in, 1, IPPROTO_TCP, 80, 80);
	assert_row(in, 2, IPPROTO_TCP, 8000, 8080);
	assert_row(in, 3, IPPROTO_SCTP, 0, 65535);
	assert_int_equal(in->n_prefixes, 5);
	assert_prefix(in, 0, "0.0.0.0", 0, 0x1);
	assert_prefix(in, 1, "10.0.0.0", 8, 0xf);
	assert_prefix(in, 2, "10.1.0.0", 16, 0x1);
	assert_prefix(in, 3, "10.1.0.5", 32, 0xf);
	assert_prefix(in, 4, "10.2.3.0", 24, 0x1);
	assert_int_equal(in->n_policies, 4);
	/* egress: every protocol anywhere (egress-rules), UDP 53 but to 169.254/16 */
	assert_int_equal(eg->n_rows, 2);
	assert_row(eg, 0, 0, 0, 65535);
	assert_row(eg, 1, IPPROTO_UDP, 53, 53);
	assert_int_equal(eg->n_prefixes, 2);
	assert_prefix(eg, 0, "0.0.0.0", 0, 0x3);
	assert_prefix(eg, 1, "169.254.0.0", 16, 0x1);
	kx_pol_table_free(&t);
	k8s_state_free(&st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pods),
		cmocka_unit_test(test_fixture_compiled_rows_and_prefixes),
		cmocka_unit_test(test_namespaces_get_their_name_label),
		cmocka_unit_test(test_policy_selectors_and_peers),
		cmocka_unit_test(test_policy_ports),
		cmocka_unit_test(test_policy_types_defaults),
		cmocka_unit_test(test_bad_object_refused_alone_in_one_line),
	};

	kx_log_verbosity = KX_LOG_WARN - 1;
	return cmocka_run_group_tests_name("k8s_policy", tests, NULL, NULL);
}
