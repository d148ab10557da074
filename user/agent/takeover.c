// SPDX-License-Identifier: GPL-2.0
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "lib/log.h"
#include "lib/netlink.h"
#include "agent/takeover.h"

#define UNTOUCHED "kxdp leaves it as it is"

/* kube-bridge and the pods still on it. */
static int check_bridge(struct nl_sock *sk)
{
	int ifindex, ports;

	if (kx_nl_link_info(sk, "kube-bridge", &ifindex, NULL, NULL, NULL))
		return 0;
	ports = kx_nl_link_ports(sk, ifindex);
	pr_warn("kube-router: bridge kube-bridge is here with %d pod ports: run kube-router "
		"with --enable-cni=false; those pods keep it until the node is drained, new pods "
		"get kxdp's veths (until then they reach each other only with "
		"net.ipv4.conf.kube-bridge.proxy_arp=1); " UNTOUCHED, ports < 0 ? 0 : ports);
	return 1;
}

/* IPVS virtual servers (/proc/net/ip_vs) and kube-dummy-if's ClusterIPs. */
static int check_service_proxy(struct nl_sock *sk, const char *ip_vs)
{
	FILE *f = fopen(ip_vs, "r");
	int ifindex, vips = -1, servers = 0;
	char line[256];

	if (f) {
		while (fgets(line, sizeof(line), f))
			servers += !strncmp(line, "TCP ", 4) || !strncmp(line, "UDP ", 4) ||
				   !strncmp(line, "SCTP ", 5) || !strncmp(line, "FWM ", 4);
		fclose(f);
	}
	if (!kx_nl_link_info(sk, "kube-dummy-if", &ifindex, NULL, NULL, NULL))
		vips = kx_nl_link_addrs(sk, ifindex);
	if (!servers && vips < 0)
		return 0;
	pr_warn("kube-router: its service proxy is on (%d IPVS virtual servers%s): run "
		"kube-router with --run-service-proxy=false; kxdp serves every Service before "
		"IPVS sees it; " UNTOUCHED, servers,
		vips >= 0 ? (vips ? ", kube-dummy-if holding ClusterIPs" : ", kube-dummy-if") : "");
	return 1;
}

/* kube-router's firewall chains, as iptables-save (nft or legacy) shows them. */
static int check_firewall(void)
{
	static const char *const saves[] = { "iptables-save", "iptables-legacy-save" };
	static const char *const prefixes[] = { ":KUBE-ROUTER-", ":KUBE-NWPLCY-", ":KUBE-POD-FW-" };
	int chains = 0, tried = 0;
	char cmd[64], line[512];

	for (size_t i = 0; i < sizeof(saves) / sizeof(saves[0]); i++) {
		FILE *p;

		snprintf(cmd, sizeof(cmd), "%s 2>/dev/null", saves[i]);
		p = popen(cmd, "r");
		if (!p)
			continue;
		while (fgets(line, sizeof(line), p))
			for (size_t k = 0; k < sizeof(prefixes) / sizeof(prefixes[0]); k++)
				chains += !strncmp(line, prefixes[k], strlen(prefixes[k]));
		tried += pclose(p) == 0;
	}
	if (!tried)
		pr_info("kube-router: no iptables-save here, its firewall chains not looked for");
	if (!chains)
		return 0;
	pr_warn("kube-router: its firewall is on (%d KUBE-ROUTER-/KUBE-NWPLCY-/KUBE-POD-FW- "
		"chains): run kube-router with --run-firewall=false; kxdp delivers pod traffic "
		"past those chains, so they no longer enforce NetworkPolicy; " UNTOUCHED, chains);
	return 1;
}

/* kube-router's conflist: a kubelet takes the first file by name, and it sorts first. */
static int check_conflist(const char *dir)
{
	struct dirent *d;
	DIR *dh;
	int n = 0;

	if (!dir || !dir[0] || !(dh = opendir(dir)))
		return 0;
	while ((d = readdir(dh))) {
		if (!strstr(d->d_name, "kuberouter") && !strstr(d->d_name, "kube-router"))
			continue;
		pr_warn("kube-router: CNI config %s/%s is here and a kubelet takes the first by "
			"name: run kube-router with --enable-cni=false and remove it, or new pods "
			"go on kube-bridge; " UNTOUCHED, dir, d->d_name);
		n++;
	}
	closedir(dh);
	return n;
}

int kx_kube_router_report(struct nl_sock *sk, const struct kx_takeover_paths *p)
{
	return check_bridge(sk) + check_service_proxy(sk, p->ip_vs) + check_firewall() +
	       check_conflist(p->cni_conf_dir);
}
