// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kxdp_abi.h"
#include "maps.h"
#include "tc.h"

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
			strerror(errno));
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
		kx_errf(err, "attach %s to ifindex %d: %s", name, ifindex, strerror(-e));
		return -1;
	}
	return 0;
}

int kx_tc_attach_pod(int ifindex, const char *bpffs, struct kx_err *err)
{
	DECLARE_LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex,
			    .attach_point = BPF_TC_INGRESS | BPF_TC_EGRESS);
	int e = bpf_tc_hook_create(&hook);

	if (e && e != -EEXIST) { /* clsact already there is fine */
		kx_errf(err, "clsact on ifindex %d: %s", ifindex, strerror(-e));
		return -1;
	}
	if (attach_one(ifindex, BPF_TC_INGRESS, bpffs, KX_PROG_TC_FROM_POD, err) ||
	    attach_one(ifindex, BPF_TC_EGRESS, bpffs, KX_PROG_TC_TO_POD, err))
		return -1;
	return 0;
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
		kx_errf(err, "program %s: %s", name, strerror(errno));
		return -1;
	}
	e = bpf_tc_query(&hook, &opts);
	if (e || opts.prog_id != info.id) {
		kx_errf(err, "ifindex %d: %s is not attached (%s)", ifindex, name,
			e ? strerror(-e) : "another program is");
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
