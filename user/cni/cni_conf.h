/* SPDX-License-Identifier: GPL-2.0 */
/* The kxdp CNI plugin's network configuration and its CNI error codes. */
#ifndef KX_CNI_CONF_H
#define KX_CNI_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "lib/log.h"

/* Error codes of the CNI 1.0 specification; 100+ are kxdp's own. */
enum cni_code {
	CNI_ERR_VERSION = 1, /* incompatible CNI version */
	CNI_ERR_FIELD = 2, /* unsupported field in the network configuration */
	CNI_ERR_CONTAINER = 3, /* container unknown or does not exist */
	CNI_ERR_ENV = 4, /* invalid necessary environment variables */
	CNI_ERR_IO = 5, /* I/O failure */
	CNI_ERR_DECODE = 6, /* failed to decode content */
	CNI_ERR_CONFIG = 7, /* invalid network config */
	CNI_ERR_TRY_LATER = 11, /* try again later */
	CNI_ERR_DATAPATH = 100, /* kxdp datapath missing or failing (agent not running?) */
	CNI_ERR_NETLINK = 101, /* a link, address or route could not be set */
	CNI_ERR_IPAM = 102, /* the IPAM plugin failed */
	CNI_ERR_CHECK = 103, /* CHECK found the pod wired differently */
};

struct cni_conf {
	char cni_version[16];
	char name[128];
	char bpffs[256];
	int mtu;
	char ipam_type[64];
	json_t *root; /* the whole config, passed to the IPAM plugin as is */
	json_t *prev_result; /* CHECK / DEL, may be NULL */
};

/* Parse and validate stdin's config; on error err says what and *code why. */
int cni_conf_parse(const char *text, size_t len, struct cni_conf *c, int *code,
		   struct kx_err *err);
void cni_conf_free(struct cni_conf *c);
bool cni_version_supported(const char *v);
extern const char *const cni_supported_versions[];

#endif /* KX_CNI_CONF_H */
