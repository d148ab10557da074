// SPDX-License-Identifier: GPL-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "k8s/kapi.h"

static const struct {
	const char *path;
	const char *kind;
	const char *name;
} res[KAPI_N] = {
	[KAPI_SERVICES] = { "/api/v1/services", "Service", "services" },
	[KAPI_SLICES] = { "/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlice",
			  "endpointslices" },
	[KAPI_NODES] = { "/api/v1/nodes", "Node", "nodes" },
	[KAPI_PODS] = { "/api/v1/pods", "Pod", "pods" },
	[KAPI_NAMESPACES] = { "/api/v1/namespaces", "Namespace", "namespaces" },
	[KAPI_NETPOLS] = { "/apis/networking.k8s.io/v1/networkpolicies", "NetworkPolicy",
			   "networkpolicies" },
};

/* Pods, Namespaces and NetworkPolicies: what policy reads, not the Services. */
static bool policy_kind(enum kapi_kind kind)
{
	return kind == KAPI_PODS || kind == KAPI_NAMESPACES || kind == KAPI_NETPOLS;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned backoff_ms(unsigned failures)
{
	unsigned ms = KAPI_BACKOFF_MIN_MS;

	while (failures-- > 1 && ms < KAPI_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < KAPI_BACKOFF_MAX_MS ? ms : KAPI_BACKOFF_MAX_MS;
}

/* An easy handle for url with TLS and the current bearer token. */
static CURL *new_easy(struct kapi *k, const char *url, struct curl_slist **hdrs,
		      struct kx_err *err)
{
	const struct kapi_conf *c = &k->conf;
	char token[8192], auth[8300];
	CURL *e;

	if (kapi_conf_token(c, token, sizeof(token), err))
		return NULL;
	e = curl_easy_init();
	if (!e) {
		kx_errf(err, "curl: out of memory");
		return NULL;
	}
	*hdrs = curl_slist_append(NULL, "Accept: application/json");
	if (token[0]) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		*hdrs = curl_slist_append(*hdrs, auth);
	}
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, *hdrs);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "kxdp-agent");
	if (c->ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_data) {
		struct curl_blob b = { c->ca_data, c->ca_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &b);
	}
	if (c->cert_file[0])
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->cert_file);
	if (c->key_file[0])
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->key_file);
	if (c->cert_data) {
		struct curl_blob b = { c->cert_data, c->cert_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLCERT_BLOB, &b);
	}
	if (c->key_data) {
		struct curl_blob b = { c->key_data, c->key_len, CURL_BLOB_COPY };

		curl_easy_setopt(e, CURLOPT_SSLKEY_BLOB, &b);
	}
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	return e;
}

/* "namespace/name" of an object, or NULL (with err) if it has no name. */
static int object_key(json_t *obj, char *out, size_t n)
{
	json_t *md = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));

	if (!name)
		return -1;
	snprintf(out, n, "%s/%s", ns ? ns : "", name);
	return 0;
}

/* Does obj decode as the model needs it? err says why not. */
static bool object_valid(json_t *obj, struct kx_err *err)
{
	json_t *list = json_pack("{s:[O]}", "items", obj);
	struct k8s_state st = { 0 };
	bool ok;

	ok = list && !k8s_decode_list(list, &st, err);
	if (ok && st.refused.n) {
		kx_errf(err, "%s", st.refused.v[0].reason);
		ok = false;
	}
	k8s_state_free(&st);
	json_decref(list);
	return ok;
}

/* Remember why key's last version was refused (the CLI and metrics show it). */
static void refuse(struct kapi *k, enum kapi_kind kind, const char *key, const char *why)
{
	json_object_set_new(k->refused[kind], key, json_string(why));
	k->refused_changed = true;
}

static void unrefuse(struct kapi *k, enum kapi_kind kind, const char *key)
{
	if (!json_object_del(k->refused[kind], key))
		k->refused_changed = true;
}

