// SPDX-License-Identifier: GPL-2.0
/*
 * Decoding what NetworkPolicy needs: v1 Pods (labels, address, container
 * ports), v1 Namespaces (labels) and networking.k8s.io/v1 NetworkPolicies,
 * each field checked as the API server validates it. A bad field refuses
 * its object alone, with one line naming the object and the field.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/k8s_int.h"

/* Room for the longest field a message names (spec.egress[N].to[N].namespaceSelector...). */
#define FIELD_MAX 192

#define NS_NAME_LABEL "kubernetes.io/metadata.name"

/* A field path that did not fit out (FIELD_MAX) ends in "...". */
static const char *clip(char *out, int n)
{
	if (n >= FIELD_MAX)
		strcpy(out + FIELD_MAX - 4, "...");
	return out;
}

/* The field under prefix: "prefix.key", in out (FIELD_MAX). */
static const char *at(char *out, const char *prefix, const char *key)
{
	return clip(out, snprintf(out, FIELD_MAX, "%s.%s", prefix, key));
}

/* Element i of the array under prefix: "prefix.key[i]", in out (FIELD_MAX). */
static const char *at_i(char *out, const char *prefix, const char *key, size_t i)
{
	return clip(out, snprintf(out, FIELD_MAX, "%s.%s[%zu]", prefix, key, i));
}

/* Out of memory while decoding c's object: -1. */
static int oom(const struct obj_ctx *c, struct kx_err *err)
{
	kx_errf(err, "%s: out of memory", c->what);
	return -1;
}

/* The element at field is not an object: -1. */
static int want_object(const struct obj_ctx *c, const char *field, struct kx_err *err)
{
	kx_errf(err, "%s: %s: want an object", c->what, field);
	return -1;
}

/* A label value (metadata.labels, matchLabels) at field[key]: the string, or NULL with err. */
static const char *label_value(json_t *v, const char *field, const char *key,
			       const struct obj_ctx *c, struct kx_err *err)
{
	if (json_is_string(v))
		return json_string_value(v);
	kx_errf(err, "%s: %s[%s]: want a string", c->what, field, key);
	return NULL;
}

/* Labels by key, for qsort and bsearch. */
static int label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

