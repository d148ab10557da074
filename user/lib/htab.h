/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small open-addressing hash table from fixed-size keys to fixed-size
 * values, for the agent's in-memory mirror of the maps (no syscall to ask
 * what a map holds). Keys and values are copied in; pointers returned by
 * htab_get/htab_put stay valid until the next htab_put or htab_del.
 */
#ifndef KX_HTAB_H
#define KX_HTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct htab {
	size_t key_size, val_size;
	size_t cap; /* slots, a power of two */
	size_t n; /* live entries */
	size_t used; /* live + tombstones */
	uint8_t *state; /* per slot: 0 empty, 1 live, 2 deleted */
	uint8_t *keys;
	uint8_t *vals;
};

int htab_init(struct htab *h, size_t key_size, size_t val_size);
void htab_free(struct htab *h);
void *htab_get(const struct htab *h, const void *key);
/* Insert or overwrite; returns the stored value, NULL when out of memory. */
void *htab_put(struct htab *h, const void *key, const void *val);
bool htab_del(struct htab *h, const void *key);

/* Iterate: for (size_t i = 0; htab_next(h, &i, &k, &v); i++) */
bool htab_next(const struct htab *h, size_t *i, void **key, void **val);

#endif /* KX_HTAB_H */
