"""The reference cluster end to end: a fabric switch, three nodes, pods wired
by kxdp-cni with host-local (the two backends at the seed's addresses via the
CNI IP argument), one agent per node fed the reference cluster's objects."""
import json
import os
import subprocess
import time

import pytest

import kxnet

VIP = "12.0.182.73"
NODES = kxnet.REFERENCE_NODES  # name: (InternalIP, pod CIDR, gateway)
SEED_ROUTES = {  # what `ip route` must hold on each node
    "node130": {("12.0.0.0/24", "10.124.242.131"), ("12.0.1.0/24", "10.124.242.132")},
    "node131": {("12.0.1.0/24", "10.124.242.132"), ("12.0.2.0/24", "10.124.242.130")},
    "node132": {("12.0.0.0/24", "10.124.242.131"), ("12.0.2.0/24", "10.124.242.130")},
}
UPLINK_MTU = {"node130": 1500, "node131": 1400, "node132": 1500}


@pytest.fixture(scope="module")
def cluster():
    with kxnet.reference_nodes(mtu=UPLINK_MTU) as nodes:
        for n in nodes.values():
            n.add_pod("client")
        nodes["node132"].serve("backend", "udp", "0.0.0.0", 5001, "node132-backend")
        nodes["node130"].serve("node", "tcp", "10.124.242.130", 6443, "apiserver")
        yield nodes


def kxdp_routes(node):
    out = json.loads(node.run("ip", "-j", "route", "show", "proto", "180").stdout)
    return {(r["dst"], r.get("gateway")) for r in out if r.get("dev") == "eth0"}


def wait_routes(node, want, timeout=10):
    deadline = time.monotonic() + timeout
    while kxdp_routes(node) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return kxdp_routes(node)


def test_each_node_has_the_seed_routes(cluster):
    for name, node in cluster.items():
        assert kxdp_routes(node) == SEED_ROUTES[name], name
        assert node.run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"


def test_no_bridge_in_any_node(cluster):
    for node in cluster.values():
        out = node.run("ip", "-j", "link", "show", "type", "bridge").stdout.strip()
        assert json.loads(out or "[]") == [], node.name


def test_uplink_programs_attached(cluster):
    for node in cluster.values():
        link = json.loads(node.run("ip", "-j", "-d", "link", "show", "dev", "eth0").stdout)[0]
        assert link["xdp"]["prog"]["name"] == "xdp_netdev"
        # --xdp auto on a veth: generic, since native XDP on veth costs GRO/TSO
        assert link["xdp"]["mode"] == 2  # XDP_ATTACHED_SKB
        tc = node.run("tc", "filter", "show", "dev", "eth0", "ingress").stdout
        assert "tc_netdev" in tc


def test_cni_config_written_by_agent(cluster):
    for name, node in cluster.items():
        with open(os.path.join(node.cni_dir, "10-kxdp.conflist")) as f:
            conf = json.load(f)
        plugin = conf["plugins"][0]
        assert conf["name"] == "kxdp" and plugin["type"] == "kxdp"
        assert plugin["bpffs"] == node.bpffs
        assert plugin["mtu"] == UPLINK_MTU[name]  # from the uplink
        rng = plugin["ipam"]["ranges"][0][0]
        assert plugin["ipam"]["type"] == "host-local"
        assert (rng["subnet"], rng["gateway"]) == (NODES[name][1], NODES[name][2])
    # the pods were wired from it: the MTU reached node131's pod
    link = json.loads(cluster["node131"].pod_run("client", "ip", "-j", "link", "show",
                                                  "eth0").stdout)[0]
    assert link["mtu"] == 1400


def test_pods_at_seed_addresses(cluster):
    assert cluster["node132"].pods["backend"]["ip"] == "12.0.1.93"
    assert cluster["node130"].pods["backend"]["ip"] == "12.0.2.132"


def ping(node, pod, ip):
    return node.pod_run(pod, "ping", "-c", "2", "-W", "2", "-i", "0.2", ip, check=False)


