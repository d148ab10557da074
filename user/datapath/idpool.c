// SPDX-License-Identifier: GPL-2.0
/* Id pools: which service entry and backend ids are taken, and the lowest free one. */
#include <stdlib.h>
#include "datapath/sync_int.h"

int idpool_init(struct id_pool *p, uint32_t max)
{
	p->used = calloc(max / 8 + 1, 1);
	p->max = max;
	p->next = 1;
	return p->used ? 0 : -1;
}

void idpool_take(struct id_pool *p, uint32_t id)
{
	if (id && id < p->max)
		p->used[id / 8] |= 1 << (id % 8);
}

void idpool_give(struct id_pool *p, uint32_t id)
{
	if (!id || id >= p->max)
		return;
	p->used[id / 8] &= ~(1 << (id % 8));
	if (id < p->next)
		p->next = id;
}

uint32_t idpool_alloc(struct id_pool *p)
{
	for (; p->next < p->max; p->next++) {
		if (!(p->used[p->next / 8] & (1 << (p->next % 8)))) {
			idpool_take(p, p->next);
			return p->next++;
		}
	}
	return 0;
}
