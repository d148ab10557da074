/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kxdp CLI's commands (user/cli/cli_*.c), dispatched by cli/main.c. Each
 * reads the pinned maps and prints text or, with json, one JSON document.
 * They return the exit code: 0 ok, 1 failed (one line on stderr), 2 usage.
 */
#ifndef KX_CLI_H
#define KX_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "datapath/maps.h"
#include "datapath/sync.h"

#define KXDP_VERSION "0.2.0"

struct cli {
	struct kx_maps m;
	bool json;
	const char *agent; /* the agent's --metrics-addr, for what no map holds */
	int argc; /* the command's own arguments, after "svc list" and the like */
	char **argv;
};

int cli_svc_list(struct cli *c);
int cli_stats(struct cli *c);
int cli_ct(struct cli *c, bool flush);
int cli_ep_list(struct cli *c);
int cli_route_list(struct cli *c);
/* svc list --refused; and the refused section after svc list's text (cli_refused.c). */
int cli_svc_refused(struct cli *c);
int cli_refused_after_list(struct cli *c);
/* GET http://<agent><path> as JSON (cli_refused.c), or NULL with err. */
json_t *cli_agent_get(const char *agent, const char *path, struct kx_err *err);
/* policy list, policy explain (cli_policy.c). */
int cli_policy_list(struct cli *c);
int cli_policy_explain(struct cli *c);

/* Shared helpers (cli_util.c). */
const char *cli_proto(uint8_t p);
const char *cli_algo(uint8_t algo);
/* "12.0.182.73:5432" or, for a node port, "0.0.0.0:30080". */
void cli_addr_port(uint32_t addr, uint16_t port_be, char *buf, size_t n);
/* Parse "A.B.C.D" or "A.B.C.D:PORT" (port 0 when absent); -1 when invalid. */
int cli_parse_vip(const char *s, uint32_t *addr, uint16_t *port_host);
/* Print a JSON value on stdout, indented, and free it. */
void cli_json_out(json_t *v);
/* The snapshot of kx_svc and kx_backends, or 1 after an error line. */
int cli_snapshot(struct cli *c, struct kx_snapshot *s);

#endif /* KX_CLI_H */
