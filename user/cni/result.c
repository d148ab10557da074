// SPDX-License-Identifier: GPL-2.0
/* What the CNI runtime reads on stdout: the ADD result, or an error and exit 1. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cni/cni.h"

const char *g_version = "1.0.0"; /* echoed in errors and results */

/* Print a CNI error on stdout (the runtime reads it there) and exit 1. */
__attribute__((noreturn)) void cni_fail(int code, const char *msg)
{
	json_t *e = json_pack("{s:s, s:i, s:s}", "cniVersion", g_version, "code", code, "msg", msg);

	json_dumpf(e, stdout, JSON_COMPACT);
	putchar('\n');
	fflush(stdout);
	fprintf(stderr, "kxdp-cni: error %d: %s\n", code, msg);
	exit(1);
}

static void mac_str(const uint8_t *m, char *out)
{
	sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

void print_result(const struct cni_env *env, const struct pod *p)
{
	char hmac[18], pmac[18], addr[INET_ADDRSTRLEN + 4], gw[INET_ADDRSTRLEN];
	bool v1 = !strcmp(g_version, "1.0.0");
	json_t *res, *ip;

	mac_str(p->host_mac, hmac);
	mac_str(p->pod_mac, pmac);
	inet_ntop(AF_INET, &p->addr, addr, sizeof(addr));
	sprintf(addr + strlen(addr), "/%d", p->prefixlen);
	inet_ntop(AF_INET, &p->gw, gw, sizeof(gw));
	ip = json_pack("{s:s, s:s, s:i}", "address", addr, "gateway", gw, "interface", 1);
	if (!v1)
		json_object_set_new(ip, "version", json_string("4"));
	res = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s, s:s}], s:[o], s:[{s:s, s:s}], s:o}",
			"cniVersion", g_version, "interfaces", "name", p->host_if, "mac", hmac,
			"name", env->ifname, "mac", pmac, "sandbox", env->netns, "ips", ip,
			"routes", "dst", "0.0.0.0/0", "gw", gw, "dns",
			json_incref(json_object_get(p->ipam_result, "dns")) ?: json_object());
	json_dumpf(res, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(res);
}
