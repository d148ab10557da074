#!/usr/bin/python3
"""make bench: kxdp side by side with what it replaces, in one run.

Builds its own namespaces (a fabric switch and six nodes, none linked to the
root namespace), runs every variant interleaved (A, B, C, A, B, C ...), RUNS
times each, and writes bench/results/<date>/: raw.csv, summary.md, *.png,
machine.txt. QUICK=1 shortens every run (the whole thing stays under ten
minutes on a 2-core machine); ONLY=policy_cost,policy_rate runs just those
sections (program_cost, policy_cost, connection_rate, policy_rate,
pod_to_pod, control_plane). A benchmark never fails: a missed target is a
finding, printed in the summary. `run.py --summary DIR` writes DIR's
summary.md and plots again from its raw.csv.

Variants:
  floor     client pod -> backend pod IP, pods wired by kxdp-cni (no service)
  kxdp      client pod -> ClusterIP, kxdp
  bridge    client pod -> backend pod IP, pods on a Linux bridge made by
            Debian's CNI bridge plugin, as kube-router builds kube-bridge
  nftables  client pod -> ClusterIP, bridge wiring + kube-proxy's nftables
            rule shape (bench/kubeproxy_rules.py)
  iptables  client pod -> ClusterIP, bridge wiring + kube-proxy's iptables
            rule shape, restored with iptables-restore (iptables-nft here)
"""
import csv
import datetime
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
import kxnet  # noqa: E402

kxnet.PREFIX = "kxbench-"
kxnet.TMP_PREFIX = "kxdp-bench-"
BUILD = kxnet.BUILD
QUICK = os.environ.get("QUICK") == "1"
RUNS = 5
DUR = 2 if QUICK else 8  # seconds per measured run
COUNTS = [1, 1000, 10000]  # other services loaded (connection rate)
COST_COUNTS = [1, 1000, 10000, 100000]  # services loaded (program cost)
VIP, PORT = "12.0.128.10", 80
P2P_VIP = "12.0.128.11"  # a ClusterIP in front of the kx node's p2p pod (sockperf, iperf3)
CONNS = 16  # wrk connections
OUT = os.path.join(HERE, "results", datetime.date.today().isoformat())
ROWS = []  # section, variant, services, run, metric, value


def log(msg):
    print("bench: " + msg, flush=True)


def record(section, variant, services, run, metric, value):
    ROWS.append((section, variant, services, run, metric, value))


# --- topology ----------------------------------------------------------------

NGINX_CONF = """daemon off; worker_processes %(workers)d; pid %(dir)s/nginx.pid;
error_log %(dir)s/error.log crit;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path %(dir)s; proxy_temp_path %(dir)s;
  fastcgi_temp_path %(dir)s; uwsgi_temp_path %(dir)s; scgi_temp_path %(dir)s;
  keepalive_timeout 0;
  server { listen 80 reuseport; location / { return 200 "%(name)s\\n"; } } }
"""


class BridgeNode:
    """A node the kube-router way: pods on kube-bridge, made by Debian's CNI
    bridge plugin; routes to other nodes' pod CIDRs; br_netfilter on so
    kube-proxy's rules see bridged traffic."""

    def __init__(self, name, ip, cidr, fabric):
        self.name, self.node_ip, self.pod_cidr = name, ip, cidr
        self.ns = kxnet.PREFIX + name
        self.tmp = tempfile.mkdtemp(prefix=kxnet.TMP_PREFIX)
        self.pods, self.procs = {}, []
        kxnet.sh("ip", "netns", "add", self.ns)
        self.run("ip", "link", "set", "lo", "up")
        fabric.plug(self)
        self.run("ip", "addr", "add", ip + "/24", "dev", "eth0")
        self.run("ip", "link", "set", "eth0", "up")
        self.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        self.run("sysctl", "-qw", "net.bridge.bridge-nf-call-iptables=1", check=False)

    def run(self, *args, check=True, **kw):
        return kxnet.sh(*kxnet.in_ns(self.ns, *args), check=check, **kw)

    def add_pod(self, name):
        ns = self.ns + "-" + name
        kxnet.sh("ip", "netns", "add", ns)
        conf = {"cniVersion": "1.0.0", "name": "kubernetes", "type": "bridge",
                "bridge": "kube-bridge", "isDefaultGateway": True, "hairpinMode": True,
                "ipam": {"type": "host-local", "dataDir": os.path.join(self.tmp, "ipam"),
                         "ranges": [[{"subnet": self.pod_cidr}]]}}
        env = {"PATH": os.environ["PATH"], "CNI_COMMAND": "ADD", "CNI_CONTAINERID": ns,
               "CNI_NETNS": kxnet.netns_path(ns), "CNI_IFNAME": "eth0",
               "CNI_PATH": kxnet.CNI_PATH}
        r = self.run("/usr/lib/cni/bridge", input=json.dumps(conf), env=env)
        ip = json.loads(r.stdout)["ips"][0]["address"].split("/")[0]
        self.pods[name] = {"ns": ns, "ip": ip}
        return ip

    def cleanup(self):
        for p in self.procs:
            p.kill()
            p.wait()
        for pod in self.pods.values():
            kxnet.kill_ns(pod["ns"])
            kxnet.sh("ip", "netns", "del", pod["ns"], check=False)
        kxnet.sh("ip", "netns", "del", self.ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)


def pod_ns(node, pod):
    return node.pods[pod]["ns"]


def start(node, pod, *cmd):
    p = subprocess.Popen(kxnet.in_ns(pod_ns(node, pod), *cmd), stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    node.procs.append(p)
    return p


def nginx(node, pod, workers=1):
    d = os.path.join(node.tmp, "nginx-" + pod)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "nginx.conf"), "w") as f:
        f.write(NGINX_CONF % {"dir": d, "name": pod, "workers": workers})
    start(node, pod, "nginx", "-c", os.path.join(d, "nginx.conf"), "-p", d)