static void labels_free(struct k8s_labels *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Append a copy of key=value (room is there); -1 when out of memory. */
static int label_add(struct k8s_labels *l, const char *key, const char *value)
{
	struct k8s_label *one = &l->v[l->n];

	one->key = strdup(key);
	one->value = strdup(value);
	if (!one->key || !one->value) {
		free(one->key);
		free(one->value);
		return -1;
	}
	l->n++;
	return 0;
}

/* metadata.labels into l, sorted by key, with room for one label more. */
static int decode_labels(json_t *item, struct k8s_labels *l, const struct obj_ctx *c,
			 struct kx_err *err)
{
	json_t *labels, *v;
	const char *key, *value;

	if (k8s_opt_obj(json_object_get(item, "metadata"), "labels", &labels, c,
			"metadata.labels", err))
		return -1;
	l->v = calloc(json_object_size(labels) + 2, sizeof(*l->v));
	if (!l->v)
		return oom(c, err);
	json_object_foreach(labels, key, v) {
		value = label_value(v, "metadata.labels", key, c, err);
		if (!value)
			return -1;
		if (label_add(l, key, value))
			return oom(c, err);
	}
	qsort(l->v, l->n, sizeof(*l->v), label_cmp);
	return 0;
}

static void pod_free(struct k8s_pod *p)
{
	labels_free(&p->labels);
	free(p->ports);
}

/* The pod's IPv4 address: the first one of status.podIPs, else status.podIP; IPv6 skipped. */
static int decode_pod_addr(json_t *status, struct k8s_pod *p, const struct obj_ctx *c,
			   struct kx_err *err)
{
	char field[FIELD_MAX];
	json_t *ips, *e, *v;
	size_t i;
	int r;

	if (k8s_opt_arr(status, "podIPs", &ips, c, "status.podIPs", err))
		return -1;
	json_array_foreach(ips, i, e) {
		if (!json_is_object(e))
			return want_object(c, at_i(field, "status", "podIPs", i), err);
		snprintf(field, sizeof(field), "status.podIPs[%zu].ip", i);
		r = k8s_ip_field(json_object_get(e, "ip"), &p->addr, c, field, err);
		if (r)
			return r < 0 ? -1 : 0;
	}
	v = json_object_get(status, "podIP");
	if (!v || json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
		return 0; /* not running yet */
	return k8s_ip_field(v, &p->addr, c, "status.podIP", err) < 0 ? -1 : 0;
}

/* spec.containers[i].ports[] appended to p's ports (room is there). */
static int decode_container_ports(json_t *ctr, size_t i, struct k8s_pod *p,
				  const struct obj_ctx *c, struct kx_err *err)
{
	char field[FIELD_MAX], f[FIELD_MAX];
	json_t *ports, *cp;
	size_t j;

	if (!json_is_object(ctr))
		return want_object(c, at_i(field, "spec", "containers", i), err);
	snprintf(field, sizeof(field), "spec.containers[%zu].ports", i);
	if (k8s_opt_arr(ctr, "ports", &ports, c, field, err))
		return -1;
	json_array_foreach(ports, j, cp) {
		struct k8s_pod_port *pp = &p->ports[p->n_ports];

		snprintf(field, sizeof(field), "spec.containers[%zu].ports[%zu]", i, j);
		if (!json_is_object(cp))
			return want_object(c, field, err);
		if (k8s_opt_str(cp, "name", pp->name, sizeof(pp->name), c, at(f, field, "name"),
				err) ||
		    k8s_port_num(json_object_get(cp, "containerPort"), &pp->port, c,
				 at(f, field, "containerPort"), err) ||
		    k8s_proto_of(cp, &pp->proto, c, at(f, field, "protocol"), err))
			return -1;
		p->n_ports++;
	}
	return 0;
}

/* Every container's ports, in order (init containers serve nothing: not read). */
static int decode_pod_ports(json_t *spec, struct k8s_pod *p, const struct obj_ctx *c,
			    struct kx_err *err)
{
	json_t *ctrs, *ctr, *ports;
	size_t i, total = 0;

	if (k8s_opt_arr(spec, "containers", &ctrs, c, "spec.containers", err))
		return -1;
	json_array_foreach(ctrs, i, ctr) {
		ports = json_is_object(ctr) ? json_object_get(ctr, "ports") : NULL;
		total += json_is_array(ports) ? json_array_size(ports) : 0;
	}
	p->ports = calloc(total + 1, sizeof(*p->ports));
	if (!p->ports)
		return oom(c, err);
	json_array_foreach(ctrs, i, ctr) {
		if (decode_container_ports(ctr, i, p, c, err))
			return -1;
	}
	return 0;
}

/* A v1 Pod: who it is (labels), where (node, address) and what it serves (ports). */
int k8s_decode_pod(json_t *item, struct k8s_state *st, struct obj_ctx *c, struct kx_err *err)
{
	struct k8s_pod *p = &st->pods[st->n_pods];
	json_t *spec, *status;
	char phase[32];

	memset(p, 0, sizeof(*p));
	if (k8s_metadata(item, "pod", true, p->ns, sizeof(p->ns), p->name, sizeof(p->name), c,
			 err) ||
	    k8s_opt_obj(item, "spec", &spec, c, "spec", err) ||
	    k8s_opt_obj(item, "status", &status, c, "status", err))
		return -1;
	if (decode_labels(item, &p->labels, c, err) ||
	    k8s_opt_str(spec, "nodeName", p->node, sizeof(p->node), c, "spec.nodeName", err) ||
	    k8s_opt_bool(spec, "hostNetwork", false, &p->host_network, c, "spec.hostNetwork",
			 err) ||
	    k8s_opt_str(status, "phase", phase, sizeof(phase), c, "status.phase", err) ||
	    decode_pod_addr(status, p, c, err) || decode_pod_ports(spec, p, c, err)) {
		pod_free(p);
		return -1;
	}
	p->finished = !strcmp(phase, "Succeeded") || !strcmp(phase, "Failed");
	st->n_pods++;
	return 0;
}

/* kubernetes.io/metadata.name = the name, when the API did not set it (old servers, files). */
static int add_name_label(struct k8s_namespace *ns, const struct obj_ctx *c, struct kx_err *err)
{
	struct k8s_label want = { .key = NS_NAME_LABEL };

	if (bsearch(&want, ns->labels.v, ns->labels.n, sizeof(want), label_cmp))
		return 0;
	if (label_add(&ns->labels, NS_NAME_LABEL, ns->name))
		return oom(c, err);
	qsort(ns->labels.v, ns->labels.n, sizeof(want), label_cmp);
	return 0;
}

/* A v1 Namespace: its name and labels, for namespaceSelectors. */
int k8s_decode_namespace(json_t *item, struct k8s_state *st, struct obj_ctx *c,
			 struct kx_err *err)
{
	struct k8s_namespace *ns = &st->namespaces[st->n_namespaces];

	memset(ns, 0, sizeof(*ns));
	if (k8s_metadata(item, "namespace", false, NULL, 0, ns->name, sizeof(ns->name), c, err))
		return -1;
	if (decode_labels(item, &ns->labels, c, err) || add_name_label(ns, c, err)) {
		labels_free(&ns->labels);
		return -1;
	}
	st->n_namespaces++;
	return 0;
}

static void selector_free(struct k8s_selector *s)
{
	for (size_t i = 0; i < s->n_reqs; i++) {
		for (size_t j = 0; j < s->reqs[i].n_values; j++)
			free(s->reqs[i].values[j]);
		free(s->reqs[i].values);
		free(s->reqs[i].key);
	}
	free(s->reqs);
	memset(s, 0, sizeof(*s));
}

/* Requirements by key, for qsort. */
static int req_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_sel_req *)a)->key, ((const struct k8s_sel_req *)b)->key);
}

