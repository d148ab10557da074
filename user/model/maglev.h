/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Maglev hashing's lookup table (Eisenbud et al., NSDI 2016): each backend
 * fills table entries in the order of its own permutation of 0..m-1, taking
 * turns, so every backend holds about m/n entries and a change of the set
 * moves few of them. Computed from the backends' addresses alone, so every
 * node builds the same table and a client maps to the same backend anywhere.
 */
#ifndef KX_MAGLEV_H
#define KX_MAGLEV_H

#include <stddef.h>
#include <stdint.h>
#include "model/model.h"

/* The table size for n backends: KX_MAGLEV_SMALL or KX_MAGLEV_LARGE. */
uint32_t kx_maglev_size(size_t n);
/* table[0..m) = indexes into b[0..n) (n >= 1, m prime > n); -1 out of memory. */
int kx_maglev_fill(const struct kx_backend_desc *b, size_t n, uint32_t m, uint32_t *table);

#endif /* KX_MAGLEV_H */
