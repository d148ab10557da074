// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the watch stream splitter and event handling. The input
 * is bytes as an API server might send them on a watch, cut into chunks at
 * the positions its first byte chooses, each chunk to a watch its first byte
 * picks; the store must take them without a crash, a leak or UB. One client
 * serves every input (curl's set-up costs far more than an input): its
 * stores and line buffers are emptied between inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "kapi.h"

static struct kapi k;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct kapi_conf conf = { .server = "https://unused.invalid" };
	struct kx_err err;

	kx_log_verbosity = -1;
	if (kapi_init(&k, &conf, &err))
		abort();
	return 0;
}

static void reset(void)
{
	for (int i = 0; i < KAPI_N; i++) {
		k.w[i].len = 0;
		k.w[i].skipping = false;
		k.w[i].gone = false;
		json_object_clear(k.store[i]);
	}
	json_object_clear(k.dirty_owners);
	json_object_clear(k.slices_of);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t piece, i;

	if (size < 2)
		return 0;
	piece = (size_t)data[0] % 61 + 1;
	data++;
	size--;
	for (i = 0; i < size; i += piece)
		kapi_feed(&k, &k.w[data[i] % KAPI_N], (const char *)data + i,
			  size - i < piece ? size - i : piece);
	reset();
	return 0;
}