/* Requirement key op with room for n values, appended to s (room is there); NULL: no memory. */
static struct k8s_sel_req *req_new(struct k8s_selector *s, const char *key, uint8_t op, size_t n)
{
	struct k8s_sel_req *r = &s->reqs[s->n_reqs++]; /* counted now: freed whatever happens */

	r->op = op;
	r->key = strdup(key);
	r->values = calloc(n + 1, sizeof(*r->values));
	return r->key && r->values ? r : NULL;
}

/* A copy of v as r's next value; -1 when out of memory. */
static int req_value(struct k8s_sel_req *r, const char *v)
{
	r->values[r->n_values] = strdup(v);
	return r->values[r->n_values++] ? 0 : -1;
}

/* matchLabels at field: each k: v is k In (v), sorted by key. */
static int decode_match_labels(json_t *ml, const char *field, struct k8s_selector *s,
			       const struct obj_ctx *c, struct kx_err *err)
{
	const char *key, *value;
	struct k8s_sel_req *r;
	json_t *v;

	json_object_foreach(ml, key, v) {
		value = label_value(v, field, key, c, err);
		if (!value)
			return -1;
		r = req_new(s, key, K8S_SEL_IN, 1);
		if (!r || req_value(r, value))
			return oom(c, err);
	}
	qsort(s->reqs, s->n_reqs, sizeof(*s->reqs), req_cmp);
	return 0;
}

static const char *const sel_ops[] = {
	[K8S_SEL_IN] = "In",
	[K8S_SEL_NOT_IN] = "NotIn",
	[K8S_SEL_EXISTS] = "Exists",
	[K8S_SEL_DOES_NOT_EXIST] = "DoesNotExist",
};

