"""NetworkPolicy end to end, as the Kubernetes conformance suite checks it:
every case of tests/fixtures/netpol-upstream-cases.json (the upstream e2e
suite's policies and expected denials on its x/y/z × a/b/c model), and its
UDP copy, on two nodes, each probe through every pod's ClusterIP and by pod
IP, the verdicts coming from kxdp's datapath alone."""
import json
import os
import subprocess

import pytest

import kxnet
import netpol_model

CASES = netpol_model.load_cases()
UDP_CASES = [c for c in map(netpol_model.udp_copy, CASES) if c]


@pytest.fixture(scope="module")
def model():
    with netpol_model.running_model() as m:
        yield m


def run_case(model, case):
    try:
        for step in case["steps"]:
            for action in step["actions"]:
                model.act(action)
            for probe in step["probes"]:
                model.expect(probe["port"], probe["proto"].lower(), probe["expect"])
    finally:
        model.reset()


def test_model_starts_open(model):
    """No policy: every pod reaches every other, both ways of addressing, TCP and UDP."""
    model.expect(80, "tcp", [])
    model.expect(81, "udp", [])


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_upstream_case(model, case):
    run_case(model, case)


@pytest.mark.parametrize("case", UDP_CASES, ids=[c["id"] for c in UDP_CASES])
def test_upstream_case_udp(model, case):
    run_case(model, case)


# Beyond the upstream suite: the cases it leaves out, on the same model.

def netpol(ns, name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns}, "spec": spec}


def create(model, ns, name, spec):
    model.act({"create": netpol(ns, name, spec)})


def into(pod, ports=None, from_=None):
    """A policy spec: ingress to pod (ns/name's pod label) from from_ on ports."""
    return {"podSelector": {"matchLabels": {"pod": pod.split("/")[1]}},
            "policyTypes": ["Ingress"],
            "ingress": [dict(({"ports": ports} if ports is not None else {}),
                             **({"from": from_} if from_ is not None else {}))]}


def others_to(model, target):
    return sorted("%s->%s" % (p, target) for p in model.pods if p != target)


def test_endport_range(model):
    """endPort: a port range, inclusive at both ends."""
    try:
        create(model, "x", "range", into("x/a", [{"port": 79, "endPort": 80}]))
        model.expect(80, "tcp", [])
        model.expect(81, "tcp", others_to(model, "x/a"))
        model.act({"update": netpol("x", "range", into("x/a", [{"port": 80, "endPort": 81,
                                                                 "protocol": "UDP"}]))})
        model.expect(81, "udp", [])
        model.expect(80, "tcp", others_to(model, "x/a"))
    finally:
        model.reset()


def test_except_does_not_hide_another_policys_allow(model):
    """One policy's ipBlock excepts y/b and x/c; another allows y/b by
    label: y/b gets in (policies add up), x/c stays out."""
    yb, xc = model.pods["y/b"]["ip"], model.pods["x/c"]["ip"]
    block = {"ipBlock": {"cidr": "12.0.0.0/8", "except": [yb + "/32", xc + "/32"]}}
    try:
        create(model, "x", "block", into("x/a", None, [block]))
        model.expect(80, "tcp", ["x/c->x/a", "y/b->x/a"])
        create(model, "x", "by-label", into("x/a", None, [
            {"namespaceSelector": {"matchLabels": {"ns": "y"}},
             "podSelector": {"matchLabels": {"pod": "b"}}}]))
        model.expect(80, "tcp", ["x/c->x/a"])
    finally:
        model.reset()


def test_node_reaches_its_pods_under_default_deny(model):
    """Kubelet-style probes: the node itself always reaches its own pods
    (as kube-router's "from local node" rule); another node does not."""
    deny_all = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    pod = next(p for p in model.pods if model.pods[p]["node"] == "node130")
    ip = model.pods[pod]["ip"]
    try:
        create(model, pod.split("/")[0], "deny-all", deny_all)
        model.expect(80, "tcp", [d for d in model.pods_denied_by_ns(pod.split("/")[0])])
        here = model.nodes["node130"].host_run(kxnet.PY, os.path.join(kxnet.HELPERS, "prober.py"),
                                               "1", json.dumps([[ip, 80, "tcp"], [ip, 81, "udp"]]))
        assert json.loads(here.stdout) == [pod, pod]
        there = model.nodes["node131"].host_run(kxnet.PY, os.path.join(kxnet.HELPERS, "prober.py"),
                                                "1", json.dumps([[ip, 80, "tcp"]]))
        assert json.loads(there.stdout) == [None]
    finally:
        model.reset()


