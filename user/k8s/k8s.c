// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/k8s.h"
#include "k8s/k8s_int.h"
#include "kxdp_abi.h"

static void ctx_set(struct obj_ctx *c, const char *kind, const char *ns, const char *name)
{
	if (ns && *ns)
		snprintf(c->what, sizeof(c->what), "%s %s/%s", kind, ns, name);
	else
		snprintf(c->what, sizeof(c->what), "%s %s", kind, name);
}

/* Copy an optional string member; -1 if present but not a string or too long. */
int k8s_opt_str(json_t *obj, const char *key, char *out, size_t n, const struct obj_ctx *c,
		const char *field, struct kx_err *err)
{
	json_t *v = json_object_get(obj, key);

	out[0] = '\0';
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v)) {
		kx_errf(err, "%s: %s: want a string", c->what, field);
		return -1;
	}
	if (json_string_length(v) >= n) {
		kx_errf(err, "%s: %s: longer than %zu characters", c->what, field, n - 1);
		return -1;
	}
	memcpy(out, json_string_value(v), json_string_length(v) + 1);
	return 0;
}

int k8s_req_str(json_t *obj, const char *key, char *out, size_t n, const struct obj_ctx *c,
		const char *field, struct kx_err *err)
{
	if (k8s_opt_str(obj, key, out, n, c, field, err))
		return -1;
	if (!out[0]) {
		kx_errf(err, "%s: %s: missing", c->what, field);
		return -1;
	}
	return 0;
}

/* An optional object member; -1 if present but not an object. */
int k8s_opt_obj(json_t *obj, const char *key, json_t **out, const struct obj_ctx *c,
		const char *field, struct kx_err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_object(v)) {
		kx_errf(err, "%s: %s: want an object", c->what, field);
		return -1;
	}
	*out = v;
	return 0;
}

int k8s_opt_arr(json_t *obj, const char *key, json_t **out, const struct obj_ctx *c,
		const char *field, struct kx_err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = NULL;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		kx_errf(err, "%s: %s: want an array", c->what, field);
		return -1;
	}
	*out = v;
	return 0;
}

int k8s_opt_bool(json_t *obj, const char *key, bool dflt, bool *out, const struct obj_ctx *c,
		 const char *field, struct kx_err *err)
{
	json_t *v = json_object_get(obj, key);

	*out = dflt;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		kx_errf(err, "%s: %s: want true or false", c->what, field);
		return -1;
	}
	*out = json_is_true(v);
	return 0;
}

int k8s_port_num(json_t *v, uint16_t *out, const struct obj_ctx *c, const char *field,
		 struct kx_err *err)
{
	json_int_t n;

	if (!json_is_integer(v)) {
		kx_errf(err, "%s: %s: want a port number", c->what, field);
		return -1;
	}
	n = json_integer_value(v);
	if (n < 1 || n > 65535) {
		kx_errf(err, "%s: %s: %lld is not a port (1-65535)", c->what, field, (long long)n);
		return -1;
	}
	*out = (uint16_t)n;
	return 0;
}

/* Protocol name to IPPROTO_* (TCP when absent); -1 invalid. */
int k8s_proto_of(json_t *obj, uint8_t *out, const struct obj_ctx *c, const char *field,
		 struct kx_err *err)
{
	char p[16];

	if (k8s_opt_str(obj, "protocol", p, sizeof(p), c, field, err))
		return -1;
	if (!p[0] || !strcmp(p, "TCP"))
		*out = IPPROTO_TCP;
	else if (!strcmp(p, "UDP"))
		*out = IPPROTO_UDP;
	else if (!strcmp(p, "SCTP"))
		*out = IPPROTO_SCTP;
	else {
		kx_errf(err, "%s: %s: unknown protocol \"%s\" (TCP, UDP or SCTP)", c->what, field,
			p);
		return -1;
	}
	return 0;
}

/* Parse "a.b.c.d"; 1 = IPv4, 0 = IPv6 (skipped), -1 = invalid. */
static int parse_ip(const char *s, uint32_t *out)
{
	struct in6_addr a6;
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) == 1) {
		*out = a.s_addr;
		return 1;
	}
	if (inet_pton(AF_INET6, s, &a6) == 1)
		return 0;
	return -1;
}

int k8s_ip_field(json_t *v, uint32_t *out, const struct obj_ctx *c, const char *field,
		 struct kx_err *err)
{
	int r;

	*out = 0;
	if (!json_is_string(v)) {
		kx_errf(err, "%s: %s: want an IP address string", c->what, field);
		return -1;
	}
	r = parse_ip(json_string_value(v), out);
	if (r < 0) {
		kx_errf(err, "%s: %s: \"%s\" is not an IP address", c->what, field,
			json_string_value(v));
		return -1;
	}
	return r;
}

