// SPDX-License-Identifier: GPL-2.0
/* The delegated IPAM plugin: found in CNI_PATH, run with our config, its result read. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "cni/cni.h"

/* Locate the IPAM plugin in CNI_PATH. */
static int find_plugin(const char *cni_path, const char *type, char *out, size_t n)
{
	char *paths = strdup(cni_path), *save = NULL, *dir;
	int ret = -1;

	for (dir = strtok_r(paths, ":", &save); dir; dir = strtok_r(NULL, ":", &save)) {
		snprintf(out, n, "%s/%s", dir, type);
		if (!access(out, X_OK)) {
			ret = 0;
			break;
		}
	}
	free(paths);
	return ret;
}

/*
 * Run the IPAM plugin with our environment (CNI_COMMAND=cmd) and the config
 * on stdin, as the spec delegates. Returns its parsed stdout (ADD) or NULL.
 */
json_t *ipam_exec(const struct cni_env *env, const struct cni_conf *c, const char *cmd,
		  int *code, struct kx_err *err)
{
	int in[2], out[2], status;
	char plugin[4096], *conf, buf[65536];
	size_t n = 0;
	ssize_t r;
	json_t *res = NULL;
	pid_t pid;

	*code = CNI_ERR_IPAM;
	if (find_plugin(env->path, c->ipam_type, plugin, sizeof(plugin))) {
		kx_errf(err, "IPAM plugin \"%s\" not found in CNI_PATH %s", c->ipam_type, env->path);
		return NULL;
	}
	conf = json_dumps(c->root, JSON_COMPACT);
	if (!conf || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		free(conf);
		kx_errf(err, "IPAM %s: %s", c->ipam_type, strerror(errno));
		return NULL;
	}
	pid = fork();
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out[1], 1);
		setenv("CNI_COMMAND", cmd, 1);
		execl(plugin, plugin, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	if (pid > 0 && write(in[1], conf, strlen(conf)) < 0)
		pr_warn("IPAM %s: writing config: %s", c->ipam_type, strerror(errno));
	close(in[1]);
	free(conf);
	while ((r = read(out[0], buf + n, sizeof(buf) - 1 - n)) > 0)
		n += r;
	close(out[0]);
	buf[n] = '\0';
	if (pid < 0 || waitpid(pid, &status, 0) < 0) {
		kx_errf(err, "IPAM %s: cannot run %s", c->ipam_type, plugin);
		return NULL;
	}
	res = n ? json_loads(buf, 0, NULL) : NULL;
	if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		json_t *msg = json_object_get(res, "msg");

		kx_errf(err, "IPAM %s %s failed: %s", c->ipam_type, cmd,
			json_is_string(msg) ? json_string_value(msg) : buf);
		json_decref(res);
		return NULL;
	}
	if (!strcmp(cmd, "ADD") && !json_is_object(res)) {
		kx_errf(err, "IPAM %s ADD: result is not a JSON object", c->ipam_type);
		json_decref(res);
		return NULL;
	}
	*code = 0;
	if (!res)
		res = json_object();
	return res;
}

/* First IPv4 address of an IPAM result: address, prefix and gateway. */
int ipam_address(json_t *res, struct pod *p, struct kx_err *err)
{
	json_t *ips = json_object_get(res, "ips"), *ip;
	size_t i;

	json_array_foreach(ips, i, ip) {
		const char *a = json_string_value(json_object_get(ip, "address"));
		const char *g = json_string_value(json_object_get(ip, "gateway"));
		char buf[64], *slash;
		struct in_addr in;

		if (!a || strlen(a) >= sizeof(buf))
			continue;
		strcpy(buf, a);
		slash = strchr(buf, '/');
		if (!slash)
			continue;
		*slash = '\0';
		if (inet_pton(AF_INET, buf, &in) != 1)
			continue;
		p->addr = in.s_addr;
		p->prefixlen = atoi(slash + 1);
		if (g && inet_pton(AF_INET, g, &in) == 1)
			p->gw = in.s_addr;
		else /* host-local's default: the first address of the subnet */
			p->gw = htonl((ntohl(p->addr) & ~(0xffffffffu >> p->prefixlen)) + 1);
		return 0;
	}
	kx_errf(err, "IPAM result has no IPv4 address");
	return -1;
}
