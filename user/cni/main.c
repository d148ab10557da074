// SPDX-License-Identifier: GPL-2.0
/*
 * kxdp-cni: the CNI plugin (type "kxdp"). ADD wires a pod with no bridge: a
 * veth pair, an address from the delegated IPAM plugin, the routes a pod has
 * under kube-bridge, a /32 route on the node, the endpoint map entry and the
 * pod programs on the host side. DEL undoes it, CHECK verifies it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "cni/cni_conf.h"
#include "kxdp_abi.h"
#include "datapath/maps.h"
#include "lib/netlink.h"
#include "datapath/tc.h"

#define STDIN_MAX (1 << 20)

/* The CNI environment of one call. */
struct cni_env {
	const char *command;
	const char *container_id;
	const char *netns;
	const char *ifname;
	const char *path;
};

/* What the plugin learned about the pod it wires. */
struct pod {
	char host_if[IFNAMSIZ];
	int host_ifindex;
	uint8_t host_mac[6];
	uint8_t pod_mac[6];
	bool want_mac; /* CNI_ARGS MAC=: the pod interface gets pod_mac */
	uint32_t addr, gw;
	int prefixlen;
	json_t *ipam_result;
};

static const char *g_version = "1.0.0"; /* echoed in errors and results */

/* Print a CNI error on stdout (the runtime reads it there) and exit 1. */
static __attribute__((noreturn)) void cni_fail(int code, const char *msg)
{
	json_t *e = json_pack("{s:s, s:i, s:s}", "cniVersion", g_version, "code", code, "msg", msg);

	json_dumpf(e, stdout, JSON_COMPACT);
	putchar('\n');
	fflush(stdout);
	fprintf(stderr, "kxdp-cni: error %d: %s\n", code, msg);
	exit(1);
}

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

