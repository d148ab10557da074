// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include "model/maglev.h"

uint32_t kx_maglev_size(size_t n)
{
	return n <= KX_MAGLEV_SMALL_MAX ? KX_MAGLEV_SMALL : KX_MAGLEV_LARGE;
}

/* FNV-1a over a backend's address, port and protocol, from basis seed. */
static uint64_t backend_hash(const struct kx_backend_desc *b, uint64_t seed)
{
	uint8_t bytes[7] = { 0 };
	uint64_t h = seed;

	__builtin_memcpy(bytes, &b->addr, 4); /* network order: the same on every node */
	bytes[4] = (uint8_t)(b->port >> 8);
	bytes[5] = (uint8_t)b->port;
	bytes[6] = b->proto;
	for (size_t i = 0; i < sizeof(bytes); i++) {
		h ^= bytes[i];
		h *= 0x100000001b3ULL;
	}
	return h;
}

int kx_maglev_fill(const struct kx_backend_desc *b, size_t n, uint32_t m, uint32_t *table)
{
	uint64_t *offset = calloc(n, sizeof(*offset)), *skip = calloc(n, sizeof(*skip));
	uint64_t *next = calloc(n, sizeof(*next));
	uint32_t filled = 0;
	int ret = -1;

	if (!offset || !skip || !next)
		goto out;
	for (size_t i = 0; i < n; i++) {
		offset[i] = backend_hash(&b[i], 0xcbf29ce484222325ULL) % m;
		skip[i] = backend_hash(&b[i], 0x84222325cbf29ce4ULL) % (m - 1) + 1;
	}
	for (uint32_t j = 0; j < m; j++)
		table[j] = UINT32_MAX;
	while (filled < m) {
		for (size_t i = 0; i < n && filled < m; i++) {
			uint64_t c = (offset[i] + next[i] * skip[i]) % m;

			while (table[c] != UINT32_MAX) {
				next[i]++;
				c = (offset[i] + next[i] * skip[i]) % m;
			}
			table[c] = (uint32_t)i;
			next[i]++;
			filled++;
		}
	}
	ret = 0;
out:
	free(offset);
	free(skip);
	free(next);
	return ret;
}
