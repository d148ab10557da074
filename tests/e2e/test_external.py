"""Traffic from outside the cluster, end to end, after Kubernetes' own
test/e2e/network/service.go: node ports on every node with both traffic
policies, an ExternalIP, a LoadBalancer IP with source ranges. The reference
cluster's three nodes sit on the fabric with an external machine beside them;
the backends name themselves and the client address they see, so the source
address each policy must give a backend is asserted, not assumed."""
import json
import time

import pytest

import kxnet

NODES = kxnet.REFERENCE_NODES  # name: (InternalIP, pod CIDR, gateway)
EXT_IP = "10.124.242.200"  # an allowed client of the LB's source ranges
EXT2_IP = "10.124.242.201"  # one outside them
EIP = "10.124.250.10"  # spec.externalIPs of web, routed by the network to node131
LB_IP = "10.124.251.20"  # status.loadBalancer.ingress of lb, routed to node130
BACKENDS = {"node132": "12.0.1.93", "node130": "12.0.2.132"}


def slice_of(name, svc, ports, eps):
    """eps: [(address, nodeName)]; ports: [(name, port, protocol)]"""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": "test",
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4",
            "ports": [{"name": n, "port": p, "protocol": pr} for n, p, pr in ports],
            "endpoints": [{"addresses": [a], "nodeName": n, "conditions": {"ready": True}}
                          for a, n in eps]}


def svc_of(name, cluster_ip, ports, **spec):
    """ports: [(name, port, protocol, targetPort, nodePort)]"""
    s = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "test"},
         "spec": {"type": "NodePort", "clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                  "ports": [dict({"name": n, "port": p, "protocol": pr, "targetPort": t},
                                 **({"nodePort": np} if np else {}))
                            for n, p, pr, t, np in ports]}}
    status = spec.pop("status", None)
    s["spec"].update(spec)
    if status:
        s["status"] = status
    return s


ALL_EPS = [(BACKENDS["node132"], "node132"), (BACKENDS["node130"], "node130")]
WEB_PORTS = [("http", 5001, "TCP"), ("dns", 5002, "UDP")]


def state(lb_eps=ALL_EPS, extra=()):
    ref = kxnet.reference_cluster()
    return kxnet.k8s_list(*ref["items"], *[
        svc_of("web", "12.0.182.80", [("http", 80, "TCP", 5001, 30080),
                                      ("dns", 80, "UDP", 5002, 30080)],
               externalIPs=[EIP]),
        slice_of("web-1", "web", WEB_PORTS, ALL_EPS),
        svc_of("weblocal", "12.0.182.81", [("http", 80, "TCP", 5001, 30081)],
               externalTrafficPolicy="Local"),
        slice_of("weblocal-1", "weblocal", WEB_PORTS, ALL_EPS),
        svc_of("lb", "12.0.182.82", [("http", 80, "TCP", 5001, 30082)], type="LoadBalancer",
               externalTrafficPolicy="Local", healthCheckNodePort=32100,
               loadBalancerSourceRanges=[EXT_IP + "/32"],
               status={"loadBalancer": {"ingress": [{"ip": LB_IP, "ipMode": "VIP"}]}}),
        slice_of("lb-1", "lb", WEB_PORTS, lb_eps),
        svc_of("itp", "12.0.182.83", [("http", 80, "TCP", 5001, None)], type="ClusterIP",
               internalTrafficPolicy="Local"),
        slice_of("itp-1", "itp", WEB_PORTS, ALL_EPS),
        *extra,
    ])


@pytest.fixture(scope="module")
def cluster():
    fabric = kxnet.Fabric()
    nodes, hosts = {}, {}
    try:
        for name, (ip, cidr, gw) in NODES.items():
            n = kxnet.Node(name, ip, cidr, gw, fabric=fabric)
            # A wire carries full checksums: what xdp_netdev expects of a frame.
            n.run("ethtool", "-K", "eth0", "tx", "off")
            n.start_agent(state())
            nodes[name] = n
        for n in nodes.values():
            n.add_pod("client")
        for name, ip in BACKENDS.items():
            nodes[name].add_pod("backend", ip=ip)
            nodes[name].serve("backend", "tcp", "0.0.0.0", 5001, name + "@{peer}")
            nodes[name].serve("backend", "udp", "0.0.0.0", 5002, name + "@{peer}")
        routes = [(EIP + "/32", NODES["node131"][0]), (LB_IP + "/32", NODES["node130"][0])]
        hosts["ext"] = kxnet.ExternalHost("ext", EXT_IP, fabric, routes)
        hosts["ext2"] = kxnet.ExternalHost("ext2", EXT2_IP, fabric, routes)
        yield nodes, hosts
    finally:
        for h in hosts.values():
            h.cleanup()
        for n in nodes.values():
            n.cleanup()
        fabric.cleanup()


