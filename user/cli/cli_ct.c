// SPDX-License-Identifier: GPL-2.0
/* kxdp ct list / ct flush [--svc VIP[:PORT]] [--backend IP]: the conntrack table. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "cli/cli.h"

struct ct_filter {
	uint32_t *svc_ids; /* entries of the --svc address; NULL = any */
	size_t n_svc_ids;
	bool by_svc;
	uint32_t backend; /* --backend address, 0 = any */
	const struct kx_snapshot *snap;
};

struct ct_row {
	struct kx_ct_key k;
	struct kx_ct_val v;
};

struct ct_walk {
	struct ct_filter *f;
	struct ct_row *rows;
	size_t n, cap;
};

static bool ct_match(const struct ct_filter *f, const struct kx_ct_val *v)
{
	const struct kx_backend *b;
	size_t i;

	if (f->by_svc) {
		for (i = 0; i < f->n_svc_ids && f->svc_ids[i] != v->svc_id; i++)
			;
		if (i == f->n_svc_ids)
			return false;
	}
	if (f->backend) {
		b = kx_snapshot_backend(f->snap, v->backend_id);
		if (!b || b->addr != f->backend)
			return false;
	}
	return true;
}

static int ct_collect(const void *key, const void *val, void *ctx)
{
	struct ct_walk *w = ctx;

	if (!ct_match(w->f, val))
		return 0;
	if (w->n == w->cap) {
		void *p = realloc(w->rows, (w->cap = w->cap ? 2 * w->cap : 256) * sizeof(*w->rows));

		if (!p)
			return -1;
		w->rows = p;
	}
	memcpy(&w->rows[w->n].k, key, sizeof(struct kx_ct_key));
	memcpy(&w->rows[w->n].v, val, sizeof(struct kx_ct_val));
	w->n++;
	return 0;
}

static int row_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct ct_row *)a)->k, &((const struct ct_row *)b)->k,
		      sizeof(struct kx_ct_key));
}

/*
 * A SNAT entry whose port a clash moved: it keeps the client's address (the
 * forward entry's new source, or the reply entry's destination, is the
 * client itself), or, a hairpin (the backend is the client), its port is
 * not the client's own.
 */
static bool port_moved(const struct ct_row *r)
{
	bool fwd = r->v.dir == KX_CT_FORWARD;
	__be32 client = fwd ? r->k.saddr : r->v.nat2_addr;
	__be32 backend = fwd ? r->v.nat_addr : r->k.saddr;
	__be16 cport = fwd ? r->k.sport : r->v.nat2_port;
	__be16 moved = fwd ? r->v.nat2_port : r->k.dport;

	if (!(r->v.flags & KX_CT_F_SNAT))
		return false;
	if (r->v.nat2_addr == (fwd ? r->k.saddr : r->k.daddr))
		return true;
	return backend == client && moved != cport;
}

static void flag_names(const struct ct_row *r, char *out, size_t n)
{
	uint8_t f = r->v.flags;

	snprintf(out, n, "%s%s%s%s%s%s%s", f & KX_CT_F_CLOSING ? "closing," : "",
		 f & KX_CT_F_EXTERNAL ? "external," : "", f & KX_CT_F_SNAT ? "snat," : "",
		 port_moved(r) ? "port-moved," : "", f & KX_CT_F_SEEN_REPLY ? "seen-reply," : "",
		 f & KX_CT_F_STACK ? "stack," : "", f & KX_CT_F_POLICY ? "policy," : "");
	if (out[0])
		out[strlen(out) - 1] = '\0';
	else
		snprintf(out, n, "-");
}

