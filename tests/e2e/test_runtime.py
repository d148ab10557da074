"""A real container runtime drives the CNI plugin: Debian 12's podman (CNI
network backend, runc, every file of its own under the test's folder) runs
busybox containers inside a node namespace against the conflist the agent
writes. Addresses and routes, pod to pod, a ClusterIP and a NodePort,
--ip and --mac-address, cleanup on rm, restart and exit, CHECK with the
runtime's cached prevResult, and hostPorts through the chained portmap."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest

import kxnet
from podman_env import PodmanEnv, podman_teardown

NODE_IP = "10.124.242.130"
OUTSIDE_IP = "10.124.242.200"
VIP = "12.0.182.80"
NODE_PORT = 30080
NET = "kxdp"  # the name of the agent's conflist


def state(backends=()):
    svc = kxnet.service("test", "web", VIP, [("http", 80, "TCP", 80)])
    svc["spec"]["type"] = "NodePort"
    svc["spec"]["ports"][0]["nodePort"] = NODE_PORT
    items = [kxnet.node_object("node130", NODE_IP, "12.0.2.0/24"), svc]
    if backends:
        items.append(kxnet.endpoint_slice("test", "web", "web-1", [("http", 80, "TCP")],
                                          list(backends)))
    return kxnet.k8s_list(*items)


@pytest.fixture(scope="module")
def rt():
    if not shutil.which("podman") or not shutil.which("runc"):
        pytest.fail("podman and runc are missing: make deps installs them")
    fabric = kxnet.Fabric()
    node = outside = env = None
    try:
        node = kxnet.Node("node130", NODE_IP, "12.0.2.0/24", "12.0.2.1", fabric=fabric)
        outside = kxnet.ExternalHost("outside", OUTSIDE_IP, fabric)
        node.start_agent(state())
        # the plugins the conflist names, where the runtime looks for them
        plugins = os.path.join(node.tmp, "cni-bin")
        os.makedirs(plugins)
        os.symlink(os.path.join(kxnet.BUILD, "kxdp-cni"), os.path.join(plugins, "kxdp"))
        for p in ("host-local", "portmap"):
            os.symlink(os.path.join(kxnet.CNI_PATH, p), os.path.join(plugins, p))
        env = PodmanEnv(node.ns, tempfile.mkdtemp(prefix=kxnet.TMP_PREFIX + "podman-"),
                        node.cni_dir, [plugins], default_network=NET)
        env.setup()
        env.import_busybox()
        procs = []
        yield {"node": node, "outside": outside, "env": env, "procs": procs}
    finally:
        podman_teardown(locals().get("procs", []), env, outside, node, fabric)


def serve_web(env, name, ident):
    """A busybox httpd in the container answering its name."""
    return env.run(name, "sh", "-c", "echo %s > /www/index.html && exec httpd -f -p 80 -h /www"
                   % ident)


def wget(env, name, url):
    r = env.exec(name, "timeout", "5", "wget", "-qO-", url, check=False)
    return r.strip()


eventually = kxnet.eventually


def endpoints(node):
    return {e["ip"]: e for e in json.loads(node.kxdp("ep", "list", "-o", "json").stdout)}


def leases(env):
    d = os.path.join(env.varlib, "cni", "networks", NET)
    return {f for f in os.listdir(d) if f[0].isdigit()} if os.path.isdir(d) else set()


def pod_routes(node):
    return {r["dst"] for r in json.loads(node.run("ip", "-j", "route", "show", "proto", "181")
                                         .stdout)}


def wired(rt, ip):
    """veth, /32 route, endpoint entry and lease of a container's address."""
    node, env = rt["node"], rt["env"]
    ep = endpoints(node).get(ip)
    veth = ep and node.run("ip", "link", "show", ep["veth"], check=False).returncode == 0
    return {"veth": bool(veth), "route": ip in pod_routes(node), "endpoint": bool(ep),
            "lease": ip in leases(env)}


