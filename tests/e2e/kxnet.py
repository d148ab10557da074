"""Building simulated kxdp nodes and pods out of network namespaces.

Every namespace, mount, pin and process made here is removed by cleanup(),
even after a failure. Nothing is ever linked to the root network namespace:
a node's "uplink" is a veth pair whose both ends live inside the node.
Commands that need the pins use nsenter --net (not ip netns exec, which
remounts /sys).
"""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("KXDP_BUILD", os.path.join(ROOT, "build"))
HELPERS = os.path.join(ROOT, "tests", "e2e", "helpers")
PY = "/usr/bin/python3"
PREFIX = "kxe2e-"  # of every namespace; the demo sets its own
TMP_PREFIX = "kxdp-e2e-"  # of every temporary directory (bpffs mounts inside)
CNI_PATH = "/usr/lib/cni"


def sh(*args, check=True, input=None, env=None, timeout=60):
    """Run a command, return CompletedProcess with text output."""
    r = subprocess.run(args, input=input, capture_output=True, text=True, env=env,
                       timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s %s" % (" ".join(args), r.returncode,
                                                      r.stdout, r.stderr))
    return r


def eventually(check, timeout=10, every=0.05):
    """check() until it gives something true, or timeout seconds: its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)


def cgroup2_root():
    """Where cgroup v2 is mounted (not always /sys/fs/cgroup: hybrid layouts)."""
    with open("/proc/mounts") as f:
        for line in f:
            dev, mnt, fstype = line.split()[:3]
            if fstype == "cgroup2":
                return mnt
    raise RuntimeError("no cgroup v2 mount")


def netns_path(name):
    return "/run/netns/" + name


def in_ns(ns, *args):
    return ("nsenter", "--net=" + netns_path(ns)) + args


def kill_ns(name):
    """Kill every process left in a namespace (a daemon's children too)."""
    for pid in sh("ip", "netns", "pids", name, check=False).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except (OSError, ValueError):
            pass


def remove_leftovers():
    """Remove what an earlier, killed run left behind: its processes,
    namespaces, bpffs mounts and temporary directories."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name.startswith(PREFIX):
            continue
        kill_ns(name)
        sh("ip", "netns", "del", name, check=False)
    with open("/proc/mounts") as f:
        mounts = [line.split()[1] for line in f]
    for mnt in mounts:
        if "/" + TMP_PREFIX in mnt:
            sh("umount", "-l", mnt, check=False)
    tmp = tempfile.gettempdir()
    for d in os.listdir(tmp):
        if d.startswith(TMP_PREFIX):
            shutil.rmtree(os.path.join(tmp, d), ignore_errors=True)
    root = cgroup2_root()
    for d in os.listdir(root):
        if d.startswith(TMP_PREFIX):
            remove_cgroup(os.path.join(root, d))


def remove_cgroup(path):
    """Kill what is left in a test's cgroup, then remove it."""
    try:
        with open(os.path.join(path, "cgroup.procs")) as f:
            for pid in f.read().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except OSError:
                    pass
    except OSError:
        return
    for _ in range(50):
        try:
            os.rmdir(path)
            return
        except OSError:
            time.sleep(0.02)


class Fabric:
    """The physical network between nodes: a plain L2 switch (a bridge) in
    a namespace of its own. Nodes are not bridges; only this switch is."""

    def __init__(self):
        self.ns = PREFIX + "fabric"
        sh("ip", "netns", "add", self.ns)
        sh(*in_ns(self.ns, "ip", "link", "set", "lo", "up"))
        sh(*in_ns(self.ns, "ip", "link", "add", "sw0", "type", "bridge"))
        sh(*in_ns(self.ns, "ip", "link", "set", "sw0", "up"))

    def plug(self, node, mtu=1500):
        """Give node an uplink eth0 whose other end is a switch port."""
        port = "p-" + node.name
        sh(*in_ns(self.ns, "ip", "link", "add", port, "mtu", str(mtu), "type", "veth", "peer",
                  "name", "eth0", "mtu", str(mtu), "netns", node.ns))
        sh(*in_ns(self.ns, "ip", "link", "set", port, "master", "sw0"))
        sh(*in_ns(self.ns, "ip", "link", "set", port, "up"))
        return "eth0"

    def cleanup(self):
        sh("ip", "netns", "del", self.ns, check=False)


class ExternalHost:
    """A machine outside the cluster on the fabric (a client of node ports,
    ExternalIPs and LoadBalancer IPs): one namespace, one port of the switch.
    Its uplink sends full checksums, as a frame on a real wire carries."""

    def __init__(self, name, ip, fabric, routes=()):
        self.name = name
        self.ns = PREFIX + name
        self.ip = ip
        self.procs = []
        sh("ip", "netns", "add", self.ns)
        self.run("ip", "link", "set", "lo", "up")
        fabric.plug(self)
        self.run("ip", "addr", "add", ip + "/24", "dev", "eth0")
        self.run("ip", "link", "set", "eth0", "up")
        self.run("ethtool", "-K", "eth0", "tx", "off")
        for dst, via in routes:
            self.run("ip", "route", "add", dst, "via", via)

    def run(self, *args, check=True, **kw):
        return sh(*in_ns(self.ns, *args), check=check, **kw)

    def client(self, proto, ip, port, count, sport=None, check=True):
        r = self.run(PY, os.path.join(HELPERS, "client.py"), proto, ip, str(port), str(count),
                     *([str(sport)] if sport else []), timeout=300, check=check)
        return json.loads(r.stdout)

    def cleanup(self):
        kill_ns(self.ns)
        sh("ip", "netns", "del", self.ns, check=False)


class Node:
    """One simulated node: its namespace, uplink, bpffs, agent and pods.
    With a fabric, the uplink is a port of the fabric's switch; without one,
    it is a veth pair whose both ends stay inside the node."""

    def __init__(self, name, node_ip, pod_cidr, gateway, fabric=None, mtu=1500):
        self.name = name
        self.ns = PREFIX + name
        self.node_ip = node_ip
        self.pod_cidr = pod_cidr
        self.gateway = gateway
        self.tmp = tempfile.mkdtemp(prefix=TMP_PREFIX)
        self.bpffs = os.path.join(self.tmp, "bpffs")
        self.state = os.path.join(self.tmp, "state.json")
        self.ipam_dir = os.path.join(self.tmp, "ipam")
        self.cni_dir = os.path.join(self.tmp, "net.d")
        self.agent = None
        self.agent_log = os.path.join(self.tmp, "agent.log")
        # The node's own cgroup for its host processes: the sock_* programs
        # go there, never on the machine's root cgroup.
        self.cgroup = os.path.join(cgroup2_root(), os.path.basename(self.tmp))
        os.mkdir(self.cgroup)
        self.pods = {}
        self.procs = []
        self.agent_extra = []  # more kxdp-agent options, for the next start_agent
        os.makedirs(self.bpffs)
        sh("ip", "netns", "add", self.ns)
        sh("mount", "-t", "bpf", "bpf", self.bpffs)
        self.run("ip", "link", "set", "lo", "up")
        if fabric:
            self.uplink = fabric.plug(self, mtu)
        else:
            self.uplink = "uplink0"
            self.run("ip", "link", "add", "uplink0", "mtu", str(mtu), "type", "veth", "peer",
                     "name", "uplink0p", "mtu", str(mtu))
            self.run("ip", "link", "set", "uplink0p", "up")
        self.run("ip", "addr", "add", node_ip + "/24", "dev", self.uplink)
        self.run("ip", "link", "set", self.uplink, "up")

    def run(self, *args, check=True, **kw):
        return sh(*in_ns(self.ns, *args), check=check, **kw)

    def write_state(self, obj):
        tmp = self.state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(obj, f)
        os.replace(tmp, self.state)

    def agent_args(self, kubeconfig=None):
        source = ["--kubeconfig", kubeconfig] if kubeconfig else ["--state", self.state]
        return in_ns(self.ns, os.path.join(BUILD, "kxdp-agent"), "--node", self.name,
                     *source, "--bpffs", self.bpffs, "--cni-conf-dir", self.cni_dir,
                     "--cgroup", self.cgroup, *self.agent_extra)

    def start_agent(self, state=None, kubeconfig=None, wait=True):
        """Start the agent on a state file (written from state) or an API server."""
        if state is not None:
            self.write_state(state)
        before = sum("applied" in l for l in self.log_lines())
        log = open(self.agent_log, "a")
        self.agent = subprocess.Popen(self.agent_args(kubeconfig), stdout=log, stderr=log)
        if wait:
            self.wait_log("applied", before + 1)

    def start_daemonset_agent(self, api, build=None, wait=True):
        """Start the agent as the DaemonSet does, against api (ApiServer)."""
        self.sa_dir = os.path.join(self.tmp, "serviceaccount")
        if not os.path.isdir(self.sa_dir):  # a restarted pod keeps its (rotated) token
            os.makedirs(self.sa_dir)
            shutil.copy(api.token_file, os.path.join(self.sa_dir, "token"))
            shutil.copy(api.cert, os.path.join(self.sa_dir, "ca.crt"))
        argv, env = daemonset_agent(self, build)
        before = sum("applied" in l for l in self.log_lines())
        log = open(self.agent_log, "a")
        self.agent = subprocess.Popen(argv, env=env, stdout=log, stderr=log)
        if wait:
            self.wait_log("applied", before + 1)

    def stop_agent(self, sig=signal.SIGTERM):
        self.agent.send_signal(sig)
        self.agent.wait(10)

    def log_lines(self):
        if not os.path.exists(self.agent_log):
            return []
        with open(self.agent_log) as f:
            return f.read().splitlines()

    def wait_log(self, needle, count, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if sum(needle in l for l in self.log_lines()) >= count:
                return
            if self.agent.poll() is not None:
                raise RuntimeError("agent exited: %s" % "\n".join(self.log_lines()))
            time.sleep(0.05)
        raise RuntimeError("agent never logged %r %d times: %s" %
                           (needle, count, "\n".join(self.log_lines())))

    def apply_state(self, state, needle="applied"):
        """Rewrite the state file and wait for the agent to take it in."""
        before = sum(needle in l for l in self.log_lines())
        time.sleep(0.02)  # a new mtime even on coarse clocks
        self.write_state(state)
        self.wait_log(needle, before + 1)

    def cni_conf(self, **extra):
        """The network config a runtime would pass: the plugin entry of the
        conflist the agent wrote, with cniVersion and name, and a dataDir of
        the test's own for host-local. Before the agent has written one, an
        equivalent config of the test's own."""
        path = os.path.join(self.cni_dir, "10-kxdp.conflist")
        if os.path.exists(path):
            with open(path) as f:
                conflist = json.load(f)
            conf = dict(conflist["plugins"][0])
            conf["cniVersion"] = conflist["cniVersion"]
            conf["name"] = conflist["name"]
        else:
            conf = {"cniVersion": "1.0.0", "name": "kxdp", "type": "kxdp",
                    "bpffs": self.bpffs, "mtu": 1500,
                    "ipam": {"type": "host-local",
                             "ranges": [[{"subnet": self.pod_cidr, "gateway": self.gateway}]]}}
        conf["ipam"] = dict(conf["ipam"], dataDir=self.ipam_dir)
        conf.update(extra)
        return conf

    def cni(self, command, container_id, netns=None, ifname="eth0", conf=None, env_extra=None,
            stdin=None, drop_env=()):
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               "CNI_COMMAND": command, "CNI_CONTAINERID": container_id,
               "CNI_IFNAME": ifname, "CNI_PATH": CNI_PATH}
        if netns:
            env["CNI_NETNS"] = netns
        env.update(env_extra or {})
        for k in drop_env:
            env.pop(k, None)
        text = stdin if stdin is not None else json.dumps(conf or self.cni_conf())
        return self.run(os.path.join(BUILD, "kxdp-cni"), check=False, input=text, env=env)

    def add_pod(self, name, ip=None, cni_args=None, **conf):
        """Wire a pod with the CNI plugin; ip asks host-local for that address
        (the CNI "IP" argument, as kubelet passes it for static pods);
        cni_args adds CNI_ARGS (K8S_POD_NAMESPACE=x, as the kubelet passes
        it); conf overrides fields of the network config (mtu=...)."""
        ns = self.ns + "-" + name
        sh("ip", "netns", "add", ns)
        args = ";".join(a for a in (("IP=" + ip) if ip else None, cni_args) if a)
        r = self.cni("ADD", "cid-" + ns, netns_path(ns),
                     env_extra={"CNI_ARGS": args} if args else None,
                     conf=self.cni_conf(**conf) if conf else None)
        if r.returncode != 0:
            raise RuntimeError("CNI ADD %s: %s %s" % (name, r.stdout, r.stderr))
        result = json.loads(r.stdout)
        ip = result["ips"][0]["address"].split("/")[0]
        self.pods[name] = {"ns": ns, "ip": ip, "result": result}
        return ip

    def pod_run(self, pod, *args, check=True, **kw):
        return sh(*in_ns(self.pods[pod]["ns"], *args), check=check, **kw)

    def serve(self, where, proto, ip, port, ident):
        """Start the identity server in a pod (or "node"); wait until it listens."""
        ns = self.ns if where == "node" else self.pods[where]["ns"]
        p = subprocess.Popen(in_ns(ns, PY, os.path.join(HELPERS, "server.py"), proto, ip,
                                   str(port), ident),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        line = p.stdout.readline()
        if line.strip() != "ready":
            raise RuntimeError("server %s did not start: %s" % (ident, p.stderr.read()))
        return p

    def client(self, pod, proto, ip, port, count, sport=None):
        r = self.pod_run(pod, PY, os.path.join(HELPERS, "client.py"), proto, ip, str(port),
                         str(count), *([str(sport)] if sport else []), timeout=300)
        return json.loads(r.stdout)

    def host_run(self, *args, check=True, cgroup=None, **kw):
        """A process of the node itself (a node daemon, a hostNetwork pod):
        its namespace, and its cgroup (or the one given)."""
        script = 'echo $$ > "%s/cgroup.procs" && exec "$@"' % (cgroup or self.cgroup)
        return self.run("/bin/sh", "-c", script, "sh", *args, check=check, **kw)

    def host_client(self, proto, ip, port, count, sport=None, cgroup=None):
        r = self.host_run(PY, os.path.join(HELPERS, "client.py"), proto, ip, str(port),
                          str(count), *([str(sport)] if sport else []), timeout=300,
                          cgroup=cgroup)
        return json.loads(r.stdout)

    def kxdp(self, *args, check=True):
        """The CLI as on the node (its netns: interface names are the node's)."""
        return sh(*in_ns(self.ns, os.path.join(BUILD, "kxdp"), "--bpffs", self.bpffs, *args),
                  check=check)

    def agent_get(self, path):
        """GET path on the agent's HTTP endpoint (127.0.0.1:9475 in the node's netns)."""
        code = ("import sys, urllib.request\n"
                "print(urllib.request.urlopen('http://127.0.0.1:9475' + sys.argv[1], timeout=5)"
                ".read().decode(), end='')\n")
        return self.run(PY, "-c", code, path).stdout

    def agent_status(self, path):
        """The HTTP status of GET path on the agent (or the error, as text)."""
        code = ("import sys, urllib.request\n"
                "try:\n print(urllib.request.urlopen('http://127.0.0.1:9475' + sys.argv[1],"
                " timeout=2).status)\n"
                "except Exception as e:\n print(getattr(e, 'code', repr(e)))")
        return self.run(PY, "-c", code, path).stdout.strip()

    def refused(self):
        """What kxdp svc list --refused says, as JSON: [{kind, object, reason}]."""
        return json.loads(self.kxdp("svc", "list", "--refused", "-o", "json").stdout)

    def map_dump(self, name):
        path = os.path.join(self.bpffs, "kxdp", name)
        return json.loads(sh("bpftool", "-j", "map", "dump", "pinned", path).stdout)

    def cleanup(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for name, pod in list(self.pods.items()):
            kill_ns(pod["ns"])
            self.cni("DEL", "cid-" + pod["ns"], netns_path(pod["ns"]))
            sh("ip", "netns", "del", pod["ns"], check=False)
        if self.agent:
            self.agent.send_signal(signal.SIGTERM)
            try:
                self.agent.wait(5)
            except subprocess.TimeoutExpired:
                self.agent.kill()
                self.agent.wait()
        sh("ip", "netns", "del", self.ns, check=False)
        sh("umount", self.bpffs, check=False)
        remove_cgroup(self.cgroup)
        shutil.rmtree(self.tmp, ignore_errors=True)


def k8s_list(*items):
    return {"apiVersion": "v1", "kind": "List", "items": list(items)}


def service(ns, name, cluster_ip, ports):
    """ports: [(name, port, protocol, target)]"""
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"type": "ClusterIP", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                     "ports": [{"name": n, "port": p, "protocol": pr, "targetPort": t}
                               for n, p, pr, t in ports]}}


def endpoint_slice(ns, svc, name, ports, addresses, ready=True):
    """ports: [(name, port, protocol)]"""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": ns,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports],
            "endpoints": [{"addresses": [a], "conditions": {"ready": ready}}
                          for a in addresses]}