/* The Service an object belongs to: its own name, or a slice's service-name label. */
static bool owner_of(enum kapi_kind kind, json_t *obj, char *owner, size_t n)
{
	json_t *md = json_object_get(obj, "metadata");
	const char *ns = json_string_value(json_object_get(md, "namespace"));
	const char *name = json_string_value(json_object_get(md, "name"));

	if (kind == KAPI_SLICES)
		name = json_string_value(json_object_get(json_object_get(md, "labels"),
							 "kubernetes.io/service-name"));
	if (kind == KAPI_NODES || !name)
		return false;
	snprintf(owner, n, "%s/%s", ns ? ns : "", name);
	return true;
}

static void mark_owner(struct kapi *k, enum kapi_kind kind, json_t *obj)
{
	char owner[600];

	if (kind == KAPI_NODES)
		k->nodes_dirty = true;
	else if (owner_of(kind, obj, owner, sizeof(owner)))
		json_object_set_new(k->dirty_owners, owner, json_true());
}

/* A policy kind's event: a Pod changed in place is noted by key, anything else needs it all. */
static void mark_policy(struct kapi *k, enum kapi_kind kind, const char *key, bool in_place)
{
	k->policy_dirty = true;
	if (kind == KAPI_PODS && in_place)
		json_object_set_new(k->dirty_pods, key, json_true());
	else
		k->policy_full = true;
}

/* An event changed the store: the service state's marks (owners, Nodes). */
static void mark_changed(struct kapi *k, enum kapi_kind kind, json_t *old, json_t *obj)
{
	if (old) /* a slice may have moved to another service */
		mark_owner(k, kind, old);
	mark_owner(k, kind, obj);
	k->dirty = true;
}

/* A list replaced a store that differed: the policy mark, or a full apply of the rest. */
static void mark_relisted(struct kapi *k, enum kapi_kind kind)
{
	if (policy_kind(kind))
		k->policy_dirty = k->policy_full = true;
	else
		k->dirty = k->full_dirty = true;
}

/* A new object of obj's members named in keys (NULL-terminated), shared, not copied. */
static json_t *pick(json_t *obj, const char *const *keys)
{
	json_t *out = json_object(), *v;

	for (; *keys; keys++) {
		v = json_object_get(obj, *keys);
		if (v)
			json_object_set(out, *keys, v);
	}
	return out;
}

/* out's member key narrowed to keys if an object (else it stays, for the decoder to refuse). */
static void pick_member(json_t *out, const char *key, const char *const *keys)
{
	json_t *v = json_object_get(out, key);

	if (json_is_object(v))
		json_object_set_new(out, key, pick(v, keys));
}

json_t *kapi_slim_pod(json_t *pod)
{
	static const char *const top[] = { "kind", "apiVersion", "metadata", "spec", "status",
					   NULL };
	static const char *const md[] = { "name", "namespace", "labels", "resourceVersion", "uid",
					  NULL };
	static const char *const spec[] = { "nodeName", "hostNetwork", "containers", NULL };
	static const char *const status[] = { "phase", "podIP", "podIPs", NULL };
	static const char *const ctr[] = { "ports", NULL };
	json_t *out, *sp, *ctrs, *c, *slim;
	size_t i;

	if (!json_is_object(pod))
		return json_incref(pod);
	out = pick(pod, top);
	pick_member(out, "metadata", md);
	pick_member(out, "spec", spec);
	pick_member(out, "status", status);
	sp = json_object_get(out, "spec");
	ctrs = json_object_get(sp, "containers");
	if (!json_is_array(ctrs))
		return out;
	slim = json_array();
	json_array_foreach(ctrs, i, c)
		json_array_append_new(slim, json_is_object(c) ? pick(c, ctr) : json_incref(c));
	json_object_set_new(sp, "containers", slim);
	return out;
}

/* Both absent, or equal. */
static bool same(json_t *a, json_t *b)
{
	return a == b || (a && b && json_equal(a, b));
}