def test_containers_get_addresses_routes_and_reach_each_other(rt):
    env = rt["env"]
    serve_web(env, "a", "a")
    serve_web(env, "b", "b")
    ip_a, ip_b = env.ip("a"), env.ip("b")
    for ip in (ip_a, ip_b):
        assert ip.startswith("12.0.2.")
        assert wired(rt, ip) == {"veth": True, "route": True, "endpoint": True, "lease": True}
    routes = json.loads(env.in_netns("a", "ip", "-j", "route").stdout)
    assert {"dst": "default", "gateway": "12.0.2.1", "dev": "eth0"}.items() <= \
        [r for r in routes if r["dst"] == "default"][0].items()
    assert any(r["dst"] == "12.0.2.0/24" and r.get("scope") == "link" for r in routes)
    assert eventually(lambda: wget(env, "a", "http://%s/" % ip_b) == "b")
    assert wget(env, "b", "http://%s/" % ip_a) == "a"


def test_clusterip_and_nodeport_reach_a_container(rt):
    env, node, outside = rt["env"], rt["node"], rt["outside"]
    node.apply_state(state([env.ip("b")]))
    assert eventually(lambda: wget(env, "a", "http://%s/" % VIP) == "b")
    code = ("import urllib.request,sys\n"
            "print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode().strip())")
    got = outside.run(kxnet.PY, "-c", code, "http://%s:%d/" % (NODE_IP, NODE_PORT)).stdout
    assert got.strip() == "b"


def test_ip_and_mac_address_are_honoured(rt):
    env, node = rt["env"], rt["node"]
    mac = "02:42:0c:00:02:32"
    env.run("c", "sleep", "3600", ip="12.0.2.50", mac=mac)
    link = json.loads(env.in_netns("c", "ip", "-j", "addr", "show", "eth0").stdout)[0]
    assert link["address"] == mac
    assert [a["local"] for a in link["addr_info"] if a["family"] == "inet"] == ["12.0.2.50"]
    assert endpoints(node)["12.0.2.50"]["pod_mac"] == mac
    env.rm("c")
    assert wired(rt, "12.0.2.50") == {"veth": False, "route": False, "endpoint": False,
                                      "lease": False}


def test_rm_restart_and_exit_clean_up(rt):
    env = rt["env"]
    env.run("d", "sleep", "3600", ip="12.0.2.60")
    assert wired(rt, "12.0.2.60")["endpoint"]
    env.rm("d")
    assert wired(rt, "12.0.2.60") == {"veth": False, "route": False, "endpoint": False,
                                      "lease": False}
    # restart: DEL, then ADD in a new namespace; one wiring, serving
    serve_web(env, "e", "e")
    before = env.ip("e")
    env.restart("e")
    after = env.ip("e")
    assert wired(rt, after) == {"veth": True, "route": True, "endpoint": True, "lease": True}
    if after != before:
        assert not any(wired(rt, before).values())
    assert eventually(lambda: wget(env, "a", "http://%s/" % after) == "e")
    assert [ip for ip in endpoints(rt["node"]) if ip in (before, after)] == [after]
    env.rm("e")
    # a container exiting by itself: conmon's cleanup DELs it
    env.run("f", "sleep", "1", ip="12.0.2.61")
    assert env.wait_state("f", "exited")
    assert eventually(lambda: not any(wired(rt, "12.0.2.61").values()))
    env.rm("f")


def test_check_with_the_cached_prev_result(rt):
    env, node = rt["env"], rt["node"]
    env.run("g", "sleep", "3600")
    [(plugin, rc, out, err)] = env.cni_check("g", only=["kxdp"])
    assert rc == 0, (out, err)
    veth = endpoints(node)[env.ip("g")]["veth"]
    node.run("tc", "filter", "del", "dev", veth, "ingress")
    [(plugin, rc, out, err)] = env.cni_check("g", only=["kxdp"])
    assert rc != 0 and json.loads(out)["code"] == 103, (out, err)
    assert "tc_from_pod" in json.loads(out)["msg"], out
    env.rm("g")