/* Parse "a.b.c.d/len" (IPv4); 1 ok, 0 IPv6, -1 invalid. */
int kx_parse_cidr(const char *s, uint32_t *addr, uint8_t *len)
{
	char buf[64];
	char *slash, *end;
	long n;
	int r;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	slash = strchr(buf, '/');
	if (!slash)
		return -1;
	*slash = '\0';
	r = parse_ip(buf, addr);
	if (r <= 0)
		return r;
	errno = 0;
	n = strtol(slash + 1, &end, 10);
	if (errno || *end || end == slash + 1 || n < 0 || n > 32)
		return -1;
	*len = (uint8_t)n;
	return 1;
}

/* metadata.name (and namespace); c then names the object. */
int k8s_metadata(json_t *item, const char *kind, bool namespaced, char *ns, size_t ns_n, char *name,
		 size_t name_n, struct obj_ctx *c, struct kx_err *err)
{
	json_t *md;

	if (k8s_opt_obj(item, "metadata", &md, c, "metadata", err))
		return -1;
	if (!md) {
		kx_errf(err, "%s: metadata: missing", c->what);
		return -1;
	}
	if (k8s_req_str(md, "name", name, name_n, c, "metadata.name", err))
		return -1;
	if (namespaced && k8s_req_str(md, "namespace", ns, ns_n, c, "metadata.namespace", err))
		return -1;
	ctx_set(c, kind, namespaced ? ns : NULL, name);
	return 0;
}

static int decode_service_ports(json_t *spec, struct k8s_service *s, const struct obj_ctx *c,
				struct kx_err *err)
{
	json_t *ports, *p, *v;
	size_t i;
	char field[64];

	if (k8s_opt_arr(spec, "ports", &ports, c, "spec.ports", err))
		return -1;
	if (!ports)
		return 0;
	s->ports = calloc(json_array_size(ports) + 1, sizeof(*s->ports));
	if (!s->ports) {
		kx_errf(err, "%s: out of memory", c->what);
		return -1;
	}
	json_array_foreach(ports, i, p) {
		struct k8s_svc_port *sp = &s->ports[s->n_ports];

		snprintf(field, sizeof(field), "spec.ports[%zu]", i);
		if (!json_is_object(p)) {
			kx_errf(err, "%s: %s: want an object", c->what, field);
			return -1;
		}
		snprintf(field, sizeof(field), "spec.ports[%zu].name", i);
		if (k8s_opt_str(p, "name", sp->name, sizeof(sp->name), c, field, err))
			return -1;
		snprintf(field, sizeof(field), "spec.ports[%zu].port", i);
		if (k8s_port_num(json_object_get(p, "port"), &sp->port, c, field, err))
			return -1;
		snprintf(field, sizeof(field), "spec.ports[%zu].protocol", i);
		if (k8s_proto_of(p, &sp->proto, c, field, err))
			return -1;
		snprintf(field, sizeof(field), "spec.ports[%zu].nodePort", i);
		v = json_object_get(p, "nodePort");
		if (v && !json_is_null(v) && k8s_port_num(v, &sp->node_port, c, field, err))
			return -1;
		if (sp->proto == IPPROTO_SCTP) {
			pr_info("%s: port %u/SCTP skipped: SCTP is not served yet", c->what,
				sp->port);
			continue;
		}
		s->n_ports++;
	}
	return 0;
}

/* The service's IPv4 cluster IP: from clusterIPs (dual stack) or clusterIP. */
static int decode_cluster_ip(json_t *spec, struct k8s_service *s, const struct obj_ctx *c,
			     struct kx_err *err)
{
	json_t *ips, *v;
	size_t i;
	char field[48];

	v = json_object_get(spec, "clusterIP");
	if (v && json_is_string(v) && (!strcmp(json_string_value(v), "None") ||
				       !*json_string_value(v)))
		return 0; /* headless, or not allocated */
	if (k8s_opt_arr(spec, "clusterIPs", &ips, c, "spec.clusterIPs", err))
		return -1;
	if (ips) {
		json_array_foreach(ips, i, v) {
			if (json_is_string(v) && !strcmp(json_string_value(v), "None"))
				return 0; /* headless */
			snprintf(field, sizeof(field), "spec.clusterIPs[%zu]", i);
			int r = k8s_ip_field(v, &s->cluster_ip, c, field, err);

			if (r < 0)
				return -1;
			if (r == 1)
				return 0;
		}
		return 0;
	}
	v = json_object_get(spec, "clusterIP");
	if (!v || json_is_null(v))
		return 0;
	return k8s_ip_field(v, &s->cluster_ip, c, "spec.clusterIP", err) < 0 ? -1 : 0;
}

