/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Internet checksum arithmetic (RFC 1071): sums over small, fixed-size
 * headers built in place, and incremental updates after a field changes
 * (RFC 1624 eq. 3).
 */
#ifndef KX_BPF_CSUM_H
#define KX_BPF_CSUM_H

#include "common.h"

/* One's-complement sum folded to 16 bits, not inverted. */
static __always_inline __u16 csum_fold_sum(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

static __always_inline __u16 csum_fold32(__u32 sum)
{
	return (__u16)~csum_fold_sum(sum);
}

/* One's-complement checksum of n 16-bit words (n a compile-time constant). */
static __always_inline __u16 csum_words(const __u16 *w, int n)
{
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < n; i++)
		sum += w[i];
	return csum_fold32(sum);
}

/* The checksum field check after a 32-bit field it covers changes from -> to. */
static __always_inline __u16 csum16_replace4(__u16 check, __u32 from, __u32 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~(from & 0xffff) + (__u16)~(from >> 16);
	sum += (to & 0xffff) + (to >> 16);
	return (__u16)~csum_fold_sum(sum);
}

/* The same for a 16-bit field. */
static __always_inline __u16 csum16_replace2(__u16 check, __u16 from, __u16 to)
{
	__u32 sum = (__u16)~check;

	sum += (__u16)~from;
	sum += to;
	return (__u16)~csum_fold_sum(sum);
}

#endif /* KX_BPF_CSUM_H */