def wait_http(node, pod, url, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = kxnet.sh(*kxnet.in_ns(pod_ns(node, pod), "wrk", "-t1", "-c1", "-d1s", url),
                     check=False)
        if r.returncode == 0 and "Requests/sec" in r.stdout and "Socket errors" not in r.stdout:
            return
        time.sleep(0.2)
    raise RuntimeError("%s: %s does not answer" % (node.name, url))


def kx_state(kx, kx2, fillers):
    """The kxdp nodes' cluster state: the measured service and `fillers` others."""
    b1, b2 = kx.pods["b1"]["ip"], kx.pods["b2"]["ip"]
    items = [kxnet.node_object("kx", kx.node_ip, kx.pod_cidr),
             kxnet.node_object("kx2", kx2.node_ip, kx2.pod_cidr),
             kxnet.service("bench", "web", VIP, [("http", PORT, "TCP", 80)]),
             kxnet.endpoint_slice("bench", "web", "web-1", [("http", 80, "TCP")], [b1, b2]),
             kxnet.service("bench", "p2p", P2P_VIP, [("pp", 11111, "TCP", 11111),
                                                     ("iperf", 5201, "TCP", 5201)]),
             kxnet.endpoint_slice("bench", "p2p", "p2p-1", [("pp", 11111, "TCP"),
                                                            ("iperf", 5201, "TCP")],
                                  [kx.pods["p2p"]["ip"]])]
    for i in range(fillers):
        vip = "10.%d.%d.%d" % (96 + (i >> 16), (i >> 8) & 255, i & 255)
        items.append(kxnet.service("fill", "s%d" % i, vip, [("http", 80, "TCP", 8080)]))
        items.append(kxnet.endpoint_slice("fill", "s%d" % i, "s%d-1" % i, [("http", 8080, "TCP")],
                                          ["10.%d.%d.%d" % (200 + (i >> 16), (i >> 8) & 255, j)
                                           for j in range(10)]))
    return kxnet.k8s_list(*items)


def build():
    log("building the topology: fabric, kxdp nodes kx and kx2, bridge nodes br, br2, nft, ipt")
    fabric = kxnet.Fabric()
    nodes = {"fabric": fabric}
    kx = kxnet.Node("kx", "10.124.242.130", "12.0.2.0/24", "12.0.2.1", fabric=fabric)
    nodes["kx"] = kx
    kx2 = kxnet.Node("kx2", "10.124.242.131", "12.0.0.0/24", "12.0.0.1", fabric=fabric)
    nodes["kx2"] = kx2
    for n in (kx, kx2):
        n.start_agent(kxnet.k8s_list(kxnet.node_object("kx", kx.node_ip, kx.pod_cidr),
                                     kxnet.node_object("kx2", kx2.node_ip, kx2.pod_cidr)))
    for pod in ("client", "b1", "b2", "f1", "p2p"):
        kx.add_pod(pod)
    kx2.add_pod("p2p")
    kx.apply_state(kx_state(kx, kx2, 0))
    for name, ip, cidr in (("br", "10.124.242.140", "12.0.5.0/24"),
                           ("br2", "10.124.242.141", "12.0.6.0/24"),
                           ("nft", "10.124.242.142", "12.0.7.0/24"),
                           ("ipt", "10.124.242.143", "12.0.8.0/24")):
        nodes[name] = BridgeNode(name, ip, cidr, fabric)
    nodes["br"].run("ip", "route", "add", "12.0.6.0/24", "via", "10.124.242.141")
    nodes["br2"].run("ip", "route", "add", "12.0.5.0/24", "via", "10.124.242.140")
    for name in ("br", "nft", "ipt"):
        for pod in ("client", "b1", "b2", "p2p"):
            nodes[name].add_pod(pod)
    nodes["br"].add_pod("f1")
    nodes["br2"].add_pod("p2p")
    for name in ("kx", "br", "nft", "ipt"):
        for pod in ("b1", "b2"):
            nginx(nodes[name], pod)
    # The floors get a backend of their own, with as many workers as the two
    # service backends together: a direct connection reusing a client port
    # that a service flow used would meet that flow's TIME_WAIT in the backend
    # (with any NAT, kube-proxy's too), which would measure the benchmark.
    for name in ("kx", "br"):
        nginx(nodes[name], "f1", workers=2)
    for name in ("kx", "kx2", "br", "br2"):
        start(nodes[name], "p2p", "sockperf", "server", "--tcp", "-i", "0.0.0.0", "-p", "11111")
        start(nodes[name], "p2p", "iperf3", "-s", "-p", "5201")
    return nodes


def load_rules(nodes, count, per):
    """kube-proxy's rules for count services on the nft and ipt nodes; times the loads."""
    times = {}
    for kind, name in (("nft", "nft"), ("iptables", "ipt")):
        n = nodes[name]
        b = ["%s:80" % n.pods[p]["ip"] for p in ("b1", "b2")]
        text = kxnet.sh(sys.executable, os.path.join(HERE, "kubeproxy_rules.py"), kind,
                        str(count), str(per), VIP, str(PORT), *b).stdout
        path = os.path.join(n.tmp, "rules." + kind)
        with open(path, "w") as f:
            f.write(text)
        if kind == "nft":
            n.run("nft", "flush", "ruleset")
            t0 = time.monotonic()
            n.run("nft", "-f", path, timeout=1800)
        else:
            t0 = time.monotonic()
            with open(path) as f:
                kxnet.sh(*kxnet.in_ns(n.ns, "iptables-restore"), input=f.read(), timeout=1800)
        times[kind] = time.monotonic() - t0
    return times


# --- measurements ------------------------------------------------------------

def cpu_jiffies():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return v[2] + v[5] + v[6]  # system + irq + softirq


def bpf_prog_stats():
    out = {}
    for p in json.loads(kxnet.sh("bpftool", "-j", "prog", "show").stdout):
        if p.get("name") in ("tc_from_pod", "tc_to_pod", "tc_netdev") and "run_cnt" in p:
            t, c = out.get(p["name"], (0, 0))
            out[p["name"]] = (t + p["run_time_ns"], c + p["run_cnt"])
    return out


def kx_counters(node):
    """Packets per kx_stats counter on a kxdp node."""
    js = json.loads(node.kxdp("stats", "-o", "json").stdout)
    return {k: v["packets"] for k, v in js["counters"].items()}


def wrk(node, url):
    j0, t0 = cpu_jiffies(), time.monotonic()
    r = kxnet.sh(*kxnet.in_ns(pod_ns(node, "client"), "wrk", "-t1", "-c%d" % CONNS,
                              "-d%ds" % DUR, "--latency", "-H", "Connection: close", url),
                 check=False, timeout=DUR + 60)
    jiffies = cpu_jiffies() - j0
    out = r.stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)) if "Requests/sec" in out \
        else 0.0
    reqs = int(re.search(r"(\d+) requests in", out).group(1)) if "requests in" in out else 0
    errs = re.search(r"Socket errors: (.*)", out)
    lat = {}
    for pct, val, unit in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M):
        lat[pct] = float(val) * {"us": 1, "ms": 1000, "s": 1e6}[unit]
    hz = os.sysconf("SC_CLK_TCK")
    cpu_us = jiffies * 1e6 / hz / reqs if reqs else 0.0
    return rate, lat.get("50", 0.0), lat.get("99", 0.0), cpu_us, errs.group(1) if errs else ""


