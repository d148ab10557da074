/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel and uapi constants that BTF (and so vmlinux.h) cannot carry: they
 * are #defines there. Every one kxdp's programs use lives here, once.
 */
#ifndef KX_BPF_KERNEL_H
#define KX_BPF_KERNEL_H

/* if_ether.h, if_arp.h */
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ETH_P_IPV6 0x86DD
#define ETH_ALEN 6
#define ETH_HLEN 14
#define ARPOP_REQUEST 1
#define ARPOP_REPLY 2
#define ARPHRD_ETHER 1

/* ip.h, socket.h */
#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define AF_INET 2

/* icmp.h */
#define ICMP_ECHOREPLY 0
#define ICMP_DEST_UNREACH 3
#define ICMP_PORT_UNREACH 3
#define ICMP_ECHO 8
#define ICMP_TIME_EXCEEDED 11
#define ICMP_PARAMETERPROB 12

/* tcp.h: byte 13 of the TCP header */
#define TCP_FLAG_FIN 0x01
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10

/* pkt_cls.h */
#define TC_ACT_OK 0
#define TC_ACT_SHOT 2
#define TC_ACT_REDIRECT 7

/* bpf.h flags of helpers */
#define BPF_F_PSEUDO_HDR (1ULL << 4)
#define BPF_F_MARK_MANGLED_0 (1ULL << 5)
#define BPF_ADJ_ROOM_MAC 1
#define BPF_FIB_LKUP_RET_SUCCESS 0

/* skbuff.h: values of skb->ip_summed */
#define KX_CHECKSUM_NONE 0
#define KX_CHECKSUM_UNNECESSARY 1
#define KX_CHECKSUM_COMPLETE 2
#define KX_CHECKSUM_PARTIAL 3
#define KX_CSUM_MANGLED_0 0xffff /* a computed UDP checksum of 0, sent as ~0 */

/* errno.h, as helpers return them (negated) */
#define KX_EEXIST 17
#define KX_ECONNREFUSED 111

#endif /* KX_BPF_KERNEL_H */