/* A slimmed Pod's update that changes nothing policy reads (a condition, a restart count). */
static bool pod_unchanged(json_t *old, json_t *obj)
{
	json_t *md_old = json_object_get(old, "metadata"), *md = json_object_get(obj, "metadata");

	return old && same(json_object_get(md_old, "labels"), json_object_get(md, "labels")) &&
	       same(json_object_get(old, "spec"), json_object_get(obj, "spec")) &&
	       same(json_object_get(old, "status"), json_object_get(obj, "status"));
}

/* Keep slices_of in step with the slice store: add (obj) or remove (NULL). */
static void index_slice(struct kapi *k, const char *key, json_t *old, json_t *obj)
{
	char owner[600];
	json_t *set;

	if (old && owner_of(KAPI_SLICES, old, owner, sizeof(owner))) {
		set = json_object_get(k->slices_of, owner);
		json_object_del(set, key);
		if (set && !json_object_size(set))
			json_object_del(k->slices_of, owner);
	}
	if (obj && owner_of(KAPI_SLICES, obj, owner, sizeof(owner))) {
		set = json_object_get(k->slices_of, owner);
		if (!set) {
			set = json_object();
			json_object_set_new(k->slices_of, owner, set);
		}
		json_object_set_new(set, key, json_true());
	}
}

static void set_rv(struct kapi_watch *w, json_t *obj)
{
	const char *rv = json_string_value(
		json_object_get(json_object_get(obj, "metadata"), "resourceVersion"));

	if (rv && strlen(rv) < sizeof(w->rv))
		strcpy(w->rv, rv);
}

void kapi_handle_line(struct kapi *k, struct kapi_watch *w, const char *line, size_t len)
{
	const char *what = res[w->kind].name, *type;
	json_t *ev, *obj;
	json_error_t jerr;
	struct kx_err err = { "" };
	char key[600];

	while (len && (line[len - 1] == '\r' || line[len - 1] == ' '))
		len--;
	if (!len)
		return;
	ev = json_loadb(line, len, 0, &jerr);
	type = json_string_value(json_object_get(ev, "type"));
	obj = json_object_get(ev, "object");
	if (!ev || !type || !json_is_object(obj)) {
		pr_warn("watch %s: malformed event skipped (%s)", what,
			ev ? "no type or object" : jerr.text);
		k->skipped++;
		json_decref(ev);
		return;
	}
	if (!strcmp(type, "BOOKMARK")) {
		set_rv(w, obj);
	} else if (!strcmp(type, "ERROR")) {
		json_int_t code = json_integer_value(json_object_get(obj, "code"));

		if (code == 410)
			w->gone = true;
		else
			pr_warn("watch %s: error event %lld: %s", what, (long long)code,
				json_string_value(json_object_get(obj, "message")) ?: "");
	} else if (!strcmp(type, "ADDED") || !strcmp(type, "MODIFIED") ||
		   !strcmp(type, "DELETED")) {
		if (!json_object_get(obj, "kind"))
			json_object_set_new(obj, "kind", json_string(res[w->kind].kind));
		if (w->kind == KAPI_PODS && strcmp(type, "DELETED")) { /* the store keeps less */
			json_object_set_new(ev, "object", kapi_slim_pod(obj));
			obj = json_object_get(ev, "object");
		}
		if (object_key(obj, key, sizeof(key))) {
			pr_warn("watch %s: %s event without metadata.name skipped", what, type);
			k->skipped++;
		} else if (strcmp(json_string_value(json_object_get(obj, "kind")) ?: "",
				  res[w->kind].kind)) {
			pr_warn("watch %s: %s event for %s of another kind skipped", what, type, key);
			k->skipped++;
		} else if (!strcmp(type, "DELETED")) {
			json_t *old = json_object_get(k->store[w->kind], key);

			if (policy_kind(w->kind))
				mark_policy(k, w->kind, key, false);
			else
				mark_changed(k, w->kind, old, obj);
			if (w->kind == KAPI_SLICES)
				index_slice(k, key, old, NULL);
			json_object_del(k->store[w->kind], key);
			unrefuse(k, w->kind, key);
			k->events++;
		} else if (!object_valid(obj, &err)) {
			bool held = json_object_get(k->store[w->kind], key);

			pr_warn("watch %s: %s refused, %s: %s", what, type,
				held ? "its previous version stays" : "not served", err.msg);
			refuse(k, w->kind, key, err.msg);
			k->skipped++;
		} else {
			unrefuse(k, w->kind, key);
			json_t *old = json_object_get(k->store[w->kind], key);

			if (!policy_kind(w->kind))
				mark_changed(k, w->kind, old, obj);
			else if (w->kind != KAPI_PODS || !pod_unchanged(old, obj))
				mark_policy(k, w->kind, key, old != NULL);
			if (w->kind == KAPI_SLICES)
				index_slice(k, key, old, obj);
			json_object_set(k->store[w->kind], key, obj);
			k->events++;
		}
		set_rv(w, obj);
		w->failures = 0;
	} else {
		pr_warn("watch %s: event of unknown type \"%s\" skipped", what, type);
		k->skipped++;
	}
	json_decref(ev);
}

