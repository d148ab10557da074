"""One node, pods wired by kxdp-cni with Debian's host-local IPAM, real
servers and clients in the pods: the bridge-less L2, ClusterIP round robin
with DNAT and reverse NAT, host-network backends, rejects."""
import json
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


def test_bad_state_keeps_last_good(node):
    before = node.kxdp("svc", "list").stdout
    bad = single_node_state(node)
    bad["items"][1]["spec"]["ports"][0]["port"] = 70000
    node.apply_state(bad, needle="rejected")
    line = [l for l in node.log_lines() if "rejected" in l][-1]
    assert "service test/test: spec.ports[0].port: 70000 is not a port" in line
    assert node.kxdp("svc", "list").stdout == before
    out = node.client("a", "tcp", VIP, 5432, 10)
    assert out["counts"] == {"b1": 5, "b2": 5}
    with open(node.state, "w") as f:
        f.write("{not json")
    node.wait_log("rejected", 2)
    node.apply_state(single_node_state(node))


def _bad_states(node):
    """(what, a state the agent must refuse as a whole, a phrase of its error)"""
    def with_(fn):
        st = single_node_state(node)
        fn(st["items"])
        return st
    svc = lambda items: items[1]["spec"]
    slc = lambda items: items[2]
    dup = kxnet.service("test", "twin", VIP, [("postgres", 5432, "TCP", 5001)])
    return [
        ("wrong type", with_(lambda i: svc(i)["ports"][0].update(port="5432")),
         "want a port number"),
        ("port 0", with_(lambda i: svc(i)["ports"][0].update(port=0)), "0 is not a port"),
        ("port 65536", with_(lambda i: svc(i)["ports"][0].update(port=65536)),
         "65536 is not a port"),
        ("invalid IP", with_(lambda i: slc(i)["endpoints"][0].update(addresses=["300.1.1.1"])),
         "is not an IP address"),
        ("unknown kind", with_(lambda i: i.append({"kind": "Pod", "metadata": {"name": "p"}})),
         "unknown kind \"Pod\""),
        ("duplicate service", with_(lambda i: i.append(dup)), "is already"),
        ("object not an object", with_(lambda i: i.append(42)), "want an object"),
    ]


def test_bad_input_table_refused_whole_and_last_good_kept(node):
    """Each bad state: one line naming the object and field, the whole state
    refused (no entry of it half-applied), the last good state serving."""
    before = node.kxdp("svc", "list", "-o", "json").stdout
    for what, state, phrase in _bad_states(node):
        node.apply_state(state, needle="rejected")
        line = [l for l in node.log_lines() if "rejected" in l][-1]
        assert phrase in line, (what, line)
        assert node.kxdp("svc", "list", "-o", "json").stdout == before, what
    out = node.client("a", "tcp", VIP, 5432, 4)
    assert out["counts"] == {"b1": 2, "b2": 2}
    node.apply_state(single_node_state(node))


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
