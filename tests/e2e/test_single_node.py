"""One node, pods wired by kxdp-cni with Debian's host-local IPAM, real
servers and clients in the pods: the bridge-less L2, ClusterIP round robin
with DNAT and reverse NAT, host-network backends, rejects."""
import json
import os
import socket
import time

import kxnet
from conftest import API_VIP, EMPTY_VIP, VIP, single_node_state


def routes(run, *args):
    return run("ip", "-j", "route", "show", *args).stdout


def test_pod_has_kube_bridge_routes(node):
    r = json.loads(routes(lambda *a: node.pod_run("a", *a)))
    default = [x for x in r if x["dst"] == "default"]
    assert default and default[0]["gateway"] == "12.0.2.1" and default[0]["dev"] == "eth0"
    assert any(x["dst"] == "12.0.2.0/24" and x["dev"] == "eth0" and x.get("scope") == "link"
               for x in r)


def test_node_has_pod_host_routes_and_no_bridge(node):
    r = json.loads(routes(node.run, "proto", "181"))  # kxdp-cni's pod routes
    for pod in node.pods.values():
        assert any(x["dst"] == pod["ip"] and x.get("scope") == "link" for x in r), r
    bridges = node.run("ip", "-j", "link", "show", "type", "bridge").stdout.strip()
    assert json.loads(bridges or "[]") == []


def test_endpoint_map_holds_every_pod(node):
    pods = json.loads(node.kxdp("ep", "list", "-o", "json").stdout)
    assert {p["ip"] for p in pods} == {p["ip"] for p in node.pods.values()}
    for p in pods:  # each on its own host veth, and the raw slot agrees
        assert node.run("ip", "-j", "link", "show", p["veth"]).returncode == 0
    entries = node.map_dump("kx_endpoints")  # bpftool: all 65,536 slots, BTF-formatted
    wired = {e["formatted"]["key"]: e["formatted"]["value"] for e in entries
             if e["formatted"]["value"]["addr"]}
    assert len(wired) == len(node.pods)
    for slot, v in wired.items():  # slot = the low 16 bits of the address
        ip = socket.inet_ntoa(int(v["addr"]).to_bytes(4, "little"))  # __be32 as host order
        assert ip in {p["ip"] for p in pods}
        assert slot == int(ip.split(".")[2]) << 8 | int(ip.split(".")[3])


def test_pod_to_pod_on_the_node(node):
    out = node.client("a", "tcp", node.pods["c"]["ip"], 7000, 5)
    assert out["counts"] == {"c": 5} and not out["errors"]
    assert json.loads(node.run("ip", "-j", "link", "show", "type", "bridge").stdout or "[]") == []


def test_clusterip_strict_round_robin(node):
    out = node.client("a", "tcp", VIP, 5432, 1000)
    assert not out["errors"], out
    assert out["counts"] == {"b1": 500, "b2": 500}
    assert out["peers"] == ["%s:5432" % VIP]  # the client sees the VIP as its peer


def test_udp_through_clusterip(node):
    # connected sockets: a reply not from VIP:53 would never be received; 20
    # distinct source ports (below the ephemeral range), so 20 new flows: an
    # ephemeral port drawn twice is one flow and stays on its backend
    out = node.client("a", "udp", VIP, 53, 20, sport=22000)
    assert not out["errors"], out
    assert out["counts"] == {"b1": 10, "b2": 10}
    assert out["peers"] == ["%s:53" % VIP]


def test_backend_on_node_host_network(node):
    # default/kubernetes: endpoint is the node's own address (the API server)
    out = node.client("a", "tcp", API_VIP, 443, 20)
    assert not out["errors"], out
    assert out["counts"] == {"apiserver": 20}
    assert out["peers"] == ["%s:443" % API_VIP]


def rejects(node):
    return json.loads(node.kxdp("stats", "-o", "json").stdout)["counters"]["reject_no_backend"]["packets"]


