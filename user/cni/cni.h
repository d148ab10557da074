/* SPDX-License-Identifier: GPL-2.0 */
/* The CNI plugin's steps, shared by its files (kxdp-cni only). */
#ifndef KX_CNI_H
#define KX_CNI_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "cni/cni_conf.h"
#include "lib/netlink.h"

/* The CNI environment of one call. */
struct cni_env {
	const char *command;
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *path;
};

/* What the plugin learned about the pod it wires. */
struct pod {
	char host_if[IFNAMSIZ];
	int host_ifindex;
	uint8_t host_mac[6];
	uint8_t pod_mac[6];
	bool want_mac; /* CNI_ARGS MAC=: the pod interface gets pod_mac */
	char ns[64]; /* CNI_ARGS K8S_POD_NAMESPACE, "" = none (not a Kubernetes pod) */
	uint32_t addr, gw;
	int prefixlen;
	json_t *ipam_result;
};

/* result.c: the cniVersion echoed in errors and results (the config's, once parsed). */
extern const char *g_version;
/* Print a CNI error on stdout (the runtime reads it there) and exit 1. */
__attribute__((noreturn)) void cni_fail(int code, const char *msg);
void print_result(const struct cni_env *env, const struct pod *p);

/* ipam.c */
json_t *ipam_exec(const struct cni_env *env, const struct cni_conf *c, const char *cmd,
		  int *code, struct kx_err *err);
int ipam_address(json_t *res, struct pod *p, struct kx_err *err);

/* wire.c */
void host_ifname(const struct cni_env *env, char out[IFNAMSIZ]);
int configure_pod(int netns_fd, const struct cni_env *env, struct pod *p, struct kx_err *err);
int datapath_ready(const char *bpffs, struct kx_err *err);
int endpoint_write(const char *bpffs, const struct pod *p, struct kx_err *err);
void endpoint_forget(const char *bpffs, int ifindex);
void endpoint_forget_addr(const char *bpffs, uint32_t addr);

/* cmd.c */
void cmd_add(const struct cni_env *env, const struct cni_conf *c, int netns_fd);
void cmd_del(const struct cni_env *env, const struct cni_conf *c);
void cmd_check(const struct cni_env *env, const struct cni_conf *c, int netns_fd);

#endif /* KX_CNI_H */
