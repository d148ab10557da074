// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include "model/maglev.h"
#include "model/model.h"

int kx_svc_key_cmp(const struct kx_svc_key *a, const struct kx_svc_key *b)
{
	if (a->vip != b->vip)
		return ntohl(a->vip) < ntohl(b->vip) ? -1 : 1;
	if (a->port != b->port)
		return ntohs(a->port) < ntohs(b->port) ? -1 : 1;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	return (int)a->scope - (int)b->scope;
}

/* By key; of two with one key, the older Service first. */
static int svc_cmp(const void *pa, const void *pb)
{
	const struct kx_svc_desc *a = pa, *b = pb;
	int c = kx_svc_key_cmp(&a->key, &b->key);

	return c ? c : (a->rank > b->rank) - (a->rank < b->rank);
}

static int backend_cmp(const void *pa, const void *pb)
{
	const struct kx_backend_desc *a = pa, *b = pb;

	if (a->addr != b->addr)
		return ntohl(a->addr) < ntohl(b->addr) ? -1 : 1;
	return (int)a->port - (int)b->port;
}

/* Sort and drop repeats (an endpoint listed in several slices counts once). */
static size_t sort_unique(struct kx_backend_desc *bs, size_t n)
{
	size_t out = 0;

	qsort(bs, n, sizeof(*bs), backend_cmp);
	for (size_t i = 0; i < n; i++)
		if (!out || backend_cmp(&bs[out - 1], &bs[i]))
			bs[out++] = bs[i];
	return out;
}

/* The slices of a state, ordered by (namespace, service) to find a service's own. */
struct slice_index {
	const struct k8s_slice **by_svc;
	size_t n;
};

static int slice_cmp(const void *a, const void *b)
{
	const struct k8s_slice *x = *(const struct k8s_slice *const *)a;
	const struct k8s_slice *y = *(const struct k8s_slice *const *)b;
	int c = strcmp(x->ns, y->ns);

	return c ? c : strcmp(x->service, y->service);
}

static int slice_index_build(const struct k8s_state *st, struct slice_index *ix)
{
	ix->n = st->n_slices;
	ix->by_svc = calloc(ix->n + 1, sizeof(*ix->by_svc));
	if (!ix->by_svc)
		return -1;
	for (size_t i = 0; i < ix->n; i++)
		ix->by_svc[i] = &st->slices[i];
	qsort(ix->by_svc, ix->n, sizeof(*ix->by_svc), slice_cmp);
	return 0;
}