def connection_rate(nodes):
    kx = nodes["kx"]
    urls = {"floor": (kx, "http://%s/" % kx.pods["f1"]["ip"]),
            "kxdp": (kx, "http://%s/" % VIP),
            "bridge": (nodes["br"], "http://%s/" % nodes["br"].pods["f1"]["ip"]),
            "nftables": (nodes["nft"], "http://%s/" % VIP),
            "iptables": (nodes["ipt"], "http://%s/" % VIP)}
    for count in COUNTS:
        log("connection rate with %d other services: loading kxdp, nftables, iptables" % count)
        kx.apply_state(kx_state(kx, nodes["kx2"], count - 1 if count > 1 else 0))
        per = 1 if QUICK else 10
        loads = load_rules(nodes, count, per)
        for kind, secs in loads.items():
            record("control", kind + " (rules for connection runs)", count, 0,
                   "load_s_%d_endpoints_each" % per, secs)
        for variant, (node, url) in urls.items():
            wait_http(node, "client", url)
        kxnet.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        try:
            for run in range(RUNS):
                for variant, (node, url) in urls.items():
                    s0 = bpf_prog_stats() if variant == "kxdp" else None
                    k0 = kx_counters(kx) if variant == "kxdp" else None
                    rate, p50, p99, cpu, errs = wrk(node, url)
                    record("conn", variant, count, run, "conn_per_s", rate)
                    record("conn", variant, count, run, "p50_us", p50)
                    record("conn", variant, count, run, "p99_us", p99)
                    record("conn", variant, count, run, "cpu_us_per_conn", cpu)
                    if errs:
                        record("conn", variant, count, run, "socket_errors", errs)
                    if s0 is not None:
                        t, c = prog_delta(s0, bpf_prog_stats())
                        new = kx_counters(kx)["svc_new"] - k0["svc_new"]
                        if c:
                            record("cost_live", "tc_from_pod under wrk via ClusterIP", count, run,
                                   "ns_per_run", t / c)
                            record("cost_live_raw", "wrk", count, run, "run_time_ns", t)
                            record("cost_live_raw", "wrk", count, run, "runs", c)
                            record("cost_live_raw", "wrk", count, run, "new_flows", new)
                    log("  %-8s services=%-6d run %d: %8.0f conn/s  p99 %6.0f us  cpu %5.1f us/conn"
                        % (variant, count, run, rate, p99, cpu))
        finally:
            kxnet.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=0")


# --- NetworkPolicy ---------------------------------------------------------

POLICY_COUNTS = [1, 100, 1000]  # policies each way (policy_cost)


def pod_object(node, pod, labels):
    ip = node.pods[pod]["ip"]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": pod, "namespace": "bench", "labels": labels},
            "spec": {"nodeName": node.name, "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}


def kx_policy_state(kx, kx2):
    """The kxdp nodes' state with the bench pods as Pods, and default deny
    ingress in their namespace plus one policy letting the client reach the
    web backends on TCP 80."""
    st = kx_state(kx, kx2, 0)
    labels = {"client": {"app": "client"}, "b1": {"app": "web"}, "b2": {"app": "web"},
              "f1": {"app": "floor"}, "p2p": {"app": "p2p"}}
    st["items"] += [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bench"}}]
    st["items"] += [pod_object(kx, p, l) for p, l in labels.items()]
    st["items"] += [
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "deny-all", "namespace": "bench"},
         "spec": {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "allow-client", "namespace": "bench"},
         "spec": {"podSelector": {"matchLabels": {"app": "web"}}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "client"}}}],
                               "ports": [{"port": 80}]}]}}]
    return st


