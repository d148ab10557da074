// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

const char *cli_proto(uint8_t p)
{
	return p == IPPROTO_TCP ? "TCP" : p == IPPROTO_UDP ? "UDP" : p == 0 ? "any" : "?";
}

const char *cli_algo(uint8_t algo)
{
	static const char *const names[] = { [KX_ALGO_RR] = "rr", [KX_ALGO_SH] = "sh",
					     [KX_ALGO_MH] = "mh", [KX_ALGO_RANDOM] = "random" };

	return algo < sizeof(names) / sizeof(names[0]) && names[algo] ? names[algo] : "?";
}

void cli_addr_port(uint32_t addr, uint16_t port_be, char *buf, size_t n)
{
	char ip[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &addr, ip, sizeof(ip));
	snprintf(buf, n, "%s:%u", ip, ntohs(port_be));
}

int cli_parse_vip(const char *s, uint32_t *addr, uint16_t *port_host)
{
	char buf[64], *colon, *end;
	struct in_addr a;
	long p = 0;

	if (strlen(s) >= sizeof(buf))
		return -1;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	if (colon) {
		*colon = '\0';
		p = strtol(colon + 1, &end, 10);
		if (*end || p < 1 || p > 65535)
			return -1;
	}
	if (inet_pton(AF_INET, buf, &a) != 1)
		return -1;
	*addr = a.s_addr;
	*port_host = (uint16_t)p;
	return 0;
}

void cli_json_out(json_t *v)
{
	json_dumpf(v, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	putchar('\n');
	json_decref(v);
}

int cli_snapshot(struct cli *c, struct kx_snapshot *s)
{
	struct kx_err err;

	if (kx_snapshot_read(&c->m, s, &err)) {
		fprintf(stderr, "kxdp: %s\n", err.msg);
		return 1;
	}
	return 0;
}
