// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <microhttpd.h>
#include "agent/health.h"
#include "agent/metrics.h"

#define HEALTH_STALE_S 30

struct kx_health {
	struct MHD_Daemon *d;
	struct kx_metrics *metrics; /* /metrics, when set */
	atomic_llong last_beat; /* CLOCK_MONOTONIC seconds */
	atomic_bool ready;
};

static long long mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned code, const char *text)
{
	struct MHD_Response *r =
		MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
	ret = MHD_queue_response(c, code, r);
	MHD_destroy_response(r);
	return ret;
}

/* 200 with text (malloc'd, freed here), or 500 when it is NULL. */
static enum MHD_Result reply_owned(struct MHD_Connection *c, char *text, const char *type)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	if (!text)
		return reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", type);
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

/* /policy/explain?src=IP&dst=IP&port=N&proto=tcp|udp|sctp */
static enum MHD_Result explain(struct MHD_Connection *c, struct kx_health *h)
{
	const char *src = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "src");
	const char *dst = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "dst");
	const char *port = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "port");
	const char *proto = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "proto");
	struct in_addr s, d;
	uint8_t p = 0;
	long n;

	if (proto)
		p = !strcmp(proto, "tcp") ? IPPROTO_TCP : !strcmp(proto, "udp") ? IPPROTO_UDP :
		    !strcmp(proto, "sctp") ? IPPROTO_SCTP : 0;
	n = port ? strtol(port, NULL, 10) : -1;
	if (!src || !dst || inet_pton(AF_INET, src, &s) != 1 || inet_pton(AF_INET, dst, &d) != 1 ||
	    !p || n < 1 || n > 65535)
		return reply(c, MHD_HTTP_BAD_REQUEST,
			     "want /policy/explain?src=IP&dst=IP&port=N&proto=tcp|udp|sctp\n");
	return reply_owned(c, kx_metrics_policy_explain(h->metrics, s.s_addr, d.s_addr, p,
							(uint16_t)n),
			   "application/json");
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	struct kx_health *h = cls;

	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n");
	if (!strcmp(url, "/healthz")) {
		if (mono_s() - atomic_load(&h->last_beat) > HEALTH_STALE_S)
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "main loop stalled\n");
		return reply(c, MHD_HTTP_OK, "ok\n");
	}
	if (!strcmp(url, "/readyz")) {
		if (!atomic_load(&h->ready))
			return reply(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not in sync yet\n");
		return reply(c, MHD_HTTP_OK, "ok\n");
	}
	if (!strcmp(url, "/metrics") && h->metrics)
		return reply_owned(c, kx_metrics_render(h->metrics),
				   "text/plain; version=0.0.4; charset=utf-8");
	if (!strcmp(url, "/refused") && h->metrics)
		return reply_owned(c, kx_metrics_refused_json(h->metrics), "application/json");
	if (!strcmp(url, "/policy") && h->metrics)
		return reply_owned(c, kx_metrics_policy_json(h->metrics), "application/json");
	if (!strcmp(url, "/policy/explain") && h->metrics)
		return explain(c, h);
	return reply(c, MHD_HTTP_NOT_FOUND,
		     "not found: try /healthz, /readyz, /metrics, /refused, /policy or /policy/explain\n");
}

struct kx_health *kx_health_start(const char *addr, struct kx_err *err)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char host[64];
	const char *colon = strrchr(addr, ':');
	struct kx_health *h;
	char *end;
	long port;

	if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
		kx_errf(err, "--metrics-addr %s: want IP:PORT", addr);
		return NULL;
	}
	memcpy(host, addr, colon - addr);
	host[colon - addr] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || inet_pton(AF_INET, host, &sin.sin_addr) != 1) {
		kx_errf(err, "--metrics-addr %s: want an IPv4 address and a port", addr);
		return NULL;
	}
	sin.sin_port = htons((uint16_t)port);
	h = calloc(1, sizeof(*h));
	if (!h) {
		kx_errf(err, "health endpoint: out of memory");
		return NULL;
	}
	atomic_store(&h->last_beat, mono_s());
	h->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
				handle, h, MHD_OPTION_SOCK_ADDR, &sin,
				MHD_OPTION_CONNECTION_TIMEOUT, 10U, MHD_OPTION_END);
	if (!h->d) {
		kx_errf(err, "health endpoint on %s: cannot listen (port in use?)", addr);
		free(h);
		return NULL;
	}
	return h;
}

void kx_health_stop(struct kx_health *h)
{
	if (!h)
		return;
	MHD_stop_daemon(h->d);
	free(h);
}

void kx_health_set_metrics(struct kx_health *h, struct kx_metrics *m)
{
	if (h)
		h->metrics = m;
}

void kx_health_beat(struct kx_health *h)
{
	if (h)
		atomic_store(&h->last_beat, mono_s());
}

void kx_health_ready(struct kx_health *h, bool ready)
{
	if (h)
		atomic_store(&h->ready, ready);
}