/* An array of IPv4 address strings (IPv6 ones skipped) into out[0..*n). */
static int decode_ip_list(json_t *arr, const char *what, uint32_t *out, size_t *n,
			  const struct obj_ctx *c, struct kx_err *err)
{
	char field[96];
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v) {
		snprintf(field, sizeof(field), "%s[%zu]", what, i);
		int r = k8s_ip_field(v, &out[*n], c, field, err);

		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (*n == K8S_SVC_ADDRS_MAX) {
			kx_errf(err, "%s: %s: more than %d addresses", c->what, what,
				K8S_SVC_ADDRS_MAX);
			return -1;
		}
		(*n)++;
	}
	return 0;
}

/* "Cluster" (or absent) -> false, "Local" -> true. */
static int traffic_policy(json_t *spec, const char *key, bool *local, const struct obj_ctx *c,
			  struct kx_err *err)
{
	char field[48], v[16];

	snprintf(field, sizeof(field), "spec.%s", key);
	if (k8s_opt_str(spec, key, v, sizeof(v), c, field, err))
		return -1;
	*local = !strcmp(v, "Local");
	if (v[0] && !*local && strcmp(v, "Cluster")) {
		kx_errf(err, "%s: %s: unknown policy \"%s\" (Cluster or Local)", c->what, field, v);
		return -1;
	}
	return 0;
}

static int decode_source_ranges(json_t *spec, struct k8s_service *s, const struct obj_ctx *c,
				struct kx_err *err)
{
	char field[64];
	json_t *arr, *v;
	size_t i;

	if (k8s_opt_arr(spec, "loadBalancerSourceRanges", &arr, c, "spec.loadBalancerSourceRanges",
			err))
		return -1;
	json_array_foreach(arr, i, v) {
		struct k8s_prefix *p = &s->src_ranges[s->n_src_ranges];
		int r;

		snprintf(field, sizeof(field), "spec.loadBalancerSourceRanges[%zu]", i);
		r = json_is_string(v) ? kx_parse_cidr(json_string_value(v), &p->addr, &p->len) : -1;
		if (r < 0) {
			kx_errf(err, "%s: %s: want a CIDR such as 192.0.2.0/24", c->what, field);
			return -1;
		}
		if (r == 0)
			continue; /* IPv6 */
		if (s->n_src_ranges == K8S_SVC_ADDRS_MAX) {
			kx_errf(err, "%s: spec.loadBalancerSourceRanges: more than %d", c->what,
				K8S_SVC_ADDRS_MAX);
			return -1;
		}
		p->addr &= p->len ? htonl(0xffffffffu << (32 - p->len)) : 0;
		s->n_src_ranges++;
	}
	return 0;
}

/* status.loadBalancer.ingress[].ip, except ipMode Proxy (the LB proxies: no VIP here). */
static int decode_lb_ingress(json_t *item, struct k8s_service *s, const struct obj_ctx *c,
			     struct kx_err *err)
{
	json_t *status, *lb, *ingress, *in;
	char field[64], mode[16];
	size_t i;

	if (k8s_opt_obj(item, "status", &status, c, "status", err) ||
	    (status && k8s_opt_obj(status, "loadBalancer", &lb, c, "status.loadBalancer", err)))
		return -1;
	if (!status || !lb)
		return 0;
	if (k8s_opt_arr(lb, "ingress", &ingress, c, "status.loadBalancer.ingress", err))
		return -1;
	json_array_foreach(ingress, i, in) {
		json_t *ip;
		int r;

		snprintf(field, sizeof(field), "status.loadBalancer.ingress[%zu]", i);
		if (!json_is_object(in)) {
			kx_errf(err, "%s: %s: want an object", c->what, field);
			return -1;
		}
		snprintf(field, sizeof(field), "status.loadBalancer.ingress[%zu].ipMode", i);
		if (k8s_opt_str(in, "ipMode", mode, sizeof(mode), c, field, err))
			return -1;
		ip = json_object_get(in, "ip");
		if (!ip || json_is_null(ip) || !strcmp(mode, "Proxy"))
			continue; /* a hostname-only LB, or one that proxies */
		snprintf(field, sizeof(field), "status.loadBalancer.ingress[%zu].ip", i);
		r = k8s_ip_field(ip, &s->lb_ips[s->n_lb_ips], c, field, err);
		if (r < 0)
			return -1;
		if (r == 0)
			continue;
		if (s->n_lb_ips == K8S_SVC_ADDRS_MAX) {
			kx_errf(err, "%s: status.loadBalancer.ingress: more than %d", c->what,
				K8S_SVC_ADDRS_MAX);
			return -1;
		}
		s->n_lb_ips++;
	}
	return 0;
}

