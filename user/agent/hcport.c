// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <microhttpd.h>
#include <jansson.h>
#include "agent/hcport.h"

/* One listener: the port, its Service, and the count the thread reads. */
struct hc_listener {
	uint16_t port;
	char owner[KX_OWNER_MAX];
	atomic_uint local_endpoints;
	struct MHD_Daemon *d;
};

struct kx_hcports {
	struct hc_listener **l;
	size_t n;
};

/* kube-proxy's body: {"service": {"namespace", "name"}, "localEndpoints", ...}. */
static char *hc_body(const struct hc_listener *l, unsigned count)
{
	char ns[KX_OWNER_MAX];
	const char *slash = strchr(l->owner, '/');
	json_t *o;
	char *text;

	snprintf(ns, sizeof(ns), "%.*s", slash ? (int)(slash - l->owner) : 0, l->owner);
	o = json_pack("{s:{s:s,s:s},s:i,s:b}", "service", "namespace", ns, "name",
		      slash ? slash + 1 : l->owner, "localEndpoints", (int)count,
		      "serviceProxyHealthy", 1);
	text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	return text;
}

static enum MHD_Result hc_handle(void *cls, struct MHD_Connection *c, const char *url,
				 const char *method, const char *version, const char *upload,
				 size_t *upload_size, void **state)
{
	struct hc_listener *l = cls;
	unsigned count = atomic_load(&l->local_endpoints);
	struct MHD_Response *r;
	enum MHD_Result ret;
	char *body = hc_body(l, count);

	if (!body)
		return MHD_NO;
	r = MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(r, "Content-Type", "application/json");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	ret = MHD_queue_response(c, count ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, r);
	MHD_destroy_response(r);
	return ret;
}

static void listener_stop(struct hc_listener *l)
{
	if (l->d)
		MHD_stop_daemon(l->d);
	pr_info("service %s: health-check node port %u closed", l->owner, l->port);
	free(l);
}

/* Open port for d's Service on every address of the node. */
static struct hc_listener *listener_start(const struct kx_hc_desc *d)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(d->port) };
	struct hc_listener *l = calloc(1, sizeof(*l));

	if (!l)
		return NULL;
	l->port = d->port;
	snprintf(l->owner, sizeof(l->owner), "%s", d->owner);
	atomic_store(&l->local_endpoints, d->local_endpoints);
	l->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, hc_handle, l,
				MHD_OPTION_SOCK_ADDR, &sin, MHD_OPTION_CONNECTION_TIMEOUT, 10U,
				MHD_OPTION_END);
	if (!l->d) {
		pr_warn("service %s: health-check node port %u: cannot listen (in use?)", d->owner,
			d->port);
		free(l);
		return NULL;
	}
	pr_info("service %s: health-check node port %u open", d->owner, d->port);
	return l;
}

struct kx_hcports *kx_hcports_new(void)
{
	return calloc(1, sizeof(struct kx_hcports));
}

void kx_hcports_free(struct kx_hcports *h)
{
	if (!h)
		return;
	for (size_t i = 0; i < h->n; i++)
		listener_stop(h->l[i]);
	free(h->l);
	free(h);
}

static const struct kx_hc_desc *find_desc(const struct kx_hc_desc *d, size_t n,
					  const struct hc_listener *l)
{
	for (size_t i = 0; i < n; i++)
		if (d[i].port == l->port && !strcmp(d[i].owner, l->owner))
			return &d[i];
	return NULL;
}

void kx_hcports_sync(struct kx_hcports *h, const char *owner, const struct kx_hc_desc *descs,
		     size_t n)
{
	struct hc_listener **nl = calloc(h->n + n + 1, sizeof(*nl));
	size_t nn = 0, i, j;

	if (!nl) {
		pr_warn("health-check node ports: out of memory");
		return;
	}
	/* Keep (and update) listeners still wanted; close the others in scope. */
	for (i = 0; i < h->n; i++) {
		struct hc_listener *l = h->l[i];
		const struct kx_hc_desc *d = find_desc(descs, n, l);

		if (d) {
			if (atomic_exchange(&l->local_endpoints, d->local_endpoints) !=
			    d->local_endpoints)
				pr_info("service %s: health-check node port %u: %u local endpoints",
					l->owner, l->port, d->local_endpoints);
			nl[nn++] = l;
		} else if (owner && strcmp(owner, l->owner)) {
			nl[nn++] = l; /* another Service's */
		} else {
			listener_stop(l);
		}
	}
	/* Open the new ones. */
	for (i = 0; i < n; i++) {
		for (j = 0; j < nn; j++)
			if (nl[j]->port == descs[i].port && !strcmp(nl[j]->owner, descs[i].owner))
				break;
		if (j < nn)
			continue;
		nl[nn] = listener_start(&descs[i]);
		if (nl[nn])
			nn++;
	}
	free(h->l);
	h->l = nl;
	h->n = nn;
}
