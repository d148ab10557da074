// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer target: the watch stream splitter and event handling. The input
 * is a byte choosing the chunk size, then lines as an API server might send
 * them on a watch, each led by a byte choosing the watch it goes to
 * ('0' services, '1' slices, '2' nodes, '3' pods, '4' namespaces, '5'
 * network policies: the byte modulo KAPI_N); each line is fed to its watch in
 * chunks of that size, so events arrive split at any byte. The store must
 * take them without a crash, a leak or UB, and what it holds then goes on as
 * the agent takes it: decoded into a state (or refused in one line) and
 * modelled. One client serves every input (curl's set-up costs far more
 * than an input): its stores and line buffers are emptied between inputs.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "k8s/kapi.h"
#include "model/model.h"

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
	struct k8s_state st;
	struct kx_table t;
	struct kx_err err;
	size_t piece, i;

	if (size < 2)
		return 0;
	piece = (size_t)data[0] % 61 + 1;
	for (i = 1; i < size;) {
		const uint8_t *nl = memchr(data + i, '\n', size - i);
		size_t end = nl ? (size_t)(nl - data) + 1 : size; /* the line, its newline kept */
		struct kapi_watch *w = &k.w[data[i] % KAPI_N];

		for (i++; i < end; i += piece)
			kapi_feed(&k, w, (const char *)data + i, end - i < piece ? end - i : piece);
		i = end;
	}
	if (!kapi_take_state(&k, &st, &err)) {
		if (!kx_model_build(&st, "node130", &t, &err))
			kx_table_free(&t);
		k8s_state_free(&st);
	}
	reset();
	return 0;
}