/* An annotation's string value, or NULL. */
static const char *annotation(json_t *item, const char *key)
{
	json_t *md = json_object_get(item, "metadata");
	json_t *ann = json_is_object(md) ? json_object_get(md, "annotations") : NULL;
	json_t *v = json_is_object(ann) ? json_object_get(ann, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/*
 * kube-router's Service annotations: the scheduler (rr, sh, mh, random; an
 * unknown one is rr with a warning, as kube-router falls back), its flags
 * (flag-2: hash the port too), and service.local (both policies Local).
 * service.hairpin needs nothing: hairpin always works here, as with
 * kube-proxy.
 */
static void decode_kube_router(json_t *item, struct k8s_service *s, const struct obj_ctx *c)
{
	const char *v = annotation(item, "kube-router.io/service.scheduler");
	const char *flags = annotation(item, "kube-router.io/service.schedflags");

	s->algo = KX_ALGO_RR;
	if (v && !strcmp(v, "sh"))
		s->algo = KX_ALGO_SH;
	else if (v && !strcmp(v, "mh"))
		s->algo = KX_ALGO_MH;
	else if (v && !strcmp(v, "random"))
		s->algo = KX_ALGO_RANDOM;
	else if (v && *v && strcmp(v, "rr"))
		pr_warn("%s: kube-router.io/service.scheduler \"%s\" is not served (rr, sh, mh, random): using rr",
			c->what, v);
	s->hash_port = flags && (strstr(flags, "flag-2") || strstr(flags, "sh-port") ||
				 strstr(flags, "mh-port"));
	v = annotation(item, "kube-router.io/service.local");
	if (v && !strcmp(v, "true"))
		s->etp_local = s->itp_local = true;
}

/* sessionAffinity: None, or ClientIP with clientIP.timeoutSeconds (1..86400, default 10800). */
static int decode_affinity(json_t *spec, struct k8s_service *s, const struct obj_ctx *c,
			   struct kx_err *err)
{
	json_t *cfg, *cip, *v;
	char mode[16];
	json_int_t t = KX_AFFINITY_DEFAULT_S;

	if (k8s_opt_str(spec, "sessionAffinity", mode, sizeof(mode), c, "spec.sessionAffinity",
			err))
		return -1;
	if (!mode[0] || !strcmp(mode, "None"))
		return 0;
	if (strcmp(mode, "ClientIP")) {
		kx_errf(err, "%s: spec.sessionAffinity: unknown \"%s\" (None or ClientIP)", c->what,
			mode);
		return -1;
	}
	if (k8s_opt_obj(spec, "sessionAffinityConfig", &cfg, c, "spec.sessionAffinityConfig",
			err) ||
	    (cfg &&
	     k8s_opt_obj(cfg, "clientIP", &cip, c, "spec.sessionAffinityConfig.clientIP", err)))
		return -1;
	v = cfg && cip ? json_object_get(cip, "timeoutSeconds") : NULL;
	if (v && !json_is_null(v)) {
		t = json_is_integer(v) ? json_integer_value(v) : -1;
		if (t < 1 || t > 86400) {
			kx_errf(err, "%s: spec.sessionAffinityConfig.clientIP.timeoutSeconds: want 1-86400 seconds",
				c->what);
			return -1;
		}
	}
	s->affinity_timeout_s = (uint32_t)t;
	return 0;
}

/* What a Service exposes beyond its ClusterIP: node ports, external and LB IPs, policies. */
static int decode_service_external(json_t *item, json_t *spec, struct k8s_service *s,
				   const struct obj_ctx *c, struct kx_err *err)
{
	json_t *v, *eips;

	if (traffic_policy(spec, "externalTrafficPolicy", &s->etp_local, c, err) ||
	    traffic_policy(spec, "internalTrafficPolicy", &s->itp_local, c, err))
		return -1;
	decode_kube_router(item, s, c);
	if (decode_affinity(spec, s, c, err) ||
	    k8s_opt_bool(spec, "publishNotReadyAddresses", false, &s->publish_not_ready, c,
			 "spec.publishNotReadyAddresses", err))
		return -1;
	v = json_object_get(spec, "healthCheckNodePort");
	if (v && !json_is_null(v) && s->etp_local && s->type == K8S_SVC_LOAD_BALANCER &&
	    k8s_port_num(v, &s->hc_node_port, c, "spec.healthCheckNodePort", err))
		return -1;
	if (k8s_opt_arr(spec, "externalIPs", &eips, c, "spec.externalIPs", err) ||
	    (eips &&
	     decode_ip_list(eips, "spec.externalIPs", s->external_ips, &s->n_external_ips, c, err)))
		return -1;
	if (s->type != K8S_SVC_LOAD_BALANCER)
		return 0;
	return decode_source_ranges(spec, s, c, err) || decode_lb_ingress(item, s, c, err) ? -1 : 0;
}

static int decode_service(json_t *item, struct k8s_state *st, struct obj_ctx *c,
			  struct kx_err *err)
{
	struct k8s_service *s = &st->svcs[st->n_svcs];
	char type[32];
	json_t *spec;

	memset(s, 0, sizeof(*s));
	if (k8s_metadata(item, "service", true, s->ns, sizeof(s->ns), s->name, sizeof(s->name), c,
			 err))
		return -1;
	if (k8s_opt_str(json_object_get(item, "metadata"), "creationTimestamp", s->created,
			sizeof(s->created), c, "metadata.creationTimestamp", err))
		return -1;
	if (k8s_opt_obj(item, "spec", &spec, c, "spec", err))
		return -1;
	if (!spec) {
		kx_errf(err, "%s: spec: missing", c->what);
		return -1;
	}
	if (k8s_opt_str(spec, "type", type, sizeof(type), c, "spec.type", err))
		return -1;
	if (type[0] && strcmp(type, "ClusterIP") && strcmp(type, "NodePort") &&
	    strcmp(type, "LoadBalancer") && strcmp(type, "ExternalName")) {
		kx_errf(err, "%s: spec.type: unknown type \"%s\"", c->what, type);
		return -1;
	}
	if (!strcmp(type, "ExternalName"))
		return 0; /* a DNS alias: nothing to proxy */
	s->type = !strcmp(type, "NodePort")	 ? K8S_SVC_NODE_PORT :
		  !strcmp(type, "LoadBalancer") ? K8S_SVC_LOAD_BALANCER :
						   K8S_SVC_CLUSTER_IP;
	if (decode_cluster_ip(spec, s, c, err) || decode_service_ports(spec, s, c, err) ||
	    decode_service_external(item, spec, s, c, err)) {
		free(s->ports);
		return -1;
	}
	st->n_svcs++;
	return 0;
}

static int decode_slice_ports(json_t *item, struct k8s_slice *sl, const struct obj_ctx *c,
			      struct kx_err *err)
{
	json_t *ports, *p;
	size_t i;
	char field[48];

	if (k8s_opt_arr(item, "ports", &ports, c, "ports", err))
		return -1;
	if (!ports)
		return 0;
	sl->ports = calloc(json_array_size(ports) + 1, sizeof(*sl->ports));
	if (!sl->ports) {
		kx_errf(err, "%s: out of memory", c->what);
		return -1;
	}
	json_array_foreach(ports, i, p) {
		struct k8s_slice_port *sp = &sl->ports[sl->n_ports];

		snprintf(field, sizeof(field), "ports[%zu]", i);
		if (!json_is_object(p)) {
			kx_errf(err, "%s: %s: want an object", c->what, field);
			return -1;
		}
		snprintf(field, sizeof(field), "ports[%zu].name", i);
		if (k8s_opt_str(p, "name", sp->name, sizeof(sp->name), c, field, err))
			return -1;
		snprintf(field, sizeof(field), "ports[%zu].port", i);
		if (k8s_port_num(json_object_get(p, "port"), &sp->port, c, field, err))
			return -1;
		snprintf(field, sizeof(field), "ports[%zu].protocol", i);
		if (k8s_proto_of(p, &sp->proto, c, field, err))
			return -1;
		if (sp->proto != IPPROTO_SCTP) /* not served yet */
			sl->n_ports++;
	}
	return 0;
}

/* prefix + suffix into out, without printf: this runs for every endpoint. */
static const char *field_join(char *out, size_t n, const char *prefix, size_t plen,
			      const char *suffix)
{
	size_t slen = strlen(suffix);

	if (plen + slen + 1 > n)
		slen = n - plen - 1;
	memcpy(out, prefix, plen);
	memcpy(out + plen, suffix, slen);
	out[plen + slen] = '\0';
	return out;
}

static int decode_endpoint(json_t *e, size_t i, struct k8s_slice *sl, const struct obj_ctx *c,
			   struct kx_err *err)
{
	json_t *addrs, *cond, *a;
	struct k8s_endpoint ep = { 0 };
	char prefix[32], field[64];
	size_t plen, j;

	plen = (size_t)snprintf(prefix, sizeof(prefix), "endpoints[%zu]", i);
	if (!json_is_object(e)) {
		kx_errf(err, "%s: %s: want an object", c->what, prefix);
		return -1;
	}
	if (k8s_opt_arr(e, "addresses", &addrs, c,
			field_join(field, sizeof(field), prefix, plen, ".addresses"), err))
		return -1;
	if (!addrs || json_array_size(addrs) == 0) {
		kx_errf(err, "%s: %s: missing", c->what, field);
		return -1;
	}
	if (k8s_opt_obj(e, "conditions", &cond, c,
			field_join(field, sizeof(field), prefix, plen, ".conditions"), err))
		return -1;
	/* API semantics: a nil ready or serving means true. */
	if (k8s_opt_bool(cond, "ready", true, &ep.ready, c,
			 field_join(field, sizeof(field), prefix, plen, ".conditions.ready"),
			 err) ||
	    k8s_opt_bool(cond, "serving", ep.ready, &ep.serving, c,
			 field_join(field, sizeof(field), prefix, plen, ".conditions.serving"),
			 err) ||
	    k8s_opt_bool(cond, "terminating", false, &ep.terminating, c,
			 field_join(field, sizeof(field), prefix, plen, ".conditions.terminating"),
			 err) ||
	    k8s_opt_str(e, "nodeName", ep.node, sizeof(ep.node), c,
			field_join(field, sizeof(field), prefix, plen, ".nodeName"), err))
		return -1;
	/* Kubernetes allows one address per endpoint today; take them all. */
	json_array_foreach(addrs, j, a) {
		int r = k8s_ip_field(a, &ep.addr, c, NULL, err);

		if (r < 0) {
			char path[96];

			snprintf(path, sizeof(path), "%s.addresses[%zu]", prefix, j);
			kx_errf(err, "%s: %s: \"%s\" is not an IP address", c->what, path,
				json_is_string(a) ? json_string_value(a) : "(not a string)");
			return -1;
		}
		if (r == 0)
			continue;
		sl->eps[sl->n_eps++] = ep;
	}
	return 0;
}

static int decode_slice(json_t *item, struct k8s_state *st, struct obj_ctx *c,
			struct kx_err *err)
{
	struct k8s_slice *sl = &st->slices[st->n_slices];
	json_t *eps, *e, *md, *labels;
	char family[16];
	size_t i, total = 0;

	memset(sl, 0, sizeof(*sl));
	if (k8s_metadata(item, "endpointslice", true, sl->ns, sizeof(sl->ns), sl->name,
			 sizeof(sl->name), c, err))
		return -1;
	if (k8s_req_str(item, "addressType", family, sizeof(family), c, "addressType", err))
		return -1;
	if (strcmp(family, "IPv4"))
		return 0; /* IPv6 and FQDN slices: not served yet */
	md = json_object_get(item, "metadata");
	if (k8s_opt_obj(md, "labels", &labels, c, "metadata.labels", err))
		return -1;
	if (labels &&
	    k8s_opt_str(labels, "kubernetes.io/service-name", sl->service, sizeof(sl->service), c,
			"metadata.labels[kubernetes.io/service-name]", err))
		return -1;
	if (!sl->service[0])
		return 0; /* not tied to a service */
	if (k8s_opt_arr(item, "endpoints", &eps, c, "endpoints", err))
		return -1;
	if (eps) {
		json_array_foreach(eps, i, e) {
			json_t *a = json_is_object(e) ? json_object_get(e, "addresses") : NULL;

			total += json_is_array(a) ? json_array_size(a) : 0;
		}
	}
	sl->eps = calloc(total + 1, sizeof(*sl->eps));
	if (!sl->eps) {
		kx_errf(err, "%s: out of memory", c->what);
		return -1;
	}
	if (decode_slice_ports(item, sl, c, err))
		goto fail;
	if (eps) {
		json_array_foreach(eps, i, e) {
			if (decode_endpoint(e, i, sl, c, err))
				goto fail;
		}
	}
	st->n_slices++;
	return 0;
fail:
	free(sl->eps);
	free(sl->ports);
	return -1;
}

/* This node's IPv4 pod CIDR: spec.podCIDRs, spec.podCIDR, kube-router's annotation. */
static int decode_pod_cidr(json_t *item, struct k8s_node *n, const struct obj_ctx *c,
			   struct kx_err *err)
{
	json_t *spec = json_object_get(item, "spec"), *cidrs, *v, *md, *ann;
	const char *cands[8];
	const char *fields[8];
	char fbuf[8][48];
	size_t i, nc = 0;

	if (spec && !json_is_object(spec)) {
		kx_errf(err, "%s: spec: want an object", c->what);
		return -1;
	}
	if (k8s_opt_arr(spec, "podCIDRs", &cidrs, c, "spec.podCIDRs", err))
		return -1;
	if (cidrs) {
		json_array_foreach(cidrs, i, v) {
			if (nc >= 6)
				break;
			snprintf(fbuf[nc], sizeof(fbuf[nc]), "spec.podCIDRs[%zu]", i);
			fields[nc] = fbuf[nc];
			cands[nc++] = json_is_string(v) ? json_string_value(v) : NULL;
		}
	}
	v = json_object_get(spec, "podCIDR");
	if (v && !json_is_null(v)) {
		fields[nc] = "spec.podCIDR";
		cands[nc++] = json_is_string(v) ? json_string_value(v) : NULL;
	}
	md = json_object_get(item, "metadata");
	ann = json_object_get(md, "annotations");
	v = json_is_object(ann) ? json_object_get(ann, "kube-router.io/pod-cidr") : NULL;
	if (v) {
		fields[nc] = "metadata.annotations[kube-router.io/pod-cidr]";
		cands[nc++] = json_is_string(v) ? json_string_value(v) : NULL;
	}
	for (i = 0; i < nc; i++) {
		int r = cands[i] ? kx_parse_cidr(cands[i], &n->pod_cidr, &n->pod_cidr_len) : -1;

		if (r < 0) {
			kx_errf(err, "%s: %s: \"%s\" is not a CIDR", c->what, fields[i],
				cands[i] ? cands[i] : "(not a string)");
			return -1;
		}
		if (r == 1)
			return 0;
	}
	return 0;
}

static int decode_node(json_t *item, struct k8s_state *st, struct obj_ctx *c, struct kx_err *err)
{
	struct k8s_node *n = &st->nodes[st->n_nodes];
	json_t *status, *addrs, *a;
	char field[48], type[32];
	size_t i;

	memset(n, 0, sizeof(*n));
	if (k8s_metadata(item, "node", false, NULL, 0, n->name, sizeof(n->name), c, err))
		return -1;
	if (decode_pod_cidr(item, n, c, err))
		return -1;
	status = json_object_get(item, "status");
	if (status && !json_is_object(status)) {
		kx_errf(err, "%s: status: want an object", c->what);
		return -1;
	}
	if (k8s_opt_arr(status, "addresses", &addrs, c, "status.addresses", err))
		return -1;
	if (addrs) {
		json_array_foreach(addrs, i, a) {
			snprintf(field, sizeof(field), "status.addresses[%zu].type", i);
			if (!json_is_object(a)) {
				kx_errf(err, "%s: status.addresses[%zu]: want an object", c->what,
					i);
				return -1;
			}
			if (k8s_opt_str(a, "type", type, sizeof(type), c, field, err))
				return -1;
			if (strcmp(type, "InternalIP") || n->internal_ip)
				continue;
			snprintf(field, sizeof(field), "status.addresses[%zu].address", i);
			if (k8s_ip_field(json_object_get(a, "address"), &n->internal_ip, c, field,
					 err) < 0)
				return -1;
		}
	}
	st->n_nodes++;
	return 0;
}

bool k8s_refuse(struct k8s_refusals *r, const char *kind, const char *object,
		const char *reason)
{
	struct k8s_refusal *one;

	if (r->n == r->cap) {
		size_t cap = r->cap ? 2 * r->cap : 8;
		struct k8s_refusal *v = realloc(r->v, cap * sizeof(*v));

		if (!v)
			return false;
		r->v = v;
		r->cap = cap;
	}
	one = &r->v[r->n++];
	snprintf(one->kind, sizeof(one->kind), "%s", kind);
	snprintf(one->object, sizeof(one->object), "%s", object);
	snprintf(one->reason, sizeof(one->reason), "%s", reason);
	return true;
}

void k8s_refusals_free(struct k8s_refusals *r)
{
	free(r->v);
	memset(r, 0, sizeof(*r));
}

/* Kind and "namespace/name" of an item, as far as it says them. */
static void item_identity(json_t *item, size_t i, char *kind, size_t kn, char *object,
			  size_t on)
{
	json_t *md = json_is_object(item) ? json_object_get(item, "metadata") : NULL;
	const char *k = json_is_object(item) ? json_string_value(json_object_get(item, "kind"))
					     : NULL;
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));

	snprintf(kind, kn, "%s", k && *k ? k : "object");
	if (name && *name && ns && *ns)
		snprintf(object, on, "%s/%s", ns, name);
	else if (name && *name)
		snprintf(object, on, "%s", name);
	else
		snprintf(object, on, "items[%zu]", i);
}

