/* SPDX-License-Identifier: GPL-2.0 */
/* What every kxdp BPF file needs: kernel types, helpers, the ABI, constants. */
#ifndef KX_BPF_COMMON_H
#define KX_BPF_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kxdp_abi.h"

/* uapi #defines that BTF (and so vmlinux.h) cannot carry. */
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2
#define ARPHRD_ETHER 1
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3

#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

#define BPF_F_PSEUDO_HDR (1ULL << 4)
#define BPF_F_MARK_MANGLED_0 (1ULL << 5)
#define BPF_ADJ_ROOM_MAC 1

#ifndef likely
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#endif

#endif /* KX_BPF_COMMON_H */
