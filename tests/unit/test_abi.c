// SPDX-License-Identifier: GPL-2.0
/* The BPF object's maps against KX_MAP_LIST: same set, same key and value sizes, all opened. */
#include <unistd.h>
#include <bpf/libbpf.h>
#include "testlib.h"
#include "kxdp.skel.h"
#include "datapath/maps.h"

struct map_row {
	const char *name;
	size_t key_size, val_size;
};

#define MAP_ROW(field, name, key, key_size, val, val_size) { name, sizeof(key), sizeof(val) },
static const struct map_row rows[] = { KX_MAP_LIST(MAP_ROW) };
#define N_ROWS (sizeof(rows) / sizeof(rows[0]))

/* Maps of the object that are not pinned datapath maps (libbpf's own sections). */
static bool internal_map(const char *name)
{
	return strchr(name, '.') != NULL;
}

static void test_object_maps_are_the_list(void **state)
{
	struct kxdp *skel = kxdp__open();
	struct bpf_map *map;
	size_t seen = 0;

	assert_non_null(skel);
	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);
		size_t i;

		if (internal_map(name))
			continue;
		for (i = 0; i < N_ROWS && strcmp(rows[i].name, name); i++)
			;
		if (i == N_ROWS)
			fail_msg("map %s of the object is not in KX_MAP_LIST", name);
		assert_int_equal(bpf_map__key_size(map), rows[i].key_size);
		assert_int_equal(bpf_map__value_size(map), rows[i].val_size);
		seen++;
	}
	assert_int_equal(seen, N_ROWS);
	kxdp__destroy(skel);
}

/* kx_maps_from_object fills every fd of the list; close leaves them all -1. */
static void test_maps_open_and_close_every_fd(void **state)
{
	struct kxdp *skel = kxdp__open_and_load();
	struct kx_err err = { "" };
	struct kx_maps m;

	assert_non_null(skel);
	kx_maps_init(&m);
	assert_int_equal(m.svc, -1);
	assert_int_equal(m.nodes, -1);
	assert_int_equal(m.lock_fd, -1);
	assert_int_equal(kx_maps_from_object(skel->obj, &m, &err), 0);
#define MAP_OPEN(field, name, key, key_size, val, val_size) \
	assert_int_equal(m.field, bpf_map__fd(skel->maps.kx_##field));
	KX_MAP_LIST(MAP_OPEN)
#undef MAP_OPEN
	/* the object keeps its fds: close copies, not the object's own */
#define MAP_DUP(field, name, key, key_size, val, val_size) m.field = dup(m.field);
	KX_MAP_LIST(MAP_DUP)
#undef MAP_DUP
	kx_maps_close(&m);
#define MAP_CLOSED(field, name, key, key_size, val, val_size) assert_int_equal(m.field, -1);
	KX_MAP_LIST(MAP_CLOSED)
#undef MAP_CLOSED
	kxdp__destroy(skel);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_object_maps_are_the_list),
		cmocka_unit_test(test_maps_open_and_close_every_fd),
	};

	kx_log_verbosity = KX_LOG_WARN - 1;
	return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