/* The kinds a List may hold, and their decoders. */
static const struct {
	const char *kind;
	int (*decode)(json_t *item, struct k8s_state *st, struct obj_ctx *c, struct kx_err *err);
} kinds[] = {
	{ "Service", decode_service },
	{ "EndpointSlice", decode_slice },
	{ "Node", decode_node },
	{ "Pod", k8s_decode_pod },
	{ "Namespace", k8s_decode_namespace },
	{ "NetworkPolicy", k8s_decode_netpol },
};

/* One item into st; -1 with err when it cannot be used. */
static int decode_item(json_t *item, size_t i, struct k8s_state *st, struct kx_err *err)
{
	struct obj_ctx c;
	char kind[64];

	snprintf(c.what, sizeof(c.what), "items[%zu]", i);
	if (!json_is_object(item)) {
		kx_errf(err, "%s: want an object", c.what);
		return -1;
	}
	if (k8s_req_str(item, "kind", kind, sizeof(kind), &c, "kind", err))
		return -1;
	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++)
		if (!strcmp(kind, kinds[k].kind))
			return kinds[k].decode(item, st, &c, err);
	kx_errf(err,
		"%s: kind: unknown kind \"%s\" (want Service, EndpointSlice, Node, Pod, Namespace or NetworkPolicy)",
		c.what, kind);
	return -1;
}

