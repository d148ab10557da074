/* SPDX-License-Identifier: GPL-2.0 */
/* The node's CNI network configuration list, written by the agent. */
#ifndef KX_CONFLIST_H
#define KX_CONFLIST_H

#include <stdint.h>
#include "lib/log.h"

#define KX_CNI_CONFLIST "10-kxdp.conflist"
#define KX_DEFAULT_CNI_CONF_DIR "/etc/cni/net.d"

struct kx_cni_params {
	uint32_t pod_cidr; /* network order */
	uint8_t pod_cidr_len;
	int mtu;
	const char *bpffs;
};

/* The conflist as text (caller frees), gateway = first address of the pod CIDR. */
char *kx_conflist_render(const struct kx_cni_params *p);
/*
 * Write <dir>/10-kxdp.conflist atomically (temporary file + rename) when its
 * content differs. Returns 1 written, 0 unchanged, -1 with err.
 */
int kx_conflist_write(const char *dir, const struct kx_cni_params *p, struct kx_err *err);

#endif /* KX_CONFLIST_H */