def test_service_without_endpoints_refused_at_once(node):
    before = rejects(node)
    out = node.client("a", "tcp", EMPTY_VIP, 80, 5)
    assert out["errors"] == {"ConnectionRefusedError": 5}, out
    # Refused by the answer to the first SYN: no retransmission was needed
    # (a timeout would show as TimeoutError, a lost ICMP as a second reject).
    assert rejects(node) == before + 5
    out = node.client("a", "udp", EMPTY_VIP, 81, 3)
    assert out["errors"] == {"ConnectionRefusedError": 3}, out
    assert rejects(node) == before + 8


def test_svc_list_ipvsadm_layout(node):
    lines = node.kxdp("svc", "list").stdout.splitlines()
    assert lines[1] == "Prot LocalAddress:Port Scheduler Flags"
    assert lines[2].startswith("  -> RemoteAddress:Port           Forward Weight ActiveConn")
    i = lines.index("TCP  %s:5432 rr" % VIP)
    backends = sorted(l.split()[1] for l in lines[i + 1:i + 3])
    assert backends == sorted("%s:5001" % node.pods[p]["ip"] for p in ("b1", "b2"))
    assert all(l.split()[2:4] == ["Masq", "1"] for l in lines[i + 1:i + 3])
    assert "TCP  %s:80 rr" % EMPTY_VIP in lines
    js = json.loads(node.kxdp("svc", "list", "-o", "json").stdout)
    assert {(s["vip"], s["port"], s["protocol"]) for s in js} >= {(VIP, 5432, "TCP"),
                                                                   (VIP, 53, "UDP")}


def refused_metric(node):
    """kxdp_refused_objects by kind, from /metrics."""
    out = {}
    for line in node.agent_get("/metrics").splitlines():
        if line.startswith("kxdp_refused_objects{"):
            kind = line.split('"')[1]
            out[kind] = int(line.split()[-1])
    return out


def served(node):
    """What the maps serve: every entry with its backends (counters aside)."""
    return sorted((s["vip"], s["port"], s["protocol"], s["scope"],
                   tuple((b["address"], b["port"]) for b in s["backends"]))
                  for s in json.loads(node.kxdp("svc", "list", "-o", "json").stdout))


def test_file_not_a_list_keeps_last_good(node):
    before = served(node)
    with open(node.state, "w") as f:
        f.write("{not json")
    node.wait_log("rejected, keeping the last good state", 1)
    assert served(node) == before
    out = node.client("a", "tcp", VIP, 5432, 10)
    assert out["counts"] == {"b1": 5, "b2": 5}
    node.apply_state({"kind": "List", "items": 7}, needle="items: want an array")
    assert served(node) == before
    node.apply_state(single_node_state(node))


def _bad_objects(node):
    """(what, a state with one object the agent cannot use, its kind, its
    name, a phrase of the reason). Every other object of the state is good."""
    def svc_with(**port):
        s = kxnet.service("test", "bad", "12.0.182.99", [("web", 80, "TCP", 8080)])
        s["spec"]["ports"][0].update(port)
        return s
    def with_(*extra):
        st = single_node_state(node)
        st["items"] += list(extra)
        return st
    bad_slice = kxnet.endpoint_slice("test", "test", "test-bad", [("postgres", 5001, "TCP")],
                                     ["300.1.1.1"])
    bad_node = kxnet.node_object("node131", "10.124.242.131", "12.0.0.0/33")
    twin = kxnet.service("test", "twin", VIP, [("postgres", 5432, "TCP", 5001)])
    return [
        ("wrong type", with_(svc_with(port="80")), "Service", "test/bad", "want a port number"),
        ("port 0", with_(svc_with(port=0)), "Service", "test/bad", "0 is not a port"),
        ("port 65536", with_(svc_with(port=65536)), "Service", "test/bad",
         "65536 is not a port"),
        ("invalid IP", with_(bad_slice), "EndpointSlice", "test/test-bad",
         "\"300.1.1.1\" is not an IP address"),
        ("bad pod CIDR", with_(bad_node), "Node", "node131", "is not a CIDR"),
        ("unknown kind", with_({"kind": "ConfigMap", "metadata": {"name": "p", "namespace": "x"}}),
         "ConfigMap", "x/p", "unknown kind \"ConfigMap\""),
        ("bad policy", with_({"kind": "NetworkPolicy", "metadata": {"name": "np", "namespace": "x"},
                              "spec": {"podSelector": {"matchExpressions": [
                                  {"key": "a", "operator": "Like", "values": ["b"]}]}}}),
         "NetworkPolicy", "x/np", "spec.podSelector.matchExpressions[0].operator"),
        ("an address another Service holds", with_(twin), "Service", "test/twin",
         "is already service test/test's"),
        ("not an object", with_(42), "object", "items[6]", "want an object"),
    ]


