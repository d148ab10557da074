// SPDX-License-Identifier: GPL-2.0
/* The pod's wiring: its host veth name, its netns side, its kx_endpoints entry. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "kxdp_abi.h"
#include "cni/cni.h"
#include "datapath/maps.h"

/* "kx" + 12 hex digits of a hash of container id and ifname: stable for DEL. */
void host_ifname(const struct cni_env *env, char out[IFNAMSIZ])
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *s = env->container_id; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *s = env->ifname; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	snprintf(out, IFNAMSIZ, "kx%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

/* Inside the pod: address, lo and eth up, default route via the gateway. */
int configure_pod(int netns_fd, const struct cni_env *env, struct pod *p,
		  struct kx_err *err)
{
	struct nl_sock *sk;
	int back, ifindex, ret = -1;

	if (kx_netns_enter(netns_fd, &back, err))
		return -1;
	sk = kx_nl_open(err);
	if (!sk)
		goto out;
	if (p->want_mac && kx_nl_link_set_mac(sk, env->ifname, p->pod_mac, err))
		goto out;
	if (kx_nl_link_info(sk, env->ifname, &ifindex, p->pod_mac, NULL, err)) {
		if (!err->msg[0])
			kx_errf(err, "pod interface %s vanished", env->ifname);
		goto out;
	}
	if (kx_nl_addr_add(sk, ifindex, p->addr, p->prefixlen, err) ||
	    kx_nl_link_up(sk, "lo", err) || kx_nl_link_up(sk, env->ifname, err) ||
	    kx_nl_route_add(sk, 0, 0, p->gw, ifindex, RTPROT_BOOT, err))
		goto out;
	ret = 0;
out:
	kx_nl_close(sk);
	kx_netns_leave(back);
	return ret;
}

/* The agent has loaded and pinned the datapath: maps and both programs. */
int datapath_ready(const char *bpffs, struct kx_err *err)
{
	const char *progs[] = { KX_PROG_TC_FROM_POD, KX_PROG_TC_TO_POD };
	char path[4096];
	struct kx_maps m;

	if (kx_maps_open_pinned(bpffs, &m, err))
		return -1;
	kx_maps_close(&m);
	for (size_t i = 0; i < 2; i++) {
		kx_pin_path(path, sizeof(path), bpffs, progs[i]);
		if (access(path, F_OK)) {
			kx_errf(err, "program %s is not pinned: is kxdp-agent running?", path);
			return -1;
		}
	}
	return 0;
}

int endpoint_write(const char *bpffs, const struct pod *p, struct kx_err *err)
{
	struct kx_endpoint ep = { .addr = p->addr, .ifindex = p->host_ifindex };
	struct kx_maps m;
	int ret;

	if (kx_maps_open_pinned(bpffs, &m, err))
		return -1;
	memcpy(ep.pod_mac, p->pod_mac, 6);
	memcpy(ep.host_mac, p->host_mac, 6);
	/* its policy start first: no packet reaches it before it is isolated */
	ret = kx_pol_ep_start(&m, p->addr, p->ns, err);
	if (!ret)
		ret = kx_endpoint_put(m.endpoints, &ep, err);
	kx_maps_close(&m);
	return ret;
}

struct forget {
	const struct kx_maps *m;
	int ifindex;
};

static int forget_one(const struct kx_endpoint *ep, void *ctx)
{
	struct forget *f = ctx;

	if ((int)ep->ifindex == f->ifindex) {
		kx_endpoint_del(f->m->endpoints, ep->addr);
		kx_pol_ep_forget(f->m, ep->addr);
	}
	return 0;
}

/* Remove every endpoint entry that points at ifindex. */
void endpoint_forget(const char *bpffs, int ifindex)
{
	struct kx_maps m;
	struct kx_err err;
	struct forget f;

	if (kx_maps_open_pinned(bpffs, &m, &err))
		return; /* no datapath, nothing to forget */
	f = (struct forget){ &m, ifindex };
	kx_endpoint_foreach(m.endpoints, forget_one, &f);
	kx_maps_close(&m);
}

void endpoint_forget_addr(const char *bpffs, uint32_t addr)
{
	struct kx_maps m;
	struct kx_err err;

	if (kx_maps_open_pinned(bpffs, &m, &err))
		return;
	kx_endpoint_del(m.endpoints, addr);
	kx_pol_ep_forget(&m, addr);
	kx_maps_close(&m);
}
