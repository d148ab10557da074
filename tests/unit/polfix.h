/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Clusters for the policy compiler's tests and bench, built in C: pods,
 * namespaces and NetworkPolicies with labels and selectors written as short
 * strings. Everything lives in one arena, freed by fx_free.
 *
 *   labels:    "app=web,tier=db"
 *   selectors: "app=web" (In), "tier in (a|b)", "env notin (x|y)", "team" (Exists),
 *              "!team" (DoesNotExist), several joined by ','; "" matches everything
 */
#ifndef KX_POLFIX_H
#define KX_POLFIX_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "policy/policy.h"

#define FX_CHUNK (1 << 20)
#define FX_PEERS_MAX 8	/* peers of one rule */
#define FX_PORTS_MAX 80 /* port entries of one rule */
#define FX_RULES_MAX 8	/* rules of one policy and direction */
#define FX_POD_PORTS_MAX 8

struct fx_chunk {
	struct fx_chunk *next;
	size_t used, cap;
	max_align_t data[];
};

/* A cluster under test: the state the compiler reads and the arena it lives in. */
struct fx {
	struct k8s_state st;
	struct fx_chunk *mem;
	size_t cap_pods, cap_ns, cap_pols;
};

/* Stop on a fixture written wrong: it is the test's fault. */
#define fx_die(...)                                                                                \
	do {                                                                                       \
		fprintf(stderr, "fixture: " __VA_ARGS__);                                          \
		fputc('\n', stderr);                                                               \
		abort();                                                                           \
	} while (0)

/* n zeroed bytes from the arena. */
static inline void *fx_mem(struct fx *c, size_t n)
{
	void *p;

	n = (n + 15) & ~(size_t)15;
	if (!c->mem || c->mem->used + n > c->mem->cap) {
		size_t cap = n > FX_CHUNK ? n : FX_CHUNK;
		struct fx_chunk *k = calloc(1, sizeof(*k) + cap);

		if (!k)
			fx_die("out of memory");
		k->cap = cap;
		k->next = c->mem;
		c->mem = k;
	}
	p = (unsigned char *)c->mem->data + c->mem->used;
	c->mem->used += n;
	return p;
}

/* A copy of s in the arena. */
static inline char *fx_str(struct fx *c, const char *s)
{
	return strcpy(fx_mem(c, strlen(s) + 1), s);
}

/* An empty cluster with room for so many pods, namespaces and policies. */
static inline struct fx *fx_new(size_t pods, size_t nss, size_t pols)
{
	struct fx *c = calloc(1, sizeof(*c));

	if (!c)
		fx_die("out of memory");
	c->st.pods = fx_mem(c, (pods + 1) * sizeof(*c->st.pods));
	c->st.namespaces = fx_mem(c, (nss + 1) * sizeof(*c->st.namespaces));
	c->st.netpols = fx_mem(c, (pols + 1) * sizeof(*c->st.netpols));
	c->cap_pods = pods;
	c->cap_ns = nss;
	c->cap_pols = pols;
	return c;
}

/* The cluster and everything built in it, freed. */
static inline void fx_free(struct fx *c)
{
	while (c->mem) {
		struct fx_chunk *next = c->mem->next;

		free(c->mem);
		c->mem = next;
	}
	free(c);
}

/* Label order: by key, as the decoder keeps them. */
static inline int fx_label_cmp(const void *a, const void *b)
{
	return strcmp(((const struct k8s_label *)a)->key, ((const struct k8s_label *)b)->key);
}

/* The items of a ','-separated list (sep '|' inside "(...)"), each a copy in the arena. */
static inline size_t fx_split(struct fx *c, const char *list, char sep, char **items, size_t max)
{
	char *copy = fx_str(c, list), *save = NULL, seps[2] = {sep, 0};
	size_t n = 0;

	for (char *it = strtok_r(copy, seps, &save); it; it = strtok_r(NULL, seps, &save)) {
		if (n == max)
			fx_die("more than %zu items in \"%s\"", max, list);
		items[n++] = it;
	}
	return n;
}

/* "k=v,k2=v2" as labels, sorted by key. */
static inline struct k8s_labels fx_labels(struct fx *c, const char *spec)
{
	char *items[32];
	struct k8s_labels l = {0};
	size_t n = fx_split(c, spec, ',', items, 32);

	l.v = fx_mem(c, (n + 1) * sizeof(*l.v));
	for (size_t i = 0; i < n; i++) {
		char *eq = strchr(items[i], '=');

		if (!eq)
			fx_die("label \"%s\" has no '='", items[i]);
		*eq = 0;
		l.v[l.n++] = (struct k8s_label){items[i], eq + 1};
	}
	qsort(l.v, l.n, sizeof(*l.v), fx_label_cmp);
	return l;
}