/* How many items of kind there are: each kind's array is sized to its own count. */
static size_t count_kind(json_t *items, const char *kind)
{
	size_t i, n = 0;
	json_t *item;

	json_array_foreach(items, i, item) {
		const char *k = json_string_value(json_object_get(item, "kind"));

		n += k && !strcmp(k, kind);
	}
	return n;
}

/* One slot per item of each kind (and one spare, so no size is 0); false when out of memory. */
static bool alloc_kinds(json_t *items, struct k8s_state *st)
{
	st->svcs = calloc(count_kind(items, "Service") + 1, sizeof(*st->svcs));
	st->slices = calloc(count_kind(items, "EndpointSlice") + 1, sizeof(*st->slices));
	st->nodes = calloc(count_kind(items, "Node") + 1, sizeof(*st->nodes));
	st->pods = calloc(count_kind(items, "Pod") + 1, sizeof(*st->pods));
	st->namespaces = calloc(count_kind(items, "Namespace") + 1, sizeof(*st->namespaces));
	st->netpols = calloc(count_kind(items, "NetworkPolicy") + 1, sizeof(*st->netpols));
	return st->svcs && st->slices && st->nodes && st->pods && st->namespaces && st->netpols;
}

int k8s_decode_list(json_t *root, struct k8s_state *st, struct kx_err *err)
{
	json_t *items, *item;
	size_t i, n;

	memset(st, 0, sizeof(*st));
	if (!json_is_object(root)) {
		kx_errf(err, "state: want a JSON object of kind List");
		return -1;
	}
	items = json_object_get(root, "items");
	if (!json_is_array(items)) {
		kx_errf(err, "state: items: want an array (kubectl get ... -o json output)");
		return -1;
	}
	n = json_array_size(items);
	if (!alloc_kinds(items, st)) {
		kx_errf(err, "state: out of memory for %zu items", n);
		k8s_state_free(st);
		return -1;
	}
	json_array_foreach(items, i, item) {
		char kind[32], object[64 + K8S_NAME_MAX];
		struct kx_err e;

		if (!decode_item(item, i, st, &e))
			continue;
		item_identity(item, i, kind, sizeof(kind), object, sizeof(object));
		if (!k8s_refuse(&st->refused, kind, object, e.msg)) {
			kx_errf(err, "state: out of memory for refused objects");
			k8s_state_free(st);
			return -1;
		}
	}
	return 0;
}

