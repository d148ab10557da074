/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the unit tests: reading fixtures, building packets byte by
 * byte, and an Internet checksum written independently of the datapath's.
 */
#ifndef KX_TESTLIB_H
#define KX_TESTLIB_H

#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <setjmp.h>
#include <cmocka.h>
#include <linux/if_ether.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>

#ifndef KX_FIXTURES
#define KX_FIXTURES "tests/fixtures"
#endif

static inline uint32_t ip4(const char *s)
{
	struct in_addr a;

	if (inet_pton(AF_INET, s, &a) != 1)
		fail_msg("bad test address %s", s);
	return a.s_addr;
}

/* RFC 1071 sum over bytes (odd length padded), seeded with sum. */
static inline uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static inline uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* 0 when the checksum over [p, p+n) verifies. */
static inline uint16_t csum_check(const uint8_t *p, size_t n)
{
	return fold(sum16(p, n, 0));
}

/* 0 when the TCP/UDP checksum of the IPv4 packet at ip verifies. */
static inline uint16_t l4_csum_check(const uint8_t *ip)
{
	size_t ihl = (ip[0] & 0xf) * 4, tot = (size_t)ip[2] << 8 | ip[3];
	uint32_t sum = sum16(ip + 12, 8, 0);

	sum += ip[9];
	sum += (uint32_t)(tot - ihl);
	return fold(sum16(ip + ihl, tot - ihl, sum));
}

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

/*
 * Build Ethernet + IPv4 + TCP (flags) or UDP with payload into buf, every
 * checksum computed here. Returns the frame length.
 */
static inline size_t build_l4(uint8_t *buf, const uint8_t dmac[6], const uint8_t smac[6],
			      uint8_t proto, const char *src, uint16_t sport, const char *dst,
			      uint16_t dport, uint8_t tcp_flags, const char *payload)
{
	size_t plen = payload ? strlen(payload) : 0;
	size_t l4len = (proto == 6 ? 20 : 8) + plen;
	uint8_t *ip = buf + 14, *l4 = ip + 20;
	uint32_t s = ip4(src), d = ip4(dst);

	memset(buf, 0, 14 + 20 + l4len);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	put16(buf + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 20 + l4len);
	put16(ip + 4, 0x1234);
	put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, &s, 4);
	memcpy(ip + 16, &d, 4);
	put16(ip + 10, csum_check(ip, 20));
	put16(l4, sport);
	put16(l4 + 2, dport);
	if (proto == 6) {
		put16(l4 + 4, 0x0100);
		l4[12] = 5 << 4;
		l4[13] = tcp_flags;
		put16(l4 + 14, 64240);
		memcpy(l4 + 20, payload ? payload : "", plen);
		put16(l4 + 16, l4_csum_check(ip));
	} else {
		put16(l4 + 4, l4len);
		memcpy(l4 + 8, payload ? payload : "", plen);
		put16(l4 + 6, l4_csum_check(ip));
		if (!(l4[6] | l4[7]))
			put16(l4 + 6, 0xffff);
	}
	return 14 + 20 + l4len;
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/*
 * An ICMP port unreachable from src to dst quoting the IPv4 packet at quote
 * (its header and 8 bytes of UDP, plus the first 5 of data) into buf: the
 * frame's length.
 */
static inline size_t build_icmp_error(uint8_t *buf, const uint8_t *dmac, const uint8_t *smac,
			       uint32_t src, uint32_t dst, const uint8_t *quote)
{
	size_t qlen = 20 + 8 + 5, n = 14 + 20 + 8 + qlen;

	memset(buf, 0, n + 1);
	memcpy(buf, dmac, 6);
	memcpy(buf + 6, smac, 6);
	put16(buf + 12, 0x0800);
	buf[14] = 0x45;
	put16(buf + 16, 20 + 8 + qlen);
	buf[22] = 64;
	buf[23] = IPPROTO_ICMP;
	memcpy(buf + 26, &src, 4);
	memcpy(buf + 30, &dst, 4);
	put16(buf + 24, csum_check(buf + 14, 20));
	buf[34] = 3;
	buf[35] = 3;
	memcpy(buf + 42, quote, qlen);
	put16(buf + 36, csum_check(buf + 34, 8 + qlen + 1)); /* odd length: padded */
	return n;
}

/*
 * Typed views of an Ethernet + IPv4 frame: what a test reads of a packet a
 * program wrote, by header and field instead of byte offsets. l4 points
 * past the IPv4 header (its options included); payload past the TCP, UDP or
 * ICMP header.
 */
struct frame {
	struct ethhdr *eth;
	struct iphdr *ip;
	union {
		uint8_t *l4;
		struct tcphdr *tcp;
		struct udphdr *udp;
		struct icmphdr *icmp;
	};
	uint8_t *payload;
	size_t len;
};

static inline struct frame frame_of(uint8_t *buf, size_t len)
{
	struct frame f = { .eth = (void *)buf, .ip = (void *)(buf + 14), .len = len };
	size_t l4len;

	assert_true(len >= 14 + 20);
	f.l4 = buf + 14 + f.ip->ihl * 4;
	l4len = f.ip->protocol == IPPROTO_TCP ? (size_t)f.tcp->doff * 4 :
		f.ip->protocol == IPPROTO_UDP ? 8 : 8;
	f.payload = f.l4 + l4len;
	return f;
}

/* The IPv4 packet of a frame verifies: its header checksum and its TCP/UDP checksum. */
static inline void assert_checksums_ok(const struct frame *f)
{
	assert_int_equal(csum_check((const uint8_t *)f->ip, f->ip->ihl * 4), 0);
	if (f->ip->protocol == IPPROTO_TCP ||
	    (f->ip->protocol == IPPROTO_UDP && f->udp->check))
		assert_int_equal(l4_csum_check((const uint8_t *)f->ip), 0);
}

/*
 * The same views by header, straight on a buffer a program left (IPv4 at
 * 14): ETH(out)->h_dest, IPV4(out)->saddr, PORTS(out)->dest (TCP and UDP
 * alike), TCP(out), UDP(out), ICMP(out).
 */
struct l4_ports {
	uint16_t source;
	uint16_t dest;
};

#define ETH(buf) ((struct ethhdr *)(void *)(buf))
#define IPV4(buf) ((struct iphdr *)(void *)((uint8_t *)(buf) + 14))
#define L4_OF(buf) ((uint8_t *)(buf) + 14 + IPV4(buf)->ihl * 4)
#define PORTS(buf) ((struct l4_ports *)(void *)L4_OF(buf))
#define TCP(buf) ((struct tcphdr *)(void *)L4_OF(buf))
#define UDP(buf) ((struct udphdr *)(void *)L4_OF(buf))
#define ICMP(buf) ((struct icmphdr *)(void *)L4_OF(buf))

/* The IPv4 header checksum, and the TCP/UDP one, of the frame at buf verify. */
#define assert_ipv4_csum_ok(buf) assert_int_equal(csum_check((uint8_t *)IPV4(buf), 20), 0)
#define assert_l4_csum_ok(buf) assert_int_equal(l4_csum_check((uint8_t *)IPV4(buf)), 0)

/* An address field (network order) equals the dotted quad s. */
#define assert_addr(field, s) assert_int_equal((uint32_t)(field), ip4(s))
/* A port field (network order) equals port. */
#define assert_port(field, port) assert_int_equal(ntohs(field), (port))

#endif /* KX_TESTLIB_H */