def stat(node, name):
    return json.loads(node.kxdp("-o", "json", "stats").stdout)["counters"][name]["packets"]


def test_nodeport_on_every_node_reaches_every_backend(cluster):
    """"should be able to create a functioning NodePort service": policy
    Cluster, every node's address; a backend on the addressed node sees the
    client, one on another node sees the addressed node (SNAT)."""
    nodes, hosts = cluster
    for name, (ip, _, _) in NODES.items():
        tx = stat(nodes[name], "external_tx")
        r = hosts["ext"].client("tcp", ip, 30080, 10)
        assert r["errors"] == {}, (name, r)
        want = {}
        for owner in BACKENDS:
            want[owner + "@" + (EXT_IP if owner == name else ip)] = 5
        assert r["counts"] == want, name
        # the remote backend's half went out again from xdp_netdev (XDP_TX)
        assert stat(nodes[name], "external_tx") >= tx + 5 * 2, name


def test_cluster_ip_same_port_on_tcp_and_udp(cluster):
    """A multi-port Service with port 80 on TCP and on UDP (different target
    ports): a pod reaches each protocol's backends."""
    nodes, hosts = cluster
    n = nodes["node131"]
    client_ip = n.pods["client"]["ip"]
    for proto, sport in (("tcp", None), ("udp", 21200)):
        r = n.client("client", proto, "12.0.182.80", 80, 4, sport=sport)
        assert r["errors"] == {}, (proto, r)
        assert r["counts"] == {"node132@" + client_ip: 2, "node130@" + client_ip: 2}, proto
        assert r["peers"] == ["12.0.182.80:80"]


def test_nodeport_udp_on_the_same_port(cluster):
    """The same node port on TCP and UDP: UDP datagrams get their answers."""
    nodes, hosts = cluster
    ip = NODES["node131"][0]
    r = hosts["ext"].client("udp", ip, 30080, 10, sport=21100)
    assert r["errors"] == {}, r
    assert r["counts"] == {"node132@" + ip: 5, "node130@" + ip: 5}


def test_nodeport_local_policy_keeps_the_client_address(cluster):
    """externalTrafficPolicy Local: only this node's backend, the client's own
    address kept; a node without one drops the traffic (counted)."""
    nodes, hosts = cluster
    r = hosts["ext"].client("tcp", NODES["node130"][0], 30081, 6)
    assert r["errors"] == {} and r["counts"] == {"node130@" + EXT_IP: 6}, r
    r = hosts["ext"].client("tcp", NODES["node132"][0], 30081, 6)
    assert r["errors"] == {} and r["counts"] == {"node132@" + EXT_IP: 6}, r
    before = stat(nodes["node131"], "drop_no_local")
    r = hosts["ext"].client("tcp", NODES["node131"][0], 30081, 1)
    assert r["counts"] == {} and r["errors"] == {"TimeoutError": 1}, r
    assert stat(nodes["node131"], "drop_no_local") > before


def test_external_ip(cluster):
    """spec.externalIPs: the network routes the address to node131, which
    serves it like a node port (both backends elsewhere: SNAT)."""
    nodes, hosts = cluster
    r = hosts["ext"].client("tcp", EIP, 80, 10)
    assert r["errors"] == {}, r
    ip = NODES["node131"][0]
    assert r["counts"] == {"node132@" + ip: 5, "node130@" + ip: 5}
    assert r["peers"] == [EIP + ":80"]


def test_load_balancer_ip_and_source_ranges(cluster):
    """"should only allow access from service loadbalancer source ranges":
    the allowed client reaches the LB IP (policy Local: node130's backend,
    the client's address kept), another source is dropped and counted."""
    nodes, hosts = cluster
    r = hosts["ext"].client("tcp", LB_IP, 80, 4)
    assert r["errors"] == {} and r["counts"] == {"node130@" + EXT_IP: 4}, r
    before = stat(nodes["node130"], "drop_src_range")
    r = hosts["ext2"].client("tcp", LB_IP, 80, 1)
    assert r["counts"] == {} and r["errors"] == {"TimeoutError": 1}, r
    assert stat(nodes["node130"], "drop_src_range") > before


