// SPDX-License-Identifier: GPL-2.0
/*
 * What this machine charges for the BPF primitives kxdp's programs are made
 * of: a helper call, each clock, a lookup in each map type, a map update,
 * the checksum and redirect helpers. Each is measured as a SCHED_CLS program
 * of N back-to-back uses run 10^5 times by BPF_PROG_RUN, minus an empty
 * program, divided by N. It explains the program costs prog_cost reports
 * (e.g. the SRSO "Safe RET" mitigation makes every call's return dear).
 *
 * usage: prim_cost [csv | empty]    (root)
 *   empty: only the empty program's cost per run (run.py compares it with
 *   kernel.bpf_stats_enabled on and off)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <linux/bpf.h>

#define N 32 /* uses per program */
#define REPEAT 100000
#define REPEAT_UPDATES 5000 /* updates are slow and fill maps: fewer runs */
#define MAX_INSNS 1024

#define INSN(c, d, s, o, i) \
	((struct bpf_insn){ .code = (c), .dst_reg = (d), .src_reg = (s), .off = (o), .imm = (i) })
#define MOV_IMM(d, i) INSN(BPF_ALU64 | BPF_MOV | BPF_K, d, 0, 0, i)
#define MOV_REG(d, s) INSN(BPF_ALU64 | BPF_MOV | BPF_X, d, s, 0, 0)
#define ADD_IMM(d, i) INSN(BPF_ALU64 | BPF_ADD | BPF_K, d, 0, 0, i)
#define CALL(h) INSN(BPF_JMP | BPF_CALL, 0, 0, 0, h)
#define EXIT INSN(BPF_JMP | BPF_EXIT, 0, 0, 0, 0)
#define ST_DW(off, i) INSN(BPF_ST | BPF_MEM | BPF_DW, BPF_REG_10, 0, off, i)
#define ST_W(off, i) INSN(BPF_ST | BPF_MEM | BPF_W, BPF_REG_10, 0, off, i)

struct prog {
	struct bpf_insn insns[MAX_INSNS];
	int n;
};

static void emit(struct prog *p, struct bpf_insn insn)
{
	if (p->n == MAX_INSNS) {
		fprintf(stderr, "prim_cost: program too long\n");
		exit(1);
	}
	p->insns[p->n++] = insn;
}

/* r1 = map fd (ld_imm64, two instructions). */
static void emit_map(struct prog *p, int fd)
{
	emit(p, INSN(BPF_LD | BPF_DW | BPF_IMM, BPF_REG_1, BPF_PSEUDO_MAP_FD, 0, fd));
	emit(p, INSN(0, 0, 0, 0, 0));
}

static int load(struct prog *p, const char *what)
{
	int fd;

	emit(p, MOV_IMM(BPF_REG_0, 0));
	emit(p, EXIT);
	fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "prim", "GPL", p->insns, p->n, NULL);
	if (fd < 0) {
		fprintf(stderr, "prim_cost: load %s: %s\n", what, strerror(errno));
		exit(1);
	}
	return fd;
}

/* ns per run of prog over a 64-byte frame, repeat runs in the kernel. */
static double run_n(int prog, int repeat)
{
	unsigned char frame[64] = { [12] = 0x86, [13] = 0xdd };
	struct __sk_buff ctx = { .ifindex = 1 };
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = sizeof(frame),
		    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog, &o)) {
		fprintf(stderr, "prim_cost: BPF_PROG_RUN: %s\n", strerror(errno));
		exit(1);
	}
	close(prog);
	return o.duration;
}

static double run_ns(int prog)
{
	return run_n(prog, REPEAT);
}

static int calls(int helper, int n, const char *what)
{
	struct prog p = { .n = 0 };

	for (int i = 0; i < n; i++)
		emit(&p, CALL(helper));
	return load(&p, what);
}