int k8s_decode_string(const char *text, struct k8s_state *st, struct kx_err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	int ret;

	if (!root) {
		kx_errf(err, "state: invalid JSON at line %d column %d: %s", jerr.line,
			jerr.column, jerr.text);
		return -1;
	}
	ret = k8s_decode_list(root, st, err);
	json_decref(root);
	return ret;
}

int k8s_decode_file(const char *path, struct k8s_state *st, struct kx_err *err)
{
	json_error_t jerr;
	json_t *root = json_load_file(path, 0, &jerr);
	int ret;

	if (!root) {
		kx_errf(err, "%s: line %d column %d: %s", path, jerr.line, jerr.column, jerr.text);
		return -1;
	}
	ret = k8s_decode_list(root, st, err);
	json_decref(root);
	return ret;
}

void k8s_state_free(struct k8s_state *st)
{
	size_t i;

	for (i = 0; i < st->n_svcs; i++)
		free(st->svcs[i].ports);
	for (i = 0; i < st->n_slices; i++) {
		free(st->slices[i].ports);
		free(st->slices[i].eps);
	}
	free(st->svcs);
	free(st->slices);
	free(st->nodes);
	k8s_policy_state_free(st);
	k8s_refusals_free(&st->refused);
	memset(st, 0, sizeof(*st));
}

