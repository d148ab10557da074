/* SPDX-License-Identifier: GPL-2.0 */
/* The agent's own state and the steps main.c strings together (kxdp-agent only). */
#ifndef KX_AGENT_H
#define KX_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>
#include <jansson.h>
#include "kxdp_abi.h"
#include "agent/conflist.h"
#include "agent/ctgc.h"
#include "agent/hcport.h"
#include "agent/health.h"
#include "agent/metrics.h"
#include "datapath/maps.h"
#include "datapath/sync.h"
#include "datapath/sync_policy.h"
#include "datapath/tc.h"
#include "k8s/kapi.h"
#include "lib/netlink.h"
#include "model/model.h"

struct agent_opts {
	const char *node;
	const char *state; /* a List file, or NULL: the API server */
	const char *kubeconfig; /* NULL with no --state: in-cluster config */
	const char *bpffs;
	const char *uplink; /* NULL: the interface holding the node's InternalIP */
	const char *cni_conf_dir; /* "" = do not write the CNI config */
	const char *metrics_addr; /* /healthz, /readyz; "" = none */
	const char *service_cidr; /* unallocated ClusterIPs in it are refused */
	enum kx_xdp_mode xdp; /* how xdp_netdev goes on the uplink */
	bool nodeport_internal; /* node ports on the InternalIP only (kube-router's way) */
	const char *cgroup; /* cgroup v2 dir for the sock_* programs; NULL = the root, "" = none */
	uint32_t ct_gc_interval; /* seconds between conntrack GC walks; 0 = none */
	struct kx_ct_timeouts ct_timeouts;
	bool once;
};

/* What the agent keeps between applies. */
struct agent {
	struct agent_opts o;
	struct kx_maps maps;
	struct nl_sock *nl;
	int uplink_ifindex; /* where the uplink programs were last attached, 0 = none */
	struct kx_health *health;
	struct kx_syncer *syncer; /* mirror of the maps, kept across applies */
	struct kx_config cfg; /* what kx_config holds */
	struct kx_hcports *hc; /* health-check node ports being served */
	struct kx_metrics *metrics; /* what /metrics shows of the agent */
	uint32_t *neighs; /* other nodes' IPs with a managed neighbour entry */
	size_t n_neighs;
	int neigh_ifindex; /* on this interface */
	int clock_fd; /* ct_clock, for the conntrack GC; -1 = no GC */
	struct kx_clock clock0; /* the agent's first clock reading: HZ is measured from it */
	unsigned int hz; /* the kernel's, once measured */
	uint64_t last_gc_ns; /* CLOCK_MONOTONIC of the last GC walk */
	struct kx_cni_params cni; /* the conflist last written (cni.pod_cidr_len 0: none yet) */
	uint64_t last_files_ns; /* CLOCK_MONOTONIC of the last look at the agent's own files */
	struct k8s_refusals file_refused; /* items of the state file that do not decode */
	json_t *svc_refused; /* "ns/name" -> why the model refused that Service */
	struct kx_pol_syncer *pol_syncer; /* mirror of the policy maps */
	json_t *pol_refused; /* "ns/name" -> why that NetworkPolicy is not (wholly) in force */
	json_t *pol_lines; /* "ns/name" -> its last logged line, so only changes are logged */
	/* the Pods, Namespaces, NetworkPolicies last compiled (explain reads them: see metrics.h) */
	struct k8s_state pol_state;
	struct kx_pol_table pol_table; /* compiled from pol_state for this node */
	bool pol_current; /* pol_table is pol_state's, pol_state the last take's: pods patch in */
};

/*
 * More Pods changed at once than this: the policies are compiled afresh, not
 * patched (a patch costs about one build's 1/500 per pod with 1,000 policies
 * each way over 10,000 pods, and finding each pod in the kept state is linear).
 */
#define AGENT_PATCH_MAX 64

/*
 * policy.c: compile and program the NetworkPolicies of st; 0, or -1 (the
 * last ones stay). st's Pods, Namespaces and NetworkPolicies are taken (kept
 * for /policy/explain and the next patch).
 */
int agent_apply_policy(struct agent *a, struct k8s_state *st, const char *source);
/*
 * Only Pods changed in place since the last policy take (k->dirty_pods, no
 * k->policy_full): decode those, patch them into the kept state and table,
 * program. 0 or -1 as agent_apply_policy; 1 when it takes a whole take
 * (kapi_take_policy) instead, nothing changed.
 */
int agent_apply_policy_pods(struct agent *a, struct kapi *k);

/* The signal that ends the main loop (0: none yet); main.c's handler sets it. */
extern volatile sig_atomic_t agent_stop;

/* options.c: argv into o; 0, or -1 after a line on stderr (usage: exit 2). */
int agent_parse_opts(int argc, char **argv, struct agent_opts *o);

static inline uint64_t agent_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* node.c: the node around the maps. */
void agent_node_init(struct agent *a);
/* KX_CFG_F_POLICY in kx_config: on before any policy set is written, off once none is. */
void agent_config_policy(struct agent *a, bool on);
void agent_check_port_range(void);
void agent_setup_node(struct agent *a, const struct kx_table *t);

/* routes.c: routes, neighbours and kx_nodes for the other nodes' pods. */
void agent_sync_routes(struct agent *a, const struct kx_table *t, const struct kx_link *up);

/* gc.c: the conntrack GC's clock and its walks. */
void agent_gc_init(struct agent *a);
void agent_gc_tick(struct agent *a);

/* ownfiles.c: pins and the conflist removed behind the agent's back. */
void agent_own_files_tick(struct agent *a);
void agent_reattach_pods(struct agent *a);

/* reconcile.c: from decoded objects to the maps and the node. */
int agent_apply_objects(struct agent *a, const struct k8s_state *ks, const char *source);
int agent_apply_state(struct agent *a);
int agent_apply_incremental(struct agent *a, struct kapi *k);
/* Pod, Namespace or NetworkPolicy events: pods patched in, or every policy compiled afresh. */
int agent_apply_policy_api(struct agent *a, struct kapi *k);
void agent_report_refusals(struct agent *a, struct kapi *k);

/* loop.c: the main loops, one per source of cluster state. */
int agent_run_state_file(struct agent *a);
int agent_run_api(struct agent *a);

#endif /* KX_AGENT_H */