def kube_router_policy(ipt, on):
    """kube-router's enforcement of the same two policies on the iptables
    node (bench/kuberouter_policy.py), jumped to from FORWARD or not."""
    if on == "load":
        args = [ipt.pods["client"]["ip"], "80", ipt.pods["b1"]["ip"], ipt.pods["b2"]["ip"],
                "--", ipt.pods["p2p"]["ip"]]
        sets = kxnet.sh(sys.executable, os.path.join(HERE, "kuberouter_policy.py"), "ipset",
                        *args).stdout
        ipt.run("ipset", "restore", input=sets)
        rules = kxnet.sh(sys.executable, os.path.join(HERE, "kuberouter_policy.py"), "iptables",
                         *args).stdout
        kxnet.sh(*kxnet.in_ns(ipt.ns, "iptables-restore", "--noflush"), input=rules)
        return
    ipt.run("iptables", "-I" if on else "-D", "FORWARD", *(["1"] if on else []), "-j",
            "KUBE-ROUTER-FORWARD")


def policy_rate(nodes):
    """New connections per second through a ClusterIP to backends under
    default deny plus one allow, against the same without policy: kxdp's
    datapath, and kube-router's iptables and ipset chains over kube-proxy's
    iptables rules on bridge wiring."""
    kx, ipt = nodes["kx"], nodes["ipt"]
    url = "http://%s/" % VIP
    # Each client opens ~30,000 connections a run, back to back with its other
    # variant: without reuse, its TIME_WAIT ports run out within two runs and
    # wrk spins on EADDRNOTAVAIL (both clients alike).
    for node in (kx, ipt):
        kxnet.sh(*kxnet.in_ns(pod_ns(node, "client"), "sysctl", "-qw",
                              "net.ipv4.tcp_tw_reuse=1"))
    kx.apply_state(kx_state(kx, nodes["kx2"], 0))
    load_rules(nodes, 1, 1)
    kube_router_policy(ipt, "load")
    log("connection rate under NetworkPolicy: kxdp and kube-router's shape, with and without")
    variants = [("kxdp", lambda: kx.apply_state(kx_state(kx, nodes["kx2"], 0),
                                               needle="policy bench/allow-client removed"), kx),
                ("kxdp + policy", lambda: kx.apply_state(
                    kx_policy_state(kx, nodes["kx2"]),
                    needle="policy bench/allow-client applied"), kx),
                ("iptables", lambda: kube_router_policy(ipt, False), ipt),
                ("iptables + kube-router policy", lambda: kube_router_policy(ipt, True), ipt)]
    first = True
    for run in range(RUNS):
        for variant, setup, node in variants:
            if not (first and variant in ("kxdp", "iptables")):
                setup()
            wait_http(node, "client", url)
            rate, p50, p99, cpu, errs = wrk(node, url)
            record("policy", variant, 1, run, "conn_per_s", rate)
            record("policy", variant, 1, run, "p99_us", p99)
            record("policy", variant, 1, run, "cpu_us_per_conn", cpu)
            if errs:
                record("policy", variant, 1, run, "socket_errors", errs)
            log("  %-30s run %d: %8.0f conn/s  p99 %6.0f us  cpu %5.1f us/conn"
                % (variant, run, rate, p99, cpu))
        first = False
    kube_router_policy(ipt, False)
    kx.apply_state(kx_state(kx, nodes["kx2"], 0), needle="policy bench/allow-client removed")


def policy_cost():
    """The datapath's and the compiler's cost of NetworkPolicy (bench/policy_cost.c)."""
    log("NetworkPolicy cost (BPF_PROG_RUN) at %s policies each way over 10,000 pods"
        % POLICY_COUNTS)
    iters = 2000 if QUICK else 20000
    for count in POLICY_COUNTS:
        for run in range(RUNS):
            r = kxnet.sh(os.path.join(BUILD, "bench", "policy_cost"), str(count), str(iters),
                         "csv", timeout=600)
            for line in r.stdout.splitlines():
                path, v = line.split(",")
                record("polcost", path, count, run, "value", float(v))


def pod_to_pod(nodes):
    kx, kx2, br, br2 = nodes["kx"], nodes["kx2"], nodes["br"], nodes["br2"]
    pairs = {"kxdp same node": (kx, kx.pods["p2p"]["ip"]),
             "kxdp same node via ClusterIP": (kx, P2P_VIP),
             "bridge same node": (br, br.pods["p2p"]["ip"]),
             "kxdp across nodes": (kx, kx2.pods["p2p"]["ip"]),
             "routing across nodes (bridge wiring)": (br, br2.pods["p2p"]["ip"])}
    # Per-path program cost under real traffic: a same-node ping-pong is
    # local redirects only; through the ClusterIP, one established (DNAT)
    # packet and one reverse-NAT reply per round trip.
    live = {"kxdp same node": "local redirect (sockperf pod to pod)",
            "kxdp same node via ClusterIP": "established + reverse NAT (sockperf via ClusterIP)"}
    log("pod to pod: sockperf ping-pong (TCP) and iperf3, %d runs each" % RUNS)
    kxnet.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
    try:
        for run in range(RUNS):
            for variant, (node, ip) in pairs.items():
                pod_pair_run(node, ip, variant, run, live.get(variant))
    finally:
        kxnet.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=0")


def prog_delta(s0, s1, name="tc_from_pod"):
    t = s1.get(name, (0, 0))[0] - s0.get(name, (0, 0))[0]
    c = s1.get(name, (0, 0))[1] - s0.get(name, (0, 0))[1]
    return t, c


def pod_pair_run(node, ip, variant, run, live_name):
    """sockperf ping-pong then iperf3 from the client pod to ip; the program
    cost per run of tc_from_pod over the ping-pong is recorded as live_name."""
    ns = pod_ns(node, "client")
    s0 = bpf_prog_stats()
    r = kxnet.sh(*kxnet.in_ns(ns, "sockperf", "ping-pong", "--tcp", "-i", ip, "-p",
                              "11111", "-t", str(DUR)), check=False, timeout=DUR + 60)
    t, c = prog_delta(s0, bpf_prog_stats())
    if live_name and c:
        record("cost_live", live_name, 0, run, "ns_per_run", t / c)
    m = re.search(r"percentile 50\.000 =\s+([\d.]+)", r.stdout)
    m99 = re.search(r"percentile 99\.000 =\s+([\d.]+)", r.stdout)
    if m:
        record("p2p", variant, 0, run, "rtt_p50_us", float(m.group(1)))
    if m99:
        record("p2p", variant, 0, run, "rtt_p99_us", float(m99.group(1)))
    r = kxnet.sh(*kxnet.in_ns(ns, "iperf3", "-c", ip, "-p", "5201", "-t", str(DUR), "-J"),
                 check=False, timeout=DUR + 60)
    try:
        bps = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"]
        record("p2p", variant, 0, run, "gbit_per_s", bps / 1e9)
    except (ValueError, KeyError):
        pass
    log("  %-38s run %d done" % (variant, run))