class ApiServer:
    """tests/apiserver.py in a node's namespace: HTTPS with a fresh CA-less
    self-signed certificate for its address, a bearer token, and a kubeconfig
    for the agents. Commands go to its stdin (see apiserver.py)."""

    def __init__(self, node, port=6443, state=None, token="kxdp-test-token"):
        self.node = node
        self.url = "https://%s:%d" % (node.node_ip, port)
        self.dir = os.path.join(node.tmp, "apiserver")
        os.makedirs(self.dir)
        self.cert = os.path.join(self.dir, "tls.crt")
        self.key = os.path.join(self.dir, "tls.key")
        sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-days", "2", "-subj", "/CN=kube-apiserver", "-keyout", self.key,
           "-out", self.cert, "-addext", "subjectAltName=IP:%s" % node.node_ip)
        self.token_file = os.path.join(self.dir, "token")
        with open(self.token_file, "w") as f:
            f.write(token + "\n")
        self.kubeconfig = os.path.join(self.dir, "kubeconfig")
        with open(self.kubeconfig, "w") as f:
            f.write(KUBECONFIG % {"server": self.url, "ca": self.cert,
                                  "token_file": self.token_file})
        args = [PY, os.path.join(ROOT, "tests", "apiserver.py"), "--listen",
                "%s:%d" % (node.node_ip, port), "--cert", self.cert, "--key", self.key,
                "--token", token]
        if state is not None:
            path = os.path.join(self.dir, "initial.json")
            with open(path, "w") as f:
                json.dump(state, f)
            args += ["--state", path]
        self.proc = subprocess.Popen(in_ns(node.ns, *args), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        node.procs.append(self.proc)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("test API server did not start")

    def cmd(self, op, **kw):
        kw["op"] = op
        self.proc.stdin.write(json.dumps(kw) + "\n")
        self.proc.stdin.flush()
        res = json.loads(self.proc.stdout.readline())
        if not res.get("ok"):
            raise RuntimeError("apiserver %s: %s" % (op, res))
        return res


KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: %(server)s
    certificate-authority: %(ca)s
users:
- name: kxdp
  user:
    tokenFile: %(token_file)s
contexts:
- name: test
  context:
    cluster: test
    user: kxdp
current-context: test
"""


MANIFEST = os.path.join(ROOT, "manifests", "kxdp.yaml")
SA_PATH = "/run/secrets/kubernetes.io/serviceaccount"  # /var/run is /run


def manifest_docs():
    import yaml
    with open(MANIFEST) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def daemonset_agent(node, build=None):
    """The agent command line and environment exactly as the DaemonSet's pod
    spec gives them: $(VAR) expanded from env, fieldRef spec.nodeName, the
    ConfigMap's keys; hostPath volumes mapped to the node's own directories
    (bpffs, CNI config), the service account mounted where in-cluster config
    looks, inside a private mount namespace."""
    docs = manifest_docs()
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    cm = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    ctr = next(c for c in ds["spec"]["template"]["spec"]["containers"]
               if c["name"] == "kxdp-agent")
    env = {}
    for e in ctr["env"]:
        src = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = e["value"]
        elif src.get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[e["name"]] = node.name
        elif "configMapKeyRef" in src:
            env[e["name"]] = cm[src["configMapKeyRef"]["key"]]
    hostpaths = {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]}
    mapped = {"/sys/fs/bpf": node.bpffs, "/etc/cni/net.d": node.cni_dir,
              "/run/kxdp/cgroup": node.cgroup}
    assert set(mapped) <= set(hostpaths), "the DaemonSet no longer mounts %s" % mapped

    def expand(arg):
        for k, v in env.items():
            arg = arg.replace("$(%s)" % k, v)
        return mapped.get(arg, arg)
    cmd = [expand(a) for a in ctr["command"] + ctr.get("args", [])]
    cmd[0] = os.path.join(build or BUILD, cmd[0])
    # the container's capabilities: the bounding set holds exactly those added
    caps = ctr.get("securityContext", {}).get("capabilities", {}).get("add", [])
    limit = ["setpriv", "--bounding-set=-all" + "".join(",+" + c.lower() for c in caps),
             "--inh-caps=-all", "--"] if caps else []
    script = ("mount -t tmpfs kxdp-run /run && mkdir -p %s && mount --bind %s %s && "
              'exec "$@"' % (SA_PATH, node.sa_dir, SA_PATH))
    argv = in_ns(node.ns, "unshare", "--mount", "--propagation", "private", "/bin/sh", "-c",
                 script, "sh", *limit, *cmd)
    full_env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")}
    full_env.update(env)
    return argv, full_env


# The reference cluster's nodes: name -> (InternalIP, pod CIDR, gateway).
REFERENCE_NODES = {
    "node130": ("10.124.242.130", "12.0.2.0/24", "12.0.2.1"),
    "node131": ("10.124.242.131", "12.0.0.0/24", "12.0.0.1"),
    "node132": ("10.124.242.132", "12.0.1.0/24", "12.0.1.1"),
}


def reference_cluster():
    """The reference cluster's objects, as manifests/examples holds them."""
    with open(os.path.join(ROOT, "manifests", "examples", "reference-cluster.json")) as f:
        return json.load(f)


@contextlib.contextmanager
def reference_nodes(mtu=None):
    """The reference cluster's three nodes on one fabric, each agent serving
    the reference state, with its two backend pods (12.0.1.93 on node132,
    12.0.2.132 on node130) answering TCP 5001 with "<node>-backend"; yields
    {name: Node} and removes everything after, even on failure. mtu: {name:
    uplink MTU}."""
    fabric = Fabric()
    nodes = {}
    try:
        for name, (ip, cidr, gw) in REFERENCE_NODES.items():
            nodes[name] = Node(name, ip, cidr, gw, fabric=fabric,
                               **({"mtu": mtu[name]} if mtu else {}))
            nodes[name].start_agent(reference_cluster())
        for name, ip in (("node132", "12.0.1.93"), ("node130", "12.0.2.132")):
            nodes[name].add_pod("backend", ip=ip)
            nodes[name].serve("backend", "tcp", "0.0.0.0", 5001, name + "-backend")
        yield nodes
    finally:
        for n in nodes.values():
            n.cleanup()
        fabric.cleanup()


def node_object(name, ip, cidr):
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"podCIDR": cidr, "podCIDRs": [cidr]},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}
