// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <fcntl.h>
#include <mntent.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "datapath/cgroup.h"
#include "kxdp_abi.h"
#include "datapath/maps.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

int kx_cgroup2_root(char *buf, size_t n, struct kx_err *err)
{
	FILE *f = setmntent("/proc/mounts", "r");
	struct mntent *m;
	int ret = -1;

	if (!f) {
		kx_errf(err, "/proc/mounts: %s", strerror(errno));
		return -1;
	}
	while ((m = getmntent(f))) {
		if (strcmp(m->mnt_type, "cgroup2"))
			continue;
		snprintf(buf, n, "%s", m->mnt_dir);
		ret = 0;
		break;
	}
	endmntent(f);
	if (ret)
		kx_errf(err, "no cgroup v2 mount in /proc/mounts: host clients of ClusterIPs are not served (pass --cgroup)");
	return ret;
}

uint64_t kx_netns_cookie(struct kx_err *err)
{
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len)) {
		kx_errf(err, "network namespace cookie: %s (Linux 5.14 or later needed)",
			strerror(errno));
		cookie = 0;
	}
	if (fd >= 0)
		close(fd);
	return cookie;
}

/* One program into the cgroup: update the pinned link if it is there, else make one. */
static int attach_one(const char *bpffs, const char *prog, enum bpf_attach_type type, int cg_fd,
		      uint64_t cg_id, struct kx_err *err)
{
	char ppath[4200], lpath[4200], lname[64];
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	int prog_fd, link_fd, ret = -1;

	snprintf(lname, sizeof(lname), "link_%s", prog);
	if (kx_pin_path(ppath, sizeof(ppath), bpffs, prog) ||
	    kx_pin_path(lpath, sizeof(lpath), bpffs, lname)) {
		kx_errf(err, "bpffs path too long: %s", bpffs);
		return -1;
	}
	prog_fd = bpf_obj_get(ppath);
	if (prog_fd < 0) {
		kx_errf(err, "program %s: %s", ppath, KX_BPF_ERR(errno));
		return -1;
	}
	link_fd = bpf_obj_get(lpath);
	if (link_fd >= 0) {
		memset(&info, 0, sizeof(info));
		if (!bpf_obj_get_info_by_fd(link_fd, &info, &len) &&
		    info.type == BPF_LINK_TYPE_CGROUP && info.cgroup.cgroup_id == cg_id) {
			if (bpf_link_update(link_fd, prog_fd, NULL))
				kx_errf(err, "update link %s: %s", lpath, KX_BPF_ERR(errno));
			else
				ret = 0;
			goto out;
		}
		/* a link to another cgroup (--cgroup changed): its pin goes, it detaches */
		close(link_fd);
		unlink(lpath);
	}
	link_fd = bpf_link_create(prog_fd, cg_fd, type, NULL);
	if (link_fd < 0) {
		kx_errf(err, "attach %s to the cgroup: %s", prog, KX_BPF_ERR(errno));
		goto out;
	}
	if (bpf_obj_pin(link_fd, lpath)) {
		kx_errf(err, "pin link %s: %s", lpath, KX_BPF_ERR(errno));
		goto out;
	}
	ret = 0;
out:
	if (link_fd >= 0)
		close(link_fd);
	close(prog_fd);
	return ret;
}

int kx_cgroup_attach(const char *bpffs, const char *path, struct kx_err *err)
{
	static const struct {
		const char *prog;
		enum bpf_attach_type type;
	} hooks[] = {
		{ KX_PROG_SOCK_CONNECT4, BPF_CGROUP_INET4_CONNECT },
		{ KX_PROG_SOCK_SENDMSG4, BPF_CGROUP_UDP4_SENDMSG },
		{ KX_PROG_SOCK_RECVMSG4, BPF_CGROUP_UDP4_RECVMSG },
		{ KX_PROG_SOCK_GETPEERNAME4, BPF_CGROUP_INET4_GETPEERNAME },
	};
	struct stat st;
	int cg_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), ret = 0;

	if (cg_fd < 0 || fstat(cg_fd, &st)) {
		kx_errf(err, "cgroup %s: %s", path, strerror(errno));
		if (cg_fd >= 0)
			close(cg_fd);
		return -1;
	}
	for (size_t i = 0; i < sizeof(hooks) / sizeof(hooks[0]) && !ret; i++)
		ret = attach_one(bpffs, hooks[i].prog, hooks[i].type, cg_fd, st.st_ino, err);
	close(cg_fd);
	return ret;
}
