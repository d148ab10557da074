// SPDX-License-Identifier: GPL-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "k8s/kubeconfig.h"

/* --- YAML to jansson (libyaml's document API) ---------------------------- */

static json_t *yaml_scalar(yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;
	size_t len = n->data.scalar.length;
	char *end;
	long long i;

	if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(v, len);
	if (!strcmp(v, "true") || !strcmp(v, "True"))
		return json_true();
	if (!strcmp(v, "false") || !strcmp(v, "False"))
		return json_false();
	if (!strcmp(v, "null") || !strcmp(v, "~") || !len)
		return json_null();
	errno = 0;
	i = strtoll(v, &end, 10);
	if (!errno && *end == '\0' && end != v)
		return json_integer(i);
	return json_stringn(v, len);
}

static json_t *yaml_node(yaml_document_t *doc, yaml_node_t *n, int depth)
{
	json_t *out;

	if (!n || depth > 64)
		return NULL;
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return yaml_scalar(n);
	case YAML_SEQUENCE_NODE:
		out = json_array();
		for (yaml_node_item_t *it = n->data.sequence.items.start;
		     it < n->data.sequence.items.top; it++) {
			json_t *v = yaml_node(doc, yaml_document_get_node(doc, *it), depth + 1);

			if (!v) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, v);
		}
		return out;
	case YAML_MAPPING_NODE:
		out = json_object();
		for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
		     p < n->data.mapping.pairs.top; p++) {
			yaml_node_t *k = yaml_document_get_node(doc, p->key);
			json_t *v;

			if (!k || k->type != YAML_SCALAR_NODE) {
				json_decref(out);
				return NULL;
			}
			v = yaml_node(doc, yaml_document_get_node(doc, p->value), depth + 1);
			if (!v) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, (const char *)k->data.scalar.value, v);
		}
		return out;
	default:
		return NULL;
	}
}

json_t *kx_yaml_load_file(const char *path, struct kx_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	json_t *out = NULL;
	FILE *f = fopen(path, "r");

	if (!f) {
		kx_errf(err, "%s: %s", path, strerror(errno));
		return NULL;
	}
	yaml_parser_initialize(&parser);
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		kx_errf(err, "%s: line %zu: %s", path, parser.problem_mark.line + 1,
			parser.problem ? parser.problem : "invalid YAML");
	} else {
		out = yaml_node(&doc, yaml_document_get_root_node(&doc), 0);
		if (!out)
			kx_errf(err, "%s: empty, or not a plain YAML document", path);
		yaml_document_delete(&doc);
	}
	yaml_parser_delete(&parser);
	fclose(f);
	return out;
}

/* --- kubeconfig -------------------------------------------------------- */

/* RFC 4648 base64 (the *-data fields), whitespace ignored. */
static char *b64_decode(const char *in, size_t *out_len)
{
	size_t n = strlen(in), o = 0;
	char *out = malloc(n * 3 / 4 + 4);
	unsigned acc = 0, bits = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
		const char *p;
		char ch = in[i];

		if (ch == '=' || ch == '\n' || ch == '\r' || ch == ' ' || ch == '\t')
			continue;
		p = strchr(alpha, ch);
		if (!p || !ch) {
			free(out);
			return NULL;
		}
		acc = acc << 6 | (unsigned)(p - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)(acc >> bits & 0xff);
		}
	}
	out[o] = '\0';
	*out_len = o;
	return out;
}

/* The entry named name in list (clusters/users/contexts), its inner object. */
static json_t *named(json_t *root, const char *list, const char *name, const char *inner)
{
	json_t *arr = json_object_get(root, list), *e;
	size_t i;

	json_array_foreach(arr, i, e) {
		const char *n = json_string_value(json_object_get(e, "name"));

		if (n && !strcmp(n, name))
			return json_object_get(e, inner);
	}
	return NULL;
}

static int copy_str(json_t *o, const char *key, char *out, size_t n, const char *path,
		    struct kx_err *err)
{
	json_t *v = json_object_get(o, key);

	out[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v) || json_string_length(v) >= n) {
		kx_errf(err, "%s: %s: want a string of at most %zu characters", path, key, n - 1);
		return -1;
	}
	strcpy(out, json_string_value(v));
	return 0;
}