def test_bad_object_refused_alone_the_rest_served(node):
    """Each bad object: one log line naming it and the field, the object
    refused alone (kxdp svc list shows it, kxdp_refused_objects counts it),
    every other object served as before; fixed, it is served."""
    before = served(node)
    assert node.refused() == []
    for what, state, kind, name, phrase in _bad_objects(node):
        node.apply_state(state, needle="refused, not served")
        line = [l for l in node.log_lines() if "refused, not served" in l][-1]
        assert phrase in line and line.count("\n") == 0, (what, line)
        assert served(node) == before, what
        refused = node.refused()
        assert [(r["kind"], r["object"]) for r in refused] == [(kind, name)], (what, refused)
        assert phrase in refused[0]["reason"], (what, refused)
        text = node.kxdp("svc", "list").stdout.splitlines()
        assert text[-2] == "Refused by the agent, not served (1):", (what, text)
        assert text[-1].startswith("  ") and phrase in text[-1], (what, text)
        metric = refused_metric(node)
        assert metric[kind if kind in metric else "other"] == 1, (what, metric)
        assert sum(metric.values()) == 1, (what, metric)
    out = node.client("a", "tcp", VIP, 5432, 4)
    assert out["counts"] == {"b1": 2, "b2": 2}
    node.apply_state(single_node_state(node))
    assert node.refused() == []
    assert sum(refused_metric(node).values()) == 0
    assert "Refused" not in node.kxdp("svc", "list").stdout


def test_bad_object_at_start_does_not_hold_the_rest(node):
    """A fresh agent whose first state holds a bad Service serves the rest
    from the start."""
    st = single_node_state(node)
    st["items"].insert(1, kxnet.service("test", "bad", "12.0.182.99", [("web", 0, "TCP", 80)]))
    node.stop_agent()
    try:
        node.start_agent(st)
        assert [r["object"] for r in node.refused()] == ["test/bad"]
        out = node.client("a", "tcp", VIP, 5432, 4)
        assert out["counts"] == {"b1": 2, "b2": 2}
    finally:
        if node.agent.poll() is None:
            node.stop_agent()
        node.start_agent(single_node_state(node))