/* Append to the line buffer, or start skipping when it would overflow. */
static void feed_part(struct kapi *k, struct kapi_watch *w, const char *data, size_t n)
{
	if (w->skipping)
		return;
	if (w->len + n > KAPI_MAX_EVENT) {
		w->skipping = true;
		w->len = 0;
		return;
	}
	memcpy(w->buf + w->len, data, n);
	w->len += n;
}

void kapi_feed(struct kapi *k, struct kapi_watch *w, const char *data, size_t len)
{
	const char *nl;

	while (len && (nl = memchr(data, '\n', len))) {
		size_t n = (size_t)(nl - data);

		feed_part(k, w, data, n);
		if (w->skipping) {
			pr_warn("watch %s: event longer than %u bytes skipped", res[w->kind].name,
				KAPI_MAX_EVENT);
			k->skipped++;
		} else {
			kapi_handle_line(k, w, w->buf, w->len);
		}
		w->skipping = false;
		w->len = 0;
		data += n + 1;
		len -= n + 1;
	}
	if (len)
		feed_part(k, w, data, len);
}

static size_t watch_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct kapi_watch *w = arg;

	kapi_feed(w->k, w, data, size * nmemb);
	return size * nmemb;
}

/* A growing buffer for LIST bodies. */
struct body {
	char *data;
	size_t len;
};

#define KAPI_MAX_LIST (512u << 20)

static size_t body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb;
	char *p;

	if (b->len + n > KAPI_MAX_LIST)
		return 0; /* abort: larger than any sane page */
	p = realloc(b->data, b->len + n + 1);
	if (!p)
		return 0;
	b->data = p;
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* One LIST page; returns the parsed body or NULL with err. */
static json_t *list_page(struct kapi *k, enum kapi_kind kind, const char *cont,
			 struct kx_err *err)
{
	struct curl_slist *hdrs = NULL;
	struct body b = { 0 };
	char url[8192];
	json_t *doc = NULL;
	CURLcode rc;
	long http = 0;
	CURL *e;

	snprintf(url, sizeof(url), "%s%s?limit=500%s%s", k->conf.server, res[kind].path,
		 cont[0] ? "&continue=" : "", cont);
	e = new_easy(k, url, &hdrs, err);
	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &http);
	if (rc != CURLE_OK)
		kx_errf(err, "list %s: %s", res[kind].name, curl_easy_strerror(rc));
	else if (http == 401 || http == 403)
		kx_errf(err, "list %s: HTTP %ld: the API server refused the credentials", res[kind].name,
			http);
	else if (http != 200)
		kx_errf(err, "list %s: HTTP %ld", res[kind].name, http);
	else if (!(doc = json_loadb(b.data ? b.data : "", b.len, 0, NULL)) ||
		 !json_is_array(json_object_get(doc, "items"))) {
		kx_errf(err, "list %s: the answer is not a list", res[kind].name);
		json_decref(doc);
		doc = NULL;
	}
	curl_easy_cleanup(e);
	curl_slist_free_all(hdrs);
	free(b.data);
	return doc;
}

