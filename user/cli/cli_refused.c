// SPDX-License-Identifier: GPL-2.0
/*
 * The objects the agent refused, from its /refused endpoint (they are in no
 * map): kxdp svc list prints them after the services, kxdp svc list
 * --refused alone. And the one way to ask the agent anything (cli_agent_get).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/cli.h"

struct body {
	char *data;
	size_t len;
};

static size_t on_data(char *p, size_t size, size_t n, void *ctx)
{
	struct body *b = ctx;
	char *grown = realloc(b->data, b->len + size * n + 1);

	if (!grown)
		return 0;
	memcpy(grown + b->len, p, size * n);
	b->len += size * n;
	grown[b->len] = '\0';
	b->data = grown;
	return size * n;
}

/* GET http://<agent><path>: the JSON document, or NULL with err. */
json_t *cli_agent_get(const char *agent, const char *path, struct kx_err *err)
{
	struct body b = { NULL, 0 };
	char url[600], cerr[CURL_ERROR_SIZE] = "";
	json_t *doc = NULL;
	long code = 0;
	CURL *e = curl_easy_init();
	CURLcode rc;

	if (!e) {
		kx_errf(err, "agent %s: no curl handle", agent);
		return NULL;
	}
	snprintf(url, sizeof(url), "http://%s%s", agent, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, cerr);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 3000L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	if (rc != CURLE_OK)
		kx_errf(err, "agent %s: %s (is it running with --metrics-addr %s?)", agent,
			cerr[0] ? cerr : curl_easy_strerror(rc), agent);
	else if (code != 200)
		kx_errf(err, "agent %s: GET %s answered %ld", agent, path, code);
	else if (!(doc = json_loads(b.data ? b.data : "", 0, NULL)))
		kx_errf(err, "agent %s: %s is not JSON", agent, path);
	curl_easy_cleanup(e);
	free(b.data);
	return doc;
}

/* GET http://<agent>/refused: the array, or NULL with err. */
static json_t *refused_fetch(const char *agent, struct kx_err *err)
{
	json_t *arr = cli_agent_get(agent, "/refused", err);

	if (arr && !json_is_array(arr)) {
		kx_errf(err, "agent %s: /refused is not a JSON array", agent);
		json_decref(arr);
		arr = NULL;
	}
	return arr;
}

static void refused_print(json_t *arr)
{
	size_t i;
	json_t *r;

	printf("Refused by the agent, not served (%zu):\n", json_array_size(arr));
	json_array_foreach(arr, i, r) /* the reason names the object and the field */
		printf("  %s\n", json_string_value(json_object_get(r, "reason")));
}

int cli_refused_after_list(struct cli *c)
{
	struct kx_err err;
	json_t *arr = refused_fetch(c->agent, &err);

	if (arr && json_array_size(arr)) /* an agent that cannot be asked: nothing to add */
		refused_print(arr);
	json_decref(arr);
	return 0;
}

int cli_svc_refused(struct cli *c)
{
	struct kx_err err;
	json_t *arr = refused_fetch(c->agent, &err);

	if (!arr) {
		fprintf(stderr, "kxdp: %s\n", err.msg);
		return 1;
	}
	if (c->json) {
		cli_json_out(arr);
		return 0;
	}
	if (json_array_size(arr))
		refused_print(arr);
	else
		printf("Refused by the agent: none\n");
	json_decref(arr);
	return 0;
}
