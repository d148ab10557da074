/* SPDX-License-Identifier: GPL-2.0 */
/* Internet checksum (RFC 1071) over small, fixed-size headers built in place. */
#ifndef KX_BPF_CSUM_H
#define KX_BPF_CSUM_H

#include "common.h"

static __always_inline __u16 csum_fold32(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)~sum;
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

#endif /* KX_BPF_CSUM_H */