/* The operator of a matchExpression at field: enum k8s_sel_op, or -1 with err. */
static int sel_op(json_t *e, const char *field, const struct obj_ctx *c, struct kx_err *err)
{
	const char *op = json_string_value(json_object_get(e, "operator"));

	if (!op) {
		kx_errf(err, "%s: %s: want a string (In, NotIn, Exists or DoesNotExist)", c->what,
			field);
		return -1;
	}
	for (int i = 0; i < (int)(sizeof(sel_ops) / sizeof(sel_ops[0])); i++)
		if (!strcmp(op, sel_ops[i]))
			return i;
	kx_errf(err, "%s: %s: unknown operator \"%s\" (In, NotIn, Exists or DoesNotExist)", c->what,
		field, op);
	return -1;
}

/* The values of a matchExpression at field: some for In and NotIn, none for the others. */
static int check_values(json_t *vals, int op, const char *field, const struct obj_ctx *c,
			struct kx_err *err)
{
	bool want = op == K8S_SEL_IN || op == K8S_SEL_NOT_IN;
	json_t *v;
	size_t i;

	if (want && !json_array_size(vals)) {
		kx_errf(err, "%s: %s: %s needs at least one value", c->what, field, sel_ops[op]);
		return -1;
	}
	if (!want && json_array_size(vals)) {
		kx_errf(err, "%s: %s: %s takes no values", c->what, field, sel_ops[op]);
		return -1;
	}
	json_array_foreach(vals, i, v) {
		if (!json_is_string(v)) {
			kx_errf(err, "%s: %s[%zu]: want a string", c->what, field, i);
			return -1;
		}
	}
	return 0;
}

/* One matchExpressions element at field: {key, operator, values}. */
static int decode_expr(json_t *e, const char *field, struct k8s_selector *s,
		       const struct obj_ctx *c, struct kx_err *err)
{
	const char *key = json_string_value(json_object_get(e, "key"));
	struct k8s_sel_req *r;
	char f[FIELD_MAX];
	json_t *vals, *v;
	size_t i;
	int op;

	if (!json_is_object(e))
		return want_object(c, field, err);
	if (!key || !*key) {
		kx_errf(err, "%s: %s: want a label key", c->what, at(f, field, "key"));
		return -1;
	}
	op = sel_op(e, at(f, field, "operator"), c, err);
	if (op < 0)
		return -1;
	at(f, field, "values");
	if (k8s_opt_arr(e, "values", &vals, c, f, err) || check_values(vals, op, f, c, err))
		return -1;
	r = req_new(s, key, (uint8_t)op, json_array_size(vals));
	if (!r)
		return oom(c, err);
	json_array_foreach(vals, i, v) {
		if (req_value(r, json_string_value(v)))
			return oom(c, err);
	}
	return 0;
}

/* A metav1.LabelSelector at field: matchLabels (by key), then matchExpressions in order. */
static int decode_selector(json_t *sel, const char *field, struct k8s_selector *s,
			   const struct obj_ctx *c, struct kx_err *err)
{
	char fl[FIELD_MAX], fe[FIELD_MAX];
	json_t *ml, *me, *e;
	size_t i;

	if (k8s_opt_obj(sel, "matchLabels", &ml, c, at(fl, field, "matchLabels"), err) ||
	    k8s_opt_arr(sel, "matchExpressions", &me, c, at(fe, field, "matchExpressions"), err))
		return -1;
	s->reqs = calloc(json_object_size(ml) + json_array_size(me) + 1, sizeof(*s->reqs));
	if (!s->reqs)
		return oom(c, err);
	if (decode_match_labels(ml, fl, s, c, err))
		return -1;
	json_array_foreach(me, i, e) {
		if (decode_expr(e, at_i(fe, field, "matchExpressions", i), s, c, err))
			return -1;
	}
	return 0;
}

/* A CIDR string at field: 1 IPv4 (host bits masked off), 0 IPv6, -1 invalid (err). */
static int cidr_field(json_t *v, const char *field, struct k8s_prefix *p, const struct obj_ctx *c,
		      struct kx_err *err)
{
	const char *s = json_string_value(v);
	int r = s ? kx_parse_cidr(s, &p->addr, &p->len) : -1;

