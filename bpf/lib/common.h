/* SPDX-License-Identifier: GPL-2.0 */
/* What every kxdp BPF file needs: kernel types, helpers, the ABI, constants. */
#ifndef KX_BPF_COMMON_H
#define KX_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kxdp_abi.h"
#include "kernel.h"

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#endif /* KX_BPF_COMMON_H */
