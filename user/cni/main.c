// SPDX-License-Identifier: GPL-2.0
/*
 * kxdp-cni: the CNI plugin (type "kxdp"). ADD wires a pod with no bridge: a
 * veth pair, an address from the delegated IPAM plugin, the routes a pod has
 * under kube-bridge, a /32 route on the node, the endpoint map entry and the
 * pod programs on the host side. DEL undoes it, CHECK verifies it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/libbpf.h>
#include "cni/cni.h"

#define STDIN_MAX (1 << 20)

static char *read_stdin(size_t *len)
{
	char *buf = malloc(STDIN_MAX + 1);
	size_t n = 0;
	ssize_t r;

	if (!buf)
		cni_fail(CNI_ERR_IO, "out of memory");
	while ((r = read(0, buf + n, STDIN_MAX - n)) > 0)
		n += r;
	if (r < 0)
		cni_fail(CNI_ERR_IO, "reading the network config on stdin failed");
	if (n == STDIN_MAX)
		cni_fail(CNI_ERR_DECODE, "network config on stdin is larger than 1 MiB");
	buf[n] = '\0';
	*len = n;
	return buf;
}

static const char *need_env(const char *name)
{
	const char *v = getenv(name);
	char msg[128];

	if (!v || !*v) {
		snprintf(msg, sizeof(msg), "environment variable %s is missing", name);
		cni_fail(CNI_ERR_ENV, msg);
	}
	return v;
}

/* ADD and CHECK run inside the pod's netns too: CNI_NETNS, opened (or a CNI error). */
static int open_netns(struct cni_env *env)
{
	struct kx_err err = { "" };
	int fd;

	env->netns = need_env("CNI_NETNS");
	fd = open(env->netns, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		kx_errf(&err, "CNI_NETNS %s: %s", env->netns, strerror(errno));
		cni_fail(CNI_ERR_CONTAINER, err.msg);
	}
	return fd;
}

int main(void)
{
	struct cni_env env = { 0 };
	struct cni_conf conf;
	struct kx_err err = { "" };
	int code, netns_fd;
	char *text;
	size_t len;

	kx_log_prog = "kxdp-cni";
	libbpf_set_print(kx_libbpf_print);
	env.command = need_env("CNI_COMMAND");
	if (!strcmp(env.command, "VERSION")) {
		printf("{\"cniVersion\":\"1.0.0\",\"supportedVersions\":[\"0.3.0\",\"0.3.1\",\"0.4.0\",\"1.0.0\"]}\n");
		return 0;
	}
	if (strcmp(env.command, "ADD") && strcmp(env.command, "DEL") &&
	    strcmp(env.command, "CHECK"))
		cni_fail(CNI_ERR_ENV, "CNI_COMMAND must be ADD, DEL, CHECK or VERSION");
	text = read_stdin(&len);
	if (cni_conf_parse(text, len, &conf, &code, &err))
		cni_fail(code, err.msg);
	free(text);
	g_version = conf.cni_version;
	env.container_id = need_env("CNI_CONTAINERID");
	env.ifname = need_env("CNI_IFNAME");
	env.path = need_env("CNI_PATH");
	if (strlen(env.ifname) >= IFNAMSIZ || strchr(env.ifname, '/'))
		cni_fail(CNI_ERR_ENV, "CNI_IFNAME is not a valid interface name");
	if (!strcmp(env.command, "DEL")) {
		cmd_del(&env, &conf);
		goto cleanup;
	}
	if (!strcmp(env.command, "CHECK") && strcmp(conf.cni_version, "0.4.0") &&
	    strcmp(conf.cni_version, "1.0.0"))
		cni_fail(CNI_ERR_VERSION, "CHECK needs cniVersion 0.4.0 or later");
	netns_fd = open_netns(&env);
	if (!strcmp(env.command, "ADD"))
		cmd_add(&env, &conf, netns_fd);
	else
		cmd_check(&env, &conf, netns_fd);
	close(netns_fd);
cleanup:
	cni_conf_free(&conf);
	return 0;
}
