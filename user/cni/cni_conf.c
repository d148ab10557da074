// SPDX-License-Identifier: GPL-2.0
#include <stdlib.h>
#include <string.h>
#include "cni/cni_conf.h"
#include "datapath/maps.h"

const char *const cni_supported_versions[] = { "0.3.0", "0.3.1", "0.4.0", "1.0.0", NULL };

/* Fields a runtime or an operator may set; anything else is refused. */
static const char *const known_fields[] = {
	"cniVersion", "name", "type", "bpffs", "mtu", "ipam", "dns", "args",
	"runtimeConfig", "prevResult", "capabilities", NULL,
};

bool cni_version_supported(const char *v)
{
	for (int i = 0; cni_supported_versions[i]; i++)
		if (!strcmp(v, cni_supported_versions[i]))
			return true;
	return false;
}

static int str_field(json_t *o, const char *key, char *out, size_t n, bool required,
		     struct kx_err *err)
{
	json_t *v = json_object_get(o, key);

	out[0] = '\0';
	if (!v) {
		if (required)
			kx_errf(err, "network config: \"%s\" is missing", key);
		return required ? -1 : 0;
	}
	if (!json_is_string(v) || json_string_length(v) >= n) {
		kx_errf(err, "network config: \"%s\" must be a string of at most %zu characters",
			key, n - 1);
		return -1;
	}
	strcpy(out, json_string_value(v));
	return 0;
}

int cni_conf_parse(const char *text, size_t len, struct cni_conf *c, int *code,
		   struct kx_err *err)
{
	json_error_t jerr;
	const char *key;
	json_t *v, *ipam;
	bool known;

	memset(c, 0, sizeof(*c));
	*code = CNI_ERR_DECODE;
	c->root = json_loadb(text, len, 0, &jerr);
	if (!c->root) {
		kx_errf(err, "network config on stdin: invalid JSON at line %d: %s", jerr.line,
			jerr.text);
		return -1;
	}
	if (!json_is_object(c->root)) {
		kx_errf(err, "network config on stdin: want a JSON object");
		goto fail;
	}
	*code = CNI_ERR_FIELD;
	json_object_foreach(c->root, key, v) {
		known = false;
		for (int i = 0; known_fields[i]; i++)
			known |= !strcmp(key, known_fields[i]);
		if (!known) {
			char *val = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

			kx_errf(err, "network config: unsupported field \"%s\": %.200s", key,
				val ? val : "?");
			free(val);
			goto fail;
		}
	}
	*code = CNI_ERR_CONFIG;
	if (str_field(c->root, "cniVersion", c->cni_version, sizeof(c->cni_version), true, err) ||
	    str_field(c->root, "name", c->name, sizeof(c->name), true, err) ||
	    str_field(c->root, "bpffs", c->bpffs, sizeof(c->bpffs), false, err))
		goto fail;
	if (!cni_version_supported(c->cni_version)) {
		*code = CNI_ERR_VERSION;
		kx_errf(err, "cniVersion \"%s\" is not supported (0.3.0, 0.3.1, 0.4.0, 1.0.0)",
			c->cni_version);
		goto fail;
	}
	if (!c->bpffs[0])
		strcpy(c->bpffs, KX_DEFAULT_BPFFS);
	c->mtu = 1500;
	v = json_object_get(c->root, "mtu");
	if (v) {
		if (!json_is_integer(v) || json_integer_value(v) < 576 ||
		    json_integer_value(v) > 65535) {
			kx_errf(err, "network config: \"mtu\" must be an integer from 576 to 65535");
			goto fail;
		}
		c->mtu = (int)json_integer_value(v);
	}
	ipam = json_object_get(c->root, "ipam");
	if (!json_is_object(ipam)) {
		kx_errf(err, "network config: \"ipam\" must be an object naming an IPAM plugin");
		goto fail;
	}
	if (str_field(ipam, "type", c->ipam_type, sizeof(c->ipam_type), true, err))
		goto fail;
	if (strchr(c->ipam_type, '/') || c->ipam_type[0] == '.') {
		kx_errf(err, "network config: ipam.type \"%s\" must be a plugin name", c->ipam_type);
		goto fail;
	}
	v = json_object_get(c->root, "prevResult");
	if (v && !json_is_object(v)) {
		kx_errf(err, "network config: \"prevResult\" must be an object");
		goto fail;
	}
	c->prev_result = v;
	*code = 0;
	return 0;
fail:
	json_decref(c->root);
	c->root = NULL;
	return -1;
}

void cni_conf_free(struct cni_conf *c)
{
	json_decref(c->root);
	memset(c, 0, sizeof(*c));
}