def test_source_ranges_do_not_filter_the_node_port(cluster):
    """As kube-proxy: loadBalancerSourceRanges guard the LB IP only; the
    Service's node port answers any source."""
    nodes, hosts = cluster
    r = hosts["ext2"].client("tcp", NODES["node130"][0], 30082, 2)
    assert r["errors"] == {} and r["counts"] == {"node130@" + EXT2_IP: 2}, r


def health_check(host, ip, port=32100):
    """GET http://ip:port/ from host: (status, parsed body); (None, reason)
    when nothing answers."""
    code = ("import json, sys, urllib.request, urllib.error\n"
            "try:\n"
            "    r = urllib.request.urlopen('http://%s:%d/', timeout=3)\n"
            "    print(json.dumps([r.status, json.load(r)]))\n"
            "except urllib.error.HTTPError as e:\n"
            "    print(json.dumps([e.code, json.load(e)]))\n"
            "except OSError as e:\n"
            "    print(json.dumps([None, str(e)]))\n" % (ip, port))
    return json.loads(host.run(kxnet.PY, "-c", code).stdout)


def wait_health(host, ip, status, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        got = health_check(host, ip)
        if got[0] == status or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def test_health_check_node_port_follows_local_endpoints(cluster):
    """healthCheckNodePort: 200 and the local endpoint count where the
    Service has a ready endpoint on the node, 503 where not, as kube-proxy
    answers a cloud load balancer; it follows the endpoints as they move."""
    nodes, hosts = cluster
    status, body = health_check(hosts["ext"], NODES["node130"][0])
    assert status == 200
    assert body["service"] == {"namespace": "test", "name": "lb"}
    assert body["localEndpoints"] == 1
    status, body = health_check(hosts["ext"], NODES["node131"][0])
    assert status == 503 and body["localEndpoints"] == 0
    only132 = state(lb_eps=[(BACKENDS["node132"], "node132")])
    try:
        for n in nodes.values():
            n.apply_state(only132)
        assert wait_health(hosts["ext"], NODES["node130"][0], 503)[0] == 503
        assert wait_health(hosts["ext"], NODES["node132"][0], 200)[0] == 200
        # and the LB IP's traffic, policy Local, is now dropped on node130
        r = hosts["ext"].client("tcp", LB_IP, 80, 1)
        assert r["counts"] == {} and r["errors"] == {"TimeoutError": 1}, r
    finally:
        for n in nodes.values():
            n.apply_state(state())
    assert wait_health(hosts["ext"], NODES["node130"][0], 200)[0] == 200


def test_internal_traffic_policy_local_pod_to_pod(cluster):
    """"should respect internalTrafficPolicy=Local Pod to Pod": a pod's
    connections go to its own node's endpoint; with none there, they are
    dropped (counted), not sent elsewhere."""
    nodes, hosts = cluster
    for name in BACKENDS:
        r = nodes[name].client("client", "tcp", "12.0.182.83", 80, 4)
        assert r["errors"] == {}, (name, r)
        client_ip = nodes[name].pods["client"]["ip"]
        assert r["counts"] == {"%s@%s" % (name, client_ip): 4}, name
    before = stat(nodes["node131"], "drop_no_local")
    r = nodes["node131"].client("client", "tcp", "12.0.182.83", 80, 1)
    assert r["counts"] == {} and r["errors"] == {"TimeoutError": 1}, r
    assert stat(nodes["node131"], "drop_no_local") > before


def entries(node, addrs, node_port):
    """(vip, port, protocol, flags) of node's kx_svc entries at addrs or node_port."""
    out = json.loads(node.kxdp("svc", "list", "-o", "json").stdout)
    return sorted((s["vip"], s["port"], s["protocol"], ",".join(s["flags"])) for s in out
                  if (s["vip"] in addrs or (s["vip"] == "0.0.0.0" and s["port"] == node_port))
                  and "vip" not in s["flags"])


def test_service_changes_type_without_leftovers(cluster):
    """"should be able to change the type from ExternalName to ClusterIP" and
    on through NodePort and LoadBalancer and back: each step leaves exactly
    that type's entries, and traffic follows."""
    nodes, hosts = cluster
    n = nodes["node131"]
    vip, lbip = "12.0.182.90", "10.124.251.30"
    slc = slice_of("morph-1", "morph", WEB_PORTS, ALL_EPS)
    base = {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "morph", "namespace": "test"}}
    steps = [
        ("ExternalName", dict(base, spec={"type": "ExternalName",
                                          "externalName": "db.example.com"}), []),
        ("ClusterIP", svc_of("morph", vip, [("http", 80, "TCP", 5001, None)], type="ClusterIP"),
         [(vip, 80, "TCP", "")]),
        ("NodePort", svc_of("morph", vip, [("http", 80, "TCP", 5001, 30090)]),
         [("0.0.0.0", 30090, "TCP", "nodeport"), ("0.0.0.0", 30090, "TCP", "nodeport,in-cluster"),
          (vip, 80, "TCP", "")]),
        ("LoadBalancer", svc_of("morph", vip, [("http", 80, "TCP", 5001, 30090)],
                                type="LoadBalancer", externalTrafficPolicy="Local",
                                healthCheckNodePort=32101,
                                status={"loadBalancer": {"ingress": [{"ip": lbip}]}}),
         [("0.0.0.0", 30090, "TCP", "nodeport,local"),
          ("0.0.0.0", 30090, "TCP", "nodeport,in-cluster"), (lbip, 80, "TCP", "external,local"),
          (lbip, 80, "TCP", "external,in-cluster"), (vip, 80, "TCP", "")]),
        ("NodePort again", svc_of("morph", vip, [("http", 80, "TCP", 5001, 30090)]),
         [("0.0.0.0", 30090, "TCP", "nodeport"), ("0.0.0.0", 30090, "TCP", "nodeport,in-cluster"),
          (vip, 80, "TCP", "")]),
        ("ClusterIP again", svc_of("morph", vip, [("http", 80, "TCP", 5001, None)],
                                   type="ClusterIP"), [(vip, 80, "TCP", "")]),
    ]
    try:
        for what, svc, want in steps:
            n.apply_state(state(extra=[svc, slc]))
            assert entries(n, (vip, lbip), 30090) == sorted(want), what
            # node131 has no endpoint: its node port answers with policy Cluster only
            r = hosts["ext"].client("tcp", NODES["node131"][0], 30090, 1)
            assert bool(r["counts"]) == any(w[3] == "nodeport" for w in want), (what, r)
            # from inside (a pod of node131 to its node's port): every endpoint
            r = n.client("client", "tcp", NODES["node131"][0], 30090, 2)
            assert (sum(r["counts"].values()) == 2) == ("NodePort" in what or
                                                        "LoadBalancer" in what), (what, r)
            # the health-check port lives exactly as long as the LB with policy Local
            hc = health_check(hosts["ext"], NODES["node131"][0], 32101)
            assert hc[0] == (503 if what == "LoadBalancer" else None), (what, hc)
            if want:
                r = n.client("client", "tcp", vip, 80, 2)
                assert r["errors"] == {} and sum(r["counts"].values()) == 2, (what, r)
            # the ClusterIP's marker lives exactly as long as the ClusterIP
            markers = [s for s in json.loads(n.kxdp("svc", "list", "-o", "json").stdout)
                       if s["vip"] == vip and s["flags"] == ["vip"]]
            assert len(markers) == (1 if want else 0), what
    finally:
        n.apply_state(state())
    assert entries(n, (vip, lbip), 30090) == []


