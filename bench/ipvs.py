#!/usr/bin/python3
"""make bench-ipvs: kube-router's IPVS service proxy beside kxdp.

IPVS exists only in Debian 12's 6.1 kernel here, so `make bench-ipvs` runs
this inside a VM on it (tests/vm/run.py, software emulation): absolute
figures mean nothing there, only ratios within the VM.

Two nodes in namespaces, each with a client pod and two nginx/identity
backends:
  kxdp  pods wired by kxdp-cni, the service from the agent's state
  ipvs  pods on kube-bridge (Debian's CNI bridge plugin, br_netfilter on),
        the VIP on the dummy interface kube-dummy-if, ipvsadm virtual
        services (rr, Masq), as kube-router sets them up
Measures new connections per second and latency (wrk, Connection: close),
interleaved, RUNS runs each, and checks on both the behaviours IPVS users
complain about: a backend removed while a connection is open, UDP backend
rotation, and a client source port reused after its backend was deleted.

usage: bench/ipvs.py OUTDIR     (root, inside the VM; writes OUTDIR/ipvs.md
                                 and OUTDIR/ipvs.csv)
"""
import csv
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import run as B  # noqa: E402  (the topology helpers of make bench)

kxnet = B.kxnet
kxnet.PREFIX = "kxipvs-"
kxnet.TMP_PREFIX = "kxdp-ipvs-"
VIP, PORT, ECHO = "12.0.128.10", 80, 5001
RUNS = 5
DUR = 3
ROWS = []


def log(msg):
    print("bench-ipvs: " + msg, flush=True)


def kx_state(kx, backends):
    return kxnet.k8s_list(
        kxnet.node_object("kx", kx.node_ip, kx.pod_cidr),
        kxnet.service("bench", "web", VIP, [("http", PORT, "TCP", 80), ("echo", ECHO, "TCP", ECHO),
                                            ("uecho", ECHO, "UDP", ECHO)]),
        kxnet.endpoint_slice("bench", "web", "web-1", [("http", 80, "TCP"), ("echo", ECHO, "TCP"),
                                                       ("uecho", ECHO, "UDP")],
                             [kx.pods[b]["ip"] for b in backends]))


def ipvs_service(node, backends):
    """The virtual services as kube-router writes them (rr, Masq)."""
    node.run("ipvsadm", "-C")
    for proto, port in (("-t", PORT), ("-t", ECHO), ("-u", ECHO)):
        node.run("ipvsadm", "-A", proto, "%s:%d" % (VIP, port), "-s", "rr")
        for b in backends:
            node.run("ipvsadm", "-a", proto, "%s:%d" % (VIP, port), "-r",
                     "%s:%d" % (node.pods[b]["ip"], port), "-m")


def build():
    for m in ("ip_vs", "ip_vs_rr", "dummy", "br_netfilter"):
        kxnet.sh("modprobe", m)
    fabric = kxnet.Fabric()
    kx = kxnet.Node("kx", "10.124.242.130", "12.0.2.0/24", "12.0.2.1", fabric=fabric)
    ipvs = B.BridgeNode("ipvs", "10.124.242.140", "12.0.5.0/24", fabric)
    nodes = {"fabric": fabric, "kx": kx, "ipvs": ipvs}
    kx.start_agent(kxnet.k8s_list(kxnet.node_object("kx", kx.node_ip, kx.pod_cidr)))
    for n in (kx, ipvs):
        for pod in ("client", "b1", "b2"):
            n.add_pod(pod)
        for b in ("b1", "b2"):
            B.nginx(n, b)
            for proto in ("tcp", "udp"):
                if n is kx:
                    n.serve(b, proto, "0.0.0.0", ECHO, b)
                else:
                    serve(n, b, proto)
    kx.apply_state(kx_state(kx, ["b1", "b2"]))
    ipvs.run("ip", "link", "add", "kube-dummy-if", "type", "dummy")
    ipvs.run("ip", "addr", "add", VIP + "/32", "dev", "kube-dummy-if")
    ipvs.run("ip", "link", "set", "kube-dummy-if", "up")
    ipvs.run("sysctl", "-qw", "net.ipv4.vs.conntrack=1")
    ipvs_service(ipvs, ["b1", "b2"])
    return nodes


