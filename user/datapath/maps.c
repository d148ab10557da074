// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>
#include "kxdp_abi.h"
#include "datapath/maps.h"

int kx_pin_path(char *buf, size_t n, const char *bpffs, const char *name)
{
	int len = snprintf(buf, n, "%s/%s/%s", bpffs, KX_PIN_DIR, name);

	return len < 0 || (size_t)len >= n ? -1 : 0;
}

int kx_check_bpffs(const char *dir, struct kx_err *err)
{
	struct statfs sfs;

	if (statfs(dir, &sfs)) {
		kx_errf(err, "bpffs %s: %s", dir, strerror(errno));
		return -1;
	}
	if (sfs.f_type != BPF_FS_MAGIC) {
		kx_errf(err, "bpffs %s: not a bpf filesystem (mount -t bpf bpf %s)", dir, dir);
		return -1;
	}
	return 0;
}

static int open_one(const char *bpffs, const char *name, int *fd, struct kx_err *err)
{
	char path[4096];

	if (kx_pin_path(path, sizeof(path), bpffs, name)) {
		kx_errf(err, "bpffs path too long: %s", bpffs);
		return -1;
	}
	*fd = bpf_obj_get(path);
	if (*fd < 0) {
		kx_errf(err, "map %s: %s (is kxdp-agent running with --bpffs %s?)", path,
			KX_BPF_ERR(errno), bpffs);
		return -1;
	}
	return 0;
}

