"""Least privilege and isolation: the pins are root's alone, the agent runs
with the capabilities docs/security.md lists (not privileged), and a pod
cannot send with another address."""
import json
import os
import stat

import pytest

import kxnet

VIP = "12.0.182.73"
# What docs/security.md says the agent needs, and manifests/kxdp.yaml grants.
AGENT_CAPS = ("bpf", "perfmon", "net_admin")


@pytest.fixture(scope="module")
def node():
    n = kxnet.Node("node130", "10.124.242.130", "12.0.2.0/24", "12.0.2.1")
    try:
        # the agent as the DaemonSet runs it: root, its capabilities only
        n.write_state(kxnet.k8s_list(kxnet.node_object("node130", n.node_ip, n.pod_cidr)))
        n.agent_extra = ["--ct-gc-interval", "1"]  # the GC's clock runs with these caps too
        argv = list(n.agent_args())
        i = argv.index(os.path.join(kxnet.BUILD, "kxdp-agent"))
        bounding = "-all," + ",".join("+" + c for c in AGENT_CAPS)
        argv[i:i] = ["setpriv", "--bounding-set=" + bounding, "--inh-caps=-all", "--"]
        log = open(n.agent_log, "a")
        import subprocess
        n.agent = subprocess.Popen(argv, stdout=log, stderr=log)
        n.wait_log("applied", 1)
        for p in ("client", "b1", "other"):
            n.add_pod(p)
        n.apply_state(kxnet.k8s_list(
            kxnet.node_object("node130", n.node_ip, n.pod_cidr),
            kxnet.service("test", "test", VIP, [("http", 80, "TCP", 5001)]),
            kxnet.endpoint_slice("test", "test", "test-1", [("http", 5001, "TCP")],
                                 [n.pods["b1"]["ip"]])))
        n.serve("b1", "tcp", "0.0.0.0", 5001, "b1@{peer}")
        n.serve("b1", "udp", "0.0.0.0", 5002, "b1@{peer}")
        yield n
    finally:
        n.cleanup()


def test_agent_serves_with_only_its_capabilities(node):
    """Loaded, attached and serving with CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN
    and nothing else (checked in /proc: no CAP_SYS_ADMIN)."""
    with open("/proc/%d/status" % node.agent.pid) as f:
        eff = int([l for l in f if l.startswith("CapEff:")][0].split()[1], 16)
    CAP_NET_ADMIN, CAP_SYS_ADMIN, CAP_PERFMON, CAP_BPF = 12, 21, 38, 39
    assert eff == (1 << CAP_NET_ADMIN) | (1 << CAP_PERFMON) | (1 << CAP_BPF), hex(eff)
    assert not eff & (1 << CAP_SYS_ADMIN)
    r = node.client("client", "tcp", VIP, 80, 4)
    assert r["errors"] == {} and r["counts"] == {"b1@" + node.pods["client"]["ip"]: 4}, r
    node.wait_log("conntrack GC: kernel HZ", 1)  # its clock program ran
    assert not any("warning" in l for l in node.log_lines()), node.log_lines()


def test_pins_are_root_only(node):
    """<bpffs>/kxdp is 0700 and every pin in it 0600, owned by root."""
    d = os.path.join(node.bpffs, "kxdp")
    st = os.stat(d)
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0
    pins = os.listdir(d)
    assert "kx_ct" in pins and "tc_from_pod" in pins
    for p in pins:
        st = os.stat(os.path.join(d, p))
        assert stat.S_IMODE(st.st_mode) == 0o600 and st.st_uid == 0, p


SPOOF = """
import socket, struct, sys
src, dst = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
udp = struct.pack('!HHHH', 40000, 5002, 8 + 5, 0) + b'spoof'
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(udp), 1, 0x4000, 64, 17, 0,
                 socket.inet_aton(src), socket.inet_aton(dst))
for _ in range(5):
    s.sendto(ip + udp, (dst, 0))
"""


def test_pod_cannot_spoof_its_source(node):
    """A pod sends datagrams carrying another pod's address (raw socket): none
    reaches the target, each is counted drop_spoofed; its own address works."""
    def spoofed():
        js = json.loads(node.kxdp("stats", "-o", "json").stdout)
        return js["counters"]["drop_spoofed"]["packets"]
    before = spoofed()
    b1 = node.pods["b1"]["ip"]
    node.pod_run("client", kxnet.PY, "-c", SPOOF, node.pods["other"]["ip"], b1)
    assert spoofed() >= before + 5
    r = node.client("client", "udp", b1, 5002, 1, sport=21500)
    assert r["counts"] == {"b1@" + node.pods["client"]["ip"]: 1}, r


def _once_agent(bpffs, caps=None):
    """kxdp-agent --once on a bpffs of its own (no conflist, no cgroup), with
    only the capabilities caps when given: (exit code, its last line)."""
    argv = [os.path.join(kxnet.BUILD, "kxdp-agent"), "--node", "n", "--state", "/dev/null",
            "--bpffs", bpffs, "--cni-conf-dir", "", "--metrics-addr", "", "--cgroup", "",
            "--once"]
    if caps is not None:
        bounding = "-all" + "".join(",+" + c for c in caps)
        argv[0:0] = ["setpriv", "--bounding-set=" + bounding, "--inh-caps=-all", "--"]
    r = kxnet.sh(*argv, check=False)
    return r.returncode, r.stderr.strip().splitlines()[-1]


def test_load_failures_name_their_cause(node):
    """A load that fails says why, from what the agent sees, and points to a
    doc that exists: a missing capability, a pinned map of another layout."""
    doc = os.path.join(kxnet.ROOT, "docs", "troubleshooting.md")
    assert os.path.isfile(doc)
    bpffs = os.path.join(node.tmp, "bpffs2")
    os.makedirs(bpffs)
    kxnet.sh("mount", "-t", "bpf", "bpf", bpffs)
    try:
        rc, line = _once_agent(bpffs, caps=("net_admin", "perfmon"))
        assert rc == 1 and "lacks CAP_BPF" in line and "docs/troubleshooting.md" in line, line
        os.makedirs(os.path.join(bpffs, "kxdp"), exist_ok=True)  # the first try made it
        pin = os.path.join(bpffs, "kxdp", "kx_svc")
        kxnet.sh("bpftool", "map", "create", pin, "type", "hash", "key", "4", "value", "4",
                 "entries", "8", "name", "kx_svc")
        rc, line = _once_agent(bpffs)
        assert rc == 1 and "%s has another layout" % pin in line, line
        assert "docs/troubleshooting.md" in line
    finally:
        kxnet.sh("umount", bpffs, check=False)