PRIMS = []  # primitive names in prim_cost's order
STATS_OVERHEAD = "kernel.bpf_stats_enabled, added per program run"


def primitives():
    log("what the machine charges for BPF primitives (bench/prim_cost)")
    for run in range(RUNS):
        r = kxnet.sh(os.path.join(BUILD, "bench", "prim_cost"), "csv", timeout=300)
        for line in r.stdout.splitlines():
            name, ns = line.rsplit(",", 1)
            if name not in PRIMS:
                PRIMS.append(name)
            record("prim", name, 0, run, "ns", float(ns))
        # kernel.bpf_stats_enabled's own price per run (two sched_clock reads):
        # the live costs below include it
        kxnet.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=1")
        try:
            r = kxnet.sh(os.path.join(BUILD, "bench", "prim_cost"), "empty", timeout=300)
        finally:
            kxnet.sh("sysctl", "-qw", "kernel.bpf_stats_enabled=0")
        empty = stats("prim", "empty program per run", 0, "ns")
        on = float(r.stdout.strip())
        record("prim", STATS_OVERHEAD, 0, run, "ns", on - empty[0])
    PRIMS.append(STATS_OVERHEAD)


def program_cost():
    primitives()
    log("per-packet program cost (BPF_PROG_RUN cold and warm, minus an empty program)")
    iters = 2000 if QUICK else 20000
    for count in COST_COUNTS:
        for run in range(RUNS):
            r = kxnet.sh(os.path.join(BUILD, "bench", "prog_cost"), str(iters), str(count - 1),
                         "csv", timeout=600)
            for line in r.stdout.splitlines():
                path, ns = line.split(",")
                record("cost", path, count, run, "ns", float(ns))
        log("  %d services done" % count)


def control_plane(nodes):
    log("control plane: 10,000 services x 10 endpoints")
    for run in range(RUNS if not QUICK else 2):
        r = kxnet.sh(os.path.join(BUILD, "bench", "sync_bench"), "10000", "10",
                     "200" if QUICK else "1000", timeout=600)
        for key, metric in (("full sync", "program_10000x10_ms"),
                            ("p50", "one_change_p50_ms"), ("p99", "one_change_p99_ms")):
            m = re.search(re.escape(key) + r"[^|]*\|\s*([\d.]+) ms", r.stdout)
            if m:
                record("control", "kxdp (agent)", 10000, run, metric, float(m.group(1)))
    # iptables-restore of the whole 10k x 10 shape, then one service changed
    ipt = nodes["ipt"]
    b = ["%s:80" % ipt.pods[p]["ip"] for p in ("b1", "b2")]
    text = kxnet.sh(sys.executable, os.path.join(HERE, "kubeproxy_rules.py"), "iptables",
                    "10000", "10", VIP, str(PORT), *b).stdout
    t0 = time.monotonic()
    kxnet.sh(*kxnet.in_ns(ipt.ns, "iptables-restore"), input=text, timeout=1800)
    record("control", "iptables-restore", 10000, 0, "program_10000x10_ms",
           (time.monotonic() - t0) * 1000)
    svc = [l for l in text.splitlines() if "bench/measured" in l or l.startswith("*") or
           l == "COMMIT"]
    chains = sorted({w for l in svc for w in l.split() if w.startswith("KUBE-SVC-") or
                     w.startswith("KUBE-SEP-")})
    partial = "*nat\n" + "\n".join(":%s - [0:0]" % c for c in chains) + "\n" + \
        "\n".join(l for l in svc if l.startswith("-A KUBE-S")) + "\nCOMMIT\n"
    t0 = time.monotonic()
    kxnet.sh(*kxnet.in_ns(ipt.ns, "iptables-restore", "--noflush"), input=partial)
    record("control", "iptables-restore", 10000, 0, "one_change_ms",
           (time.monotonic() - t0) * 1000)
    # nft -f: the whole shape is slow to load on this kernel; quick mode uses 1,000
    nft = nodes["nft"]
    count = 1000 if QUICK else 10000
    b = ["%s:80" % nft.pods[p]["ip"] for p in ("b1", "b2")]
    text = kxnet.sh(sys.executable, os.path.join(HERE, "kubeproxy_rules.py"), "nft",
                    str(count), "10", VIP, str(PORT), *b).stdout
    nft.run("nft", "flush", "ruleset")
    path = os.path.join(nft.tmp, "full.nft")
    with open(path, "w") as f:
        f.write(text)
    t0 = time.monotonic()
    nft.run("nft", "-f", path, timeout=3600)
    record("control", "nft -f", count, 0, "program_%dx10_ms" % count,
           (time.monotonic() - t0) * 1000)
    m = [l for l in text.splitlines() if l.strip().startswith("chain service-")][-1]
    chain = m.split()[1]
    change = "flush chain ip kube-proxy %s\nadd rule ip kube-proxy %s %s\n" % (
        chain, chain, m[m.index("{") + 1:m.rindex("}")].strip().rstrip(";"))
    t0 = time.monotonic()
    nft.run("nft", "-f", "-", input=change)
    record("control", "nft -f", count, 0, "one_change_ms", (time.monotonic() - t0) * 1000)
    # agent memory: peak RSS of a one-shot apply of 10k x 10, and the maps' memory
    scratch = kxnet.Node("mem", "10.124.242.170", "12.0.9.0/24", "12.0.9.1")
    try:
        st = kx_state(nodes["kx"], nodes["kx2"], 9999)
        scratch.write_state(st)
        r = scratch.run("/usr/bin/time", "-v", os.path.join(BUILD, "kxdp-agent"), "--node", "mem",
                        "--state", scratch.state, "--bpffs", scratch.bpffs, "--cni-conf-dir",
                        scratch.cni_dir, "--once", check=False, timeout=600)
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", r.stderr)
        if m:
            record("memory", "kxdp-agent", 10000, 0, "peak_rss_mib", int(m.group(1)) / 1024)
        total = 0
        for mp in json.loads(kxnet.sh("bpftool", "-j", "map", "show").stdout):
            if mp.get("name", "").startswith("kx_") and \
                    mp["id"] in pinned_ids(scratch.bpffs):
                total += mp.get("bytes_memlock", 0)
                record("memory", "map " + mp["name"], 10000, 0, "memlock_mib",
                       mp.get("bytes_memlock", 0) / 2**20)
        record("memory", "all maps", 10000, 0, "memlock_mib", total / 2**20)
    finally:
        scratch.cleanup()


