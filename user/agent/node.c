// SPDX-License-Identifier: GPL-2.0
/* The node around the maps: uplink programs, forwarding, kx_config, CNI config, cgroup hooks. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "agent/agent.h"
#include "agent/takeover.h"
#include "datapath/cgroup.h"

/* The uplink: --uplink, or the interface that holds the node's InternalIP. */
static int find_uplink(struct agent *a, const struct kx_table *t, struct kx_link *l)
{
	struct kx_err err = { "" };
	char ip[INET_ADDRSTRLEN];
	int r;

	if (a->o.uplink)
		r = kx_nl_link_by_name(a->nl, a->o.uplink, l, &err);
	else if (t->node_ip)
		r = kx_nl_link_by_addr(a->nl, t->node_ip, l, &err);
	else {
		pr_warn("node %s: no InternalIP in the state, so no uplink: pass --uplink",
			a->o.node);
		return -1;
	}
	if (r == -ENODEV && !a->o.uplink) {
		inet_ntop(AF_INET, &t->node_ip, ip, sizeof(ip));
		pr_warn("node %s: no interface holds its InternalIP %s: pass --uplink", a->o.node,
			ip);
	} else if (r) {
		pr_warn("%s", err.msg);
	}
	return r ? -1 : 0;
}
/*
 * SNATed node-port flows take source ports KX_SNAT_PORT_MIN..MAX of the node's
 * address; a local port range reaching into them could give a node socket
 * the same tuple. Said once, not changed: the range is the admin's.
 */
void agent_check_port_range(void)
{
	const char *path = "/proc/sys/net/ipv4/ip_local_port_range";
	FILE *f = fopen(path, "r");
	unsigned lo, hi;

	if (!f)
		return;
	if (fscanf(f, "%u %u", &lo, &hi) == 2 && hi >= KX_SNAT_PORT_MIN && lo <= KX_SNAT_PORT_MAX)
		pr_warn("%s is %u-%u: it overlaps the node-port SNAT ports %d-%d; lower its top to %d",
			path, lo, hi, KX_SNAT_PORT_MIN, KX_SNAT_PORT_MAX, KX_SNAT_PORT_MIN - 1);
	fclose(f);
}
/* IP forwarding: pods on other nodes are reached through this node's stack. */
static void enable_forwarding(void)
{
	const char *path = "/proc/sys/net/ipv4/ip_forward";
	char cur = '0';
	FILE *f = fopen(path, "r+");

	if (!f) {
		pr_warn("%s: %s", path, strerror(errno));
		return;
	}
	if (fread(&cur, 1, 1, f) == 1 && cur != '1') {
		rewind(f);
		if (fputs("1\n", f) < 0)
			pr_warn("%s: %s", path, strerror(errno));
		else
			pr_info("IP forwarding enabled (%s)", path);
	}
	fclose(f);
}
static void write_cni_config(struct agent *a, const struct kx_table *t, const struct kx_link *up)
{
	struct kx_cni_params p = { t->pod_cidr, t->pod_cidr_len, up ? up->mtu : 1500,
				   a->o.bpffs };
	struct kx_err err = { "" };
	int r;

	if (!a->o.cni_conf_dir[0])
		return;
	if (!t->pod_cidr_len) {
		pr_warn("node %s: no pod CIDR in the state yet, CNI config not written", a->o.node);
		return;
	}
	if (mkdir(a->o.cni_conf_dir, 0755) && errno != EEXIST)
		pr_warn("mkdir %s: %s", a->o.cni_conf_dir, strerror(errno));
	r = kx_conflist_write(a->o.cni_conf_dir, &p, &err);
	if (r < 0)
		pr_warn("%s", err.msg);
	else if (r > 0)
		pr_info("CNI config written: %s/%s", a->o.cni_conf_dir, KX_CNI_CONFLIST);
	if (r >= 0)
		a->cni = p;
}
/* kx_config from a->cfg. */
static int write_config(struct agent *a, struct kx_err *err)
{
	uint32_t zero = 0;

	if (bpf_map_update_elem(a->maps.config, &zero, &a->cfg, BPF_ANY)) {
		kx_errf(err, "map %s: %s", KX_MAP_CONFIG, strerror(errno));
		return -1;
	}
	return 0;
}
/*
 * The Service CIDR from --service-cidr into a->cfg, over what kx_config
 * holds: a restarted agent keeps the node fields (node ports keep answering)
 * until its first sync confirms or changes them.
 */
