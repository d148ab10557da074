// SPDX-License-Identifier: GPL-2.0
/* kx_svc and kx_backends read back whole and sorted: the CLI's view, the mirror's first load. */
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "datapath/sync.h"

static int svc_entry_cmp(const void *a, const void *b)
{
	return kx_svc_key_cmp(&((const struct kx_svc_entry *)a)->key,
			      &((const struct kx_svc_entry *)b)->key);
}

static int backend_entry_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct kx_backend_entry *)a)->id;
	uint32_t y = ((const struct kx_backend_entry *)b)->id;

	return x < y ? -1 : x > y;
}

int kx_snapshot_read(const struct kx_maps *m, struct kx_snapshot *s, struct kx_err *err)
{
	struct kx_svc_key sk, prev_sk;
	uint32_t bk, prev_bk;
	bool first;
	size_t cap;

	memset(s, 0, sizeof(*s));
	cap = 64;
	s->svcs = malloc(cap * sizeof(*s->svcs));
	if (!s->svcs)
		goto oom;
	for (first = true; !bpf_map_get_next_key(m->svc, first ? NULL : &prev_sk, &sk);
	     prev_sk = sk, first = false) {
		if (s->n_svcs == cap) {
			void *p = realloc(s->svcs, (cap *= 2) * sizeof(*s->svcs));

			if (!p)
				goto oom;
			s->svcs = p;
		}
		s->svcs[s->n_svcs].key = sk;
		if (!bpf_map_lookup_elem(m->svc, &sk, &s->svcs[s->n_svcs].val))
			s->n_svcs++;
	}
	cap = 64;
	s->backends = malloc(cap * sizeof(*s->backends));
	if (!s->backends)
		goto oom;
	for (first = true; !bpf_map_get_next_key(m->backends, first ? NULL : &prev_bk, &bk);
	     prev_bk = bk, first = false) {
		if (s->n_backends == cap) {
			void *p = realloc(s->backends, (cap *= 2) * sizeof(*s->backends));

			if (!p)
				goto oom;
			s->backends = p;
		}
		s->backends[s->n_backends].id = bk;
		if (!bpf_map_lookup_elem(m->backends, &bk, &s->backends[s->n_backends].b))
			s->n_backends++;
	}
	qsort(s->svcs, s->n_svcs, sizeof(*s->svcs), svc_entry_cmp);
	qsort(s->backends, s->n_backends, sizeof(*s->backends), backend_entry_cmp);
	return 0;
oom:
	kx_snapshot_free(s);
	kx_errf(err, "reading maps: out of memory");
	return -1;
}

void kx_snapshot_free(struct kx_snapshot *s)
{
	free(s->svcs);
	free(s->backends);
	memset(s, 0, sizeof(*s));
}

const struct kx_backend *kx_snapshot_backend(const struct kx_snapshot *s, uint32_t id)
{
	struct kx_backend_entry k = { .id = id }, *e;

	e = bsearch(&k, s->backends, s->n_backends, sizeof(k), backend_entry_cmp);
	return e ? &e->b : NULL;
}