def test_pods_and_the_node_reach_external_addresses_from_inside(cluster):
    """As kube-proxy short-circuits them: a pod (or a node process) using a
    node port of its own node, an ExternalIP or an LB IP reaches the
    Service's endpoints directly, cluster-wide whatever the external policy,
    with its own address kept; the LB IP's source ranges still apply."""
    nodes, hosts = cluster
    n = nodes["node131"]
    me = n.pods["client"]["ip"]
    both = {"node132@" + me: 2, "node130@" + me: 2}
    for ip, port in ((NODES["node131"][0], 30080), (EIP, 80), (NODES["node131"][0], 30081)):
        r = n.client("client", "tcp", ip, port, 4)
        assert r["errors"] == {} and r["counts"] == both, (ip, port, r)
        assert r["peers"] == ["%s:%d" % (ip, port)]
    # the pod is not among the LB IP's allowed sources
    r = n.client("client", "tcp", LB_IP, 80, 1)
    assert r["counts"] == {} and r["errors"] == {"TimeoutError": 1}, r
    # a node process through the cgroup hooks, to its node's port and the ExternalIP
    node_ip = NODES["node131"][0]
    for ip, port in ((node_ip, 30080), (EIP, 80)):
        r = n.host_client("tcp", ip, port, 4)
        assert r["errors"] == {}, (ip, r)
        assert sorted(r["counts"]) == ["node130@" + node_ip, "node132@" + node_ip], (ip, r)
        assert r["peers"] == ["%s:%d" % (ip, port)]