def test_established_connection_survives_a_policy_change(model):
    """Policy changes apply to new connections: one opened while allowed
    keeps going after its policy turns to deny-all, a new one is denied."""
    client, server = "x/a", "y/b"
    cnode, snode = model.pod_node(client), model.pod_node(server)
    sns = snode.pods[server.replace("/", "-")]["ns"]
    cns = cnode.pods[client.replace("/", "-")]["ns"]
    echo = subprocess.Popen(kxnet.in_ns(sns, kxnet.PY, os.path.join(kxnet.HELPERS, "server.py"),
                                        "tcp", "0.0.0.0", "7000", "echo"),
                            stdout=subprocess.PIPE, text=True)
    snode.procs.append(echo)
    assert echo.stdout.readline().strip() == "ready"
    allow = into(server, [{"port": 7000}], [{"namespaceSelector": {}, "podSelector":
                                             {"matchLabels": {"pod": "a"}}}])
    sip = model.pods[server]["ip"]
    try:
        create(model, "y", "allow-a", allow)
        kxnet.eventually(lambda: probe_from(model, client, sip, 7000) == "echo")
        hold = subprocess.Popen(kxnet.in_ns(cns, kxnet.PY, os.path.join(kxnet.HELPERS, "hold.py"),
                                            sip, "7000"),
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert hold.stdout.readline().strip() == "echo"
        model.act({"update": netpol("y", "allow-a", dict(allow, ingress=[]))})
        kxnet.eventually(lambda: probe_from(model, client, sip, 7000) is None, timeout=10)
        hold.stdin.write("still there\n")
        hold.stdin.flush()
        assert hold.stdout.readline().strip() == "still there"
        hold.stdin.close()
        hold.wait(5)
    finally:
        model.reset()


def probe_from(model, client, ip, port, proto="tcp"):
    ns = model.pod_node(client).pods[client.replace("/", "-")]["ns"]
    out = kxnet.sh(*kxnet.in_ns(ns, kxnet.PY, os.path.join(kxnet.HELPERS, "prober.py"),
                                str(netpol_model.PROBE_TIMEOUT), json.dumps([[ip, port, proto]])))
    return json.loads(out.stdout)[0]


def test_pod_reaching_itself_through_its_service_is_not_policed(model):
    """Hairpin: under deny-all both ways, a pod still reaches itself
    through its own ClusterIP ("a pod cannot block access to itself")."""
    deny = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}
    try:
        create(model, "x", "deny-both", deny)
        model.expect(80, "tcp", sorted(set(model.pods_denied_by_ns("x")) |
                                       {"x/%s->%s" % (p, o) for p in "abc" for o in model.pods
                                        if o != "x/" + p}))
        for pod in ("x/a", "x/b"):
            assert probe_from(model, pod, model.pods[pod]["vip"], 80) == pod
    finally:
        model.reset()


def test_new_pod_isolated_from_its_first_packet(model):
    """A pod the CNI wires in a namespace with policies is denied that way
    before the agent has even seen its Pod object; once it has, the
    policies selecting it decide."""
    node = model.nodes["node130"]
    deny = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
    name = "x-new"
    try:
        create(model, "x", "deny-all", deny)
        model.expect(80, "tcp", model.pods_denied_by_ns("x"))
        ip = node.add_pod(name, cni_args="IgnoreUnknown=1;K8S_POD_NAMESPACE=x;K8S_POD_NAME=new")
        srv = subprocess.Popen(kxnet.in_ns(node.pods[name]["ns"], kxnet.PY,
                                           os.path.join(kxnet.HELPERS, "netpol_server.py"),
                                           "x/new"), stdout=subprocess.PIPE, text=True)
        node.procs.append(srv)
        assert srv.stdout.readline().strip() == "ready"
        for client in ("y/a", "z/b"):  # one on each node
            assert probe_from(model, client, ip, 80) is None
            assert probe_from(model, client, ip, 81, "udp") is None
        assert probe_from_pod(node, name, model.pods["y/a"]["ip"], 80) == "y/a"  # egress open
        create(model, "x", "allow-new", into("x/new"))
        model.apply(netpol_model.pod_object("x", "new", "node130", ip))
        kxnet.eventually(lambda: probe_from(model, "y/a", ip, 80) == "x/new", timeout=10)
    finally:
        model.api.cmd("delete", kind="Pod", namespace="x", name="new")
        if name in node.pods:
            kxnet.kill_ns(node.pods[name]["ns"])
            node.cni("DEL", "cid-" + node.pods[name]["ns"], kxnet.netns_path(node.pods[name]["ns"]))
            kxnet.sh("ip", "netns", "del", node.pods.pop(name)["ns"], check=False)
        model.reset()