/* LIST every page, then replace the store of that kind in one step. */
static int do_list(struct kapi *k, struct kapi_watch *w, struct kx_err *err)
{
	json_t *fresh = json_object(), *refused = json_object(), *doc, *item;
	char cont[4096] = "", rv[64] = "", key[600];
	struct kx_err e2;
	size_t i;

	do {
		doc = list_page(k, w->kind, cont, err);
		if (!doc) {
			json_decref(fresh);
			json_decref(refused);
			return -1;
		}
		json_array_foreach(json_object_get(doc, "items"), i, item) {
			json_t *old;

			if (!json_is_object(item) || object_key(item, key, sizeof(key)))
				continue;
			json_object_set_new(item, "kind", json_string(res[w->kind].kind));
			if (w->kind == KAPI_PODS) { /* the store keeps less */
				json_array_set_new(json_object_get(doc, "items"), i,
						   kapi_slim_pod(item));
				item = json_array_get(json_object_get(doc, "items"), i);
			}
			if (object_valid(item, &e2)) {
				json_object_set(fresh, key, item);
				continue;
			}
			old = json_object_get(k->store[w->kind], key);
			pr_warn("list %s: refused, %s: %s", res[w->kind].name,
				old ? "its previous version stays" : "not served", e2.msg);
			if (old)
				json_object_set(fresh, key, old);
			json_object_set_new(refused, key, json_string(e2.msg));
			k->skipped++;
		}
		json_t *md = json_object_get(doc, "metadata");
		const char *c = json_string_value(json_object_get(md, "continue"));
		const char *r = json_string_value(json_object_get(md, "resourceVersion"));

		if (r && strlen(r) < sizeof(rv))
			strcpy(rv, r);
		snprintf(cont, sizeof(cont), "%s", c && *c ? c : "");
		json_decref(doc);
	} while (cont[0]);
	if (!json_equal(fresh, k->store[w->kind]))
		mark_relisted(k, w->kind);
	json_decref(k->store[w->kind]);
	k->store[w->kind] = fresh;
	if (!json_equal(refused, k->refused[w->kind]))
		k->refused_changed = true;
	json_decref(k->refused[w->kind]);
	k->refused[w->kind] = refused;
	if (w->kind == KAPI_SLICES) {
		const char *sk;
		json_t *so;

		json_object_clear(k->slices_of);
		json_object_foreach(fresh, sk, so)
			index_slice(k, sk, NULL, so);
	}
	strcpy(w->rv, rv);
	k->listed[w->kind] = true;
	pr_info("listed %s: %zu objects at resourceVersion %s", res[w->kind].name,
		json_object_size(fresh), rv);
	return 0;
}

static int watch_start(struct kapi *k, struct kapi_watch *w, struct kx_err *err)
{
	char url[8192];

	snprintf(url, sizeof(url),
		 "%s%s?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=%s",
		 k->conf.server, res[w->kind].path, w->rv);
	w->easy = new_easy(k, url, &w->headers, err);
	if (!w->easy)
		return -1;
	w->len = 0;
	w->skipping = false;
	w->gone = false;
	curl_easy_setopt(w->easy, CURLOPT_WRITEFUNCTION, watch_write);
	curl_easy_setopt(w->easy, CURLOPT_WRITEDATA, w);
	curl_easy_setopt(w->easy, CURLOPT_PRIVATE, w);
	curl_easy_setopt(w->easy, CURLOPT_TIMEOUT, 330L);
	curl_multi_add_handle(k->multi, w->easy);
	return 0;
}