def pinned_ids(bpffs):
    ids = set()
    d = os.path.join(bpffs, "kxdp")
    for name in os.listdir(d):
        r = kxnet.sh("bpftool", "-j", "map", "show", "pinned", os.path.join(d, name), check=False)
        if r.returncode == 0:
            ids.add(json.loads(r.stdout)["id"])
    return ids


# --- report ------------------------------------------------------------------

def stats(section, variant, services, metric):
    v = [float(r[5]) for r in ROWS if r[0] == section and r[1] == variant and r[2] == services
         and r[4] == metric and not isinstance(r[5], str)]
    return (statistics.median(v), min(v), max(v)) if v else None


def table(section, variants, services_list, metric, floor=None, fmt="%.0f"):
    head = "| variant | services | median | min | max |%s\n|---|---|---|---|---|%s\n" % (
        " vs floor |" if floor else "", "---|" if floor else "")
    body = ""
    for services in services_list:
        base = stats(section, floor, services, metric) if floor else None
        for v in variants:
            s = stats(section, v, services, metric)
            if not s:
                continue
            ratio = " %.2f |" % (s[0] / base[0]) if base and base[0] else (" |" if floor else "")
            body += "| %s | %s | %s | %s | %s |%s\n" % (v, services, fmt % s[0], fmt % s[1],
                                                         fmt % s[2], ratio)
    return head + body


def plots():
    gp = []
    dat = os.path.join(OUT, "conn.dat")
    with open(dat, "w") as f:
        for v in ("floor", "kxdp", "bridge", "nftables", "iptables"):
            f.write("# %s\n" % v)
            for c in COUNTS:
                s = stats("conn", v, c, "conn_per_s")
                if s:
                    f.write("%d %f %f %f\n" % (c, s[0], s[1], s[2]))
            f.write("\n\n")
    gp.append("""set terminal pngcairo size 900,540
set output '%s/conn_rate.png'
set title 'New connections per second through the service (wrk, Connection: close)'
set logscale x; set xlabel 'services loaded'; set ylabel 'connections/s'; set key outside
plot for [i=0:4] '%s' index i using 1:2:3:4 with yerrorlines title columnheader(1)
""" % (OUT, dat))
    # columnheader does not read comments: name the series by hand
    gp[-1] = gp[-1].replace("title columnheader(1)",
                            "title word('floor kxdp bridge nftables iptables', i+1)")
    dat = os.path.join(OUT, "cost.dat")
    paths = ("new_flow", "established", "established_warm", "reverse_nat_warm",
             "local_redirect_warm")
    with open(dat, "w") as f:
        for p in paths:
            for c in COST_COUNTS:
                s = stats("cost", p, c, "ns")
                if s:
                    f.write("%d %f %f %f\n" % (c, s[0], s[1], s[2]))
            f.write("\n\n")
    gp.append("""set output '%s/program_cost.png'
set title 'Program cost per packet (BPF_PROG_RUN, minus an empty program)'
set xlabel 'services loaded'; set ylabel 'ns'; set logscale y
plot for [i=0:4] '%s' index i using 1:2:3:4 with yerrorlines title word('%s', i+1)
unset logscale y
""" % (OUT, dat, " ".join(paths)))
    dat = os.path.join(OUT, "p2p.dat")
    names = ["kxdp same node", "kxdp same node via ClusterIP", "bridge same node",
             "kxdp across nodes", "routing across nodes (bridge wiring)"]
    with open(dat, "w") as f:
        for i, n in enumerate(names):
            a, b = stats("p2p", n, 0, "rtt_p50_us"), stats("p2p", n, 0, "gbit_per_s")
            f.write('%d "%s" %f %f\n' % (i, n.replace(" (bridge wiring)", ""), a[0] if a else 0,
                                         b[0] if b else 0))
    gp.append("""unset logscale x; set output '%s/pod_to_pod.png'; set size 1,1
set title 'Pod to pod: TCP ping-pong p50 RTT (us, left) and iperf3 (Gbit/s, right)'
set style data histograms; set style fill solid 0.6; set boxwidth 0.4
set xtics rotate by -20; set ylabel 'us'; set y2label 'Gbit/s'; set y2tics; unset logscale
set xlabel ''
plot '%s' using 3:xtic(2) title 'RTT p50 (us)', '' using 4 axes x1y2 title 'Gbit/s'
""" % (OUT, dat))
    script = os.path.join(OUT, "plots.gp")
    with open(script, "w") as f:
        f.write("\n".join(gp))
    r = kxnet.sh("gnuplot", script, check=False)
    if r.returncode:
        log("gnuplot: " + r.stderr.strip()[:300])