static void ct_print(const struct ct_row *r, json_t *arr)
{
	char src[64], dst[64], nat[64], nat2[64] = "", flags[64];
	bool fwd = r->v.dir == KX_CT_FORWARD;

	cli_addr_port(r->k.saddr, r->k.sport, src, sizeof(src));
	cli_addr_port(r->k.daddr, r->k.dport, dst, sizeof(dst));
	cli_addr_port(r->v.nat_addr, r->v.nat_port, nat, sizeof(nat));
	if (r->v.flags & KX_CT_F_SNAT)
		cli_addr_port(r->v.nat2_addr, r->v.nat2_port, nat2, sizeof(nat2));
	flag_names(r, flags, sizeof(flags));
	if (arr) {
		json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:i}",
			"protocol", cli_proto(r->k.proto), "src", src, "dst", dst,
			"direction", fwd ? "forward" : "reply",
			fwd ? "backend" : "service", nat, "other_end", nat2, "flags", flags,
			"svc_id", (int)r->v.svc_id, "backend_id", (int)r->v.backend_id));
		return;
	}
	/* forward: the destination becomes the backend; reply: the source becomes the VIP */
	printf("%-4s %-21s -> %-21s %-7s %s %-21s%s%s svc %u backend %u %s\n",
	       cli_proto(r->k.proto), src, dst, fwd ? "forward" : "reply", fwd ? "dnat" : "snat",
	       nat, nat2[0] ? " other-end " : "", nat2, r->v.svc_id, r->v.backend_id, flags);
}

/* The ids of the entries at vip[:port] (any protocol and scope). */
static int svc_ids_of(const struct kx_snapshot *s, uint32_t vip, uint16_t port,
		      struct ct_filter *f)
{
	f->svc_ids = calloc(s->n_svcs + 1, sizeof(*f->svc_ids));
	if (!f->svc_ids)
		return -1;
	for (size_t i = 0; i < s->n_svcs; i++)
		if (s->svcs[i].key.vip == vip && (!port || ntohs(s->svcs[i].key.port) == port))
			f->svc_ids[f->n_svc_ids++] = s->svcs[i].val.id;
	f->by_svc = true;
	return 0;
}

/* kxdp ct list|flush [--svc VIP[:PORT]] [--backend IP] */
int cli_ct(struct cli *c, bool flush)
{
	struct ct_filter f = { 0 };
	struct ct_walk w = { &f, NULL, 0, 0 };
	struct kx_snapshot snap;
	uint32_t vip = 0;
	uint16_t port = 0;
	bool by_svc = false;
	size_t flushed = 0;
	json_t *arr;

	for (int i = 0; i < c->argc; i++) {
		bool svc = !strcmp(c->argv[i], "--svc"), be = !strcmp(c->argv[i], "--backend");
		uint16_t p = 0;

		if ((!svc && !be) || i + 1 == c->argc ||
		    cli_parse_vip(c->argv[i + 1], svc ? &vip : &f.backend, svc ? &port : &p) ||
		    (be && p)) {
			fprintf(stderr, "kxdp: ct %s: want --svc VIP[:PORT] and/or --backend IP\n",
				flush ? "flush" : "list");
			return 2;
		}
		by_svc |= svc;
		i++;
	}
	if (cli_snapshot(c, &snap))
		return 1;
	f.snap = &snap;
	if (by_svc && svc_ids_of(&snap, vip, port, &f)) {
		kx_snapshot_free(&snap);
		return 1;
	}
	if (kx_map_foreach(c->m.ct, sizeof(struct kx_ct_key), sizeof(struct kx_ct_val), ct_collect,
			   &w)) {
		fprintf(stderr, "kxdp: map %s: %s\n", KX_MAP_CT, strerror(errno));
		goto fail;
	}
	qsort(w.rows, w.n, sizeof(*w.rows), row_cmp);
	if (flush) {
		for (size_t i = 0; i < w.n; i++)
			flushed += !bpf_map_delete_elem(c->m.ct, &w.rows[i].k);
		if (kx_ct_count_deleted(&c->m, flushed)) /* else they would read as evictions */
			fprintf(stderr, "kxdp: map %s: counting flushed entries: %s\n", KX_MAP_STATS,
				strerror(errno));
		if (c->json)
			cli_json_out(json_pack("{s:I}", "flushed", (json_int_t)flushed));
		else
			printf("%zu conntrack entries flushed\n", flushed);
	} else {
		arr = c->json ? json_array() : NULL;
		for (size_t i = 0; i < w.n; i++)
			ct_print(&w.rows[i], arr);
		if (arr)
			cli_json_out(arr);
		else
			printf("%zu entries\n", w.n);
	}
	free(w.rows);
	free(f.svc_ids);
	kx_snapshot_free(&snap);
	return 0;
fail:
	free(w.rows);
	free(f.svc_ids);
	kx_snapshot_free(&snap);
	return 1;
}