	if (r < 0 && (!v || json_is_null(v)))
		kx_errf(err, "%s: %s: missing", c->what, field);
	else if (r < 0)
		kx_errf(err, "%s: %s: \"%s\" is not a CIDR", c->what, field,
			s ? s : "(not a string)");
	else if (r == 1)
		p->addr &= p->len ? htonl(0xffffffffu << (32 - p->len)) : 0;
	return r;
}

/* Is x strictly inside p (a longer prefix of p's network)? */
static bool prefix_inside(const struct k8s_prefix *x, const struct k8s_prefix *p)
{
	uint32_t mask = p->len ? htonl(0xffffffffu << (32 - p->len)) : 0;

	return x->len > p->len && (x->addr & mask) == p->addr;
}

/* ipBlock at field: cidr (host bits set are accepted, as the API does) and except[]. */
static int decode_ip_block(json_t *b, const char *field, struct k8s_np_peer *peer,
			   const struct obj_ctx *c, struct kx_err *err)
{
	json_t *cidr = json_object_get(b, "cidr"), *ex, *e;
	char f[FIELD_MAX];
	size_t i;
	int r;

	r = cidr_field(cidr, at(f, field, "cidr"), &peer->cidr, c, err);
	peer->kind = r == 1 ? K8S_PEER_BLOCK : K8S_PEER_NONE; /* IPv6: no IPv4 address */
	if (r <= 0)
		return r;
	if (k8s_opt_arr(b, "except", &ex, c, at(f, field, "except"), err))
		return -1;
	peer->except = calloc(json_array_size(ex) + 1, sizeof(*peer->except));
	if (!peer->except)
		return oom(c, err);
	json_array_foreach(ex, i, e) {
		struct k8s_prefix *x = &peer->except[peer->n_except];

		r = cidr_field(e, at_i(f, field, "except", i), x, c, err);
		if (r < 0)
			return -1;
		if (!r || !prefix_inside(x, &peer->cidr)) {
			kx_errf(err, "%s: %s: %s is not inside cidr %s", c->what, f,
				json_string_value(e), json_string_value(cidr));
			return -1;
		}
		peer->n_except++;
	}
	return 0;
}

/* One from[] or to[] element at field: pods by podSelector and/or namespaceSelector, or ipBlock. */
static int decode_peer(json_t *p, const char *field, struct k8s_np_peer *peer,
		       const struct obj_ctx *c, struct kx_err *err)
{
	char fp[FIELD_MAX], fn[FIELD_MAX], fb[FIELD_MAX];
	json_t *ps, *nss, *ipb;

	if (!json_is_object(p))
		return want_object(c, field, err);
	if (k8s_opt_obj(p, "podSelector", &ps, c, at(fp, field, "podSelector"), err) ||
	    k8s_opt_obj(p, "namespaceSelector", &nss, c, at(fn, field, "namespaceSelector"), err) ||
	    k8s_opt_obj(p, "ipBlock", &ipb, c, at(fb, field, "ipBlock"), err))
		return -1;
	if (ipb && (ps || nss)) {
		kx_errf(err, "%s: %s: ipBlock cannot be combined with a selector", c->what, field);
		return -1;
	}
	if (ipb)
		return decode_ip_block(ipb, fb, peer, c, err);
	if (!ps && !nss) {
		kx_errf(err, "%s: %s: empty peer (want podSelector, namespaceSelector or ipBlock)",
			c->what, field);
		return -1;
	}
	peer->kind = K8S_PEER_PODS;
	peer->has_pod_sel = ps != NULL;
	peer->has_ns_sel = nss != NULL;
	if (ps && decode_selector(ps, fp, &peer->pod_sel, c, err))
		return -1;
	return nss ? decode_selector(nss, fn, &peer->ns_sel, c, err) : 0;
}

/* A named port (IANA_SVC_NAME, as the API validates it) into name; -1 with err otherwise. */
static int port_name(const char *s, char *name, const char *field, const struct obj_ctx *c,
		     struct kx_err *err)
{
	size_t n = strlen(s), letters = 0, digits = 0;
	bool ok = n >= 1 && n < K8S_PORT_NAME_MAX && s[0] != '-' && s[n - 1] != '-' &&
		  !strstr(s, "--");

