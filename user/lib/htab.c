// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>
#include "lib/htab.h"

enum { SLOT_EMPTY = 0, SLOT_LIVE = 1, SLOT_DELETED = 2 };

static uint64_t hash_bytes(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t h = 1469598103934665603ULL;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 1099511628211ULL;
	return h ^ (h >> 29);
}

static int alloc_slots(struct htab *h, size_t cap)
{
	h->state = calloc(cap, 1);
	h->keys = malloc(cap * h->key_size);
	h->vals = malloc(cap * h->val_size);
	if (!h->state || !h->keys || !h->vals) {
		free(h->state);
		free(h->keys);
		free(h->vals);
		return -1;
	}
	h->cap = cap;
	h->n = h->used = 0;
	return 0;
}

int htab_init(struct htab *h, size_t key_size, size_t val_size)
{
	memset(h, 0, sizeof(*h));
	h->key_size = key_size;
	h->val_size = val_size ? val_size : 1;
	return alloc_slots(h, 64);
}

void htab_free(struct htab *h)
{
	free(h->state);
	free(h->keys);
	free(h->vals);
	memset(h, 0, sizeof(*h));
}

/* The slot holding key, or (insert) the first free one on its probe path. */
static size_t probe(const struct htab *h, const void *key, bool for_insert, bool *found)
{
	size_t mask = h->cap - 1, i = hash_bytes(key, h->key_size) & mask, tomb = (size_t)-1;

	*found = false;
	for (;; i = (i + 1) & mask) {
		if (h->state[i] == SLOT_EMPTY)
			return for_insert && tomb != (size_t)-1 ? tomb : i;
		if (h->state[i] == SLOT_DELETED) {
			if (tomb == (size_t)-1)
				tomb = i;
			continue;
		}
		if (!memcmp(h->keys + i * h->key_size, key, h->key_size)) {
			*found = true;
			return i;
		}
	}
}

static int grow(struct htab *h)
{
	struct htab old = *h;
	size_t cap = old.n * 4 > old.cap ? old.cap * 2 : old.cap;

	if (alloc_slots(h, cap)) {
		*h = old;
		return -1;
	}
	for (size_t i = 0; i < old.cap; i++)
		if (old.state[i] == SLOT_LIVE)
			htab_put(h, old.keys + i * old.key_size, old.vals + i * old.val_size);
	free(old.state);
	free(old.keys);
	free(old.vals);
	return 0;
}

void *htab_get(const struct htab *h, const void *key)
{
	bool found;
	size_t i = probe(h, key, false, &found);

	return found ? h->vals + i * h->val_size : NULL;
}

void *htab_put(struct htab *h, const void *key, const void *val)
{
	bool found;
	size_t i;

	if ((h->used + 1) * 4 >= h->cap * 3 && grow(h))
		return NULL;
	i = probe(h, key, true, &found);
	if (!found) {
		if (h->state[i] == SLOT_EMPTY)
			h->used++;
		h->state[i] = SLOT_LIVE;
		h->n++;
		memcpy(h->keys + i * h->key_size, key, h->key_size);
	}
	memcpy(h->vals + i * h->val_size, val, h->val_size);
	return h->vals + i * h->val_size;
}

bool htab_del(struct htab *h, const void *key)
{
	bool found;
	size_t i = probe(h, key, false, &found);

	if (!found)
		return false;
	h->state[i] = SLOT_DELETED;
	h->n--;
	return true;
}

bool htab_next(const struct htab *h, size_t *i, void **key, void **val)
{
	for (; *i < h->cap; (*i)++) {
		if (h->state[*i] != SLOT_LIVE)
			continue;
		if (key)
			*key = h->keys + *i * h->key_size;
		if (val)
			*val = h->vals + *i * h->val_size;
		return true;
	}
	return false;
}