static void watch_failed(struct kapi *k, struct kapi_watch *w, const char *why)
{
	unsigned ms = backoff_ms(++w->failures);

	w->next_try_ms = now_ms() + ms;
	pr_warn("watch %s: %s; retrying in %u ms", res[w->kind].name, why, ms);
}

/* A WATCH ended: resume, relist after 410, or back off after a failure. */
static void watch_done(struct kapi *k, struct kapi_watch *w, CURLcode rc)
{
	long http = 0;
	char why[256];

	curl_easy_getinfo(w->easy, CURLINFO_RESPONSE_CODE, &http);
	curl_multi_remove_handle(k->multi, w->easy);
	curl_easy_cleanup(w->easy);
	curl_slist_free_all(w->headers);
	w->easy = NULL;
	w->headers = NULL;
	k->restarts++;
	if (w->gone || http == 410) {
		pr_info("watch %s: resourceVersion %s expired (410 Gone, %s), listing again",
			res[w->kind].name, w->rv, http == 410 ? "HTTP status" : "ERROR event");
		w->need_list = true;
	} else if (rc == CURLE_OK && http == 200) {
		pr_debug("watch %s: ended by the server, resuming at %s", res[w->kind].name, w->rv);
	} else {
		if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
			snprintf(why, sizeof(why), "connection dropped (%s)", curl_easy_strerror(rc));
		else if (rc != CURLE_OK)
			snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
		else
			snprintf(why, sizeof(why), "HTTP %ld%s", http,
				 http == 401 || http == 403 ? ": credentials refused" : "");
		watch_failed(k, w, why);
	}
}

int kapi_init(struct kapi *k, const struct kapi_conf *conf, struct kx_err *err)
{
	memset(k, 0, sizeof(*k));
	k->conf = *conf;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	k->multi = curl_multi_init();
	k->dirty_owners = json_object();
	k->dirty_pods = json_object();
	k->slices_of = json_object();
	if (!k->multi || !k->dirty_owners || !k->dirty_pods || !k->slices_of) {
		kx_errf(err, "curl: out of memory");
		return -1;
	}
	for (int i = 0; i < KAPI_N; i++) {
		k->w[i].k = k;
		k->w[i].kind = i;
		k->w[i].need_list = true;
		k->w[i].buf = malloc(KAPI_MAX_EVENT);
		k->store[i] = json_object();
		k->refused[i] = json_object();
		if (!k->w[i].buf || !k->store[i] || !k->refused[i]) {
			kx_errf(err, "out of memory for the watch buffers");
			return -1;
		}
	}
	return 0;
}

void kapi_free(struct kapi *k)
{
	for (int i = 0; i < KAPI_N; i++) {
		if (k->w[i].easy) {
			curl_multi_remove_handle(k->multi, k->w[i].easy);
			curl_easy_cleanup(k->w[i].easy);
		}
		curl_slist_free_all(k->w[i].headers);
		free(k->w[i].buf);
		json_decref(k->store[i]);
		json_decref(k->refused[i]);
	}
	if (k->multi)
		curl_multi_cleanup(k->multi);
	json_decref(k->dirty_owners);
	json_decref(k->dirty_pods);
	json_decref(k->slices_of);
	kapi_conf_free(&k->conf);
}

void kapi_step(struct kapi *k, int timeout_ms)
{
	long long now = now_ms(), wait = timeout_ms;
	struct kx_err err = { "" };
	struct CURLMsg *msg;
	int running, left;

	for (int i = 0; i < KAPI_N; i++) {
		struct kapi_watch *w = &k->w[i];

		if (w->easy)
			continue;
		if (now < w->next_try_ms) {
			if (w->next_try_ms - now < wait)
				wait = w->next_try_ms - now;
			continue;
		}
		if (w->need_list) {
			if (do_list(k, w, &err)) {
				watch_failed(k, w, err.msg);
				continue;
			}
			w->need_list = false;
			w->failures = 0;
		}
		if (watch_start(k, w, &err))
			watch_failed(k, w, err.msg);
	}
	curl_multi_perform(k->multi, &running);
	curl_multi_poll(k->multi, NULL, 0, (int)(wait > 0 ? wait : 0), NULL);
	curl_multi_perform(k->multi, &running);
	while ((msg = curl_multi_info_read(k->multi, &left))) {
		struct kapi_watch *w = NULL;

		if (msg->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&w);
		if (w)
			watch_done(k, w, msg->data.result);
	}
}