/* [*first, *last) of the slices that belong to service s. */
static void slice_range(const struct slice_index *ix, const struct k8s_service *s,
			size_t *first, size_t *last)
{
	size_t lo = 0, hi = ix->n;

	while (lo < hi) { /* first slice not ordered before (s->ns, s->name) */
		size_t mid = (lo + hi) / 2;
		const struct k8s_slice *m = ix->by_svc[mid];
		int c = strcmp(m->ns, s->ns);

		if ((c ? c : strcmp(m->service, s->name)) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*first = lo;
	while (lo < ix->n && !strcmp(ix->by_svc[lo]->ns, s->ns) &&
	       !strcmp(ix->by_svc[lo]->service, s->name))
		lo++;
	*last = lo;
}

/*
 * Backends of one service port, as kube-proxy picks them: the ready
 * endpoints; when none is ready, the serving and terminating ones (KEP-1669).
 * An endpoint listed in several slices counts once. With only_node, only
 * the endpoints on that node (traffic policy Local).
 */
static int collect_backends(const struct slice_index *ix, const struct k8s_service *s,
			    const struct k8s_svc_port *sp, const char *only_node,
			    struct kx_svc_desc *d, struct kx_err *err)
{
	size_t cap = 0, n_ready = 0, n_term = 0, first, last, i, j, k;
	struct kx_backend_desc *ready, *term;

	slice_range(ix, s, &first, &last);
	for (i = first; i < last; i++)
		cap += ix->by_svc[i]->n_eps;
	ready = calloc(cap + 1, sizeof(*ready));
	term = calloc(cap + 1, sizeof(*term));
	if (!ready || !term) {
		free(ready);
		free(term);
		kx_errf(err, "service %s/%s: out of memory", s->ns, s->name);
		return -1;
	}
	for (i = first; i < last; i++) {
		const struct k8s_slice *sl = ix->by_svc[i];

		for (j = 0; j < sl->n_ports; j++) {
			const struct k8s_slice_port *p = &sl->ports[j];

			if (strcmp(p->name, sp->name) || p->proto != sp->proto)
				continue;
			for (k = 0; k < sl->n_eps; k++) {
				const struct k8s_endpoint *e = &sl->eps[k];
				struct kx_backend_desc b = { e->addr, p->port, p->proto,
							     KX_BACKEND_ACTIVE };

				if (only_node && strcmp(e->node, only_node))
					continue;
				/* publishNotReadyAddresses: the EndpointSlice controller
				 * marks all ready; a hand-made slice may not, so here too */
				if (e->ready || s->publish_not_ready) {
					ready[n_ready++] = b;
				} else if (e->serving && e->terminating) {
					b.state = KX_BACKEND_TERMINATING;
					term[n_term++] = b;
				}
			}
			break; /* a slice names a port once; a repeat must not count twice */
		}
	}
	if (n_ready) {
		d->backends = ready;
		d->n_backends = sort_unique(ready, n_ready);
		free(term);
	} else {
		d->backends = term;
		d->n_backends = sort_unique(term, n_term);
		free(ready);
	}
	if (d->n_backends > KX_MAX_BACKENDS_PER_SVC) {
		pr_warn("service %s: %zu endpoints, only the first %d are used", d->name,
			d->n_backends, KX_MAX_BACKENDS_PER_SVC);
		d->n_backends = KX_MAX_BACKENDS_PER_SVC;
	}
	return 0;
}

/* This node's address and pod CIDR, and a route to every other node's pods. */
static int node_info(const struct k8s_state *st, const char *node, struct kx_table *t,
		     struct kx_err *err)
{
	t->routes = calloc(st->n_nodes + 1, sizeof(*t->routes));
	if (!t->routes) {
		kx_errf(err, "model: out of memory for %zu nodes", st->n_nodes);
		return -1;
	}
	for (size_t i = 0; i < st->n_nodes; i++) {
		const struct k8s_node *n = &st->nodes[i];
		struct kx_route_desc *r = &t->routes[t->n_routes];

		if (!strcmp(n->name, node)) {
			t->node_ip = n->internal_ip;
			t->pod_cidr = n->pod_cidr;
			t->pod_cidr_len = n->pod_cidr_len;
			continue;
		}
		if (!n->pod_cidr_len || !n->internal_ip) {
			pr_info("node %s: no %s yet, no route to its pods", n->name,
				n->internal_ip ? "IPv4 pod CIDR" : "InternalIP");
			continue;
		}
		r->dst = n->pod_cidr;
		r->len = n->pod_cidr_len;
		r->via = n->internal_ip;
		snprintf(r->node, sizeof(r->node), "%s", n->name);
		t->n_routes++;
	}
	return 0;
}

/* Ready endpoints of s on node (any port), for its health-check node port. */
static uint32_t local_ready(const struct slice_index *ix, const struct k8s_service *s,
			    const char *node)
{
	size_t first, last, i, k;
	uint32_t n = 0;

	slice_range(ix, s, &first, &last);
	for (i = first; i < last; i++)
		for (k = 0; k < ix->by_svc[i]->n_eps; k++)
			n += ix->by_svc[i]->eps[k].ready && !strcmp(ix->by_svc[i]->eps[k].node, node);
	return n;
}

/* Where one service port is reached: its ClusterIP, node port, external and LB IPs. */
struct svc_addr {
	uint32_t vip;
	uint16_t port; /* host order */
	uint8_t scope;
	bool lb; /* a LoadBalancer ingress IP: source ranges apply */
	bool in_cluster; /* an external address as pods and the node reach it */
};

/* Every external address twice: from outside (scope external), from inside (internal). */
static size_t add_external(struct svc_addr *out, size_t n, uint32_t vip, uint16_t port, bool lb)
{
	out[n++] = (struct svc_addr){ vip, port, KX_SCOPE_EXTERNAL, lb, false };
	out[n++] = (struct svc_addr){ vip, port, KX_SCOPE_INTERNAL, lb, true };
	return n;
}

static size_t service_addrs(const struct k8s_service *s, const struct k8s_svc_port *sp,
			    struct svc_addr *out)
{
	size_t n = 0, i;

	out[n++] = (struct svc_addr){ s->cluster_ip, sp->port, KX_SCOPE_INTERNAL, false, false };
	if (s->type != K8S_SVC_CLUSTER_IP && sp->node_port)
		n = add_external(out, n, KX_VIP_NODEPORT, sp->node_port, false);
	for (i = 0; i < s->n_external_ips; i++)
		n = add_external(out, n, s->external_ips[i], sp->port, false);
	for (i = 0; s->type == K8S_SVC_LOAD_BALANCER && i < s->n_lb_ips; i++)
		n = add_external(out, n, s->lb_ips[i], sp->port, true);
	return n;
}

/*
 * mh: the slots become the Maglev table, each entry one of the backends, so
 * the datapath's hash % count indexes it like any other slot set.
 */
static int maglev_slots(struct kx_svc_desc *d, struct kx_err *err)
{
	uint32_t m = kx_maglev_size(d->n_backends), *table;
	struct kx_backend_desc *slots;

	if (!d->n_backends)
		return 0;
	table = calloc(m, sizeof(*table));
	slots = calloc(m, sizeof(*slots));
	if (!table || !slots || kx_maglev_fill(d->backends, d->n_backends, m, table)) {
		free(table);
		free(slots);
		kx_errf(err, "service %s: out of memory for its Maglev table", d->name);
		return -1;
	}
	for (uint32_t j = 0; j < m; j++)
		slots[j] = d->backends[table[j]];
	free(table);
	free(d->backends);
	d->backends = slots;
	d->n_backends = m;
	return 0;
}

/* The entry of one service port at one address: key, policy, backends, ranges. */
static int port_entry(const struct slice_index *ix, const struct k8s_service *s,
		      const struct k8s_svc_port *sp, const struct svc_addr *a, const char *node,
		      struct kx_svc_desc *d, struct kx_err *err)
{
	bool local = a->in_cluster		     ? false : /* kube-proxy: cluster-wide */
		     a->scope == KX_SCOPE_INTERNAL ? s->itp_local :
						     s->etp_local;
	const char *where = a->scope == KX_SCOPE_INTERNAL && !a->in_cluster ? "" :
			    a->vip == KX_VIP_NODEPORT			  ? " nodePort" :
			    a->lb					  ? " loadBalancer" :
									    " externalIP";

	d->key.vip = a->vip;
	d->key.port = htons(a->port);
	d->key.proto = sp->proto;
	d->key.scope = a->scope;
	d->flags = (local ? KX_SVC_F_LOCAL : 0) | (a->in_cluster ? KX_SVC_F_IN_CLUSTER : 0);
	snprintf(d->owner, sizeof(d->owner), "%s/%s", s->ns, s->name);
	snprintf(d->name, sizeof(d->name), "%s/%s%s%s%s%s", s->ns, s->name,
		 sp->name[0] ? ":" : "", sp->name, where, a->in_cluster ? " (in-cluster)" : "");
	if (a->lb && s->n_src_ranges) {
		d->src_ranges = calloc(s->n_src_ranges, sizeof(*d->src_ranges));
		if (!d->src_ranges) {
			kx_errf(err, "service %s: out of memory", d->name);
			return -1;
		}
		memcpy(d->src_ranges, s->src_ranges, s->n_src_ranges * sizeof(*d->src_ranges));
		d->n_src_ranges = s->n_src_ranges;
		d->flags |= KX_SVC_F_SRC_RANGES;
	}
	if (s->hash_port && (s->algo == KX_ALGO_SH || s->algo == KX_ALGO_MH))
		d->flags |= KX_SVC_F_HASH_PORT;
	d->algo = s->algo;
	d->affinity_timeout_s = s->affinity_timeout_s;
	if (collect_backends(ix, s, sp, local ? node : NULL, d, err))
		return -1;
	return d->algo == KX_ALGO_MH ? maglev_slots(d, err) : 0;
}

/* {ClusterIP, 0, 0}: the address is a Service's (other ports refused, ping answered). */
static void vip_marker(const struct k8s_service *s, struct kx_svc_desc *d)
{
	d->key.vip = s->cluster_ip;
	d->key.scope = KX_SCOPE_INTERNAL;
	d->flags = KX_SVC_F_VIP;
	snprintf(d->owner, sizeof(d->owner), "%s/%s", s->ns, s->name);
	snprintf(d->name, sizeof(d->name), "%s/%s (its ClusterIP)", s->ns, s->name);
}

/* The refusal of the Service b, whose key a (an older one) holds. */
static void duplicate_reason(const struct kx_svc_desc *a, const struct kx_svc_desc *b,
			     struct kx_err *e)
{
	char ip[INET_ADDRSTRLEN];

	if (!strcmp(a->owner, b->owner)) {
		kx_errf(e, "service %s: spec.ports: %u/%s listed twice", b->owner,
			ntohs(b->key.port), b->key.proto == IPPROTO_TCP ? "TCP" : "UDP");
		return;
	}
	if (b->flags & KX_SVC_F_VIP) {
		inet_ntop(AF_INET, &b->key.vip, ip, sizeof(ip));
		kx_errf(e, "service %s: spec.clusterIP: %s is already service %s's", b->owner,
			ip, a->owner);
		return;
	}
	if (b->key.vip == KX_VIP_NODEPORT)
		snprintf(ip, sizeof(ip), "nodePort ");
	else
		inet_ntop(AF_INET, &b->key.vip, ip, sizeof(ip));
	kx_errf(e, "service %s: %s%s%u/%s is already served by service %s", b->name, ip,
		b->key.vip == KX_VIP_NODEPORT ? "" : ":", ntohs(b->key.port),
		b->key.proto == IPPROTO_TCP ? "TCP" : "UDP", a->name);
}

/* Drop every entry and health-check port of one Service from the table. */
static void drop_owner(struct kx_table *t, const char *owner)
{
	size_t i, out = 0;

	for (i = 0; i < t->n_svcs; i++) {
		if (strcmp(t->svcs[i].owner, owner)) {
			t->svcs[out++] = t->svcs[i];
			continue;
		}
		free(t->svcs[i].backends);
		free(t->svcs[i].src_ranges);
	}
	t->n_svcs = out;
	for (i = out = 0; i < t->n_hcs; i++)
		if (strcmp(t->hcs[i].owner, owner))
			t->hcs[out++] = t->hcs[i];
	t->n_hcs = out;
}

/* Two entries with one key: the younger Service is refused whole. */
static int refuse_duplicates(struct kx_table *t, struct kx_err *err)
{
	size_t i = 1;

	while (i < t->n_svcs) {
		const struct kx_svc_desc *a = &t->svcs[i - 1], *b = &t->svcs[i];
		char owner[KX_OWNER_MAX];
		struct kx_err e;

		if (kx_svc_key_cmp(&a->key, &b->key)) {
			i++;
			continue;
		}
		duplicate_reason(a, b, &e);
		snprintf(owner, sizeof(owner), "%s", b->owner);
		if (!k8s_refuse(&t->refused, "Service", owner, e.msg)) {
			kx_errf(err, "model: out of memory for refused services");
			return -1;
		}
		drop_owner(t, owner);
		i = 1; /* the order holds; look again from the start */
	}
	return 0;
}

/* Older first: creationTimestamp (a known one before none), then namespace/name. */
static int age_cmp(const void *pa, const void *pb)
{
	const struct k8s_service *a = *(const struct k8s_service *const *)pa;
	const struct k8s_service *b = *(const struct k8s_service *const *)pb;
	int c;

	if (!a->created[0] != !b->created[0])
		return a->created[0] ? -1 : 1;
	c = strcmp(a->created, b->created);
	if (!c)
		c = strcmp(a->ns, b->ns);
	return c ? c : strcmp(a->name, b->name);
}

/* rank[i]: the age rank of st->svcs[i]. */
static uint32_t *age_ranks(const struct k8s_state *st)
{
	const struct k8s_service **by_age = calloc(st->n_svcs + 1, sizeof(*by_age));
	uint32_t *rank = calloc(st->n_svcs + 1, sizeof(*rank));

	if (!by_age || !rank) {
		free(by_age);
		free(rank);
		return NULL;
	}
	for (size_t i = 0; i < st->n_svcs; i++)
		by_age[i] = &st->svcs[i];
	qsort(by_age, st->n_svcs, sizeof(*by_age), age_cmp);
	for (size_t r = 0; r < st->n_svcs; r++)
		rank[by_age[r] - st->svcs] = (uint32_t)r;
	free(by_age);
	return rank;
}

static int hc_cmp(const void *a, const void *b)
{
	return (int)((const struct kx_hc_desc *)a)->port - (int)((const struct kx_hc_desc *)b)->port;
}

int kx_model_build(const struct k8s_state *st, const char *node, struct kx_table *t,
		   struct kx_err *err)
{
	struct svc_addr addrs[1 + 2 * (1 + 2 * K8S_SVC_ADDRS_MAX)];
	struct slice_index ix = { 0 };
	size_t cap = 0, i, j, k, n, first;
	uint32_t *rank = NULL;

	memset(t, 0, sizeof(*t));
	if (node_info(st, node, t, err))
		return -1;
	for (i = 0; i < st->n_svcs; i++)
		cap += 1 + st->svcs[i].n_ports *
				   (3 + 2 * (st->svcs[i].n_external_ips + st->svcs[i].n_lb_ips));
	t->svcs = calloc(cap + 1, sizeof(*t->svcs));
	t->hcs = calloc(st->n_svcs + 1, sizeof(*t->hcs));
	rank = age_ranks(st);
	if (!t->svcs || !t->hcs || !rank || slice_index_build(st, &ix)) {
		kx_errf(err, "model: out of memory for %zu service ports", cap);
		goto fail;
	}
	for (i = 0; i < st->n_svcs; i++) {
		const struct k8s_service *s = &st->svcs[i];

		if (!s->cluster_ip)
			continue; /* headless or IPv6-only */
		first = t->n_svcs;
		for (j = 0; j < s->n_ports; j++) {
			n = service_addrs(s, &s->ports[j], addrs);
			for (k = 0; k < n; k++) {
				if (port_entry(&ix, s, &s->ports[j], &addrs[k], node,
					       &t->svcs[t->n_svcs], err)) {
					t->n_svcs++; /* freed with the table */
					goto fail;
				}
				t->n_svcs++;
			}
		}
		vip_marker(s, &t->svcs[t->n_svcs++]);
		for (k = first; k < t->n_svcs; k++)
			t->svcs[k].rank = rank[i];
		if (s->hc_node_port) {
			struct kx_hc_desc *h = &t->hcs[t->n_hcs++];

			h->port = s->hc_node_port;
			snprintf(h->owner, sizeof(h->owner), "%s/%s", s->ns, s->name);
			h->local_endpoints = local_ready(&ix, s, node);
		}
	}
	qsort(t->svcs, t->n_svcs, sizeof(*t->svcs), svc_cmp);
	qsort(t->hcs, t->n_hcs, sizeof(*t->hcs), hc_cmp);
	if (refuse_duplicates(t, err))
		goto fail;
	free(ix.by_svc);
	free(rank);
	return 0;
fail:
	free(ix.by_svc);
	free(rank);
	kx_table_free(t);
	return -1;
}

void kx_table_free(struct kx_table *t)
{
	for (size_t i = 0; i < t->n_svcs; i++) {
		free(t->svcs[i].backends);
		free(t->svcs[i].src_ranges);
	}
	free(t->svcs);
	free(t->routes);
	free(t->hcs);
	k8s_refusals_free(&t->refused);
	memset(t, 0, sizeof(*t));
}
