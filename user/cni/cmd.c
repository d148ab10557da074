// SPDX-License-Identifier: GPL-2.0
/* ADD, DEL and CHECK: each wires, unwires or verifies one pod, undoing a half-made ADD. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "kxdp_abi.h"
#include "cni/cni.h"
#include "datapath/maps.h"
#include "datapath/tc.h"

/* The value of key in CNI_ARGS ("K=V;K2=V2") into out: 1, 0 when absent, -1 when too long. */
static int cni_arg(const char *key, char *out, size_t size)
{
	const char *v = getenv("CNI_ARGS");
	size_t klen = strlen(key), n;

	for (; v && *v; v = strchr(v, ';') ? strchr(v, ';') + 1 : NULL) {
		if (strncmp(v, key, klen) || v[klen] != '=')
			continue;
		n = strcspn(v + klen + 1, ";");
		snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), v + klen + 1);
		return n < size ? 1 : -1;
	}
	return 0;
}

/*
 * CNI_ARGS MAC=aa:bb:cc:dd:ee:ff (podman --mac-address), as the bridge plugin
 * takes it: the pod interface gets that address. A malformed one fails.
 */
static void mac_from_args(struct pod *p)
{
	unsigned int m[6];
	char val[32], tail;
	int found = cni_arg("MAC", val, sizeof(val));

	if (!found)
		return;
	if (found < 0 || strlen(val) != 17 ||
	    sscanf(val, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5],
		   &tail) != 6 || (m[0] & 1))
		cni_fail(CNI_ERR_ENV, "CNI_ARGS MAC: want a unicast MAC address aa:bb:cc:dd:ee:ff");
	for (int i = 0; i < 6; i++)
		p->pod_mac[i] = (uint8_t)m[i];
	p->want_mac = true;
}

void cmd_add(const struct cni_env *env, const struct cni_conf *c, int netns_fd)
{
	struct pod p = { 0 };
	struct kx_err err = { "" };
	struct nl_sock *sk = kx_nl_open(&err);
	bool veth = false, ipam = false, ep = false;
	int code = CNI_ERR_NETLINK, r;

	if (!sk)
		cni_fail(CNI_ERR_NETLINK, err.msg);
	mac_from_args(&p);
	if (cni_arg("K8S_POD_NAMESPACE", p.ns, sizeof(p.ns)) < 0) /* the kubelet's: its policies start it */
		cni_fail(CNI_ERR_ENV, "CNI_ARGS K8S_POD_NAMESPACE: longer than 63 characters");
	host_ifname(env, p.host_if);
	r = kx_nl_link_info(sk, p.host_if, NULL, NULL, NULL, &err);
	if (r == 0) {
		kx_errf(&err, "container %s interface %s is already wired (host side %s); DEL it first",
			env->container_id, env->ifname, p.host_if);
		code = CNI_ERR_TRY_LATER;
		goto fail;
	}
	if (kx_check_bpffs(c->bpffs, &err) || datapath_ready(c->bpffs, &err)) {
		code = CNI_ERR_DATAPATH;
		goto fail;
	}
	if (kx_nl_veth_create(sk, p.host_if, env->ifname, netns_fd, c->mtu, &err))
		goto fail;
	veth = true;
	if (kx_nl_link_info(sk, p.host_if, &p.host_ifindex, p.host_mac, NULL, &err))
		goto fail;
	p.ipam_result = ipam_exec(env, c, "ADD", &code, &err);
	if (!p.ipam_result)
		goto fail;
	ipam = true;
	code = CNI_ERR_IPAM;
	if (ipam_address(p.ipam_result, &p, &err))
		goto fail;
	code = CNI_ERR_NETLINK;
	if (configure_pod(netns_fd, env, &p, &err))
		goto fail;
	code = CNI_ERR_DATAPATH;
	if (endpoint_write(c->bpffs, &p, &err))
		goto fail;
	ep = true;
	if (kx_tc_attach_pod(p.host_ifindex, c->bpffs, &err))
		goto fail;
	code = CNI_ERR_NETLINK;
	if (kx_nl_link_up(sk, p.host_if, &err) ||
	    kx_nl_route_add(sk, p.addr, 32, 0, p.host_ifindex, KX_RTPROT_POD, &err))
		goto fail;
	print_result(env, &p);
	json_decref(p.ipam_result);
	kx_nl_close(sk);
	return;
fail:
	/* Leave nothing half-made: entry, lease, veth (its routes go with it). */
	if (ep)
		endpoint_forget(c->bpffs, p.host_ifindex);
	if (ipam) {
		struct kx_err e2;
		int c2;

		json_decref(ipam_exec(env, c, "DEL", &c2, &e2));
	}
	if (veth)
		kx_nl_link_del(sk, p.host_if, NULL);
	json_decref(p.ipam_result);
	kx_nl_close(sk);
	cni_fail(code, err.msg);
}

