/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The agent's HTTP endpoint (libmicrohttpd): /healthz (the main loop is
 * alive) and /readyz (the maps hold the current cluster state), for the
 * DaemonSet's probes, and /metrics (Prometheus text) when metrics are set.
 */
#ifndef KX_HEALTH_H
#define KX_HEALTH_H

#include <stdbool.h>
#include "lib/log.h"

#define KX_DEFAULT_METRICS_ADDR "127.0.0.1:9475"

struct kx_health;

/* Listen on "IP:PORT"; NULL with err on failure. */
struct kx_health *kx_health_start(const char *addr, struct kx_err *err);
void kx_health_stop(struct kx_health *h);
struct kx_metrics;
/* Serve m on /metrics (set once, before scrapes matter). */
void kx_health_set_metrics(struct kx_health *h, struct kx_metrics *m);
/* The main loop calls this every turn; /healthz fails after 30 s without. */
void kx_health_beat(struct kx_health *h);
/* Whether the maps reflect the latest state the source gave. */
void kx_health_ready(struct kx_health *h, bool ready);

#endif /* KX_HEALTH_H */
