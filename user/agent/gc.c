// SPDX-License-Identifier: GPL-2.0
/* The agent's conntrack GC ticks: ct_clock read, HZ measured, kx_ct walked every interval. */
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "agent/agent.h"

/* The conntrack GC's clock: ct_clock's pin, and a first reading to measure HZ from. */
void agent_gc_init(struct agent *a)
{
	struct kx_err err = { "" };
	char path[4200];

	a->clock_fd = -1;
	if (!a->o.ct_gc_interval || a->o.once)
		return;
	if (kx_pin_path(path, sizeof(path), a->o.bpffs, "ct_clock") ||
	    (a->clock_fd = bpf_obj_get(path)) < 0) {
		pr_warn("program %s: %s: no conntrack GC (the LRU alone makes room)", path,
			strerror(errno));
		return;
	}
	if (kx_ct_clock(a->clock_fd, &a->clock0, &err)) {
		pr_warn("%s: no conntrack GC (the LRU alone makes room)", err.msg);
		close(a->clock_fd);
		a->clock_fd = -1;
		return;
	}
	a->last_gc_ns = agent_mono_ns();
}
/* Every --ct-gc-interval seconds: idle flows leave kx_ct. */
void agent_gc_tick(struct agent *a)
{
	struct kx_ct_gc_result r;
	struct kx_err err = { "" };
	struct kx_clock now;
	uint64_t t = agent_mono_ns();

	if (a->clock_fd < 0 || t - a->last_gc_ns < (uint64_t)a->o.ct_gc_interval * 1000000000ull)
		return;
	a->last_gc_ns = t;
	if (kx_ct_clock(a->clock_fd, &now, &err)) {
		pr_warn("conntrack GC: %s", err.msg);
		return;
	}
	if (!a->hz) {
		a->hz = kx_ct_hz(&a->clock0, &now);
		if (!a->hz) {
			pr_warn("conntrack GC: jiffies advance at no standard HZ (%llu in %llu ns): GC off",
				(unsigned long long)(now.jiffies - a->clock0.jiffies),
				(unsigned long long)(now.mono_ns - a->clock0.mono_ns));
			close(a->clock_fd);
			a->clock_fd = -1;
			return;
		}
		pr_info("conntrack GC: kernel HZ %u, a walk every %u s; idle timeouts TCP %u s, TCP closing %u s, UDP %u s",
			a->hz, a->o.ct_gc_interval, a->o.ct_timeouts.tcp,
			a->o.ct_timeouts.tcp_close, a->o.ct_timeouts.udp);
	}
	if (kx_ct_gc(&a->maps, &a->o.ct_timeouts, now.jiffies, a->hz, &r, &err))
		pr_warn("%s", err.msg);
	if (r.expired)
		pr_debug("conntrack GC: %llu of %llu entries idle past their timeout, deleted",
			 (unsigned long long)r.expired, (unsigned long long)r.scanned);
}
