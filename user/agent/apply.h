/* SPDX-License-Identifier: GPL-2.0 */
/* From the API store to the maps: the step the agent runs per changed Service. */
#ifndef KX_APPLY_H
#define KX_APPLY_H

#include "agent/hcport.h"
#include "k8s/kapi.h"
#include "datapath/sync.h"

/*
 * Rebuild the entries of one Service ("ns/name") from its objects in the
 * store (model), and sync only them. A Service or slice that fails to
 * decode leaves the entries as they were. Its health-check node port, if
 * any, follows (hc may be NULL). Returns 0 or -1 with err.
 */
int kx_apply_owner(struct kx_syncer *s, struct kx_hcports *hc, struct kapi *k, const char *node,
		   const char *owner, struct kx_sync_stats *st, size_t *n_ports,
		   struct kx_err *err);

#endif /* KX_APPLY_H */
