// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: Kubernetes object decoding and the model. Any input is a
 * List document the agent might read (state file or API); it must be
 * decoded or refused with one line, and a decoded one modelled, without a
 * crash, a leak or undefined behaviour (ASan, UBSan).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kx_err err = { "" };
	struct k8s_state st;
	struct kx_table t;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	kx_log_verbosity = -1; /* quiet: warnings per object are expected */
	if (!k8s_decode_string(text, &st, &err)) {
		if (!kx_model_build(&st, "node130", &t, &err))
			kx_table_free(&t);
		k8s_state_free(&st);
	} else if (!err.msg[0] || strchr(err.msg, '\n')) {
		abort(); /* a refusal must say why, in one line */
	}
	free(text);
	return 0;
}
