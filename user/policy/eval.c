// SPDX-License-Identifier: GPL-2.0
/*
 * The reference evaluator: one connection judged straight from the objects
 * (selectors, ipBlocks, named ports), not from compiled sets; and the
 * longest-prefix look-up of a compiled set, for tests and the CLI.
 */
#include <stdlib.h>
#include <string.h>
#include "policy/pol_int.h"

/* What is asked: in direction dir, may target and the address peer talk on port/proto? */
struct probe {
	const struct k8s_state *st;
	const struct k8s_pod *target;
	enum kx_pol_dir dir;
	uint32_t peer; /* network order */
	uint8_t proto;
	uint16_t port;
};

/* Whether one peer admits the probe's address: an ipBlock holds it, or a pod it matches has it. */
static bool peer_admits_addr(const struct probe *pr, const struct k8s_netpol *np,
			     const struct k8s_np_peer *peer)
{
	if (peer->kind == K8S_PEER_BLOCK)
		return pol_block_admits(peer, pr->peer);
	for (size_t i = 0; peer->kind == K8S_PEER_PODS && i < pr->st->n_pods; i++) {
		const struct k8s_pod *q = &pr->st->pods[i];

		if (pol_endpoint(q) && q->addr == pr->peer &&
		    pol_peer_has_pod(np, peer, q, pol_ns_labels(pr->st, q->ns)))
			return true;
	}
	return false;
}

/* Whether some peer of rule r admits the probe's address (a rule without peers: any). */
static bool rule_admits_addr(const struct probe *pr, const struct k8s_netpol *np,
			     const struct k8s_np_rule *r)
{
	for (size_t i = 0; i < r->n_peers; i++)
		if (peer_admits_addr(pr, np, &r->peers[i]))
			return true;
	return !r->n_peers;
}

/* Whether pod p has a container port of e's name and protocol numbered port. */
static bool named_on(const struct k8s_pod *p, const struct k8s_np_port *e, uint16_t port)
{
	for (size_t k = 0; k < p->n_ports; k++)
		if (pol_port_is(&p->ports[k], e) && p->ports[k].port == port)
			return true;
	return false;
}

/* Egress named port: a destination pod at the peer address, admitted by r, names the port. */
static bool named_dst_allows(const struct probe *pr, const struct k8s_netpol *np,
			     const struct k8s_np_rule *r, const struct k8s_np_port *e)
{
	for (size_t i = 0; i < pr->st->n_pods; i++) {
		const struct k8s_pod *q = &pr->st->pods[i];

		if (pol_endpoint(q) && q->addr == pr->peer && named_on(q, e, pr->port) &&
		    pol_rule_admits_pod(np, r, q, pol_ns_labels(pr->st, q->ns)))
			return true;
	}
	return false;
}

/* Whether a numeric port entry covers port: port..endPort, or port 0 for all of them. */
static bool numeric_covers(const struct k8s_np_port *e, uint16_t port)
{
	if (!e->port)
		return true;
	return port >= e->port && port <= (e->end_port ? e->end_port : e->port);
}

/* Whether one port entry of rule r admits the probe (its peers included). */
static bool entry_allows(const struct probe *pr, const struct k8s_netpol *np,
			 const struct k8s_np_rule *r, const struct k8s_np_port *e)
{
	if (e->proto != pr->proto)
		return false;
	if (!e->name[0])
		return numeric_covers(e, pr->port) && rule_admits_addr(pr, np, r);
	if (pr->dir == KX_POL_INGRESS)
		return named_on(pr->target, e, pr->port) && rule_admits_addr(pr, np, r);
	return named_dst_allows(pr, np, r, e);
}

/* Whether rule r admits the probe: some port entry (none: every port of every protocol). */
static bool rule_allows(const struct probe *pr, const struct k8s_netpol *np,
			const struct k8s_np_rule *r)
{
	for (size_t i = 0; i < r->n_ports; i++)
		if (entry_allows(pr, np, r, &r->ports[i]))
			return true;
	return !r->n_ports && rule_admits_addr(pr, np, r);
}

/* The first rule of policy p admitting the probe into v, if any. */
static void first_rule(const struct probe *pr, uint32_t p, struct kx_pol_verdict *v)
{
	const struct k8s_netpol *np = &pr->st->netpols[p];
	size_t n;
	const struct k8s_np_rule *rules = pol_rules(np, pr->dir, &n);

	for (size_t i = 0; i < n; i++) {
		if (rule_allows(pr, np, &rules[i])) {
			v->policy = (int32_t)p;
			v->rule = (int32_t)i;
			return;
		}
	}
}

/* The verdict by the Kubernetes rules: every policy selecting the pod, the first allowing rule. */
void kx_policy_eval(const struct k8s_state *st, uint32_t pod, enum kx_pol_dir dir, uint32_t peer,
		    uint8_t proto, uint16_t port, struct kx_pol_verdict *v)
{
	struct probe pr = {st, pod < st->n_pods ? &st->pods[pod] : NULL, dir, peer, proto, port};

	memset(v, 0, sizeof(*v));
	v->policy = v->rule = -1;
	for (uint32_t p = 0; pr.target && p < st->n_netpols; p++) {
		if (!pol_has_type(&st->netpols[p], dir) || !pol_selects(&st->netpols[p], pr.target))
			continue;
		v->n_selecting++;
		if (v->policy < 0)
			first_rule(&pr, p, v);
	}
	v->isolated = v->n_selecting > 0;
	v->allowed = !v->isolated || v->policy >= 0;
}

/* Longest prefix holding addr, by a linear scan (tests and the CLI, not the datapath). */
uint64_t kx_pol_set_lookup(const struct kx_pol_set *s, uint32_t addr)
{
	const struct kx_pol_prefix *best = NULL;

	for (size_t i = 0; i < s->n_prefixes; i++) {
		const struct kx_pol_prefix *p = &s->prefixes[i];

		if (pol_prefix_holds(p->addr, p->len, addr) && (!best || p->len > best->len))
			best = p;
	}
	return best ? best->rows : 0;
}