/* "kx" + 12 hex digits of a hash of container id and ifname: stable for DEL. */
static void host_ifname(const struct cni_env *env, char out[IFNAMSIZ])
{
	uint64_t h = 1469598103934665603ULL;

	for (const char *s = env->container_id; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	h = (h ^ '/') * 1099511628211ULL;
	for (const char *s = env->ifname; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ULL;
	snprintf(out, IFNAMSIZ, "kx%012llx", (unsigned long long)(h & 0xffffffffffffULL));
}

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
static json_t *ipam_exec(const struct cni_env *env, const struct cni_conf *c, const char *cmd,
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
static int ipam_address(json_t *res, struct pod *p, struct kx_err *err)
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

/* Inside the pod: address, lo and eth up, default route via the gateway. */
static int configure_pod(int netns_fd, const struct cni_env *env, struct pod *p,
			 struct kx_err *err)
{
	struct nl_sock *sk;
	int back, ifindex, ret = -1;

	if (kx_netns_enter(netns_fd, &back, err))
		return -1;
	sk = kx_nl_open(err);
	if (!sk)
		goto out;
	if (p->want_mac && kx_nl_link_set_mac(sk, env->ifname, p->pod_mac, err))
		goto out;
	if (kx_nl_link_info(sk, env->ifname, &ifindex, p->pod_mac, NULL, err)) {
		if (!err->msg[0])
			kx_errf(err, "pod interface %s vanished", env->ifname);
		goto out;
	}
	if (kx_nl_addr_add(sk, ifindex, p->addr, p->prefixlen, err) ||
	    kx_nl_link_up(sk, "lo", err) || kx_nl_link_up(sk, env->ifname, err) ||
	    kx_nl_route_add(sk, 0, 0, p->gw, ifindex, RTPROT_BOOT, err))
		goto out;
	ret = 0;
out:
	kx_nl_close(sk);
	kx_netns_leave(back);
	return ret;
}

/* The agent has loaded and pinned the datapath: maps and both programs. */
static int datapath_ready(const char *bpffs, struct kx_err *err)
{
	const char *progs[] = { KX_PROG_TC_FROM_POD, KX_PROG_TC_TO_POD };
	char path[4096];
	struct kx_maps m;

	if (kx_maps_open_pinned(bpffs, &m, err))
		return -1;
	kx_maps_close(&m);
	for (size_t i = 0; i < 2; i++) {
		kx_pin_path(path, sizeof(path), bpffs, progs[i]);
		if (access(path, F_OK)) {
			kx_errf(err, "program %s is not pinned: is kxdp-agent running?", path);
			return -1;
		}
	}
	return 0;
}

static int endpoint_write(const char *bpffs, const struct pod *p, struct kx_err *err)
{
	struct kx_endpoint ep = { .addr = p->addr, .ifindex = p->host_ifindex };
	struct kx_maps m;
	int ret;

	if (kx_maps_open_pinned(bpffs, &m, err))
		return -1;
	memcpy(ep.pod_mac, p->pod_mac, 6);
	memcpy(ep.host_mac, p->host_mac, 6);
	ret = kx_endpoint_put(m.endpoints, &ep, err);
	kx_maps_close(&m);
	return ret;
}

struct forget {
	int fd;
	int ifindex;
};

static int forget_one(const struct kx_endpoint *ep, void *ctx)
{
	struct forget *f = ctx;

	if ((int)ep->ifindex == f->ifindex)
		kx_endpoint_del(f->fd, ep->addr);
	return 0;
}

/* Remove every endpoint entry that points at ifindex. */
static void endpoint_forget(const char *bpffs, int ifindex)
{
	struct kx_maps m;
	struct kx_err err;
	struct forget f;

	if (kx_maps_open_pinned(bpffs, &m, &err))
		return; /* no datapath, nothing to forget */
	f = (struct forget){ m.endpoints, ifindex };
	kx_endpoint_foreach(m.endpoints, forget_one, &f);
	kx_maps_close(&m);
}

static void endpoint_forget_addr(const char *bpffs, uint32_t addr)
{
	struct kx_maps m;
	struct kx_err err;

	if (kx_maps_open_pinned(bpffs, &m, &err))
		return;
	kx_endpoint_del(m.endpoints, addr);
	kx_maps_close(&m);
}

static void mac_str(const uint8_t *m, char *out)
{
	sprintf(out, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

static void print_result(const struct cni_env *env, const struct pod *p)
{
	char hmac[18], pmac[18], addr[INET_ADDRSTRLEN + 4], gw[INET_ADDRSTRLEN];
	bool v1 = !strcmp(g_version, "1.0.0");
	json_t *res, *ip;

	mac_str(p->host_mac, hmac);
	mac_str(p->pod_mac, pmac);
	inet_ntop(AF_INET, &p->addr, addr, sizeof(addr));
	sprintf(addr + strlen(addr), "/%d", p->prefixlen);
	inet_ntop(AF_INET, &p->gw, gw, sizeof(gw));
	ip = json_pack("{s:s, s:s, s:i}", "address", addr, "gateway", gw, "interface", 1);
	if (!v1)
		json_object_set_new(ip, "version", json_string("4"));
	res = json_pack("{s:s, s:[{s:s, s:s}, {s:s, s:s, s:s}], s:[o], s:[{s:s, s:s}], s:o}",
			"cniVersion", g_version, "interfaces", "name", p->host_if, "mac", hmac,
			"name", env->ifname, "mac", pmac, "sandbox", env->netns, "ips", ip,
			"routes", "dst", "0.0.0.0/0", "gw", gw, "dns",
			json_incref(json_object_get(p->ipam_result, "dns")) ?: json_object());
	json_dumpf(res, stdout, JSON_INDENT(2));
	putchar('\n');
	json_decref(res);
}

/*
 * CNI_ARGS MAC=aa:bb:cc:dd:ee:ff (podman --mac-address), as the bridge plugin
 * takes it: the pod interface gets that address. A malformed one fails.
 */
static void mac_from_args(struct pod *p)
{
	const char *v = getenv("CNI_ARGS");
	unsigned int m[6];
	char val[32], tail;
	size_t n;

	for (; v && *v; v = strchr(v, ';') ? strchr(v, ';') + 1 : NULL) {
		if (strncmp(v, "MAC=", 4))
			continue;
		n = strcspn(v + 4, ";");
		snprintf(val, sizeof(val), "%.*s", (int)(n < sizeof(val) ? n : sizeof(val) - 1),
			 v + 4);
		if (n != 17 || sscanf(val, "%2x:%2x:%2x:%2x:%2x:%2x%c", &m[0], &m[1], &m[2], &m[3],
				      &m[4], &m[5], &tail) != 6 || (m[0] & 1))
			cni_fail(CNI_ERR_ENV, "CNI_ARGS MAC: want a unicast MAC address aa:bb:cc:dd:ee:ff");
		for (int i = 0; i < 6; i++)
			p->pod_mac[i] = (uint8_t)m[i];
		p->want_mac = true;
		return;
	}
}

static void cmd_add(const struct cni_env *env, const struct cni_conf *c, int netns_fd)
{
	struct pod p = { 0 };
	struct kx_err err = { "" };
	struct nl_sock *sk = kx_nl_open(&err);
	bool veth = false, ipam = false, ep = false;
	int code = CNI_ERR_NETLINK, r;

	if (!sk)
		cni_fail(CNI_ERR_NETLINK, err.msg);
	mac_from_args(&p);
	host_ifname(env, p.host_if);
	r = kx_nl_link_info(sk, p.host_if, NULL, NULL, NULL, &err);
	if (r == 0) {
		kx_errf(&err, "container %s interface %s is already wired (host side %s); DEL it first",
			env->container_id, env->ifname, p.host_if);
		code = CNI_ERR_TRY_LATER;
		goto fail;
	}
	if (kx_check_bpffs(c->bpffs, &err) || datapath_ready(c->bpffs, &err)) {
		code = CNI_ERR_DATAPATH;
		goto fail;
	}
	if (kx_nl_veth_create(sk, p.host_if, env->ifname, netns_fd, c->mtu, &err))
		goto fail;
	veth = true;
	if (kx_nl_link_info(sk, p.host_if, &p.host_ifindex, p.host_mac, NULL, &err))
		goto fail;
	p.ipam_result = ipam_exec(env, c, "ADD", &code, &err);
	if (!p.ipam_result)
		goto fail;
	ipam = true;
	code = CNI_ERR_IPAM;
	if (ipam_address(p.ipam_result, &p, &err))
		goto fail;
	code = CNI_ERR_NETLINK;
	if (configure_pod(netns_fd, env, &p, &err))
		goto fail;
	code = CNI_ERR_DATAPATH;
	if (endpoint_write(c->bpffs, &p, &err))
		goto fail;
	ep = true;
	if (kx_tc_attach_pod(p.host_ifindex, c->bpffs, &err))
		goto fail;
	code = CNI_ERR_NETLINK;
	if (kx_nl_link_up(sk, p.host_if, &err) ||
	    kx_nl_route_add(sk, p.addr, 32, 0, p.host_ifindex, KX_RTPROT_POD, &err))
		goto fail;
	print_result(env, &p);
	json_decref(p.ipam_result);
	kx_nl_close(sk);
	return;
fail:
	/* Leave nothing half-made: entry, lease, veth (its routes go with it). */
	if (ep)
		endpoint_forget(c->bpffs, p.host_ifindex);
	if (ipam) {
		struct kx_err e2;
		int c2;

		json_decref(ipam_exec(env, c, "DEL", &c2, &e2));
	}
	if (veth)
		kx_nl_link_del(sk, p.host_if, NULL);
	json_decref(p.ipam_result);
	kx_nl_close(sk);
	cni_fail(code, err.msg);
}

static void cmd_del(const struct cni_env *env, const struct cni_conf *c)
{
	struct kx_err err = { "" };
	struct nl_sock *sk = kx_nl_open(&err);
	struct pod p = { 0 };
	char host_if[IFNAMSIZ];
	int ifindex, code;
	json_t *r;

	if (!sk)
		cni_fail(CNI_ERR_NETLINK, err.msg);
	host_ifname(env, host_if);
	if (!kx_nl_link_info(sk, host_if, &ifindex, NULL, NULL, &err)) {
		endpoint_forget(c->bpffs, ifindex);
		if (kx_nl_link_del(sk, host_if, &err)) {
			kx_nl_close(sk);
			cni_fail(CNI_ERR_NETLINK, err.msg);
		}
	} else if (c->prev_result && !ipam_address(c->prev_result, &p, &err)) {
		/*
		 * The veth went with the pod's netns. The address is still leased
		 * to this container until the IPAM DEL below, so its entry is ours.
		 */
		endpoint_forget_addr(c->bpffs, p.addr);
	}
	kx_nl_close(sk);
	r = ipam_exec(env, c, "DEL", &code, &err);
	if (!r)
		cni_fail(code, err.msg);
	json_decref(r);
}

static void cmd_check(const struct cni_env *env, const struct cni_conf *c, int netns_fd)
{
	struct kx_err err = { "" };
	struct nl_sock *sk = kx_nl_open(&err);
	struct kx_endpoint ep;
	struct pod p = { 0 };
	struct kx_maps m;
	bool up = false;
	int code, back;
	json_t *r;

	if (!sk)
		cni_fail(CNI_ERR_NETLINK, err.msg);
	if (!c->prev_result)
		cni_fail(CNI_ERR_CONFIG, "CHECK needs prevResult in the network config");
	if (ipam_address(c->prev_result, &p, &err))
		cni_fail(CNI_ERR_CONFIG, "prevResult: no IPv4 address");
	host_ifname(env, p.host_if);
	if (kx_nl_link_info(sk, p.host_if, &p.host_ifindex, p.host_mac, &up, &err) || !up) {
		kx_errf(&err, "host interface %s is missing or down", p.host_if);
		cni_fail(CNI_ERR_CHECK, err.msg);
	}
	kx_nl_close(sk);
	if (kx_tc_check_pod(p.host_ifindex, c->bpffs, &err))
		cni_fail(CNI_ERR_CHECK, err.msg);
	if (kx_maps_open_pinned(c->bpffs, &m, &err))
		cni_fail(CNI_ERR_DATAPATH, err.msg);
	code = kx_endpoint_get(m.endpoints, p.addr, &ep);
	kx_maps_close(&m);
	if (code || (int)ep.ifindex != p.host_ifindex ||
	    memcmp(ep.host_mac, p.host_mac, 6))
		cni_fail(CNI_ERR_CHECK, "endpoint map entry of the pod is missing or stale");
	if (kx_netns_enter(netns_fd, &back, &err))
		cni_fail(CNI_ERR_CONTAINER, err.msg);
	sk = kx_nl_open(&err);
	code = sk ? kx_nl_link_info(sk, env->ifname, NULL, p.pod_mac, &up, &err) : -1;
	kx_nl_close(sk);
	kx_netns_leave(back);
	if (code || !up)
		cni_fail(CNI_ERR_CHECK, "pod interface is missing or down");
	if (memcmp(ep.pod_mac, p.pod_mac, 6))
		cni_fail(CNI_ERR_CHECK, "endpoint map holds another MAC than the pod's interface");
	r = ipam_exec(env, c, "CHECK", &code, &err);
	if (!r)
		cni_fail(code, err.msg);
	json_decref(r);
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

int main(void)
{
	struct cni_env env = { 0 };
	struct cni_conf conf;
	struct kx_err err = { "" };
	char *text, ifname_ok;
	int code, netns_fd = -1;
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
	ifname_ok = strlen(env.ifname) < IFNAMSIZ && !strchr(env.ifname, '/');
	if (!ifname_ok)
		cni_fail(CNI_ERR_ENV, "CNI_IFNAME is not a valid interface name");
	if (!strcmp(env.command, "DEL")) {
		cmd_del(&env, &conf);
		cni_conf_free(&conf);
		return 0;
	}
	if (!strcmp(env.command, "CHECK") && strcmp(conf.cni_version, "0.4.0") &&
	    strcmp(conf.cni_version, "1.0.0"))
		cni_fail(CNI_ERR_VERSION, "CHECK needs cniVersion 0.4.0 or later");
	env.netns = need_env("CNI_NETNS");
	netns_fd = open(env.netns, O_RDONLY | O_CLOEXEC);
	if (netns_fd < 0) {
		kx_errf(&err, "CNI_NETNS %s: %s", env.netns, strerror(errno));
		cni_fail(CNI_ERR_CONTAINER, err.msg);
	}
	if (!strcmp(env.command, "ADD"))
		cmd_add(&env, &conf, netns_fd);
	else
		cmd_check(&env, &conf, netns_fd);
	close(netns_fd);
	cni_conf_free(&conf);
	return 0;
}