static int open_lock(const char *bpffs, struct kx_maps *m, struct kx_err *err)
{
	char path[4096];

	if (kx_pin_path(path, sizeof(path), bpffs, "")) {
		kx_errf(err, "bpffs path too long: %s", bpffs);
		return -1;
	}
	m->lock_fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (m->lock_fd < 0) {
		kx_errf(err, "pin directory %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The maps' names and where m keeps their fds, both in KX_MAP_LIST's order. */
#define MAP_NAME(field, name, key, key_size, val, val_size) name,
#define MAP_FD(field, name, key, key_size, val, val_size) &m->field,
static const char *const map_names[] = { KX_MAP_LIST(MAP_NAME) };
#define N_MAPS (sizeof(map_names) / sizeof(map_names[0]))

void kx_maps_init(struct kx_maps *m)
{
	int *fds[N_MAPS] = { KX_MAP_LIST(MAP_FD) };

	for (size_t i = 0; i < N_MAPS; i++)
		*fds[i] = -1;
	m->lock_fd = -1;
}

int kx_maps_open_pinned(const char *bpffs, struct kx_maps *m, struct kx_err *err)
{
	int *fds[N_MAPS] = { KX_MAP_LIST(MAP_FD) };

	kx_maps_init(m);
	for (size_t i = 0; i < N_MAPS; i++) {
		if (open_one(bpffs, map_names[i], fds[i], err)) {
			kx_maps_close(m);
			return -1;
		}
	}
	if (open_lock(bpffs, m, err)) {
		kx_maps_close(m);
		return -1;
	}
	return 0;
}

int kx_maps_repin(const char *bpffs, const struct kx_maps *m, struct kx_err *err)
{
	const int *fds[N_MAPS] = { KX_MAP_LIST(MAP_FD) };
	char path[4096];
	int n = 0, failed = 0;

	if (!kx_pin_path(path, sizeof(path), bpffs, "") && mkdir(path, 0700) && errno != EEXIST) {
		kx_errf(err, "pin directory %s: %s", path, strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < N_MAPS; i++) {
		if (kx_pin_path(path, sizeof(path), bpffs, map_names[i]) || !access(path, F_OK))
			continue;
		if (bpf_obj_pin(*fds[i], path)) {
			kx_errf(err, "map %s: pin again: %s", path, KX_BPF_ERR(errno));
			failed++;
			continue;
		}
		n++;
	}
	return failed ? -1 : n;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void kx_maps_close(struct kx_maps *m)
{
	int *fds[N_MAPS] = { KX_MAP_LIST(MAP_FD) };

	for (size_t i = 0; i < N_MAPS; i++)
		close_fd(fds[i]);
	close_fd(&m->lock_fd);
}

int kx_maps_from_object(struct bpf_object *obj, struct kx_maps *m, struct kx_err *err)
{
	int *fds[N_MAPS] = { KX_MAP_LIST(MAP_FD) };

	for (size_t i = 0; i < N_MAPS; i++) {
		*fds[i] = bpf_object__find_map_fd_by_name(obj, map_names[i]);
		if (*fds[i] < 0) {
			kx_errf(err, "map %s not in the BPF object", map_names[i]);
			return -1;
		}
	}
	m->lock_fd = -1; /* one process: nothing to share */
	return 0;
}

/* Sum of a kx_stats counter's packets over the CPUs; 0 if unreadable. */
static uint64_t stat_sum(int stats_fd, uint32_t what)
{
	int n = libbpf_num_possible_cpus();
	struct kx_counter *per;
	uint64_t sum = 0;

	if (n <= 0)
		return 0;
	per = calloc(n, sizeof(*per));
	if (per && !bpf_map_lookup_elem(stats_fd, &what, per))
		for (int i = 0; i < n; i++)
			sum += per[i].packets;
	free(per);
	return sum;
}

int kx_ct_count_deleted(const struct kx_maps *m, uint64_t n)
{
	uint32_t what = KX_STAT_CT_DELETED_USER;
	int ncpu = libbpf_num_possible_cpus();
	struct kx_counter *per;
	int ret = -1;

	if (!n)
		return 0;
	if (ncpu <= 0 || !(per = calloc(ncpu, sizeof(*per))))
		return -1;
	if (m->lock_fd >= 0 && flock(m->lock_fd, LOCK_EX)) {
		free(per);
		return -1;
	}
	/* only user space writes this slot: its sum lives in CPU 0's copy */
	if (!bpf_map_lookup_elem(m->stats, &what, per)) {
		for (int i = 1; i < ncpu; i++)
			per[0].packets += per[i].packets, per[i].packets = 0;
		per[0].packets += n;
		ret = bpf_map_update_elem(m->stats, &what, per, BPF_ANY) ? -1 : 0;
	}
	if (m->lock_fd >= 0)
		flock(m->lock_fd, LOCK_UN);
	free(per);
	return ret;
}

static int count_ct_entry(const void *k, const void *v, void *ctx)
{
	(*(uint64_t *)ctx)++;
	return 0;
}

int kx_ct_usage(const struct kx_maps *m, struct kx_ct_usage *u)
{
	uint64_t gone;

	memset(u, 0, sizeof(*u));
	/* creations read first, deletions last: a flow made or removed during
	 * the walk can only lower the figure, never show an eviction that did
	 * not happen */
	u->created = stat_sum(m->stats, KX_STAT_CT_CREATED);
	if (kx_map_foreach(m->ct, sizeof(struct kx_ct_key), sizeof(struct kx_ct_val),
			   count_ct_entry, &u->entries))
		return -1;
	u->deleted = stat_sum(m->stats, KX_STAT_CT_DELETED) +
		     stat_sum(m->stats, KX_STAT_CT_DELETED_USER);
	gone = u->deleted + u->entries;
	u->evicted = u->created > gone ? u->created - gone : 0;
	return 0;
}

int kx_endpoint_get(int fd, __be32 addr, struct kx_endpoint *ep)
{
	__u32 slot = kx_endpoint_slot(addr);

	if (!addr || bpf_map_lookup_elem(fd, &slot, ep) || ep->addr != addr)
		return -1;
	return 0;
}

int kx_endpoint_put(int fd, const struct kx_endpoint *ep, struct kx_err *err)
{
	__u32 slot = kx_endpoint_slot(ep->addr);
	struct kx_endpoint cur;
	char a[INET_ADDRSTRLEN], b[INET_ADDRSTRLEN];

	if (bpf_map_lookup_elem(fd, &slot, &cur)) {
		kx_errf(err, "map %s: slot %u: %s", KX_MAP_ENDPOINTS, slot, KX_BPF_ERR(errno));
		return -1;
	}
	if (cur.addr && cur.addr != ep->addr) {
		inet_ntop(AF_INET, &ep->addr, a, sizeof(a));
		inet_ntop(AF_INET, &cur.addr, b, sizeof(b));
		kx_errf(err, "map %s: pod %s would take the slot of pod %s (a node's pod CIDR "
			"must be a /16 or smaller)", KX_MAP_ENDPOINTS, a, b);
		return -1;
	}
	if (bpf_map_update_elem(fd, &slot, ep, BPF_ANY)) {
		kx_errf(err, "map %s: %s", KX_MAP_ENDPOINTS, KX_BPF_ERR(errno));
		return -1;
	}
	return 0;
}

void kx_endpoint_del(int fd, __be32 addr)
{
	struct kx_endpoint ep, free_slot = { 0 };
	__u32 slot = kx_endpoint_slot(addr);

	if (!kx_endpoint_get(fd, addr, &ep))
		bpf_map_update_elem(fd, &slot, &free_slot, BPF_ANY);
}

struct endpoint_walk {
	int (*fn)(const struct kx_endpoint *ep, void *ctx);
	void *ctx;
};

/* One slot of kx_endpoints: a wired pod's (its own slot), or free. */
static int endpoint_slot_visit(const void *k, const void *v, void *ctx)
{
	const struct kx_endpoint *ep = v;
	const struct endpoint_walk *w = ctx;

	if (!ep->addr || kx_endpoint_slot(ep->addr) != *(const __u32 *)k)
		return 0;
	return w->fn(ep, w->ctx);
}

/* Batched like every map walk, in buffers of its own: walks may nest. */
int kx_endpoint_foreach(int fd, int (*fn)(const struct kx_endpoint *ep, void *ctx), void *ctx)
{
	struct endpoint_walk w = { fn, ctx };

	return kx_map_foreach(fd, sizeof(__u32), sizeof(struct kx_endpoint), endpoint_slot_visit,
			      &w);
}

/* Entries read per BPF_MAP_LOOKUP_BATCH call of kx_map_foreach. */
#define KX_MAP_BATCH 4096

int kx_map_foreach(int fd, size_t key_size, size_t val_size,
		   int (*fn)(const void *k, const void *v, void *ctx), void *ctx)
{
	char *keys = malloc(KX_MAP_BATCH * key_size), *vals = malloc(KX_MAP_BATCH * val_size);
	__u32 in = 0, out = 0;
	bool first = true;
	int ret, r = 0;

	if (!keys || !vals) {
		errno = ENOMEM;
		r = -1;
		goto done;
	}
	for (;;) {
		__u32 count = KX_MAP_BATCH;

		ret = bpf_map_lookup_batch(fd, first ? NULL : &in, &out, keys, vals, &count, NULL);
		if (ret && errno != ENOENT) {
			r = -1;
			goto done;
		}
		for (__u32 i = 0; i < count && !r; i++)
			r = fn(keys + i * key_size, vals + i * val_size, ctx);
		if (r || ret) /* ENOENT: that was the last batch */
			goto done;
		in = out;
		first = false;
	}
done:
	free(keys);
	free(vals);
	return r;
}

int kx_pol_ep_start(const struct kx_maps *m, __be32 addr, const char *ns, struct kx_err *err)
{
	struct kx_pol_ep e = { .addr = addr };
	struct kx_pol_ns_key k = { "" };
	__u32 slot = kx_endpoint_slot(addr);
	__u8 dirs = 0;

	snprintf(k.name, sizeof(k.name), "%s", ns);
	if (ns[0] && !bpf_map_lookup_elem(m->pol_ns, &k, &dirs))
		for (int d = 0; d < 2; d++)
			e.set[d] = dirs & (1 << d) ? KX_POL_SET_DENY : 0;
	if (bpf_map_update_elem(m->pol_ep, &slot, &e, BPF_ANY)) {
		kx_errf(err, "map %s: slot %u: %s", KX_MAP_POL_EP, slot, KX_BPF_ERR(errno));
		return -1;
	}
	return 0;
}

void kx_pol_ep_forget(const struct kx_maps *m, __be32 addr)
{
	struct kx_pol_ep e, none = { 0 };
	__u32 slot = kx_endpoint_slot(addr);

	if (!bpf_map_lookup_elem(m->pol_ep, &slot, &e) && e.addr == addr)
		bpf_map_update_elem(m->pol_ep, &slot, &none, BPF_ANY);
}