/* n lookups of key 0 (key_size bytes of zero on the stack). */
static int lookups(int map, int n, const char *what)
{
	struct prog p = { .n = 0 };

	for (int off = -8; off >= -24; off -= 8)
		emit(&p, ST_DW(off, 0));
	for (int i = 0; i < n; i++) {
		emit_map(&p, map);
		emit(&p, MOV_REG(BPF_REG_2, BPF_REG_10));
		emit(&p, ADD_IMM(BPF_REG_2, -24));
		emit(&p, CALL(BPF_FUNC_map_lookup_elem));
	}
	return load(&p, what);
}

/*
 * n updates (16-byte key at fp-24, 32-byte value at fp-64) of keys 0..n-1,
 * or, random, of keys with bpf_get_prandom_u32() in their first word: new
 * keys every time, so into a full LRU map each insert evicts.
 */
static int updates(int map, int n, bool random, const char *what)
{
	struct prog p = { .n = 0 };

	for (int off = -8; off >= -64; off -= 8)
		emit(&p, ST_DW(off, 0));
	for (int i = 0; i < n; i++) {
		if (random) {
			emit(&p, CALL(BPF_FUNC_get_prandom_u32));
			emit(&p, INSN(BPF_STX | BPF_MEM | BPF_W, BPF_REG_10, BPF_REG_0, -24, 0));
		} else {
			emit(&p, ST_W(-24, i));
		}
		emit_map(&p, map);
		emit(&p, MOV_REG(BPF_REG_2, BPF_REG_10));
		emit(&p, ADD_IMM(BPF_REG_2, -24));
		emit(&p, MOV_REG(BPF_REG_3, BPF_REG_10));
		emit(&p, ADD_IMM(BPF_REG_3, -64));
		emit(&p, MOV_IMM(BPF_REG_4, BPF_ANY));
		emit(&p, CALL(BPF_FUNC_map_update_elem));
	}
	return load(&p, what);
}

/* n bpf_l4_csum_replace calls on the frame's bytes 50..51. */
static int csum_calls(int n, const char *what)
{
	struct prog p = { .n = 0 };

	emit(&p, MOV_REG(BPF_REG_6, BPF_REG_1));
	for (int i = 0; i < n; i++) {
		emit(&p, MOV_REG(BPF_REG_1, BPF_REG_6));
		emit(&p, MOV_IMM(BPF_REG_2, 50));
		emit(&p, MOV_IMM(BPF_REG_3, 0x01020304));
		emit(&p, MOV_IMM(BPF_REG_4, 0x05060708));
		emit(&p, MOV_IMM(BPF_REG_5, BPF_F_PSEUDO_HDR | 4));
		emit(&p, CALL(BPF_FUNC_l4_csum_replace));
	}
	return load(&p, what);
}

static int redirects(int n, const char *what)
{
	struct prog p = { .n = 0 };

	for (int i = 0; i < n; i++) {
		emit(&p, MOV_IMM(BPF_REG_1, 1));
		emit(&p, MOV_IMM(BPF_REG_2, 0));
		emit(&p, CALL(BPF_FUNC_redirect_peer));
	}
	return load(&p, what);
}

static int map_with_key0(enum bpf_map_type type, int key_size, __u32 flags, const char *what)
{
	LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = flags);
	unsigned char key[16] = { 0 }, value[32] = { 0 };
	int fd = bpf_map_create(type, "prim", key_size, sizeof(value), 1 << 16, &o);

	if (fd < 0 || bpf_map_update_elem(fd, key, value, BPF_ANY)) {
		fprintf(stderr, "prim_cost: map for %s: %s\n", what, strerror(errno));
		exit(1);
	}
	return fd;
}

