// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <dirent.h>
#include <bpf/libbpf.h>
#include "kxdp.skel.h"
#include "kxdp_abi.h"
#include "loader.h"
#include "maps.h"

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
			strerror(-ret));
		return -1;
	}
	if (rename(tmp, path)) {
		kx_errf(err, "rename pin %s to %s: %s", tmp, path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	return 0;
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
		kx_errf(err, "open BPF object: %s", strerror(errno));
		return -1;
	}
	bpf_object__for_each_map(map, skel->obj) {
		snprintf(path, sizeof(path), "%s/%s", dir, bpf_map__name(map));
		e = bpf_map__set_pin_path(map, path);
		if (e) {
			kx_errf(err, "map %s: set pin path: %s", bpf_map__name(map), strerror(-e));
			goto cleanup;
		}
	}
	e = kxdp__load(skel);
	if (e) {
		kx_errf(err, "load BPF object: %s (a pinned map with another layout needs a migration; see DESIGN.md section 4)",
			strerror(-e));
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

int kx_loader_unpin(const char *bpffs, struct kx_err *err)
{
	char dir[4096], path[4400];
	struct dirent *d;
	DIR *dh;
	int ret = 0;

	if (pin_dir(bpffs, dir, sizeof(dir), err))
		return -1;
	dh = opendir(dir);
	if (!dh) {
		kx_errf(err, "opendir %s: %s", dir, strerror(errno));
		return -1;
	}
	while ((d = readdir(dh))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, d->d_name);
		if (unlink(path)) {
			kx_errf(err, "unlink %s: %s", path, strerror(errno));
			ret = -1;
		}
	}
	closedir(dh);
	if (!ret && rmdir(dir)) {
		kx_errf(err, "rmdir %s: %s", dir, strerror(errno));
		ret = -1;
	}
	return ret;
}