def probe_from_pod(node, pod, ip, port, proto="tcp"):
    out = node.pod_run(pod, kxnet.PY, os.path.join(kxnet.HELPERS, "prober.py"),
                       str(netpol_model.PROBE_TIMEOUT), json.dumps([[ip, port, proto]]))
    return json.loads(out.stdout)[0]


def test_invalid_policy_refused_alone(model):
    """A policy with an unknown selector operator is refused with one line
    naming it and the field; a valid one beside it is enforced."""
    bad = {"podSelector": {"matchExpressions": [{"key": "pod", "operator": "Like",
                                                 "values": ["a"]}]},
           "policyTypes": ["Ingress"], "ingress": []}
    try:
        create(model, "x", "bad", bad)
        create(model, "x", "good", {"podSelector": {"matchLabels": {"pod": "a"}},
                                    "policyTypes": ["Ingress"], "ingress": []})
        model.expect(80, "tcp", others_to(model, "x/a"))
        for node in model.nodes.values():
            refused = [r for r in node.refused() if r["kind"] == "NetworkPolicy"]
            assert [r["object"] for r in refused] == ["x/bad"], refused
            assert "spec.podSelector.matchExpressions[0].operator" in refused[0]["reason"]
            assert "Like" in refused[0]["reason"]
            log = node.log_lines()  # one line each: the refused one, the applied one
            bad = [l for l in log if "x/bad" in l and "refused" in l]
            assert bad and "spec.podSelector.matchExpressions[0].operator" in bad[-1], log[-20:]
            assert any("policy x/good applied: Ingress, selects" in l for l in log), log[-20:]
    finally:
        model.reset()


def test_cli_lists_and_explains(model):
    """kxdp policy list names the policies isolating each pod of the node;
    kxdp policy explain gives the datapath's verdict with the policy and
    rule that allow a connection, or the policies none of whose rules does."""
    allow = into("x/a", [{"port": 80}], [{"podSelector": {"matchLabels": {"pod": "b"}}}])
    node = model.pod_node("x/a")
    a, b, c = (model.pods[p]["ip"] for p in ("x/a", "x/b", "x/c"))
    try:
        create(model, "x", "allow-b", allow)
        model.expect(80, "tcp", sorted(set(others_to(model, "x/a")) - {"x/b->x/a"}))
        listed = json.loads(node.kxdp("policy", "list", "-o", "json").stdout)
        xa = next(p for p in listed["pods"] if p["namespace"] == "x" and p["pod"] == "a")
        assert xa["ingress"] == ["x/allow-b"] and xa["egress"] == []
        assert xa["ingress_map_set"] == xa["ingress_set"] > 1
        assert xa["ingress_flows"]["denied"] > 0
        text = node.kxdp("policy", "list").stdout
        assert "x/a %s\n  ingress  isolated by x/allow-b" % a in text
        ok = json.loads(node.kxdp("policy", "explain", b, a + ":80", "-o", "json").stdout)
        assert ok["allowed"] and ok["ingress"]["here"] and ok["ingress"]["allowed"]
        assert ok["ingress"]["agent"]["policy"] == "x/allow-b"
        assert ok["ingress"]["agent"]["rule"] == 0
        no = node.kxdp("policy", "explain", c, a + ":80/tcp").stdout
        assert "denied: isolated by x/allow-b" in no and no.endswith("verdict: denied\n")
        no = node.kxdp("policy", "explain", b, a + ":81/udp").stdout
        assert "verdict: denied" in no
        here = node.kxdp("policy", "explain", node.node_ip, a + ":80").stdout
        assert "the node itself always reaches its pods" in here and "verdict: allowed" in here
        metrics = node.agent_get("/metrics")
        line = next(l for l in metrics.splitlines() if l.startswith(
            'kxdp_policy_flows_total{policy="x/allow-b",direction="ingress",verdict="denied"}'))
        assert int(line.split()[-1]) > 0, line
    finally:
        model.reset()