static int copy_b64(json_t *o, const char *key, char **out, size_t *len, const char *path,
		    struct kx_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v)
		return 0;
	*out = json_is_string(v) ? b64_decode(json_string_value(v), len) : NULL;
	if (!*out) {
		kx_errf(err, "%s: %s: not base64", path, key);
		return -1;
	}
	return 0;
}

int kapi_conf_kubeconfig(const char *path, struct kapi_conf *c, struct kx_err *err)
{
	json_t *root = kx_yaml_load_file(path, err), *cluster, *user, *ctx;
	const char *cur;
	int ret = -1;

	memset(c, 0, sizeof(*c));
	if (!root)
		return -1;
	cur = json_string_value(json_object_get(root, "current-context"));
	ctx = cur ? named(root, "contexts", cur, "context") : NULL;
	if (!ctx) {
		kx_errf(err, "%s: current-context %s%s%s not found", path, cur ? "\"" : "",
			cur ? cur : "(unset)", cur ? "\"" : "");
		goto out;
	}
	cur = json_string_value(json_object_get(ctx, "cluster"));
	cluster = cur ? named(root, "clusters", cur, "cluster") : NULL;
	if (!cluster) {
		kx_errf(err, "%s: cluster of the current context not found", path);
		goto out;
	}
	cur = json_string_value(json_object_get(ctx, "user"));
	user = cur ? named(root, "users", cur, "user") : NULL;
	if (copy_str(cluster, "server", c->server, sizeof(c->server), path, err) ||
	    copy_str(cluster, "certificate-authority", c->ca_file, sizeof(c->ca_file), path,
		     err) ||
	    copy_b64(cluster, "certificate-authority-data", &c->ca_data, &c->ca_len, path, err))
		goto out;
	c->insecure = json_is_true(json_object_get(cluster, "insecure-skip-tls-verify"));
	if (user && (copy_str(user, "token", c->token, sizeof(c->token), path, err) ||
		     copy_str(user, "tokenFile", c->token_file, sizeof(c->token_file), path, err) ||
		     copy_str(user, "client-certificate", c->cert_file, sizeof(c->cert_file), path,
			      err) ||
		     copy_str(user, "client-key", c->key_file, sizeof(c->key_file), path, err) ||
		     copy_b64(user, "client-certificate-data", &c->cert_data, &c->cert_len, path,
			      err) ||
		     copy_b64(user, "client-key-data", &c->key_data, &c->key_len, path, err)))
		goto out;
	if (strncmp(c->server, "https://", 8) && strncmp(c->server, "http://", 7)) {
		kx_errf(err, "%s: cluster server \"%s\" is not an http(s) URL", path, c->server);
		goto out;
	}
	c->server[strcspn(c->server, "\n")] = '\0';
	while (c->server[0] && c->server[strlen(c->server) - 1] == '/')
		c->server[strlen(c->server) - 1] = '\0';
	ret = 0;
out:
	if (ret)
		kapi_conf_free(c);
	json_decref(root);
	return ret;
}

int kapi_conf_incluster(const char *sa_dir, struct kapi_conf *c, struct kx_err *err)
{
	const char *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *port = getenv("KUBERNETES_SERVICE_PORT");

	memset(c, 0, sizeof(*c));
	if (!host || !*host || !port || !*port) {
		kx_errf(err, "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set (or pass --kubeconfig)");
		return -1;
	}
	snprintf(c->server, sizeof(c->server), strchr(host, ':') ? "https://[%s]:%s" : "https://%s:%s",
		 host, port);
	snprintf(c->token_file, sizeof(c->token_file), "%s/token", sa_dir);
	snprintf(c->ca_file, sizeof(c->ca_file), "%s/ca.crt", sa_dir);
	return 0;
}

void kapi_conf_free(struct kapi_conf *c)
{
	free(c->ca_data);
	free(c->cert_data);
	free(c->key_data);
	c->ca_data = c->cert_data = c->key_data = NULL;
}

int kapi_conf_token(const struct kapi_conf *c, char *out, size_t n, struct kx_err *err)
{
	FILE *f;
	size_t len;

	if (!c->token_file[0]) {
		snprintf(out, n, "%s", c->token);
		return 0;
	}
	f = fopen(c->token_file, "r");
	if (!f) {
		kx_errf(err, "token %s: %s", c->token_file, strerror(errno));
		return -1;
	}
	len = fread(out, 1, n - 1, f);
	fclose(f);
	out[len] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return 0;
}