void k8s_state_move_policy(struct k8s_state *from, struct k8s_state *to)
{
	k8s_state_free(to);
	to->pods = from->pods;
	to->n_pods = from->n_pods;
	to->namespaces = from->namespaces;
	to->n_namespaces = from->n_namespaces;
	to->netpols = from->netpols;
	to->n_netpols = from->n_netpols;
	from->pods = NULL;
	from->namespaces = NULL;
	from->netpols = NULL;
	from->n_pods = from->n_namespaces = from->n_netpols = 0;
}

/* The index in st of the pod of p's namespace and name, or -1. */
static int64_t pod_index(const struct k8s_state *st, const struct k8s_pod *p)
{
	for (size_t i = 0; i < st->n_pods; i++)
		if (!strcmp(st->pods[i].name, p->name) && !strcmp(st->pods[i].ns, p->ns))
			return (int64_t)i;
	return -1;
}

int k8s_state_swap_pods(struct k8s_state *st, struct k8s_state *fresh, uint32_t *at)
{
	for (size_t i = 0; i < fresh->n_pods; i++) {
		int64_t j = pod_index(st, &fresh->pods[i]);

		if (j < 0)
			return -1;
		at[i] = (uint32_t)j;
	}
	for (size_t i = 0; i < fresh->n_pods; i++) {
		struct k8s_pod was = st->pods[at[i]];

		st->pods[at[i]] = fresh->pods[i];
		fresh->pods[i] = was;
	}
	return 0;
}