bool kapi_synced(const struct kapi *k)
{
	for (int i = 0; i < KAPI_N; i++)
		if (!k->listed[i])
			return false;
	return true;
}

static void clear_marks(struct kapi *k)
{
	k->dirty = k->full_dirty = k->nodes_dirty = false;
	json_object_clear(k->dirty_owners);
}

static int decode_items(json_t *items, struct k8s_state *st, struct kx_err *err)
{
	json_t *root = json_pack("{s:o}", "items", items);
	int ret = k8s_decode_list(root, st, err);

	json_decref(root);
	return ret;
}

/* Every stored object of the kinds first..last, as one array. */
static json_t *items_of(struct kapi *k, enum kapi_kind first, enum kapi_kind last)
{
	json_t *items = json_array(), *obj;
	const char *key;

	for (int i = first; i <= (int)last; i++)
		json_object_foreach(k->store[i], key, obj)
			json_array_append(items, obj);
	return items;
}

int kapi_take_state(struct kapi *k, struct k8s_state *st, struct kx_err *err)
{
	json_t *items = items_of(k, 0, KAPI_N - 1);

	clear_marks(k);
	return decode_items(items, st, err);
}

int kapi_take_owner(struct kapi *k, const char *owner, struct k8s_state *st, struct kx_err *err)
{
	json_t *items = json_array(), *obj, *v;
	const char *key;

	obj = json_object_get(k->store[KAPI_SERVICES], owner);
	if (obj)
		json_array_append(items, obj);
	json_object_foreach(json_object_get(k->slices_of, owner), key, v) {
		obj = json_object_get(k->store[KAPI_SLICES], key);
		if (obj)
			json_array_append(items, obj);
	}
	return decode_items(items, st, err);
}

int kapi_take_nodes(struct kapi *k, struct k8s_state *st, struct kx_err *err)
{
	json_t *items = items_of(k, KAPI_NODES, KAPI_NODES);

	k->nodes_dirty = false;
	return decode_items(items, st, err);
}

int kapi_take_policy(struct kapi *k, struct k8s_state *st, struct kx_err *err)
{
	json_t *items = items_of(k, KAPI_PODS, KAPI_NETPOLS);

	k->policy_dirty = k->policy_full = false;
	json_object_clear(k->dirty_pods);
	return decode_items(items, st, err);
}

int kapi_take_changed_pods(struct kapi *k, struct k8s_state *st, struct kx_err *err)
{
	json_t *items = json_array(), *obj, *v;
	const char *key;

	json_object_foreach(k->dirty_pods, key, v) {
		obj = json_object_get(k->store[KAPI_PODS], key);
		if (obj)
			json_array_append(items, obj);
	}
	k->policy_dirty = false;
	json_object_clear(k->dirty_pods);
	return decode_items(items, st, err);
}

const char *kapi_kind_name(enum kapi_kind kind)
{
	return res[kind].kind;
}

int kapi_refusals(const struct kapi *k, struct k8s_refusals *r)
{
	const char *key;
	json_t *why;

	for (int i = 0; i < KAPI_N; i++) {
		json_object_foreach(k->refused[i], key, why) {
			/* cluster-scoped (a Node, a Namespace): "/name" */
			const char *object = key[0] == '/' ? key + 1 : key;

			if (!k8s_refuse(r, res[i].kind, object, json_string_value(why)))
				return -1;
		}
	}
	return 0;
}