def test_pod_to_pod_within_and_across_nodes(cluster):
    n130, n131, n132 = cluster["node130"], cluster["node131"], cluster["node132"]
    for node, target in ((n130, "12.0.2.132"), (n131, "12.0.2.132"), (n131, "12.0.1.93"),
                         (n130, "12.0.1.93"), (n132, "12.0.1.93")):
        assert ping(node, "client", target).returncode == 0, (node.name, target)
    assert ping(n132, "backend", n130.pods["client"]["ip"]).returncode == 0
    out = n131.client("client", "tcp", "12.0.1.93", 5001, 5)
    assert out["counts"] == {"node132-backend": 5} and not out["errors"]
    out = n130.client("client", "tcp", "12.0.2.132", 5001, 5)
    assert out["counts"] == {"node130-backend": 5} and not out["errors"]
    out = n130.client("client", "udp", "12.0.1.93", 5001, 5)
    assert out["counts"] == {"node132-backend": 5} and not out["errors"]


@pytest.mark.parametrize("client_node", ["node130", "node131", "node132"])
def test_clusterip_round_robin_across_nodes(cluster, client_node):
    out = cluster[client_node].client("client", "tcp", VIP, 5432, 1000)
    assert not out["errors"], out
    assert out["counts"] == {"node130-backend": 500, "node132-backend": 500}
    assert out["peers"] == ["%s:5432" % VIP]


def test_host_network_backend_from_another_node(cluster):
    # default/kubernetes -> 10.124.242.130:6443, the "API server" on node130
    out = cluster["node131"].client("client", "tcp", "12.0.128.1", 443, 10)
    assert out["counts"] == {"apiserver": 10} and not out["errors"], out
    assert out["peers"] == ["12.0.128.1:443"]


def test_node_delete_add_and_move(cluster):
    n130 = cluster["node130"]
    state = kxnet.reference_cluster()
    without = dict(state, items=[i for i in state["items"]
                                 if not (i["kind"] == "Node" and
                                         i["metadata"]["name"] == "node131")])
    n130.apply_state(without)
    assert wait_routes(n130, {("12.0.1.0/24", "10.124.242.132")}) == \
        {("12.0.1.0/24", "10.124.242.132")}
    n130.apply_state(state)
    assert wait_routes(n130, SEED_ROUTES["node130"]) == SEED_ROUTES["node130"]

    # node131 changes address: the route follows
    moved = json.loads(json.dumps(state))
    for i in moved["items"]:
        if i["kind"] == "Node" and i["metadata"]["name"] == "node131":
            i["status"]["addresses"][0]["address"] = "10.124.242.141"
    n130.apply_state(moved)
    want = {("12.0.0.0/24", "10.124.242.141"), ("12.0.1.0/24", "10.124.242.132")}
    assert wait_routes(n130, want) == want

    # an address off the uplink's subnet is reported, and gets no route
    for i in moved["items"]:
        if i["kind"] == "Node" and i["metadata"]["name"] == "node131":
            i["status"]["addresses"][0]["address"] = "10.9.9.9"
    n130.apply_state(moved)
    want = {("12.0.1.0/24", "10.124.242.132")}
    assert wait_routes(n130, want) == want
    assert any("node node131: InternalIP 10.9.9.9 is not on uplink eth0's subnet" in l
               for l in n130.log_lines())
    n130.apply_state(state)
    assert wait_routes(n130, SEED_ROUTES["node130"]) == SEED_ROUTES["node130"]


def test_foreign_routes_left_alone(cluster):
    n = cluster["node132"]
    n.run("ip", "route", "add", "192.0.2.0/24", "via", "10.124.242.130", "proto", "static")
    n.run("ip", "route", "add", "12.0.0.0/24", "via", "10.124.242.131", "metric", "50",
          "proto", "static")
    try:
        state = kxnet.reference_cluster()
        state["items"] = [i for i in state["items"]
                          if not (i["kind"] == "Node" and i["metadata"]["name"] == "node131")]
        n.apply_state(state)
        n.apply_state(kxnet.reference_cluster())
        routes = n.run("ip", "route").stdout
        assert "192.0.2.0/24 via 10.124.242.130 dev eth0 proto static" in routes
        assert "12.0.0.0/24 via 10.124.242.131 dev eth0 proto static metric 50" in routes
        assert wait_routes(n, SEED_ROUTES["node132"]) == SEED_ROUTES["node132"]
    finally:
        n.run("ip", "route", "del", "192.0.2.0/24", check=False)
        n.run("ip", "route", "del", "12.0.0.0/24", "metric", "50", check=False)


