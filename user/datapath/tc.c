// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_link.h>
#include "kxdp_abi.h"
#include "datapath/maps.h"
#include "datapath/tc.h"

static int pinned_prog(const char *bpffs, const char *name, struct kx_err *err)
{
	char path[4096];
	int fd;

	if (kx_pin_path(path, sizeof(path), bpffs, name)) {
		kx_errf(err, "bpffs path too long: %s", bpffs);
		return -1;
	}
	fd = bpf_obj_get(path);
	if (fd < 0)
		kx_errf(err, "program %s: %s (is kxdp-agent running with this bpffs?)", path,
			KX_BPF_ERR(errno));
	return fd;
}

static int attach_one(int ifindex, enum bpf_tc_attach_point where, const char *bpffs,
		      const char *name, struct kx_err *err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = KX_TC_HANDLE, .priority = KX_TC_PRIO,
			    .flags = BPF_TC_F_REPLACE);
	int fd = pinned_prog(bpffs, name, err), e;

	if (fd < 0)
		return -1;
	opts.prog_fd = fd;
	e = bpf_tc_attach(&hook, &opts);
	close(fd);
	if (e) {
		kx_errf(err, "attach %s to ifindex %d: %s", name, ifindex, KX_BPF_ERR(e));
		return -1;
	}
	return 0;
}

/*
 * clsact on the hook's link, there already or made now. libbpf would warn
 * of the kernel's "Exclusivity flag on" for one already there, so its
 * print is off for the call; any other failure the caller reports.
 */
static int clsact_ensure(struct bpf_tc_hook *hook)
{
	libbpf_print_fn_t print = libbpf_set_print(NULL);
	int e = bpf_tc_hook_create(hook);

	libbpf_set_print(print);
	return e == -EEXIST ? 0 : e;
}

/*
 * clsact on ifindex (hook: where libbpf is told to make it), then in on
 * its ingress and out on its egress; link names the link in errors.
 */
static int attach_pair(int ifindex, enum bpf_tc_attach_point hook_at, const char *link,
		       const char *in, const char *out, const char *bpffs, struct kx_err *err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = hook_at);
	int e = clsact_ensure(&hook);

	if (e) {
		kx_errf(err, "clsact on %s: %s", link, KX_BPF_ERR(e));
		return -1;
	}
	if (attach_one(ifindex, BPF_TC_INGRESS, bpffs, in, err) ||
	    attach_one(ifindex, BPF_TC_EGRESS, bpffs, out, err))
		return -1;
	return 0;
}

int kx_tc_attach_pod(int ifindex, const char *bpffs, struct kx_err *err)
{
	char link[32];

	snprintf(link, sizeof(link), "ifindex %d", ifindex);
	return attach_pair(ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS, link, KX_PROG_TC_FROM_POD,
			   KX_PROG_TC_TO_POD, bpffs, err);
}

static int check_one(int ifindex, enum bpf_tc_attach_point where, const char *bpffs,
		     const char *name, struct kx_err *err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = where);
	DECLARE_LIBBPF_OPTS(bpf_tc_opts, opts, .handle = KX_TC_HANDLE, .priority = KX_TC_PRIO);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);
	int fd = pinned_prog(bpffs, name, err), e;

	if (fd < 0)
		return -1;
	e = bpf_obj_get_info_by_fd(fd, &info, &len);
	close(fd);
	if (e) {
		kx_errf(err, "program %s: %s", name, KX_BPF_ERR(errno));
		return -1;
	}
	e = bpf_tc_query(&hook, &opts);
	if (e || opts.prog_id != info.id) {
		kx_errf(err, "ifindex %d: %s is not attached (%s)", ifindex, name,
			e ? KX_BPF_ERR(e) : "another program is");
		return -1;
	}
	return 0;
}

int kx_tc_check_pod(int ifindex, const char *bpffs, struct kx_err *err)
{
	if (check_one(ifindex, BPF_TC_INGRESS, bpffs, KX_PROG_TC_FROM_POD, err) ||
	    check_one(ifindex, BPF_TC_EGRESS, bpffs, KX_PROG_TC_TO_POD, err))
		return -1;
	return 0;
}

/*
 * --xdp off: an xdp_netdev an earlier run attached would go on serving node
 * ports behind this run's back, so it comes off; a program that is not
 * kxdp's is left where it is. Replaced atomically against the program seen
 * (XDP_FLAGS_REPLACE), so a program attached meanwhile is never removed.
 */
