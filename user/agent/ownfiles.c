// SPDX-License-Identifier: GPL-2.0
/* The agent's own files (pins, conflist) put back when removed; pods reattached after a reload. */
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "agent/agent.h"
#include "datapath/loader.h"

/*
 * Every second: the agent's own files, removed behind its back, come back
 * without a cluster change: map pins (pinned again from the agent's fds, so
 * no state is lost), program pins (the programs loaded and pinned again, the
 * pods' filters replaced in place) and the conflist.
 */
void agent_own_files_tick(struct agent *a)
{
	static const char *const progs[] = { KX_PROG_TC_FROM_POD, KX_PROG_TC_TO_POD };
	struct kx_err err = { "" };
	char path[4200];
	uint64_t t = agent_mono_ns();
	int n;

	if (a->o.once || t - a->last_files_ns < 1000000000ull)
		return;
	a->last_files_ns = t;
	n = kx_maps_repin(a->o.bpffs, &a->maps, &err);
	if (n < 0) { /* a reload now would pin new, empty maps beside the agent's */
		pr_warn("%s: programs not reloaded", err.msg);
		return;
	}
	else if (n)
		pr_warn("%d map pins under %s/%s were removed: pinned again", n, a->o.bpffs,
			KX_PIN_DIR);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		if (kx_pin_path(path, sizeof(path), a->o.bpffs, progs[i]) || !access(path, F_OK))
			continue;
		pr_warn("program pin %s was removed: loading and pinning the programs again", path);
		if (kx_loader_load(a->o.bpffs, &err))
			pr_warn("%s", err.msg);
		else
			agent_reattach_pods(a);
		break;
	}
	snprintf(path, sizeof(path), "%s/%s", a->o.cni_conf_dir, KX_CNI_CONFLIST);
	if (a->o.cni_conf_dir[0] && a->cni.pod_cidr_len && access(path, F_OK)) {
		if (kx_conflist_write(a->o.cni_conf_dir, &a->cni, &err) < 0)
			pr_warn("%s", err.msg);
		else
			pr_warn("CNI config %s was removed: written again", path);
	}
}
struct reattach {
	const char *bpffs;
	int n;
};

static int reattach_one(const struct kx_endpoint *ep, void *ctx)
{
	struct reattach *r = ctx;
	struct kx_err err = { "" };
	char name[IF_NAMESIZE];

	if (!if_indextoname(ep->ifindex, name))
		return 0; /* another netns's, or gone: the CNI cleans up */
	if (kx_tc_attach_pod(ep->ifindex, r->bpffs, &err))
		pr_warn("pod veth %s: %s", name, err.msg);
	else
		r->n++;
	return 0;
}

/*
 * After a (re)load: every pod veth of this node gets the programs just
 * pinned, replacing the old ones in place (no detach, no gap).
 */
void agent_reattach_pods(struct agent *a)
{
	/* (also after agent_own_files_tick reloaded the programs) */
	struct reattach r = { a->o.bpffs, 0 };

	if (kx_endpoint_foreach(a->maps.endpoints, reattach_one, &r))
		pr_warn("map %s: %s", KX_MAP_ENDPOINTS, strerror(errno));
	if (r.n)
		pr_info("pod veths: programs replaced in place on %d", r.n);
}
