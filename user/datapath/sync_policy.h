/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Writing the compiled NetworkPolicy (policy/policy.h) into kx_pol_ep,
 * kx_pol_peer, kx_pol_rows and kx_pol_ns, in place and in an order that
 * never opens more than the old or the new policy: new sets are written
 * whole before any pod points at them, a set whose rows stay keeps its id
 * and gets only its changed prefixes (longest first, removals shortest
 * first), a pod's sets change in one entry, and an id is emptied only once
 * no pod points at it. A set that cannot be written (a map full) sends its
 * pods to KX_POL_SET_DENY: fails closed, reported per policy.
 */
#ifndef KX_SYNC_POLICY_H
#define KX_SYNC_POLICY_H

#include "datapath/maps.h"
#include "policy/policy.h"

struct kx_pol_syncer;

/* What one apply did, for the log and metrics. */
struct kx_pol_sync_stats {
	size_t sets; /* ids in use after it */
	size_t sets_written; /* new ids written whole */
	size_t prefixes_written; /* kx_pol_peer updates */
	size_t prefixes_deleted;
	size_t pods_written; /* kx_pol_ep updates */
	size_t failed; /* sets that could not be written (their pods deny) */
};

/*
 * A syncer starting from what the maps hold (an agent restart keeps the
 * sets in place: unchanged ones are not rewritten). NULL with err.
 */
struct kx_pol_syncer *kx_pol_syncer_new(const struct kx_maps *m, struct kx_err *err);
void kx_pol_syncer_free(struct kx_pol_syncer *s);

/*
 * Make the maps say what t says (st: the objects t was built from, for the
 * names in refusals, which go to refused). 0, or -1 when memory runs out.
 */
int kx_pol_sync_apply(struct kx_pol_syncer *s, const struct kx_maps *m,
		      const struct kx_pol_table *t, const struct k8s_state *st,
		      struct k8s_refusals *refused, struct kx_pol_sync_stats *stats,
		      struct kx_err *err);

/* The id set i of the last apply was given (KX_POL_SET_DENY when it could not be written). */
uint16_t kx_pol_sync_id(const struct kx_pol_syncer *s, size_t i);

#endif /* KX_SYNC_POLICY_H */
