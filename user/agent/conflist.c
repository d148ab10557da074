// SPDX-License-Identifier: GPL-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <jansson.h>
#include "agent/conflist.h"

char *kx_conflist_render(const struct kx_cni_params *p)
{
	uint32_t gw = htonl(ntohl(p->pod_cidr) + 1);
	char subnet[INET_ADDRSTRLEN + 4], gateway[INET_ADDRSTRLEN];
	json_t *root;
	char *text;

	inet_ntop(AF_INET, &p->pod_cidr, subnet, sizeof(subnet));
	sprintf(subnet + strlen(subnet), "/%u", p->pod_cidr_len);
	inet_ntop(AF_INET, &gw, gateway, sizeof(gateway));
	/* portmap after kxdp, as kube-router chains it: hostPorts are the
	 * stack's DNAT (the datapath sends their replies back through it) */
	root = json_pack("{s:s, s:s, s:[{s:s, s:s, s:i, s:{s:s, s:[[{s:s, s:s}]]}},"
			 " {s:s, s:{s:b}, s:b}]}",
			 "cniVersion", "1.0.0", "name", "kxdp", "plugins", "type", "kxdp", "bpffs",
			 p->bpffs, "mtu", p->mtu, "ipam", "type", "host-local", "ranges", "subnet",
			 subnet, "gateway", gateway, "type", "portmap", "capabilities",
			 "portMappings", 1, "snat", 1);
	if (!root)
		return NULL;
	text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(root);
	return text;
}

static char *read_all(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t n = 0, cap = 0, r;

	if (!f)
		return NULL;
	do {
		char *p = realloc(buf, cap += 4096);

		if (!p) {
			free(buf);
			fclose(f);
			return NULL;
		}
		buf = p;
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

int kx_conflist_write(const char *dir, const struct kx_cni_params *p, struct kx_err *err)
{
	char path[4096], tmp[4200], *text = kx_conflist_render(p), *old;
	size_t len;
	int fd, ret = -1;

	if (!text) {
		kx_errf(err, "CNI config: out of memory");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, KX_CNI_CONFLIST);
	snprintf(tmp, sizeof(tmp), "%s/.%s.tmp", dir, KX_CNI_CONFLIST);
	len = strlen(text);
	text[len++] = '\n'; /* over the NUL: text is used by length from here */
	old = read_all(path);
	if (old && strlen(old) == len && !memcmp(old, text, len)) {
		ret = 0;
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		kx_errf(err, "CNI config %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (write(fd, text, len) != (ssize_t)len || fsync(fd)) {
		kx_errf(err, "CNI config %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path)) {
		kx_errf(err, "CNI config %s: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	ret = 1;
out:
	free(old);
	free(text);
	return ret;
}