def live_minus_overhead():
    """The live rows again, less what bpf_stats itself adds to every run."""
    over = stats("prim", STATS_OVERHEAD, 0, "ns")
    if not over:
        return
    for r in [r for r in ROWS if r[0] == "cost_live"]:
        record("cost_live_net", r[1], r[2], r[3], r[4], r[5] - over[0])


def derive_new_flow_cost():
    """The live cost of a new flow, from the wrk runs: their program time,
    less every other run priced at the measured established/reverse-NAT
    cost, over the new flows the kx_stats counter saw."""
    est = stats("cost_live", "established + reverse NAT (sockperf via ClusterIP)", 0,
                "ns_per_run")
    if not est:
        return
    for count in COUNTS:
        for run in range(RUNS):
            vals = {r[4]: r[5] for r in ROWS if r[0] == "cost_live_raw" and r[2] == count
                    and r[3] == run}
            t, c, new = vals.get("run_time_ns"), vals.get("runs"), vals.get("new_flows")
            if t and c and new:
                record("cost_live", "new flow (derived from the wrk runs)", count, run,
                       "ns_per_run", (t - (c - new) * est[0]) / new)


def summary():
    derive_new_flow_cost()
    live_minus_overhead()
    lines = ["# kxdp benchmark, %s%s" % (datetime.date.today().isoformat(),
                                        " (QUICK)" if QUICK else ""), ""]
    with open(os.path.join(OUT, "machine.txt")) as f:
        lines += ["```", f.read().strip(), "```", ""]
    lines += ["Runs: %d per variant, %d s each, interleaved (floor, kxdp, bridge, nftables, "
              "iptables, floor, ...). wrk -c%d with `Connection: close` against nginx in two "
              "backend pods. Ratios are to the floor (kxdp-wired pods, backend IP, no "
              "service)." % (RUNS, DUR, CONNS), "",
              "## New connections per second", "",
              table("conn", ["floor", "kxdp", "bridge", "nftables", "iptables"], COUNTS,
                    "conn_per_s", floor="floor"),
              "## Latency p99 (us) per connection", "",
              table("conn", ["floor", "kxdp", "bridge", "nftables", "iptables"], COUNTS,
                    "p99_us", floor="floor"),
              "## CPU time (system + softirq) per connection (us)", "",
              table("conn", ["floor", "kxdp", "bridge", "nftables", "iptables"], COUNTS,
                    "cpu_us_per_conn", floor=None, fmt="%.1f"),
              "## Pod to pod", "",
              table("p2p", ["kxdp same node", "kxdp same node via ClusterIP", "bridge same node",
                            "kxdp across nodes", "routing across nodes (bridge wiring)"], [0],
                    "rtt_p50_us",
                    fmt="%.1f").replace("| 0 |", "| - |"),
              table("p2p", ["kxdp same node", "kxdp same node via ClusterIP", "bridge same node",
                            "kxdp across nodes", "routing across nodes (bridge wiring)"], [0],
                    "gbit_per_s",
                    fmt="%.2f").replace("| 0 |", "| - |"),
              "(first table: TCP ping-pong RTT p50 in us; second: iperf3 Gbit/s)", "",
              "## BPF primitives on this machine (ns per use, bench/prim_cost.c)", "",
              "What the programs are made of. This kernel runs the SRSO \"Safe RET\" "
              "mitigation (see machine), which makes every non-inlined call's return dear: "
              "a hash lookup or an update is a call, an array lookup or bpf_jiffies64() is "
              "inlined by the verifier.", "",
              table("prim", PRIMS, [0], "ns", fmt="%.1f").replace("| 0 |", "| - |"),
              "## Program cost per packet (ns, BPF_PROG_RUN minus an empty program)", "",
              "Cold: repeat=1 on a fresh frame each time (a lone packet: caches and TLB cold "
              "after the syscall). Warm: one frame run 10^6 times in the kernel; the rewriting "
              "paths get a second conntrack entry mapping the rewritten tuple back, so every "
              "run takes the same path (bench/prog_cost.c). A new flow cannot be rerun: cold "
              "only.", "",
              table("cost", ["new_flow", "established", "reverse_nat", "local_redirect",
                             "pass_through"], COST_COUNTS, "ns", fmt="%.0f"),
              table("cost", ["established_warm", "reverse_nat_warm", "local_redirect_warm",
                             "pass_through_warm", "to_pod_miss_warm"], COST_COUNTS, "ns",
                    fmt="%.0f"),
              "xdp_netdev: a node port to a local backend (new flow, established; cold) and "
              "a frame to a pod of this node, what every cross-node pod packet is (warm); "
              "tc_netdev_out on a packet of a node socket that is no reply of a Service flow "
              "(warm; forwarded packets carry no socket and leave at the first load):", "",
              table("cost", ["xdp_nodeport_new", "xdp_nodeport_established",
                             "xdp_pod_pass_warm", "netdev_out_node_miss_warm"], COST_COUNTS,
                    "ns", fmt="%.0f"),
              "Under real traffic (`kernel.bpf_stats_enabled`: run_time_ns / run_cnt of "
              "tc_from_pod; the kernel's timing adds its own cost to every run, measured "
              "with the primitives and taken off in the second pair of tables). The wrk runs "
              "mix new flows, established packets and reverse NAT; the new-flow row prices "
              "their other runs at the ClusterIP ping-pong's cost and divides the rest by "
              "the new flows kx_stats counted:", "",
              table("cost_live", ["local redirect (sockperf pod to pod)",
                                  "established + reverse NAT (sockperf via ClusterIP)"], [0],
                    "ns_per_run").replace("| 0 |", "| 1 |"),
              table("cost_live", ["tc_from_pod under wrk via ClusterIP",
                                  "new flow (derived from the wrk runs)"], COUNTS, "ns_per_run"),
              "The same, less bpf_stats' own overhead per run (see the primitives):", "",
              table("cost_live_net", ["local redirect (sockperf pod to pod)",
                                      "established + reverse NAT (sockperf via ClusterIP)"],
                    [0], "ns_per_run").replace("| 0 |", "| 1 |"),
              table("cost_live_net", ["tc_from_pod under wrk via ClusterIP",
                                      "new flow (derived from the wrk runs)"], COUNTS,
                    "ns_per_run"),
              "## NetworkPolicy", "",
              "New connections per second through the ClusterIP to backends under default "
              "deny plus one policy allowing the client, against the same without policy "
              "(targets: kxdp + policy >= 0.95 x kxdp); kube-router's enforcement shape "
              "(bench/kuberouter_policy.py: per-pod chains, ipsets, conntrack) over "
              "kube-proxy's iptables rules on bridge wiring as the peer.", "",
              table("policy", ["kxdp", "kxdp + policy", "iptables",
                               "iptables + kube-router policy"], [1], "conn_per_s",
                    floor="kxdp"),
              table("policy", ["kxdp", "kxdp + policy", "iptables",
                               "iptables + kube-router policy"], [1], "cpu_us_per_conn",
                    floor=None, fmt="%.1f"),
              "Per packet (BPF_PROG_RUN minus an empty program, ns; bench/policy_cost.c) "
              "at 1, 100 and 1,000 policies each way over 10,000 pods: a SYN to an "
              "isolated pod, from one, and to a pod no policy selects (cold: judged, its "
              "conntrack entry made); a packet judged and denied every run against one "
              "delivered to a pod no policy selects (warm: their difference is the "
              "lookup's cost, less bpf_redirect_peer's); a later packet (a conntrack hit) "
              "to an isolated pod and to another (warm). Targets: lookup <= 100 ns and "
              "flat, first packet <= 400 ns over no policy, later packets <= 20 ns over. "
              "Then the agent's compile and program of all the policies, and of one pod "
              "label change (ms; targets 1 s and 10 ms).", "",
              table("polcost", ["first_to_isolated", "first_from_isolated",
                                "first_unselected", "judged_denied_warm", "unselected_warm",
                                "later_isolated_warm", "later_unselected_warm"],
                    POLICY_COUNTS, "value", fmt="%.0f"),
              table("polcost", ["compile_program_ms", "label_change_ms"], POLICY_COUNTS,
                    "value", fmt="%.1f"),
              "## Control plane", ""]
    for variant, services, metric in sorted({(r[1], r[2], r[4]) for r in ROWS
                                             if r[0] in ("control", "memory")}):
        s = stats("control", variant, services, metric) or stats("memory", variant, services,
                                                                metric)
        if s:
            lines.append("- %s, %s services, %s: %.1f (min %.1f, max %.1f)"
                         % (variant, services, metric, s[0], s[1], s[2]))
    lines += ["", "Plots: conn_rate.png, program_cost.png, pod_to_pod.png. Raw data: raw.csv."]
    with open(os.path.join(OUT, "summary.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


def machine():
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    text = "kernel: %s\ncpu: %s x %d\nmemory: %.1f GiB\n" % (
        platform.release(), cpu, os.cpu_count(),
        os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    vuln = "/sys/devices/system/cpu/vulnerabilities/spec_rstack_overflow"
    if os.path.exists(vuln):
        with open(vuln) as f:
            text += "spec_rstack_overflow (SRSO): %s\n" % f.read().strip()
    text += "variants:\n" + __doc__.split("Variants:")[1].rstrip() + "\n"
    with open(os.path.join(OUT, "machine.txt"), "w") as f:
        f.write(text)


def resummarize(out):
    """Write summary.md and the plots again from an earlier run's raw.csv."""
    global OUT
    OUT = out
    with open(os.path.join(OUT, "raw.csv")) as f:
        for row in list(csv.reader(f))[1:]:
            section, variant, services, run, metric, value = row
            try:
                value = float(value)
            except ValueError:
                pass
            record(section, variant, int(services), int(run), metric, value)
            if section == "prim" and variant not in PRIMS:
                PRIMS.append(variant)
    summary()
    plots()


def teardown(nodes):
    """Nodes first, then the fabric they plug into, then anything a build
    that failed half-way left (by namespace prefix)."""
    for name, n in nodes.items():
        if name != "fabric":
            n.cleanup()
    if "fabric" in nodes:
        nodes["fabric"].cleanup()
    kxnet.remove_leftovers()


SECTIONS = [program_cost, policy_cost, connection_rate, policy_rate, pod_to_pod, control_plane]
ONLY = [x for x in os.environ.get("ONLY", "").split(",") if x]  # ONLY=policy_rate,...: just those


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--summary":
        resummarize(sys.argv[2])
        return
    if os.geteuid() != 0:
        raise SystemExit("bench: run as root (namespaces, BPF)")
    os.makedirs(OUT, exist_ok=True)
    machine()
    kxnet.remove_leftovers()
    nodes = {}
    t0 = time.monotonic()
    try:
        nodes = build()
        for section in SECTIONS:
            if not ONLY or section.__name__ in ONLY:
                section(*([nodes] if section.__code__.co_argcount else []))
    finally:
        teardown(nodes)
        with open(os.path.join(OUT, "raw.csv"), "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(["section", "variant", "services", "run", "metric", "value"])
            w.writerows(ROWS)
    summary()
    plots()
    log("done in %.0f s: %s/summary.md" % (time.monotonic() - t0, OUT))
    print(open(os.path.join(OUT, "summary.md")).read())


if __name__ == "__main__":
    main()
