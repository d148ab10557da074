/* SPDX-License-Identifier: GPL-2.0 */
/* What the BPF_PROG_RUN benchmarks share: timing a run, the empty program subtracted. */
#ifndef KX_BENCH_BPFRUN_H
#define KX_BENCH_BPFRUN_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>

/* Average ns per run of TC program prog on frame, repeat times in the kernel. */
static inline double run_ns(int prog, const uint8_t *frame, size_t len, int repeat)
{
	struct __sk_buff ctx = { .ifindex = 1 };
	uint8_t out[256];
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = len,
			    .data_out = out, .data_size_out = sizeof(out), .ctx_in = &ctx,
			    .ctx_size_in = sizeof(ctx), .repeat = repeat);

	if (bpf_prog_test_run_opts(prog, &o)) {
		fprintf(stderr, "BPF_PROG_RUN: %s\n", strerror(errno));
		exit(1);
	}
	return o.duration;
}

/* A TC program that returns at once: its cost is subtracted from every figure. */
static inline int empty_prog(void)
{
	struct bpf_insn insns[] = {
		{ .code = BPF_ALU64 | BPF_MOV | BPF_K, .dst_reg = 0, .imm = 0 },
		{ .code = BPF_JMP | BPF_EXIT },
	};
	int fd = bpf_prog_load(BPF_PROG_TYPE_SCHED_CLS, "empty", "GPL", insns, 2, NULL);

	if (fd < 0) {
		fprintf(stderr, "load empty program: %s\n", strerror(errno));
		exit(1);
	}
	return fd;
}

#endif /* KX_BENCH_BPFRUN_H */
