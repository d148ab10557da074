"""Taking over a kube-router node, the steps of
docs/migrating-from-kube-router.md on a namespace node first set up the way
kube-router sets one up: kube-bridge with pods on it (its conflist in the
CNI directory), kube-dummy-if holding a ClusterIP (the stand-in for IPVS,
which this kernel lacks; an empty bridge where it lacks dummy too), its
iptables chains. The agent says in one line
each what to turn off and changes none of it; kxdp pods and bridge pods work
side by side; after the documented cleanup nothing is reported."""
import json
import os

import pytest

import kxnet

VIP = "12.0.182.73"
KUBE_ROUTER_CONFLIST = {"cniVersion": "0.3.0", "name": "mynet", "plugins": [
    {"type": "bridge", "bridge": "kube-bridge", "isDefaultGateway": True,
     "ipam": {"type": "host-local"}},
    {"type": "portmap", "capabilities": {"snat": True, "portMappings": True}}]}
CHAINS = ("KUBE-ROUTER-INPUT", "KUBE-ROUTER-FORWARD", "KUBE-NWPLCY-DEFAULT",
          "KUBE-POD-FW-7JWNZ3YUFQ6XZBW4")


def state(backend_ip):
    return kxnet.k8s_list(
        kxnet.node_object("node130", "10.124.242.130", "12.0.2.0/24"),
        kxnet.service("test", "test", VIP, [("postgres", 5432, "TCP", 5001)]),
        kxnet.endpoint_slice("test", "test", "test-1", [("postgres", 5001, "TCP")],
                             [backend_ip]))


def bridge_pod(node, name, ip):
    """A pod as kube-router's bridge plugin wires it: a veth on kube-bridge."""
    ns = "%s-%s" % (node.ns, name)
    kxnet.sh("ip", "netns", "add", ns)
    node.bridge_pods.append(ns)
    node.run("ip", "link", "add", "v" + name, "type", "veth", "peer", "name", "eth0",
             "netns", ns)
    node.run("ip", "link", "set", "v" + name, "master", "kube-bridge", "up")
    for cmd in (("ip", "addr", "add", ip + "/24", "dev", "eth0"),
                ("ip", "link", "set", "eth0", "up"), ("ip", "link", "set", "lo", "up"),
                ("ip", "route", "add", "default", "via", "12.0.2.1")):
        kxnet.sh(*kxnet.in_ns(ns, *cmd))
    node.pods[name] = {"ns": ns, "ip": ip, "bridge": True}


@pytest.fixture(scope="module")
def kr():
    node = kxnet.Node("node130", "10.124.242.130", "12.0.2.0/24", "12.0.2.1")
    node.bridge_pods = []
    try:
        # kube-router's node: kube-bridge with its pods, the dummy with a
        # ClusterIP, the firewall chains, its conflist first by name
        node.run("ip", "link", "add", "kube-bridge", "type", "bridge")
        node.run("ip", "addr", "add", "12.0.2.1/24", "dev", "kube-bridge")
        node.run("ip", "link", "set", "kube-bridge", "up")
        node.run("sysctl", "-qw", "net.ipv4.ip_forward=1")
        bridge_pod(node, "old1", "12.0.2.200")
        bridge_pod(node, "old2", "12.0.2.201")
        # kube-router's is a dummy; this kernel has no dummy driver, and an
        # empty bridge holds a local address just as one does
        if node.run("ip", "link", "add", "kube-dummy-if", "type", "dummy",
                    check=False).returncode:
            node.run("ip", "link", "add", "kube-dummy-if", "type", "bridge")
        node.run("ip", "addr", "add", VIP + "/32", "dev", "kube-dummy-if")
        for c in CHAINS:
            node.run("iptables", "-N", c)
        node.run("iptables", "-A", "FORWARD", "-j", "KUBE-ROUTER-FORWARD")
        os.makedirs(node.cni_dir)
        with open(os.path.join(node.cni_dir, "10-kuberouter.conflist"), "w") as f:
            json.dump(KUBE_ROUTER_CONFLIST, f)
        node.serve("old1", "tcp", "0.0.0.0", 5001, "old1")
        node.serve("old2", "tcp", "0.0.0.0", 5001, "old2")
        yield node
    finally:
        for ns in node.bridge_pods:
            kxnet.kill_ns(ns)
            kxnet.sh("ip", "netns", "del", ns, check=False)
            node.pods.pop(ns.split("-")[-1], None)
        node.cleanup()