static void config_service_cidr(struct agent *a)
{
	uint32_t zero = 0;
	uint8_t len = 0;

	if (bpf_map_lookup_elem(a->maps.config, &zero, &a->cfg))
		memset(&a->cfg, 0, sizeof(a->cfg));
	a->cfg.svc_cidr = 0;
	a->cfg.svc_mask = 0;
	if (!a->o.service_cidr || !a->o.service_cidr[0])
		return;
	kx_parse_cidr(a->o.service_cidr, &a->cfg.svc_cidr, &len);
	a->cfg.svc_mask = len ? htonl(0xffffffffu << (32 - len)) : 0;
	a->cfg.svc_cidr &= a->cfg.svc_mask;
}
/*
 * The node's side of kx_config: its InternalIP (the source of SNATed node
 * port traffic), the uplink, and the addresses node ports answer on.
 */
static void config_node(struct agent *a, const struct kx_table *t, const struct kx_link *up)
{
	struct kx_config c = a->cfg;
	struct kx_err err = { "" };
	int n;

	c.node_ip = t->node_ip;
	c.uplink_ifindex = up ? (uint32_t)up->ifindex : 0;
	memset(c.node_addrs, 0, sizeof(c.node_addrs));
	c.n_node_addrs = 0;
	if (a->o.nodeport_internal) {
		c.node_addrs[0] = t->node_ip;
		c.n_node_addrs = t->node_ip ? 1 : 0;
	} else {
		n = kx_nl_addrs_v4(a->nl, c.node_addrs, KX_NODE_ADDRS, &err);
		if (n < 0)
			pr_warn("node ports: %s", err.msg);
		c.n_node_addrs = n < 0 ? 0 : (uint32_t)n;
	}
	if (!memcmp(&c, &a->cfg, sizeof(c)))
		return;
	a->cfg = c;
	if (write_config(a, &err))
		pr_warn("%s", err.msg);
	else
		pr_info("node ports answer on %u address%s of node %s", c.n_node_addrs,
			c.n_node_addrs == 1 ? "" : "es", a->o.node);
}
/* The node around the maps: uplink programs, routes, forwarding, CNI config. */
void agent_setup_node(struct agent *a, const struct kx_table *t)
{
	struct kx_err err = { "" };
	struct kx_link up;
	bool have_uplink = !find_uplink(a, t, &up);

	if (have_uplink && up.ifindex != a->uplink_ifindex) {
		if (kx_tc_attach_uplink(up.ifindex, up.name, up.kind, a->o.xdp, a->o.bpffs, &err)) {
			pr_warn("%s", err.msg);
		} else {
			a->uplink_ifindex = up.ifindex;
			pr_info("uplink %s: %s attached (TC ingress)", up.name, KX_PROG_TC_NETDEV);
		}
	}
	if (have_uplink) {
		enable_forwarding();
		agent_sync_routes(a, t, &up);
	}
	config_node(a, t, have_uplink ? &up : NULL);
	write_cni_config(a, t, have_uplink ? &up : NULL);
}
/* The sock_* programs for host clients of ClusterIPs, on --cgroup (default: the root). */
static void attach_cgroup(struct agent *a)
{
	struct kx_err err = { "" };
	char root[4096];
	const char *dir = a->o.cgroup;

	if (dir && !dir[0])
		return;
	if (!dir) {
		if (kx_cgroup2_root(root, sizeof(root), &err)) {
			pr_warn("%s", err.msg);
			return;
		}
		dir = root;
	}
	if (kx_cgroup_attach(a->o.bpffs, dir, &err))
		pr_warn("host clients of ClusterIPs: %s", err.msg);
	else
		pr_info("cgroup %s: sock_connect4/sendmsg4/recvmsg4/getpeername4 attached", dir);
}

void agent_config_policy(struct agent *a, bool on)
{
	struct kx_err err;
	uint32_t flags = on ? a->cfg.flags | KX_CFG_F_POLICY : a->cfg.flags & ~KX_CFG_F_POLICY;

	if (flags == a->cfg.flags)
		return;
	a->cfg.flags = flags;
	if (write_config(a, &err))
		pr_warn("%s", err.msg);
	else
		pr_info("NetworkPolicy %s on this node", on ? "in force" : "not in force: no policy");
}

/*
 * At start: report what kube-router left on the node, then kx_config (the
 * Service CIDR, the node's netns cookie) and the cgroup hooks.
 */
void agent_node_init(struct agent *a)
{
	struct kx_takeover_paths kr = { a->o.cni_conf_dir, "/proc/net/ip_vs" };
	struct kx_err err;

	if (!kx_kube_router_report(a->nl, &kr))
		pr_debug("kube-router: nothing of it on this node");
	config_service_cidr(a);
	a->cfg.netns_cookie = kx_netns_cookie(&err);
	if (!a->cfg.netns_cookie)
		pr_warn("%s", err.msg);
	if (write_config(a, &err))
		pr_warn("%s", err.msg);
	attach_cgroup(a);
}