/* One requirement: "k=v", "k in (a|b)", "k notin (a|b)", "k", "!k". */
static inline void fx_req(struct fx *c, char *item, struct k8s_sel_req *q)
{
	char *eq = strchr(item, '='), *sp = strchr(item, ' '), *open = strchr(item, '(');

	if (item[0] == '!') {
		*q = (struct k8s_sel_req){.key = item + 1, .op = K8S_SEL_DOES_NOT_EXIST};
		return;
	}
	q->key = item;
	if (eq) {
		*eq = 0;
		q->op = K8S_SEL_IN;
		q->values = fx_mem(c, sizeof(*q->values));
		q->values[q->n_values++] = eq + 1;
		return;
	}
	if (!sp) {
		q->op = K8S_SEL_EXISTS;
		return;
	}
	if (!open || !strchr(open, ')'))
		fx_die("selector \"%s\": want \"key in (a|b)\"", item);
	q->op = !strncmp(sp, " notin (", 8) ? K8S_SEL_NOT_IN : K8S_SEL_IN;
	*sp = 0;
	*strchr(open, ')') = 0;
	q->values = fx_mem(c, 16 * sizeof(*q->values));
	q->n_values = fx_split(c, open + 1, '|', q->values, 16);
}

/* A selector from its short form ("" matches everything). */
static inline struct k8s_selector fx_selector(struct fx *c, const char *spec)
{
	char *items[16];
	struct k8s_selector s = {0};
	size_t n = fx_split(c, spec, ',', items, 16);

	s.reqs = fx_mem(c, (n + 1) * sizeof(*s.reqs));
	for (size_t i = 0; i < n; i++)
		fx_req(c, items[i], &s.reqs[s.n_reqs++]);
	return s;
}

/* Split "ns/name" into its halves. */
static inline void fx_ns_name(const char *id, char *ns, size_t ns_size, char *name,
			      size_t name_size)
{
	const char *slash = strchr(id, '/');

	if (!slash)
		fx_die("\"%s\": want namespace/name", id);
	snprintf(ns, ns_size, "%.*s", (int)(slash - id), id);
	snprintf(name, name_size, "%s", slash + 1);
}

/* IPv4 text to network order; "" or NULL: 0. */
static inline uint32_t fx_addr(const char *s)
{
	struct in_addr a = {0};

	if (s && *s && inet_pton(AF_INET, s, &a) != 1)
		fx_die("bad address %s", s);
	return a.s_addr;
}

/* A running pod "ns/name" on node with address ip (NULL: none yet) and labels. */
static inline struct k8s_pod *fx_pod(struct fx *c, const char *id, const char *node, const char *ip,
				     const char *labels)
{
	struct k8s_pod *p;

	if (c->st.n_pods == c->cap_pods)
		fx_die("more than %zu pods", c->cap_pods);
	p = &c->st.pods[c->st.n_pods++];
	fx_ns_name(id, p->ns, sizeof(p->ns), p->name, sizeof(p->name));
	snprintf(p->node, sizeof(p->node), "%s", node);
	p->addr = fx_addr(ip);
	p->labels = fx_labels(c, labels);
	p->ports = fx_mem(c, FX_POD_PORTS_MAX * sizeof(*p->ports));
	return p;
}

/* A container port of pod p (name "" = unnamed). */
static inline void fx_pod_port(struct k8s_pod *p, const char *name, uint16_t port, uint8_t proto)
{
	if (p->n_ports == FX_POD_PORTS_MAX)
		fx_die("more than %d ports on pod %s", FX_POD_PORTS_MAX, p->name);
	p->ports[p->n_ports] = (struct k8s_pod_port){.port = port, .proto = proto};
	snprintf(p->ports[p->n_ports++].name, K8S_PORT_NAME_MAX, "%s", name);
}

/* A Namespace object; the API server's kubernetes.io/metadata.name label is added. */
static inline struct k8s_namespace *fx_ns(struct fx *c, const char *name, const char *labels)
{
	char all[512];
	struct k8s_namespace *ns;

	if (c->st.n_namespaces == c->cap_ns)
		fx_die("more than %zu namespaces", c->cap_ns);
	ns = &c->st.namespaces[c->st.n_namespaces++];
	snprintf(ns->name, sizeof(ns->name), "%s", name);
	snprintf(all, sizeof(all), "kubernetes.io/metadata.name=%s%s%s", name, *labels ? "," : "",
		 labels);
	ns->labels = fx_labels(c, all);
	return ns;
}