void cmd_del(const struct cni_env *env, const struct cni_conf *c)
{
	struct kx_err err = { "" };
	struct nl_sock *sk = kx_nl_open(&err);
	struct pod p = { 0 };
	char host_if[IFNAMSIZ];
	int ifindex, code;
	json_t *r;

	if (!sk)
		cni_fail(CNI_ERR_NETLINK, err.msg);
	host_ifname(env, host_if);
	if (!kx_nl_link_info(sk, host_if, &ifindex, NULL, NULL, &err)) {
		endpoint_forget(c->bpffs, ifindex);
		if (kx_nl_link_del(sk, host_if, &err)) {
			kx_nl_close(sk);
			cni_fail(CNI_ERR_NETLINK, err.msg);
		}
	} else if (c->prev_result && !ipam_address(c->prev_result, &p, &err)) {
		/*
		 * The veth went with the pod's netns. The address is still leased
		 * to this container until the IPAM DEL below, so its entry is ours.
		 */
		endpoint_forget_addr(c->bpffs, p.addr);
	}
	kx_nl_close(sk);
	r = ipam_exec(env, c, "DEL", &code, &err);
	if (!r)
		cni_fail(code, err.msg);
	json_decref(r);
}

void cmd_check(const struct cni_env *env, const struct cni_conf *c, int netns_fd)
{
	struct kx_err err = { "" };
	struct nl_sock *sk = kx_nl_open(&err);
	struct kx_endpoint ep;
	struct pod p = { 0 };
	struct kx_maps m;
	bool up = false;
	int code, back;
	json_t *r;

	if (!sk)
		cni_fail(CNI_ERR_NETLINK, err.msg);
	if (!c->prev_result)
		cni_fail(CNI_ERR_CONFIG, "CHECK needs prevResult in the network config");
	if (ipam_address(c->prev_result, &p, &err))
		cni_fail(CNI_ERR_CONFIG, "prevResult: no IPv4 address");
	host_ifname(env, p.host_if);
	if (kx_nl_link_info(sk, p.host_if, &p.host_ifindex, p.host_mac, &up, &err) || !up) {
		kx_errf(&err, "host interface %s is missing or down", p.host_if);
		cni_fail(CNI_ERR_CHECK, err.msg);
	}
	kx_nl_close(sk);
	if (kx_tc_check_pod(p.host_ifindex, c->bpffs, &err))
		cni_fail(CNI_ERR_CHECK, err.msg);
	if (kx_maps_open_pinned(c->bpffs, &m, &err))
		cni_fail(CNI_ERR_DATAPATH, err.msg);
	code = kx_endpoint_get(m.endpoints, p.addr, &ep);
	kx_maps_close(&m);
	if (code || (int)ep.ifindex != p.host_ifindex ||
	    memcmp(ep.host_mac, p.host_mac, 6))
		cni_fail(CNI_ERR_CHECK, "endpoint map entry of the pod is missing or stale");
	if (kx_netns_enter(netns_fd, &back, &err))
		cni_fail(CNI_ERR_CONTAINER, err.msg);
	sk = kx_nl_open(&err);
	code = sk ? kx_nl_link_info(sk, env->ifname, NULL, p.pod_mac, &up, &err) : -1;
	kx_nl_close(sk);
	kx_netns_leave(back);
	if (code || !up)
		cni_fail(CNI_ERR_CHECK, "pod interface is missing or down");
	if (memcmp(ep.pod_mac, p.pod_mac, 6))
		cni_fail(CNI_ERR_CHECK, "endpoint map holds another MAC than the pod's interface");
	r = ipam_exec(env, c, "CHECK", &code, &err);
	if (!r)
		cni_fail(code, err.msg);
	json_decref(r);
}