def test_nodeport_to_host_network_backends(cluster):
    """A NodePort Service whose endpoints are hostNetwork pods (the node's own
    address, as an ingress controller often runs): reached on the node that
    holds the backend and on another node, over TCP and UDP, the client sees
    the node port answer (the reply translated back), never the backend's port."""
    nodes, hosts = cluster
    n130 = nodes["node130"]
    ip130 = NODES["node130"][0]
    n130.serve("node", "tcp", "0.0.0.0", 5011, "host130@{peer}")
    n130.serve("node", "udp", "0.0.0.0", 5012, "host130@{peer}")
    extra = (svc_of("hostnet", "12.0.182.84", [("http", 80, "TCP", 5011, 30084),
                                                ("dns", 80, "UDP", 5012, 30084)]),
             slice_of("hostnet-1", "hostnet", [("http", 5011, "TCP"), ("dns", 5012, "UDP")],
                      [(ip130, "node130")]))
    try:
        for n in nodes.values():
            n.apply_state(state(extra=extra))
        for proto in ("tcp", "udp"):
            for via in ("node130", "node131"):
                r = hosts["ext"].client(proto, NODES[via][0], 30084, 3)
                assert r["errors"] == {}, (proto, via, r)
                assert r["peers"] == ["%s:30084" % NODES[via][0]], (proto, via, r)
                seen = EXT_IP if via == "node130" else NODES["node131"][0]
                assert r["counts"] == {"host130@" + seen: 3}, (proto, via, r)
    finally:
        for n in nodes.values():
            n.apply_state(state())


def test_external_address_without_endpoints_is_refused(cluster):
    """kube-proxy REJECTs an ExternalIP or LoadBalancer IP whose Service has no
    endpoints: the client fails at once (ICMP port unreachable from the
    address it asked), TCP and UDP; with the LB's source ranges, a source
    outside them is still dropped, not answered."""
    nodes, hosts = cluster
    eip2, lb2 = "10.124.250.11", "10.124.251.21"
    extra = (svc_of("noeps", "12.0.182.85", [("http", 80, "TCP", 5001, 30085),
                                              ("dns", 80, "UDP", 5002, 30085)],
                    externalIPs=[eip2]),
             svc_of("lbnoeps", "12.0.182.86", [("http", 80, "TCP", 5001, 30086)],
                    type="LoadBalancer", loadBalancerSourceRanges=[EXT_IP + "/32"],
                    status={"loadBalancer": {"ingress": [{"ip": lb2, "ipMode": "VIP"}]}}))
    routes = [(eip2 + "/32", NODES["node131"][0]), (lb2 + "/32", NODES["node130"][0])]
    for h in hosts.values():
        for dst, via in routes:
            h.run("ip", "route", "replace", dst, "via", via)
    try:
        for n in nodes.values():
            n.apply_state(state(extra=extra))
        before = stat(nodes["node131"], "reject_no_backend")
        for proto in ("tcp", "udp"):
            r = hosts["ext"].client(proto, eip2, 80, 2)
            assert r["errors"] == {"ConnectionRefusedError": 2}, (proto, r)
        assert stat(nodes["node131"], "reject_no_backend") == before + 4
        r = hosts["ext"].client("tcp", lb2, 80, 1)
        assert r["errors"] == {"ConnectionRefusedError": 1}, r
        r = hosts["ext2"].client("tcp", lb2, 80, 1)  # outside the source ranges
        assert r["errors"] == {"TimeoutError": 1}, r
    finally:
        for h in hosts.values():
            for dst, _ in routes:
                h.run("ip", "route", "del", dst, check=False)
        for n in nodes.values():
            n.apply_state(state())
