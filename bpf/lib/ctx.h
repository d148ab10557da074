/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The context layer: one header serves TC and XDP. A program file says which
 * hook it is (KX_CTX_XDP before its first include, or nothing for TC) and
 * every helper below takes a struct kx_ctx: the packet's bounds and length,
 * the verdicts, and how its L4 checksum must be updated.
 *
 * Checksum modes: a wire frame in XDP, and an skb in CHECKSUM_NONE or
 * _UNNECESSARY, carry full checksums (addresses and ports change them,
 * updated in place by RFC 1624); CHECKSUM_PARTIAL (what a pod's veth hands
 * over for TCP) holds only the pseudo-header sum (only addresses change it);
 * CHECKSUM_COMPLETE needs skb->csum to follow, which only the helper can do,
 * as on a kernel where the ip_summed read is missing (before 6.2).
 */
#ifndef KX_BPF_CTX_H
#define KX_BPF_CTX_H

#include "common.h"

enum kx_csum_mode {
	KX_CSUM_FULL = 0, /* full checksums, rewritten in place */
	KX_CSUM_PSEUDO = 1, /* CHECKSUM_PARTIAL: the field holds the pseudo-header sum */
	KX_CSUM_HELPER = 2, /* CHECKSUM_COMPLETE or unknown: bpf_l4_csum_replace() */
};

#ifdef KX_CTX_XDP

#define kx_ctx xdp_md
#define CTX_IS_XDP 1
#define CTX_PASS XDP_PASS
#define CTX_DROP XDP_DROP

static __always_inline void *ctx_data(const struct kx_ctx *ctx);
static __always_inline void *ctx_data_end(const struct kx_ctx *ctx);

static __always_inline __u64 ctx_len(const struct kx_ctx *ctx)
{
	return ctx_data_end(ctx) - ctx_data(ctx);
}

static __always_inline int ctx_csum_mode(struct kx_ctx *ctx)
{
	return KX_CSUM_FULL;
}

/* Never called in XDP (mode is always full): here so one NAT writer compiles. */
static __always_inline int ctx_l4_csum_replace(struct kx_ctx *ctx, __u32 off, __u64 from,
					       __u64 to, __u64 flags)
{
	return -1;
}

#else /* TC */

#include <bpf/bpf_core_read.h>

#define kx_ctx __sk_buff
#define CTX_IS_XDP 0
#define CTX_PASS TC_ACT_OK
#define CTX_DROP TC_ACT_SHOT

static __always_inline __u64 ctx_len(const struct kx_ctx *ctx)
{
	return ctx->len;
}

/*
 * Only one object of the linked set may declare the kfunc: Debian 12's
 * libbpf 1.1 linker (bpftool gen object) fails on an extern function seen in
 * two objects ("failed to resolve size of underlying type", fixed in libbpf
 * 1.5). tc_from_pod, the pod hot path, defines KX_CTX_KFUNC; the uplink and
 * to-pod programs, which see far fewer rewrites, use the helper. The kfunc
 * (bpf_cast_to_kern_ctx) is inlined by the verifier; the helper costs ~37 ns
 * a call here.
 */
#ifdef KX_CTX_KFUNC
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

static __always_inline int ctx_csum_mode(struct kx_ctx *ctx)
{
	struct sk_buff *kskb;
	int summed;

	if (!bpf_cast_to_kern_ctx)
		return KX_CSUM_HELPER;
	kskb = bpf_cast_to_kern_ctx(ctx);
	summed = BPF_CORE_READ_BITFIELD(kskb, ip_summed);
	if (summed == KX_CHECKSUM_PARTIAL)
		return KX_CSUM_PSEUDO;
	return summed == KX_CHECKSUM_COMPLETE ? KX_CSUM_HELPER : KX_CSUM_FULL;
}
#else
static __always_inline int ctx_csum_mode(struct kx_ctx *ctx)
{
	return KX_CSUM_HELPER;
}
#endif

static __always_inline int ctx_l4_csum_replace(struct kx_ctx *ctx, __u32 off, __u64 from,
					       __u64 to, __u64 flags)
{
	return bpf_l4_csum_replace(ctx, off, from, to, flags);
}

#endif /* KX_CTX_XDP */

/*
 * The packet's bounds, each loaded straight from the context register: the
 * verifier refuses a context field read through a pointer the compiler
 * derived from it (ctx + offset kept in another register), which clang
 * produces when it shares the address of data_end between reads.
 */
#define CTX_LOAD_PTR(ctx, field)                                                          \
	({                                                                                 \
		void *__v;                                                                 \
		asm volatile("%[v] = *(u32 *)(%[base] + %[off])"                           \
			     : [v] "=r"(__v)                                               \
			     : [base] "r"(ctx), [off] "i"(__builtin_offsetof(struct kx_ctx, field))); \
		__v;                                                                       \
	})

static __always_inline void *ctx_data(const struct kx_ctx *ctx)
{
	return CTX_LOAD_PTR(ctx, data);
}

static __always_inline void *ctx_data_end(const struct kx_ctx *ctx)
{
	return CTX_LOAD_PTR(ctx, data_end);
}

#endif /* KX_BPF_CTX_H */
