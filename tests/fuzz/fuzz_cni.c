// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the CNI network configuration parser (what a runtime
 * writes to the plugin's stdin). Accepted or refused with a CNI error code
 * and one line, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "cni/cni_conf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kx_err err = { "" };
	struct cni_conf c;
	int code = 0;

	kx_log_verbosity = -1;
	memset(&c, 0, sizeof(c));
	if (!cni_conf_parse((const char *)data, size, &c, &code, &err))
		cni_conf_free(&c);
	else if (!code || !err.msg[0] || strchr(err.msg, '\n'))
		abort();
	return 0;
}
