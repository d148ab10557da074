/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prometheus metrics of the agent and its datapath, in the text format,
 * served on --metrics-addr beside /healthz and /readyz. The main loop feeds
 * what only it knows (which Service each entry is, sync durations, watch
 * restarts, write errors); the counters come straight from the maps at each
 * scrape. Thread-safe: scrapes run on the HTTP thread.
 */
#ifndef KX_METRICS_H
#define KX_METRICS_H

#include <stddef.h>
#include <jansson.h>
#include "datapath/maps.h"
#include "k8s/k8s.h"
#include "datapath/sync.h"

struct kx_metrics;

struct kx_metrics *kx_metrics_new(const struct kx_maps *m);
void kx_metrics_free(struct kx_metrics *x);
/* After an apply: how long it took, how many entries did not fit. */
void kx_metrics_sync_done(struct kx_metrics *x, double seconds, size_t failed);
/* The Service of every entry, read from the syncer (main thread). */
void kx_metrics_set_entries(struct kx_metrics *x, struct kx_syncer *s);
void kx_metrics_set_watch_restarts(struct kx_metrics *x, unsigned long restarts);
/* The objects refused now: counted by kind, and listed on /refused. */
void kx_metrics_set_refused(struct kx_metrics *x, const struct k8s_refusals *r);
/* /refused: a JSON array of {kind, object, reason}, malloc'd (NULL: out of memory). */
char *kx_metrics_refused_json(struct kx_metrics *x);
/* What /policy shows (the pods of this node, their sets and policies): view is taken over. */
void kx_metrics_set_policy(struct kx_metrics *x, json_t *view);
/* /policy as JSON text, malloc'd. */
char *kx_metrics_policy_json(struct kx_metrics *x);
/*
 * The objects policies were last compiled from, for explain (NULL: none).
 * st stays the caller's, who changes it only between kx_metrics_policy_lock
 * and kx_metrics_policy_unlock: explain reads it on the HTTP thread.
 */
void kx_metrics_set_policy_state(struct kx_metrics *x, const struct k8s_state *st);
void kx_metrics_policy_lock(struct kx_metrics *x);
void kx_metrics_policy_unlock(struct kx_metrics *x);
/*
 * /policy/explain: the reference verdict, with the policy and rule, of a
 * connection src -> dst:port/proto (network order addresses, host order
 * port), for src's egress and dst's ingress (null where the address is no
 * pod). JSON text, malloc'd.
 */
char *kx_metrics_policy_explain(struct kx_metrics *x, uint32_t src, uint32_t dst, uint8_t proto,
				uint16_t port);
/* The whole exposition, malloc'd (NULL when out of memory). */
char *kx_metrics_render(struct kx_metrics *x);

#endif /* KX_METRICS_H */
