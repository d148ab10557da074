/* SPDX-License-Identifier: GPL-2.0 */
/*
 * How to reach the Kubernetes API server: from a kubeconfig file (YAML or
 * JSON, read with libyaml) or from inside a pod (service-account token and
 * CA, KUBERNETES_SERVICE_HOST/PORT).
 */
#ifndef KX_KUBECONFIG_H
#define KX_KUBECONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "lib/log.h"

#define KX_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kapi_conf {
	char server[1024]; /* https://host:port, no trailing slash */
	char ca_file[4096]; /* "" = none */
	char *ca_data; /* PEM, or NULL */
	size_t ca_len;
	char token_file[4096]; /* re-read before every request: tokens rotate */
	char token[8192]; /* a fixed bearer token, "" = none */
	char cert_file[4096], key_file[4096]; /* client certificate, "" = none */
	char *cert_data, *key_data; /* PEM, or NULL */
	size_t cert_len, key_len;
	bool insecure; /* insecure-skip-tls-verify */
};

int kapi_conf_kubeconfig(const char *path, struct kapi_conf *c, struct kx_err *err);
int kapi_conf_incluster(const char *sa_dir, struct kapi_conf *c, struct kx_err *err);
void kapi_conf_free(struct kapi_conf *c);
/* The bearer token to send now: the token file's current content, or token. */
int kapi_conf_token(const struct kapi_conf *c, char *out, size_t n, struct kx_err *err);

/* A YAML (or JSON) document as a jansson tree; NULL with err on failure. */
json_t *kx_yaml_load_file(const char *path, struct kx_err *err);

#endif /* KX_KUBECONFIG_H */
