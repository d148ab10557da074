// SPDX-License-Identifier: GPL-2.0
/* The matching rules of networking.k8s.io/v1: label selectors, peers, ipBlocks, ports. */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include "policy/pol_int.h"

const struct k8s_labels pol_no_labels;

/* Room for one more element: the compiler's arrays all grow this way. */
int pol_grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t want = *cap ? 2 * *cap : 16;
	void *nv;

	if (n < *cap)
		return 0;
	nv = realloc(*v, want * size);
	if (!nv)
		return -1;
	*v = nv;
	*cap = want;
	return 0;
}

/* Append one index. */
int u32_push(struct u32_vec *v, uint32_t x)
{
	if (pol_grow((void **)&v->v, &v->cap, v->n, sizeof(*v->v)))
		return -1;
	v->v[v->n++] = x;
	return 0;
}

/* qsort order of indices. */
static int u32_cmp(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return (x > y) - (x < y);
}

/* Sort n elements of size bytes at v by cmp and keep one of each: how many are left. */
size_t pol_sort_unique(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	unsigned char *base = v;
	size_t out = 0;

	if (!n)
		return 0;
	qsort(v, n, size, cmp);
	for (size_t i = 0; i < n; i++) {
		if (out && !cmp(base + (out - 1) * size, base + i * size))
			continue;
		if (out != i)
			memcpy(base + out * size, base + i * size, size);
		out++;
	}
	return out;
}

/* Sorted and without repeats: a union of index lists becomes a set. */
void u32_sort_unique(struct u32_vec *v)
{
	v->n = pol_sort_unique(v->v, v->n, sizeof(*v->v), u32_cmp);
}

/* bsearch order of a key against a label (labels are sorted by key). */
static int label_key_cmp(const void *key, const void *label)
{
	return strcmp(key, ((const struct k8s_label *)label)->key);
}

/* The value of label key, NULL when the object has no such label. */
static const char *label_value(const struct k8s_labels *l, const char *key)
{
	const struct k8s_label *hit;

	hit = l->n ? bsearch(key, l->v, l->n, sizeof(*l->v), label_key_cmp) : NULL;
	return hit ? hit->value : NULL;
}

/* Whether value is one of the requirement's values (In, NotIn). */
static bool req_lists(const struct k8s_sel_req *q, const char *value)
{
	for (size_t i = 0; i < q->n_values; i++)
		if (!strcmp(q->values[i], value))
			return true;
	return false;
}

/* One requirement of a selector against an object's labels. */
static bool req_holds(const struct k8s_sel_req *q, const struct k8s_labels *l)
{
	const char *value = label_value(l, q->key);

	switch (q->op) {
	case K8S_SEL_IN:
		return value && req_lists(q, value);
	case K8S_SEL_NOT_IN:
		return !value || !req_lists(q, value);
	case K8S_SEL_EXISTS:
		return value;
	case K8S_SEL_DOES_NOT_EXIST:
		return !value;
	}
	return false;
}

/* A label selector: every requirement holds (none: everything matches). */
bool pol_sel_match(const struct k8s_selector *s, const struct k8s_labels *l)
{
	for (size_t i = 0; i < s->n_reqs; i++)
		if (!req_holds(&s->reqs[i], l))
			return false;
	return true;
}

/* A pod policies can select or name as a peer: an address, its own network, running. */
bool pol_endpoint(const struct k8s_pod *p)
{
	return p->addr && !p->host_network && !p->finished;
}

/* Whether np isolates the pods it selects in direction dir (policyTypes). */
bool pol_has_type(const struct k8s_netpol *np, enum kx_pol_dir dir)
{
	return dir == KX_POL_INGRESS ? np->ingress_type : np->egress_type;
}

/* Whether np's podSelector selects p (its namespace's pods only). */
bool pol_selects(const struct k8s_netpol *np, const struct k8s_pod *p)
{
	return pol_endpoint(p) && !strcmp(np->ns, p->ns) && pol_sel_match(&np->pod_sel, &p->labels);
}

/* The rules of np for direction dir. */
const struct k8s_np_rule *pol_rules(const struct k8s_netpol *np, enum kx_pol_dir dir, size_t *n)
{
	*n = dir == KX_POL_INGRESS ? np->n_ingress : np->n_egress;
	return dir == KX_POL_INGRESS ? np->ingress : np->egress;
}