/* A NetworkPolicy "ns/name" selecting podsel, its policyTypes "Ingress", "Egress" or both. */
static inline struct k8s_netpol *fx_policy(struct fx *c, const char *id, const char *podsel,
					   const char *types)
{
	struct k8s_netpol *np;

	if (c->st.n_netpols == c->cap_pols)
		fx_die("more than %zu policies", c->cap_pols);
	np = &c->st.netpols[c->st.n_netpols++];
	fx_ns_name(id, np->ns, sizeof(np->ns), np->name, sizeof(np->name));
	np->pod_sel = fx_selector(c, podsel);
	np->ingress_type = strstr(types, "Ingress");
	np->egress_type = strstr(types, "Egress");
	np->ingress = fx_mem(c, FX_RULES_MAX * sizeof(*np->ingress));
	np->egress = fx_mem(c, FX_RULES_MAX * sizeof(*np->egress));
	return np;
}

/* A new rule of np for dir, no peers and no ports yet (both: allow everything). */
static inline struct k8s_np_rule *fx_rule(struct fx *c, struct k8s_netpol *np, enum kx_pol_dir dir)
{
	size_t *n = dir == KX_POL_INGRESS ? &np->n_ingress : &np->n_egress;
	struct k8s_np_rule *r = (dir == KX_POL_INGRESS ? np->ingress : np->egress) + *n;

	if (*n == FX_RULES_MAX)
		fx_die("more than %d rules in %s", FX_RULES_MAX, np->name);
	(*n)++;
	r->peers = fx_mem(c, FX_PEERS_MAX * sizeof(*r->peers));
	r->ports = fx_mem(c, FX_PORTS_MAX * sizeof(*r->ports));
	return r;
}

/* A new peer of r, its kind set. */
static inline struct k8s_np_peer *fx_peer(struct k8s_np_rule *r, enum k8s_np_peer_kind kind)
{
	if (r->n_peers == FX_PEERS_MAX)
		fx_die("more than %d peers", FX_PEERS_MAX);
	r->peers[r->n_peers].kind = kind;
	return &r->peers[r->n_peers++];
}

/* A podSelector and/or namespaceSelector peer (NULL: that selector absent). */
static inline void fx_from_pods(struct fx *c, struct k8s_np_rule *r, const char *podsel,
				const char *nssel)
{
	struct k8s_np_peer *p = fx_peer(r, K8S_PEER_PODS);

	p->has_pod_sel = podsel;
	if (podsel)
		p->pod_sel = fx_selector(c, podsel);
	p->has_ns_sel = nssel;
	if (nssel)
		p->ns_sel = fx_selector(c, nssel);
}

/* "a.b.c.d/len" to a prefix. */
static inline struct k8s_prefix fx_prefix(const char *s)
{
	struct k8s_prefix p;

	if (kx_parse_cidr(s, &p.addr, &p.len) != 1)
		fx_die("bad prefix %s", s);
	return p;
}

/* An ipBlock peer: cidr, and excepts separated by ',' (NULL or "": none). */
static inline void fx_from_block(struct fx *c, struct k8s_np_rule *r, const char *cidr,
				 const char *excepts)
{
	struct k8s_np_peer *p = fx_peer(r, K8S_PEER_BLOCK);
	char *items[16];
	size_t n = excepts ? fx_split(c, excepts, ',', items, 16) : 0;

	p->cidr = fx_prefix(cidr);
	p->except = fx_mem(c, (n + 1) * sizeof(*p->except));
	for (size_t i = 0; i < n; i++)
		p->except[p->n_except++] = fx_prefix(items[i]);
}

/* A numeric port entry (port 0: every port of proto; end 0: port alone). */
static inline void fx_port(struct k8s_np_rule *r, uint8_t proto, uint16_t port, uint16_t end)
{
	if (r->n_ports == FX_PORTS_MAX)
		fx_die("more than %d port entries", FX_PORTS_MAX);
	r->ports[r->n_ports++] =
		(struct k8s_np_port){.proto = proto, .port = port, .end_port = end};
}

/* A named port entry. */
static inline void fx_named(struct k8s_np_rule *r, uint8_t proto, const char *name)
{
	fx_port(r, proto, 0, 0);
	snprintf(r->ports[r->n_ports - 1].name, K8S_PORT_NAME_MAX, "%s", name);
}

/* The index of pod "ns/name" in st->pods. */
static inline uint32_t fx_pod_index(const struct fx *c, const char *id)
{
	char ns[64], name[K8S_NAME_MAX];

	fx_ns_name(id, ns, sizeof(ns), name, sizeof(name));
	for (uint32_t i = 0; i < c->st.n_pods; i++)
		if (!strcmp(c->st.pods[i].ns, ns) && !strcmp(c->st.pods[i].name, name))
			return i;
	fx_die("no pod %s", id);
}

#endif /* KX_POLFIX_H */
