/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Health-check node ports (Service spec.healthCheckNodePort, policy Local):
 * one HTTP listener per port, answering as kube-proxy does, 200 with the
 * number of this node's ready endpoints when there is one, 503 otherwise, so
 * a cloud load balancer sends traffic only to nodes that can serve it.
 */
#ifndef KX_HCPORT_H
#define KX_HCPORT_H

#include "model/model.h"

struct kx_hcports;

struct kx_hcports *kx_hcports_new(void);
void kx_hcports_free(struct kx_hcports *h);
/*
 * Make the listeners of owner exactly descs[0..n) (those whose owner is
 * owner), or, with owner NULL, make all listeners exactly descs[0..n).
 * A port that cannot be opened is reported and retried at the next call.
 */
void kx_hcports_sync(struct kx_hcports *h, const char *owner, const struct kx_hc_desc *descs,
		     size_t n);

#endif /* KX_HCPORT_H */