	for (size_t i = 0; ok && i < n; i++) {
		letters += s[i] >= 'a' && s[i] <= 'z';
		digits += s[i] >= '0' && s[i] <= '9';
		ok = (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-';
	}
	if (ok && letters) {
		memcpy(name, s, n + 1);
		return 0;
	}
	if (n && digits == n)
		kx_errf(err, "%s: %s: \"%s\" is a string: a port number is written without quotes",
			c->what, field, s);
	else
		kx_errf(err,
			"%s: %s: \"%s\" is not a port name (1-15 of a-z, 0-9, '-'; a letter; no '-' at an end or twice)",
			c->what, field, s);
	return -1;
}

/* endPort at field: with a numeric port, not below it. */
static int decode_end_port(json_t *end, const char *field, struct k8s_np_port *np,
			   const struct obj_ctx *c, struct kx_err *err)
{
	if (k8s_port_num(end, &np->end_port, c, field, err))
		return -1;
	if (np->name[0])
		kx_errf(err, "%s: %s: cannot go with the named port \"%s\" (a numeric port only)",
			c->what, field, np->name);
	else if (!np->port)
		kx_errf(err, "%s: %s: needs a numeric port", c->what, field);
	else if (np->end_port < np->port)
		kx_errf(err, "%s: %s: %u is below port %u", c->what, field, np->end_port, np->port);
	else
		return 0;
	return -1;
}

/* One NetworkPolicyPort at field: protocol (TCP), a port number or name (none: all), endPort. */
static int decode_np_port(json_t *p, const char *field, struct k8s_np_port *np,
			  const struct obj_ctx *c, struct kx_err *err)
{
	char f[FIELD_MAX];
	json_t *port, *end;

	if (!json_is_object(p))
		return want_object(c, field, err);
	if (k8s_proto_of(p, &np->proto, c, at(f, field, "protocol"), err))
		return -1;
	port = json_object_get(p, "port");
	at(f, field, "port");
	if (json_is_string(port)) {
		if (port_name(json_string_value(port), np->name, f, c, err))
			return -1;
	} else if (port && !json_is_null(port) && k8s_port_num(port, &np->port, c, f, err)) {
		return -1;
	}
	end = json_object_get(p, "endPort");
	if (!end || json_is_null(end))
		return 0;
	return decode_end_port(end, at(f, field, "endPort"), np, c, err);
}

static void rules_free(struct k8s_np_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < rules[i].n_peers; j++) {
			selector_free(&rules[i].peers[j].pod_sel);
			selector_free(&rules[i].peers[j].ns_sel);
			free(rules[i].peers[j].except);
		}
		free(rules[i].peers);
		free(rules[i].ports);
	}
	free(rules);
}

/* One rule at field: its peers (under peers_key: from or to) and ports. */
static int decode_rule(json_t *r, const char *field, const char *peers_key,
		       struct k8s_np_rule *rule, const struct obj_ctx *c, struct kx_err *err)
{
	json_t *peers, *ports, *v;
	char f[FIELD_MAX];
	size_t i;

	if (!json_is_object(r))
		return want_object(c, field, err);
	if (k8s_opt_arr(r, peers_key, &peers, c, at(f, field, peers_key), err) ||
	    k8s_opt_arr(r, "ports", &ports, c, at(f, field, "ports"), err))
		return -1;
	rule->peers = calloc(json_array_size(peers) + 1, sizeof(*rule->peers));
	rule->ports = calloc(json_array_size(ports) + 1, sizeof(*rule->ports));
	if (!rule->peers || !rule->ports)
		return oom(c, err);
	json_array_foreach(peers, i, v) {
		if (decode_peer(v, at_i(f, field, peers_key, i), &rule->peers[rule->n_peers++], c,
				err))
			return -1;
	}
	json_array_foreach(ports, i, v) {
		if (decode_np_port(v, at_i(f, field, "ports", i), &rule->ports[rule->n_ports++], c,
				   err))
			return -1;
	}
	return 0;
}