static int detach_own_xdp(int ifindex, const char *ifname)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	LIBBPF_OPTS(bpf_xdp_attach_opts, o);
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info), id, flags;
	int fd, e;

	if (bpf_xdp_query(ifindex, 0, &q) || !q.prog_id)
		return 0;
	id = q.prog_id;
	flags = q.attach_mode == XDP_ATTACHED_SKB ? XDP_FLAGS_SKB_MODE : XDP_FLAGS_DRV_MODE;
	fd = bpf_prog_get_fd_by_id(id);
	if (fd < 0 || bpf_obj_get_info_by_fd(fd, &info, &len)) {
		if (fd >= 0)
			close(fd);
		return 0; /* gone meanwhile */
	}
	if (strcmp(info.name, KX_PROG_XDP_NETDEV)) {
		pr_info("uplink %s: XDP program %s (id %u) is not kxdp's: left in place", ifname,
			info.name, id);
		close(fd);
		return 0;
	}
	o.old_prog_fd = fd;
	e = bpf_xdp_attach(ifindex, -1, flags | XDP_FLAGS_REPLACE, &o);
	close(fd);
	if (e) {
		pr_warn("uplink %s: detach %s (--xdp off): %s", ifname, KX_PROG_XDP_NETDEV,
			KX_BPF_ERR(e));
		return 0;
	}
	pr_info("uplink %s: %s detached (--xdp off)", ifname, KX_PROG_XDP_NETDEV);
	return 0;
}

static int attach_xdp(int ifindex, const char *ifname, const char *kind, enum kx_xdp_mode want,
		      const char *bpffs, struct kx_err *err)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, q);
	int fd, e;
	__u32 mode = XDP_FLAGS_DRV_MODE;

	if (want == KX_XDP_OFF)
		return detach_own_xdp(ifindex, ifname);
	/*
	 * On a veth, native XDP makes the peer segment every GSO packet: TCP
	 * across nodes fell from 13 to 3 Gbit/s here (generic: 10). Until
	 * xdp_netdev has work to do there, auto picks generic for veth.
	 */
	if (want == KX_XDP_GENERIC || (want == KX_XDP_AUTO && kind && !strcmp(kind, "veth")))
		mode = XDP_FLAGS_SKB_MODE;
	fd = pinned_prog(bpffs, KX_PROG_XDP_NETDEV, err);
	if (fd < 0)
		return -1;
	/* Stay in the mode already in use: switching modes needs a detach. */
	if (!bpf_xdp_query(ifindex, 0, &q) && q.attach_mode == XDP_ATTACHED_SKB)
		mode = XDP_FLAGS_SKB_MODE;
	else if (!bpf_xdp_query(ifindex, 0, &q) && q.attach_mode == XDP_ATTACHED_DRV)
		mode = XDP_FLAGS_DRV_MODE;
	e = bpf_xdp_attach(ifindex, fd, mode, NULL);
	if (e && mode == XDP_FLAGS_DRV_MODE) {
		pr_warn("uplink %s: no native XDP in its driver (%s); using generic XDP, which is slower",
			ifname, KX_BPF_ERR(e));
		mode = XDP_FLAGS_SKB_MODE;
		e = bpf_xdp_attach(ifindex, fd, mode, NULL);
	}
	close(fd);
	if (e) {
		kx_errf(err, "attach %s to uplink %s: %s", KX_PROG_XDP_NETDEV, ifname, KX_BPF_ERR(e));
		return -1;
	}
	pr_info("uplink %s: %s attached (%s XDP)", ifname, KX_PROG_XDP_NETDEV,
		mode == XDP_FLAGS_DRV_MODE ? "native" : "generic");
	return 0;
}

int kx_tc_attach_uplink(int ifindex, const char *ifname, const char *kind, enum kx_xdp_mode xdp,
			const char *bpffs, struct kx_err *err)
{
	char link[64];

	snprintf(link, sizeof(link), "uplink %s", ifname);
	if (attach_pair(ifindex, BPF_TC_INGRESS, link, KX_PROG_TC_NETDEV, KX_PROG_TC_NETDEV_OUT,
			bpffs, err))
		return -1;
	return attach_xdp(ifindex, ifname, kind, xdp, bpffs, err);
}