def kube_router_lines(node):
    return [l for l in node.log_lines() if "kube-router:" in l]


def what_kube_router_left(node):
    links = {l["ifname"]: l for l in json.loads(node.run("ip", "-j", "link").stdout)}
    ports = [n for n, l in links.items() if l.get("master") == "kube-bridge"]
    chains = [c for c in CHAINS if node.run("iptables", "-S", c, check=False).returncode == 0]
    with open(os.path.join(node.cni_dir, "10-kuberouter.conflist")) as f:
        conflist = json.load(f)
    vips = node.run("ip", "-4", "-o", "addr", "show", "dev", "kube-dummy-if").stdout
    return {"ports": sorted(ports), "dummy": VIP in vips, "chains": chains,
            "conflist": conflist}


def test_agent_reports_what_to_turn_off_and_touches_nothing(kr):
    before = what_kube_router_left(kr)
    kr.start_agent(state("12.0.2.200"))
    lines = kube_router_lines(kr)
    want = ["bridge kube-bridge is here with 2 pod ports: run kube-router with --enable-cni=false",
            "its service proxy is on (0 IPVS virtual servers, kube-dummy-if holding "
            "ClusterIPs): run kube-router with --run-service-proxy=false",
            "its firewall is on (4 KUBE-ROUTER-/KUBE-NWPLCY-/KUBE-POD-FW- chains): run "
            "kube-router with --run-firewall=false",
            "10-kuberouter.conflist is here and a kubelet takes the first by name: run "
            "kube-router with --enable-cni=false and remove it"]
    assert len(lines) == len(want), lines
    for phrase in want:
        assert sum(phrase in l for l in lines) == 1, (phrase, lines)
    assert all("kxdp leaves it as it is" in l for l in lines), lines
    assert what_kube_router_left(kr) == before  # nothing of kube-router's changed


def test_bridge_pods_and_kxdp_pods_side_by_side(kr):
    """Before the drain (and for DaemonSet pods a drain leaves): the bridge's
    pods still reach each other. A pod kxdp wires reaches a ClusterIP whose
    backend is still on kube-bridge once the node answers ARP there for
    kxdp's pods (proxy_arp on kube-bridge, as the guide says: a bridge pod
    takes the whole pod CIDR for its own link)."""
    out = kr.client("old2", "tcp", "12.0.2.200", 5001, 3)
    assert out["counts"] == {"old1": 3}, out
    kr.add_pod("new")
    out = kr.client("new", "tcp", VIP, 5432, 1)
    assert out["errors"] == {"TimeoutError": 1}, out  # old1's answer asks ARP in vain
    kr.run("sysctl", "-qw", "net.ipv4.conf.kube-bridge.proxy_arp=1")
    out = kr.client("new", "tcp", VIP, 5432, 4)
    assert out["counts"] == {"old1": 4} and out["peers"] == ["%s:5432" % VIP], out
    out = kr.client("new", "tcp", "12.0.2.201", 5001, 2)
    assert out["counts"] == {"old2": 2}, out


def test_after_drain_and_cleanup_nothing_is_reported(kr):
    """Drain (the bridge pods go), the cleanup the guide gives, restart: the
    agent reports nothing of kube-router, and kxdp's pods serve."""
    for ns in kr.bridge_pods:
        kxnet.kill_ns(ns)
        kxnet.sh("ip", "netns", "del", ns)
    kr.bridge_pods = []
    for p in ("old1", "old2"):
        kr.pods.pop(p)
    kr.run("ip", "link", "del", "kube-bridge")
    kr.run("ip", "link", "del", "kube-dummy-if")
    saved = kr.run("iptables-save").stdout
    kept = "".join(l + "\n" for l in saved.splitlines()
                   if not any(c in l for c in ("KUBE-ROUTER", "KUBE-NWPLCY", "KUBE-POD-FW")))
    kr.run("iptables-restore", input=kept)
    os.unlink(os.path.join(kr.cni_dir, "10-kuberouter.conflist"))
    mark = len(kr.log_lines())
    kr.stop_agent()
    ip = kr.add_pod("backend")
    kr.serve("backend", "tcp", "0.0.0.0", 5001, "backend")
    kr.start_agent(state(ip))
    assert [l for l in kr.log_lines()[mark:] if "kube-router:" in l and "WARN" in l.upper()] == []
    out = kr.client("new", "tcp", VIP, 5432, 4)
    assert out["counts"] == {"backend": 4}, out