def test_foreign_route_for_our_prefix_is_not_taken_over(cluster):
    n = cluster["node132"]
    state = kxnet.reference_cluster()
    without = dict(state, items=[i for i in state["items"]
                                 if not (i["kind"] == "Node" and
                                         i["metadata"]["name"] == "node131")])
    n.apply_state(without)
    assert wait_routes(n, {("12.0.2.0/24", "10.124.242.130")}) == \
        {("12.0.2.0/24", "10.124.242.130")}
    n.run("ip", "route", "add", "12.0.0.0/24", "via", "10.124.242.131", "proto", "static")
    try:
        n.apply_state(state)
        assert "12.0.0.0/24 via 10.124.242.131 dev eth0 proto static" in n.run("ip", "route").stdout
        assert any("route 12.0.0.0/24 exists and is not kxdp's: left alone" in l
                   for l in n.log_lines())
    finally:
        n.run("ip", "route", "del", "12.0.0.0/24", "proto", "static", check=False)
    n.apply_state(without)
    n.apply_state(state)
    assert wait_routes(n, SEED_ROUTES["node132"]) == SEED_ROUTES["node132"]


def test_dnat_checksums_on_the_wire(cluster):
    """The datapath rewrites the L4 checksum itself; with CHECKSUM_PARTIAL
    (TCP from a pod) the field holds only the pseudo-header sum, which the
    kernel completes at a device without checksum offload. Turn offload off
    on node131's uplink so the kernel finishes the checksum from what kxdp
    wrote, and check every DNATed packet's bytes where they arrive."""
    n131, n132 = cluster["node131"], cluster["node132"]
    n131.run("ethtool", "-K", "eth0", "tx", "off")
    try:
        sniff = subprocess.Popen(
            kxnet.in_ns(n132.ns, kxnet.PY, os.path.join(kxnet.HELPERS, "csum_sniff.py"),
                        "eth0", "5001", "6"),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert sniff.stdout.readline().strip() == "ready", sniff.stderr.read()
        out = n131.client("client", "tcp", VIP, 5432, 40)
        assert not out["errors"], out
        assert out["counts"] == {"node130-backend": 20, "node132-backend": 20}
        got = json.loads(sniff.communicate(timeout=30)[0])
    finally:
        n131.run("ethtool", "-K", "eth0", "tx", "on")
    # 20 connections to node132's backend: SYN, ACK, data, FIN... each
    assert got["packets"] >= 60, got
    assert got["bad"] == [], got


PMTU_CLIENT = """
import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=90)
s.recv(64)  # the backend's name
data = bytes(range(256)) * 256  # 64 KiB in full-size segments
s.sendall(data)
got = b""
while len(got) < len(data):
    chunk = s.recv(65536)
    if not chunk:
        break
    got += chunk
print("ok" if got == data else "short %d" % len(got))
"""


def test_pmtu_discovery_through_a_service(cluster):
    """A pod whose MTU (1500) is larger than its node's uplink (node131: 1400)
    sends 64 KiB through the ClusterIP to a backend on another node: node131
    answers "fragmentation needed" quoting the DNATed packet, kxdp translates
    the quote back to VIP:port, the client's TCP lowers its path MTU, and the
    echo comes back whole (without the translation, a black hole)."""
    n = cluster["node131"]
    if "bigmtu" not in n.pods:
        n.add_pod("bigmtu", mtu=1500)
    before = json.loads(n.kxdp("stats", "-o", "json").stdout)["counters"]
    # generous: the 6.1 VM is emulated, and each lost segment costs a retransmission timeout
    r = n.pod_run("bigmtu", kxnet.PY, "-c", PMTU_CLIENT, VIP, "5432", timeout=300)
    assert r.stdout.strip() == "ok", r.stdout + r.stderr
    after = json.loads(n.kxdp("stats", "-o", "json").stdout)["counters"]
    assert after["icmp_error_revnat"]["packets"] > before["icmp_error_revnat"]["packets"]
