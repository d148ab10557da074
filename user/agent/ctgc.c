// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <bpf/bpf.h>
#include "agent/ctgc.h"

int kx_ct_clock(int clock_prog_fd, struct kx_clock *c, struct kx_err *err)
{
	unsigned char frame[64] = { 0 }; /* an XDP test run wants at least an Ethernet header */
	unsigned char out[64];
	DECLARE_LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame, .data_size_in = sizeof(frame),
			    .data_out = out, .data_size_out = sizeof(out), .repeat = 1);

	if (bpf_prog_test_run_opts(clock_prog_fd, &o)) {
		kx_errf(err, "program ct_clock: run: %s", strerror(errno));
		return -1;
	}
	if (o.retval != 2 /* XDP_PASS */ || o.data_size_out < sizeof(*c)) {
		kx_errf(err, "program ct_clock: returned %u with %u bytes", o.retval,
			o.data_size_out);
		return -1;
	}
	memcpy(c, out, sizeof(*c));
	return 0;
}

unsigned int kx_ct_hz(const struct kx_clock *a, const struct kx_clock *b)
{
	static const unsigned int std_hz[] = { 100, 250, 300, 1000 };
	uint64_t ns = b->mono_ns - a->mono_ns;
	double rate, best_err = 1e9;
	unsigned int best = 0;

	if (b->mono_ns <= a->mono_ns || ns < 200000000ull || b->jiffies < a->jiffies)
		return 0;
	rate = (double)(b->jiffies - a->jiffies) * 1e9 / (double)ns;
	for (size_t i = 0; i < sizeof(std_hz) / sizeof(std_hz[0]); i++) {
		double e = rate > std_hz[i] ? rate - std_hz[i] : std_hz[i] - rate;

		if (e < best_err)
			best_err = e, best = std_hz[i];
	}
	return best_err <= best * 0.25 ? best : 0; /* a late tick or two in a VM */
}

struct gc_walk {
	const struct kx_maps *m;
	const struct kx_ct_timeouts *to;
	uint64_t now;
	unsigned int hz;
	struct kx_ct_gc_result *r;
};

/* The timeout, in jiffies, of the flow whose entry is (k, v). */
static uint64_t timeout_of(const struct gc_walk *w, const struct kx_ct_key *k,
			   const struct kx_ct_val *v)
{
	uint32_t s;

	if (k->proto == IPPROTO_TCP)
		s = v->flags & KX_CT_F_CLOSING ? w->to->tcp_close : w->to->tcp;
	else
		s = w->to->udp;
	return (uint64_t)s * w->hz;
}

static bool idle_past(const struct gc_walk *w, uint64_t last, uint64_t timeout)
{
	return last < w->now && w->now - last > timeout;
}

/*
 * Is (t, tv) the twin of (k, v), and (k, v) its twin in turn? A tuple reused
 * by a newer flow (a port moved by a clash, a hairpin made again) can leave
 * an older entry whose computed twin is the newer flow's: that one is not
 * its to take along.
 */
static bool twins(const struct kx_ct_key *k, const struct kx_ct_key *t,
		  const struct kx_ct_val *tv)
{
	struct kx_ct_key back;

	kx_ct_twin_key(t, tv, &back);
	return !memcmp(&back, k, sizeof(back));
}

/*
 * One entry of the walk. The batch's copy answers first: most entries are
 * busy and cost no syscall. An idle one is read again (a packet may have
 * touched it since), then its twin: a live twin keeps the flow; otherwise
 * both go (a twin already gone, or one that is another flow's, lets it age
 * alone). Each entry is judged by its own timeout.
 */
static int gc_entry(const void *key, const void *val, void *ctx)
{
	const struct kx_ct_key *k = key;
	const struct kx_ct_val *v = val;
	struct gc_walk *w = ctx;
	uint64_t timeout = timeout_of(w, k, v);
	struct kx_ct_val live, tv;
	struct kx_ct_key t;
	bool twin;

	w->r->scanned++;
	if (!idle_past(w, v->last_seen, timeout))
		return 0;
	if (bpf_map_lookup_elem(w->m->ct, k, &live) ||
	    !idle_past(w, live.last_seen, timeout_of(w, k, &live)))
		return 0;
	kx_ct_twin_key(k, &live, &t);
	twin = !bpf_map_lookup_elem(w->m->ct, &t, &tv) && twins(k, &t, &tv);
	if (twin && !idle_past(w, tv.last_seen, timeout_of(w, &t, &tv)))
		return 0;
	if (!bpf_map_delete_elem(w->m->ct, k))
		w->r->expired++;
	if (twin && !bpf_map_delete_elem(w->m->ct, &t))
		w->r->expired++;
	return 0;
}

int kx_ct_gc(const struct kx_maps *m, const struct kx_ct_timeouts *to, uint64_t now,
	     unsigned int hz, struct kx_ct_gc_result *r, struct kx_err *err)
{
	struct gc_walk w = { m, to, now, hz, r };
	int ret = 0;

	memset(r, 0, sizeof(*r));
	if (!hz) {
		kx_errf(err, "conntrack GC: the kernel's HZ is not known yet");
		return -1;
	}
	if (kx_map_foreach(m->ct, sizeof(struct kx_ct_key), sizeof(struct kx_ct_val), gc_entry,
			   &w)) {
		kx_errf(err, "map %s: GC walk: %s", KX_MAP_CT, strerror(errno));
		ret = -1; /* what was deleted is still counted */
	}
	if (kx_ct_count_deleted(m, r->expired) && !ret) {
		kx_errf(err, "map %s: counting %llu GC deletions: %s", KX_MAP_STATS,
			(unsigned long long)r->expired, strerror(errno));
		ret = -1;
	}
	return ret;
}