def serve(node, pod, proto):
    """kxnet's identity server in a pod of a bridge node."""
    p = subprocess.Popen(kxnet.in_ns(node.pods[pod]["ns"], kxnet.PY,
                                     os.path.join(kxnet.HELPERS, "server.py"), proto, "0.0.0.0",
                                     str(ECHO), pod),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    node.procs.append(p)
    if p.stdout.readline().strip() != "ready":
        raise RuntimeError("server %s/%s did not start" % (node.name, pod))


def in_pod(node, pod, code, *args, timeout=60):
    r = kxnet.sh(*kxnet.in_ns(node.pods[pod]["ns"], kxnet.PY, "-c", code, *args),
                 check=False, timeout=timeout)
    return r.stdout.strip() or ("error: " + r.stderr.strip().splitlines()[-1]
                                if r.stderr.strip() else "no output")


def connection_rate(nodes):
    url = "http://%s/" % VIP
    for v in ("kxdp", "ipvs"):
        B.wait_http(nodes["kx" if v == "kxdp" else "ipvs"], "client", url, timeout=60)
    for run in range(RUNS):
        for v in ("kxdp", "ipvs"):
            node = nodes["kx" if v == "kxdp" else "ipvs"]
            r = kxnet.sh(*kxnet.in_ns(node.pods["client"]["ns"], "wrk", "-t1", "-c8",
                                      "-d%ds" % DUR, "--latency", "-H", "Connection: close", url),
                         check=False, timeout=DUR + 60)
            rate = re.search(r"Requests/sec:\s+([\d.]+)", r.stdout)
            lat = dict((p, float(v) * {"us": 1, "ms": 1000, "s": 1e6}[u]) for p, v, u in
                       re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", r.stdout, re.M))
            ROWS.append((v, run, "conn_per_s", float(rate.group(1)) if rate else 0.0))
            ROWS.append((v, run, "p50_us", lat.get("50", 0.0)))
            ROWS.append((v, run, "p99_us", lat.get("99", 0.0)))
            log("%-5s run %d: %s conn/s" % (v, run, rate.group(1) if rate else "?"))


HOLD = r'''
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
name = s.recv(64).decode().strip()
print(name, flush=True)
sys.stdin.readline()  # the backend is removed now
try:
    s.sendall(b"still there?\n")
    print("continues" if s.recv(64) else "closed")
except OSError as e:
    print("broken (%s)" % e.__class__.__name__)
'''

UDP = r'''
import socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.bind(("0.0.0.0", 0))
seen = []
for i in range(6):
    s.sendto(b"x", (vip, port))
    try:
        seen.append(s.recv(64).decode().strip())
    except OSError:
        seen.append("timeout")
many = []
for i in range(6):
    t = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); t.settimeout(2)
    t.sendto(b"x", (vip, port))
    try:
        many.append(t.recv(64).decode().strip())
    except OSError:
        many.append("timeout")
print("one port: %s; six ports: %s" % (" ".join(seen), " ".join(many)))
'''

REUSE = r'''
import socket, sys
vip, port, sport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", sport)); s.settimeout(5)
try:
    s.connect((vip, port)); print(s.recv(64).decode().strip())
except OSError as e:
    print("failed (%s)" % e.__class__.__name__)
s.close()
'''


def remove_backend(nodes, v, backend):
    keep = [b for b in ("b1", "b2") if b != backend]
    if v == "kxdp":
        nodes["kx"].apply_state(kx_state(nodes["kx"], keep))
    else:
        n = nodes["ipvs"]
        for proto, port in (("-t", PORT), ("-t", ECHO), ("-u", ECHO)):
            n.run("ipvsadm", "-d", proto, "%s:%d" % (VIP, port), "-r",
                  "%s:%d" % (n.pods[backend]["ip"], port))


def restore(nodes, v):
    if v == "kxdp":
        nodes["kx"].apply_state(kx_state(nodes["kx"], ["b1", "b2"]))
    else:
        ipvs_service(nodes["ipvs"], ["b1", "b2"])


def behaviours(nodes):
    found = {}
    for v in ("kxdp", "ipvs"):
        node = nodes["kx" if v == "kxdp" else "ipvs"]
        # 1. a backend removed while a connection to it is open
        p = subprocess.Popen(kxnet.in_ns(node.pods["client"]["ns"], kxnet.PY, "-c", HOLD, VIP,
                                         str(ECHO)),
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        backend = p.stdout.readline().strip()
        remove_backend(nodes, v, backend)
        time.sleep(1)
        out = p.communicate("\n", timeout=30)[0].strip()
        found[(v, "open connection, its backend removed")] = "%s: %s" % (backend, out)
        restore(nodes, v)
        # 2. UDP: six datagrams from one client port, then one from each of six ports
        found[(v, "UDP rotation")] = in_pod(node, "client", UDP, VIP, str(ECHO))
        # 3. a client port reused after its backend was deleted
        first = in_pod(node, "client", REUSE, VIP, str(ECHO), "21050")
        if first in ("b1", "b2"):
            remove_backend(nodes, v, first)
            time.sleep(1)
            second = in_pod(node, "client", REUSE, VIP, str(ECHO), "21050")
            restore(nodes, v)
        else:
            second = "-"
        found[(v, "source port reused after its backend was deleted")] = \
            "first %s, then %s" % (first, second)
        log("%s: %s" % (v, {k[1]: val for k, val in found.items() if k[0] == v}))
    return found


def write(out, found):
    with open(os.path.join(out, "ipvs.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["variant", "run", "metric", "value"])
        w.writerows(ROWS)
    lines = ["# kxdp and IPVS, inside a VM on %s (software emulation)" % os.uname().release, "",
             "Only ratios mean anything here: the CPU is emulated. %d runs of %d s each, "
             "interleaved (kxdp, ipvs, kxdp, ...), wrk -c8 `Connection: close` against nginx in "
             "two backend pods. IPVS as kube-router sets it up: VIP on kube-dummy-if, ipvsadm "
             "rr, Masq, pods on kube-bridge with br_netfilter." % (RUNS, DUR), "",
             "| metric | kxdp median | ipvs median | kxdp / ipvs |", "|---|---|---|---|"]
    for m in ("conn_per_s", "p50_us", "p99_us"):
        k = [r[3] for r in ROWS if r[0] == "kxdp" and r[2] == m]
        i = [r[3] for r in ROWS if r[0] == "ipvs" and r[2] == m]
        if k and i:
            km, im = statistics.median(k), statistics.median(i)
            lines.append("| %s | %.0f | %.0f | %.2f |" % (m, km, im, km / im if im else 0))
    lines += ["", "## Behaviours", "", "| case | kxdp | ipvs |", "|---|---|---|"]
    for case in sorted({k[1] for k in found}):
        lines.append("| %s | %s | %s |" % (case, found.get(("kxdp", case), "-"),
                                          found.get(("ipvs", case), "-")))
    with open(os.path.join(out, "ipvs.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "."
    os.makedirs(out, exist_ok=True)
    kxnet.remove_leftovers()
    nodes = {}
    try:
        nodes = build()
        connection_rate(nodes)
        found = behaviours(nodes)
    finally:
        B.teardown(nodes)
    write(out, found)


if __name__ == "__main__":
    main()