/* spec.ingress or spec.egress (dir): its rules, whose peers are under peers_key. */
static int decode_rules(json_t *spec, const char *dir, const char *peers_key,
			struct k8s_np_rule **rules, size_t *n, const struct obj_ctx *c,
			struct kx_err *err)
{
	char field[FIELD_MAX];
	json_t *arr, *r;
	size_t i;

	if (k8s_opt_arr(spec, dir, &arr, c, at(field, "spec", dir), err))
		return -1;
	*rules = calloc(json_array_size(arr) + 1, sizeof(**rules));
	if (!*rules)
		return oom(c, err);
	json_array_foreach(arr, i, r) {
		if (decode_rule(r, at_i(field, "spec", dir, i), peers_key, &(*rules)[(*n)++], c,
				err))
			return -1;
	}
	return 0;
}

/* spec.policyTypes; none: Ingress, and Egress if spec.egress has rules (the API's default). */
static int decode_policy_types(json_t *spec, struct k8s_netpol *np, const struct obj_ctx *c,
			       struct kx_err *err)
{
	json_t *types, *t;
	size_t i;

	if (k8s_opt_arr(spec, "policyTypes", &types, c, "spec.policyTypes", err))
		return -1;
	if (!json_array_size(types)) {
		np->ingress_type = true;
		np->egress_type = np->n_egress > 0;
		return 0;
	}
	json_array_foreach(types, i, t) {
		const char *s = json_string_value(t);

		if (s && !strcmp(s, "Ingress")) {
			np->ingress_type = true;
		} else if (s && !strcmp(s, "Egress")) {
			np->egress_type = true;
		} else {
			kx_errf(err,
				"%s: spec.policyTypes[%zu]: unknown policy type \"%s\" (Ingress or Egress)",
				c->what, i, s ? s : "(not a string)");
			return -1;
		}
	}
	return 0;
}

static void netpol_free(struct k8s_netpol *np)
{
	selector_free(&np->pod_sel);
	rules_free(np->ingress, np->n_ingress);
	rules_free(np->egress, np->n_egress);
}

/* A networking.k8s.io/v1 NetworkPolicy; no spec is the empty one (every pod, ingress denied). */
int k8s_decode_netpol(json_t *item, struct k8s_state *st, struct obj_ctx *c, struct kx_err *err)
{
	struct k8s_netpol *np = &st->netpols[st->n_netpols];
	json_t *spec, *ps;

	memset(np, 0, sizeof(*np));
	if (k8s_metadata(item, "networkpolicy", true, np->ns, sizeof(np->ns), np->name,
			 sizeof(np->name), c, err) ||
	    k8s_opt_obj(item, "spec", &spec, c, "spec", err) ||
	    k8s_opt_obj(spec, "podSelector", &ps, c, "spec.podSelector", err))
		return -1;
	if (decode_selector(ps, "spec.podSelector", &np->pod_sel, c, err) ||
	    decode_rules(spec, "ingress", "from", &np->ingress, &np->n_ingress, c, err) ||
	    decode_rules(spec, "egress", "to", &np->egress, &np->n_egress, c, err) ||
	    decode_policy_types(spec, np, c, err)) {
		netpol_free(np);
		return -1;
	}
	st->n_netpols++;
	return 0;
}

void k8s_policy_state_free(struct k8s_state *st)
{
	size_t i;

	for (i = 0; i < st->n_pods; i++)
		pod_free(&st->pods[i]);
	for (i = 0; i < st->n_namespaces; i++)
		labels_free(&st->namespaces[i].labels);
	for (i = 0; i < st->n_netpols; i++)
		netpol_free(&st->netpols[i]);
	free(st->pods);
	free(st->namespaces);
	free(st->netpols);
	st->pods = NULL;
	st->namespaces = NULL;
	st->netpols = NULL;
	st->n_pods = st->n_namespaces = st->n_netpols = 0;
}