int main(int argc, char **argv)
{
	bool csv = argc > 1 && !strcmp(argv[1], "csv");
	double empty = run_ns(calls(0, 0, "empty"));

	if (argc > 1 && !strcmp(argv[1], "empty")) {
		printf("%.1f\n", empty);
		return 0;
	}
	struct {
		const char *name;
		int helper;
	} helpers[] = {
		{ "helper call (bpf_get_numa_node_id)", BPF_FUNC_get_numa_node_id },
		{ "bpf_ktime_get_ns", BPF_FUNC_ktime_get_ns },
		{ "bpf_ktime_get_coarse_ns", BPF_FUNC_ktime_get_coarse_ns },
		{ "bpf_jiffies64 (inlined)", BPF_FUNC_jiffies64 },
	};
	struct {
		const char *name;
		enum bpf_map_type type;
		int key_size;
		__u32 flags;
	} maps[] = {
		{ "lookup: array (inlined)", BPF_MAP_TYPE_ARRAY, 4, 0 },
		{ "lookup: percpu array (inlined)", BPF_MAP_TYPE_PERCPU_ARRAY, 4, 0 },
		{ "lookup: hash, 4-byte key", BPF_MAP_TYPE_HASH, 4, 0 },
		{ "lookup: hash, 16-byte key", BPF_MAP_TYPE_HASH, 16, 0 },
		{ "lookup: LRU hash, 16-byte key", BPF_MAP_TYPE_LRU_HASH, 16, 0 },
	};
	struct {
		const char *name;
		enum bpf_map_type type;
		__u32 flags;
	} upd[] = {
		{ "update: hash, 16-byte key", BPF_MAP_TYPE_HASH, 0 },
		{ "update: LRU hash, 16-byte key", BPF_MAP_TYPE_LRU_HASH, 0 },
		{ "update: LRU hash, per-CPU lists", BPF_MAP_TYPE_LRU_HASH, BPF_F_NO_COMMON_LRU },
	};

	if (!csv)
		printf("| primitive | ns per use |\n|---|---|\n| empty program, per run | %.1f |\n",
		       empty);
	else
		printf("empty program per run,%.1f\n", empty);
#define ROW(name, ns) printf(csv ? "%s,%.1f\n" : "| %s | %.1f |\n", name, ns)
	for (size_t i = 0; i < sizeof(helpers) / sizeof(helpers[0]); i++)
		ROW(helpers[i].name, (run_ns(calls(helpers[i].helper, N, helpers[i].name)) - empty) / N);
	for (size_t i = 0; i < sizeof(maps) / sizeof(maps[0]); i++) {
		int fd = map_with_key0(maps[i].type, maps[i].key_size, maps[i].flags, maps[i].name);

		ROW(maps[i].name, (run_ns(lookups(fd, N, maps[i].name)) - empty) / N);
		close(fd);
	}
	for (size_t i = 0; i < sizeof(upd) / sizeof(upd[0]); i++) {
		LIBBPF_OPTS(bpf_map_create_opts, o, .map_flags = upd[i].flags);
		int fd = bpf_map_create(upd[i].type, "prim", 16, 32, 262144, &o);

		if (fd < 0) {
			fprintf(stderr, "prim_cost: map for %s: %s\n", upd[i].name, strerror(errno));
			return 1;
		}
		ROW(upd[i].name, (run_n(updates(fd, N, false, upd[i].name), REPEAT_UPDATES) - empty) / N);
		close(fd);
	}
	{
		const char *what = "insert: LRU hash, full (each insert evicts)";
		int fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "prim", 16, 32, 262144, NULL);
		double prandom = (run_ns(calls(BPF_FUNC_get_prandom_u32, N, "prandom")) - empty) / N;
		unsigned char key[16] = { 0 }, value[32] = { 0 };

		for (__u32 k = 0; fd >= 0 && k < 262144; k++) {
			memcpy(key + 4, &k, sizeof(k)); /* never a random key's (word 0 is 0) */
			bpf_map_update_elem(fd, key, value, BPF_ANY);
		}
		if (fd < 0) {
			fprintf(stderr, "prim_cost: map for %s: %s\n", what, strerror(errno));
			return 1;
		}
		ROW(what, (run_n(updates(fd, N, true, what), REPEAT_UPDATES) - empty) / N - prandom);
		close(fd);
	}
	ROW("bpf_l4_csum_replace", (run_ns(csum_calls(N, "csum")) - empty) / N);
	ROW("bpf_redirect_peer", (run_ns(redirects(N, "redirect")) - empty) / N);
	return 0;
}