/* A rule's peers; a rule without any admits every address: one ipBlock 0.0.0.0/0. */
const struct k8s_np_peer *pol_rule_peers(const struct k8s_np_rule *r, size_t *n)
{
	static const struct k8s_np_peer everyone = {.kind = K8S_PEER_BLOCK};

	*n = r->n_peers ? r->n_peers : 1;
	return r->n_peers ? r->peers : &everyone;
}

/* A PODS peer's namespace half: namespaceSelector, or else np's own namespace. */
bool pol_peer_ns_admits(const struct k8s_netpol *np, const struct k8s_np_peer *peer, const char *ns,
			const struct k8s_labels *ns_labels)
{
	if (peer->has_ns_sel)
		return pol_sel_match(&peer->ns_sel, ns_labels);
	return !strcmp(np->ns, ns);
}

/* A PODS peer's pod half: podSelector, or else every pod. */
bool pol_peer_labels_admit(const struct k8s_np_peer *peer, const struct k8s_labels *l)
{
	return !peer->has_pod_sel || pol_sel_match(&peer->pod_sel, l);
}

/* Whether a PODS peer of np matches endpoint pod q (ns_labels: its namespace's): ns AND pod. */
bool pol_peer_has_pod(const struct k8s_netpol *np, const struct k8s_np_peer *peer,
		      const struct k8s_pod *q, const struct k8s_labels *ns_labels)
{
	return pol_peer_ns_admits(np, peer, q->ns, ns_labels) &&
	       pol_peer_labels_admit(peer, &q->labels);
}

/* Whether rule r of np admits endpoint pod q: a peer's selectors, an ipBlock, or no peers. */
bool pol_rule_admits_pod(const struct k8s_netpol *np, const struct k8s_np_rule *r,
			 const struct k8s_pod *q, const struct k8s_labels *ns_labels)
{
	for (size_t i = 0; i < r->n_peers; i++) {
		const struct k8s_np_peer *peer = &r->peers[i];

		if (peer->kind == K8S_PEER_BLOCK && pol_block_admits(peer, q->addr))
			return true;
		if (peer->kind == K8S_PEER_PODS && pol_peer_has_pod(np, peer, q, ns_labels))
			return true;
	}
	return !r->n_peers;
}

/* Whether a rule has a named port entry (its rows depend on a pod's container ports). */
bool pol_rule_has_named(const struct k8s_np_rule *r)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (r->ports[i].name[0])
			return true;
	return false;
}

/* The network of addr/len: host bits cleared (network order). */
uint32_t pol_net(uint32_t addr, uint8_t len)
{
	return len ? addr & htonl(~0u << (32 - len)) : 0;
}

/* Whether prefix net/len (network order) holds addr. */
bool pol_prefix_holds(uint32_t net, uint8_t len, uint32_t addr)
{
	uint32_t mask = len ? ~0u << (32 - len) : 0;

	return ((ntohl(addr) ^ ntohl(net)) & mask) == 0;
}

/* An ipBlock: inside cidr and inside none of its excepts. */
bool pol_block_admits(const struct k8s_np_peer *peer, uint32_t addr)
{
	if (!pol_prefix_holds(peer->cidr.addr, peer->cidr.len, addr))
		return false;
	for (size_t i = 0; i < peer->n_except; i++)
		if (pol_prefix_holds(peer->except[i].addr, peer->except[i].len, addr))
			return false;
	return true;
}

/* Whether container port pp is what named port entry e names (name and protocol). */
bool pol_port_is(const struct k8s_pod_port *pp, const struct k8s_np_port *e)
{
	return pp->proto == e->proto && !strcmp(pp->name, e->name);
}

/* The row of a numeric port entry: port..endPort, or every port of its protocol. */
struct kx_pol_row pol_numeric_row(const struct k8s_np_port *e)
{
	struct kx_pol_row r = {.proto = e->proto, .port_lo = e->port, .port_hi = e->port};

	if (!e->port)
		r.port_hi = 65535;
	else if (e->end_port)
		r.port_hi = e->end_port;
	return r;
}

/* Whether row r admits a connection to port of protocol proto (row proto 0: any). */
bool pol_row_matches(const struct kx_pol_row *r, uint8_t proto, uint16_t port)
{
	return (!r->proto || r->proto == proto) && port >= r->port_lo && port <= r->port_hi;
}