def test_odd_but_valid_input_is_served(node):
    """10,000 endpoints in one slice are taken (and served); a Service whose
    slice is missing has no backend and refuses; an IPv6-only Service and
    IPv6 endpoints are skipped, not errors."""
    st = single_node_state(node)
    many = kxnet.endpoint_slice("test", "many", "many-1", [("web", 8080, "TCP")],
                                ["10.%d.%d.%d" % (50 + i // 65536, i // 256 % 256, i % 256)
                                 for i in range(10000)])
    st["items"] += [kxnet.service("test", "many", "12.0.182.90", [("web", 80, "TCP", 8080)]),
                    many,
                    kxnet.service("test", "lonely", "12.0.182.91", [("web", 80, "TCP", 8080)]),
                    {"apiVersion": "v1", "kind": "Service",
                     "metadata": {"name": "v6", "namespace": "test"},
                     "spec": {"clusterIP": "fd00::10", "clusterIPs": ["fd00::10"],
                              "ports": [{"port": 80}]}}]
    try:
        node.apply_state(st)
        js = json.loads(node.kxdp("svc", "list", "12.0.182.90:80", "-o", "json").stdout)
        assert len(js) == 1 and len(js[0]["backends"]) == 10000
        out = node.client("a", "tcp", "12.0.182.91", 80, 1)
        assert out["errors"] == {"ConnectionRefusedError": 1}, out
        assert node.client("a", "tcp", VIP, 5432, 2)["counts"] == {"b1": 1, "b2": 1}
    finally:
        node.apply_state(single_node_state(node))


def test_endpoint_change_applies(node):
    state = single_node_state(node)
    state["items"][2]["endpoints"] = state["items"][2]["endpoints"][:1]  # only b1
    node.apply_state(state)
    assert node.client("a", "tcp", VIP, 5432, 10)["counts"] == {"b1": 10}
    node.apply_state(single_node_state(node))
    assert node.client("a", "tcp", VIP, 5432, 10)["counts"] == {"b1": 5, "b2": 5}


REUSE = r'''
import socket, sys
def conn(ip, port, sport):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", sport))
    s.settimeout(3)
    s.connect((ip, port))
    name = s.recv(64).decode().strip()
    peer = "%s:%d" % s.getpeername()
    s.close()
    return name, peer
vip, ips = sys.argv[1], dict(a.split("=") for a in sys.argv[2:])
for sport in (21001, 21002):  # below the ephemeral range: no clash with other clients
    name, peer = conn(vip, 5432, sport)
    print("via-service", name, peer)
    name, peer = conn(ips[name], 5001, sport)  # same port, now straight to that backend
    print("direct", name, peer)
'''


def test_direct_connection_reusing_a_service_flows_port(node):
    ips = ["%s=%s" % (p, node.pods[p]["ip"]) for p in ("b1", "b2")]
    out = node.pod_run("a", kxnet.PY, "-c", REUSE, VIP, *ips).stdout.split("\n")
    lines = [l.split() for l in out if l]
    assert len(lines) == 4, out
    for kind, name, peer in lines:
        if kind == "via-service":
            assert peer == "%s:5432" % VIP
        else:  # the direct connection keeps the backend's own address
            assert peer == "%s:5001" % node.pods[name]["ip"]


def test_own_files_removed_behind_its_back_come_back(node):
    """The conflist, a map pin and a program pin, removed by someone else,
    are back within seconds with no cluster change; nothing is lost (the
    map is the same one) and new pods are still wired."""
    conflist = os.path.join(node.cni_dir, "10-kxdp.conflist")
    svc_pin = os.path.join(node.bpffs, "kxdp", "kx_svc")
    prog_pin = os.path.join(node.bpffs, "kxdp", "tc_from_pod")
    map_id = json.loads(kxnet.sh("bpftool", "-j", "map", "show", "pinned", svc_pin).stdout)["id"]
    for path in (conflist, svc_pin, prog_pin):
        os.unlink(path)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not all(map(os.path.exists,
                                                      (conflist, svc_pin, prog_pin))):
        time.sleep(0.1)
    assert all(map(os.path.exists, (conflist, svc_pin, prog_pin)))
    again = json.loads(kxnet.sh("bpftool", "-j", "map", "show", "pinned", svc_pin).stdout)
    assert again["id"] == map_id  # the same map, its entries kept
    out = node.client("a", "tcp", VIP, 5432, 4)
    assert out["counts"] == {"b1": 2, "b2": 2}
    ip = node.add_pod("late")
    assert ip in {p["ip"] for p in json.loads(node.kxdp("ep", "list", "-o", "json").stdout)}
    logs = "\n".join(node.log_lines())
    assert "was removed: written again" in logs and "pinned again" in logs
    # the whole pin directory: made again, the same maps in it, the programs on them
    kxnet.sh("rm", "-rf", os.path.join(node.bpffs, "kxdp"))
    assert kxnet.eventually(lambda: os.path.exists(prog_pin) and os.path.exists(svc_pin))
    again = json.loads(kxnet.sh("bpftool", "-j", "map", "show", "pinned", svc_pin).stdout)
    assert again["id"] == map_id
    out = node.client("a", "tcp", VIP, 5432, 4)
    assert out["counts"] == {"b1": 2, "b2": 2}
    node.add_pod("later")
    assert node.client("later", "tcp", VIP, 5432, 2)["counts"] == {"b1": 1, "b2": 1}