def test_host_ports_from_outside_other_pods_and_the_node(rt):
    """podman -p: TCP and UDP hostPorts (the chained portmap's DNAT) answer
    from outside the node, from another container and from the node itself;
    after rm they are gone."""
    env, node, outside = rt["env"], rt["node"], rt["outside"]
    env.run("h", "sleep", "3600", ports=("8081:9000", "8082:9053/udp"))
    for proto, port in (("tcp", 9000), ("udp", 9053)):
        p = subprocess.Popen(env.netns_argv("h") + [
            kxnet.PY, os.path.join(kxnet.HELPERS, "server.py"), proto, "0.0.0.0", str(port),
            "h-" + proto], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rt["procs"].append(p)
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
    client = os.path.join(kxnet.HELPERS, "client.py")
    from_a = env.netns_argv("a")
    for proto, port in (("tcp", 8081), ("udp", 8082)):
        want = {"counts": {"h-" + proto: 3}, "peers": ["%s:%d" % (NODE_IP, port)],
                "errors": {}}
        args = (kxnet.PY, client, proto, NODE_IP, str(port), "3")
        for where, argv in (("outside", kxnet.in_ns(outside.ns, *args)),
                            ("container a", from_a + list(args)),
                            ("the node", kxnet.in_ns(node.ns, *args))):
            got = json.loads(kxnet.sh(*argv, timeout=60).stdout)
            got.pop("seconds")
            assert got == want, (proto, where, got)
    env.rm("h")
    rules = node.run("iptables", "-t", "nat", "-S").stdout
    assert "8081" not in rules and "8082" not in rules, rules
    got = json.loads(kxnet.sh(*kxnet.in_ns(outside.ns, kxnet.PY, client, "tcp", NODE_IP,
                                           "8081", "1"), timeout=60).stdout)
    assert got["counts"] == {} and got["errors"], got


def test_host_port_keeping_the_client_address(rt):
    """portmap with snat off (a conflist of the node's own): a container's
    client keeps its address through the hostPort; the answers, DNATed by the
    stack, go back through it (stack_reply), not straight into the client."""
    env, node = rt["env"], rt["node"]
    with open(os.path.join(node.cni_dir, "10-kxdp.conflist")) as f:
        conf = json.load(f)
    conf["name"] = "kxdp-keep-source"
    conf["plugins"][1]["snat"] = False
    # the same pod CIDR with leases of its own: addresses the agent's network does not give
    conf["plugins"][0]["ipam"]["ranges"][0][0]["rangeStart"] = "12.0.2.200"
    path = os.path.join(node.cni_dir, "20-kxdp-keep-source.conflist")
    with open(path, "w") as f:
        json.dump(conf, f)
    try:
        env.run("k", "sleep", "3600", net="kxdp-keep-source", ports=("8083:9000",))
        p = subprocess.Popen(env.netns_argv("k") + [
            kxnet.PY, os.path.join(kxnet.HELPERS, "server.py"), "tcp", "0.0.0.0", "9000",
            "from-{peer}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        rt["procs"].append(p)
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        before = json.loads(node.kxdp("stats", "-o", "json").stdout)["counters"]
        got = json.loads(kxnet.sh(*env.netns_argv("a"), kxnet.PY,
                                  os.path.join(kxnet.HELPERS, "client.py"), "tcp", NODE_IP,
                                  "8083", "3", timeout=60).stdout)
        assert got["counts"] == {"from-%s" % env.ip("a"): 3}, got
        assert got["peers"] == ["%s:8083" % NODE_IP], got
        after = json.loads(node.kxdp("stats", "-o", "json").stdout)["counters"]
        assert after["stack_reply"]["packets"] > before["stack_reply"]["packets"]
        env.rm("k")
    finally:
        os.unlink(path)
