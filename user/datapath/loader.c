// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdbool.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "kxdp.skel.h"
#include "kxdp_abi.h"
#include "datapath/loader.h"
#include "datapath/maps.h"

static int pin_dir(const char *bpffs, char *dir, size_t n, struct kx_err *err)
{
	int len = snprintf(dir, n, "%s/%s", bpffs, KX_PIN_DIR);

	if (len < 0 || (size_t)len >= n) {
		kx_errf(err, "bpffs path too long: %s", bpffs);
		return -1;
	}
	if (mkdir(dir, 0700) && errno != EEXIST) {
		kx_errf(err, "mkdir %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

/* Pin under a temporary name, then rename over the old pin: never a gap. */
static int pin_program(struct bpf_program *prog, const char *dir, struct kx_err *err)
{
	char path[4200], tmp[4300];
	int ret;

	snprintf(path, sizeof(path), "%s/%s", dir, bpf_program__name(prog));
	/* bpffs reserves names with a dot, so the temporary one is a prefix. */
	snprintf(tmp, sizeof(tmp), "%s/new_%s", dir, bpf_program__name(prog));
	unlink(tmp);
	ret = bpf_program__pin(prog, tmp);
	if (ret) {
		kx_errf(err, "pin program %s at %s: %s", bpf_program__name(prog), tmp,
			KX_BPF_ERR(ret));
		return -1;
	}
	if (rename(tmp, path)) {
		kx_errf(err, "rename pin %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
}

/* A map pinned under dir whose definition differs from the object's: its name, or NULL. */
static const char *pinned_layout_mismatch(struct kxdp *skel, const char *dir)
{
	struct bpf_map *map;
	char path[4400];

	bpf_object__for_each_map(map, skel->obj) {
		struct bpf_map_info info = { 0 };
		__u32 len = sizeof(info);
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		if (!bpf_obj_get_info_by_fd(fd, &info, &len) &&
		    (info.type != bpf_map__type(map) || info.key_size != bpf_map__key_size(map) ||
		     info.value_size != bpf_map__value_size(map) ||
		     info.max_entries != bpf_map__max_entries(map))) {
			close(fd);
			return bpf_map__name(map);
		}
		close(fd);
	}
	return NULL;
}

/* Is capability cap in this process's effective set (/proc/self/status)? */
static bool cap_effective(int cap)
{
	FILE *f = fopen("/proc/self/status", "r");
	unsigned long long eff = 0;
	char line[256];

	if (!f)
		return true; /* cannot tell: do not blame it */
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "CapEff: %llx", &eff) == 1)
			break;
	fclose(f);
	return eff & (1ull << cap);
}

/* Seccomp: line of /proc/self/status: 2 = a filter is installed. */
static int seccomp_mode(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int mode = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Seccomp: %d", &mode) == 1)
			break;
	fclose(f);
	return mode;
}

#define CAP_NET_ADMIN_ 12
#define CAP_SYS_ADMIN_ 21
#define CAP_PERFMON_ 38
#define CAP_BPF_ 39

/* The likely cause of a failed load, from what this process can see. */
static void load_failure_cause(struct kxdp *skel, const char *dir, int e, char *out, size_t n)
{
	const char *map;
	bool admin = cap_effective(CAP_SYS_ADMIN_);

	if (e == EINVAL && (map = pinned_layout_mismatch(skel, dir))) {
		snprintf(out, n, "the map pinned at %s/%s has another layout (an older kxdp's?): "
			 "it needs a migration, or removing once no node runs on it", dir, map);
	} else if ((e == EPERM || e == EACCES) && !admin && !cap_effective(CAP_BPF_)) {
		snprintf(out, n, "the agent lacks CAP_BPF (and CAP_SYS_ADMIN): give it CAP_BPF, "
			 "CAP_PERFMON and CAP_NET_ADMIN");
	} else if ((e == EPERM || e == EACCES) && !admin &&
		   (!cap_effective(CAP_PERFMON_) || !cap_effective(CAP_NET_ADMIN_))) {
		snprintf(out, n, "the agent lacks CAP_%s: give it CAP_BPF, CAP_PERFMON and "
			 "CAP_NET_ADMIN", !cap_effective(CAP_PERFMON_) ? "PERFMON" : "NET_ADMIN");
	} else if ((e == EPERM || e == EACCES) && seccomp_mode() == 2) {
		snprintf(out, n, "bpf(2) is probably denied by the seccomp profile the agent runs "
			 "under (container runtimes' default profiles deny it): run it with "
			 "seccompProfile Unconfined or a profile allowing bpf");
	} else if (e == EPERM || e == EACCES) {
		snprintf(out, n, "bpf(2) refused with every capability present: a kernel lockdown "
			 "or LSM policy?");
	} else {
		snprintf(out, n, "the verifier's log above says why");
	}
}

int kx_loader_load(const char *bpffs, struct kx_err *err)
{
	struct kxdp *skel = NULL;
	struct bpf_program *prog;
	struct bpf_map *map;
	char dir[4096], path[4400];
	int ret = -1, e;

	if (kx_check_bpffs(bpffs, err) || pin_dir(bpffs, dir, sizeof(dir), err))
		return -1;
	skel = kxdp__open();
	if (!skel) {
		kx_errf(err, "open BPF object: %s", KX_BPF_ERR(errno));
		return -1;
	}
	bpf_object__for_each_map(map, skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		e = bpf_map__set_pin_path(map, path);
		if (e) {
			kx_errf(err, "map %s: set pin path: %s", bpf_map__name(map), KX_BPF_ERR(e));
			goto cleanup;
		}
	}
	e = kxdp__load(skel);
	if (e) {
		char cause[4700];

		load_failure_cause(skel, dir, -e, cause, sizeof(cause));
		kx_errf(err, "load BPF object: %s: %s (see docs/troubleshooting.md)", KX_BPF_ERR(e),
			cause);
		goto cleanup;
	}
	bpf_object__for_each_program(prog, skel->obj) {
		if (pin_program(prog, dir, err))
			goto cleanup;
	}
	ret = 0;
cleanup:
	kxdp__destroy(skel);
	return ret;
}
