// SPDX-License-Identifier: GPL-2.0
#include "agent/apply.h"

int kx_apply_owner(struct kx_syncer *s, struct kx_hcports *hc, struct kapi *k, const char *node,
		   const char *owner, struct kx_sync_stats *st, size_t *n_ports,
		   struct kx_err *err)
{
	struct k8s_state ks;
	struct kx_table t;
	int ret;

	if (kapi_take_owner(k, owner, &ks, err))
		return -1;
	ret = kx_model_build(&ks, node, &t, err);
	k8s_state_free(&ks);
	if (ret)
		return -1;
	ret = kx_syncer_owner(s, owner, t.svcs, t.n_svcs, st, err);
	if (hc)
		kx_hcports_sync(hc, owner, t.hcs, t.n_hcs);
	if (n_ports)
		*n_ports = t.n_svcs;
	kx_table_free(&t);
	return ret;
}
