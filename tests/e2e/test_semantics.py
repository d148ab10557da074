"""Connection semantics kube-proxy's e2e suite checks (test/e2e/network/
service.go), on one node: session affinity and its timeout, hairpin,
rejects, terminating endpoints, UDP across a backend change, schedulers
from kube-router's annotations, selector-less Services. Each test is named
after the Kubernetes case it mirrors."""
import json
import os
import socket
import subprocess
import time

import pytest

import kxnet

VIP = "12.0.182.73"
PODS = ("client", "b1", "b2", "b3")


def svc(name, vip, ports=(("http", 80, "TCP", 5001), ("dns", 53, "UDP", 5353)), ann=None,
        **spec):
    s = kxnet.service("test", name, vip, list(ports))
    s["spec"].update(spec)
    if ann:
        s["metadata"]["annotations"] = ann
    return s


def slice_(svc_name, eps, ports=(("http", 5001, "TCP"), ("dns", 5353, "UDP"))):
    """eps: [(address, conditions)]"""
    sl = kxnet.endpoint_slice("test", svc_name, svc_name + "-1", list(ports), [])
    sl["endpoints"] = [{"addresses": [a], "nodeName": "node130", "conditions": cond}
                       for a, cond in eps]
    return sl


READY = {"ready": True}
TERMINATING = {"ready": False, "serving": True, "terminating": True}


class Cluster:
    def __init__(self, node):
        self.node = node
        self.ip = {p: node.pods[p]["ip"] for p in PODS}
        self.objs = {}

    def set(self, *objs):
        """Replace the named objects and apply the whole state."""
        for o in objs:
            self.objs[(o["kind"], o["metadata"]["name"])] = o
        self.apply()

    def drop(self, kind, name):
        self.objs.pop((kind, name), None)
        self.apply()

    def apply(self):
        n = self.node
        n.apply_state(kxnet.k8s_list(kxnet.node_object("node130", n.node_ip, n.pod_cidr),
                                     *self.objs.values()))

    def client(self, proto, ip, port, count, sport=None, pod="client"):
        return self.node.client(pod, proto, ip, port, count, sport=sport)


@pytest.fixture(scope="module")
def c():
    n = kxnet.Node("node130", "10.124.242.130", "12.0.2.0/24", "12.0.2.1")
    try:
        n.start_agent(kxnet.k8s_list(kxnet.node_object("node130", n.node_ip, n.pod_cidr)))
        for p in PODS:
            n.add_pod(p)
        for p in PODS[1:]:
            n.serve(p, "tcp", "0.0.0.0", 5001, p + "@{peer}")
            n.serve(p, "udp", "0.0.0.0", 5353, p + "@{peer}")
        cl = Cluster(n)
        cl.set(svc("test", VIP), slice_("test", [(cl.ip["b1"], READY), (cl.ip["b2"], READY)]))
        yield cl
    finally:
        n.cleanup()


def names(r):
    """Backend names of a client result, without the peer part."""
    return {k.split("@")[0]: v for k, v in r["counts"].items()}


def test_should_have_session_affinity_work_for_service_with_type_clusterip(c):
    """ClientIP affinity: every connection of the client to one backend;
    switching it off rotates again for new connections, on again sticks."""
    try:
        c.set(svc("test", VIP, sessionAffinity="ClientIP"))
        r = c.client("tcp", VIP, 80, 10)
        assert r["errors"] == {} and len(r["counts"]) == 1, r
        c.set(svc("test", VIP))
        r = c.client("tcp", VIP, 80, 10)
        assert names(r) == {"b1": 5, "b2": 5}, r
        c.set(svc("test", VIP, sessionAffinity="ClientIP"))
        r = c.client("tcp", VIP, 80, 10)
        assert len(r["counts"]) == 1, r
    finally:
        c.set(svc("test", VIP))


# Connections at chosen moments, from one process (a process start can take
# longer than the timeout on an emulated VM): [(delay before, count)].
TIMED = """
import json, socket, sys, time
plan = json.loads(sys.argv[1])
out = []
for delay, count in plan:
    time.sleep(delay)
    got = set()
    for _ in range(count):
        with socket.create_connection(("%s", 80), timeout=3) as s:
            got.add(s.recv(64).decode().split("@")[0])
    out.append(sorted(got))
print(json.dumps(out))
""" % VIP


def test_should_have_session_affinity_timeout_work_for_service_with_type_clusterip(c):
    """The affinity ends once the timeout passes with no new connection."""
    try:
        c.set(svc("test", VIP, sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 2}}))
        # 4 at once; 1 s later (within the timeout, counted from the last
        # connection) 2 more; then three times one after the timeout passed
        plan = [(0, 4), (1, 2), (2.4, 1), (2.4, 1), (2.4, 1)]
        out = json.loads(c.node.pod_run("client", kxnet.PY, "-c", TIMED,
                                        json.dumps(plan)).stdout)
        assert len(out[0]) == 1 and out[1] == out[0], out
        # after each expiry rr has moved on: both backends appear
        assert {b for o in out[2:] for b in o} == {"b1", "b2"}, out
    finally:
        c.set(svc("test", VIP))


def test_should_allow_pods_to_hairpin_back_to_themselves_through_services(c):
    """b3 is its Service's only backend and connects to it: it is served by
    itself and sees the VIP as the client (kube-router's hairpin)."""
    c.set(svc("self", "12.0.182.74"), slice_("self", [(c.ip["b3"], READY)]))
    for proto, sport in (("tcp", None), ("udp", 21300)):
        r = c.client(proto, "12.0.182.74", 80 if proto == "tcp" else 53, 3, sport=sport,
                     pod="b3")
        assert r["errors"] == {}, (proto, r)
        assert r["counts"] == {"b3@12.0.182.74": 3}, (proto, r)
        assert r["peers"] == ["12.0.182.74:%d" % (80 if proto == "tcp" else 53)]


def test_should_be_rejected_when_no_endpoints_exist(c):
    """No endpoint: ECONNREFUSED at once over TCP and UDP; the same for a
    port the Service does not have; and a ping to the VIP is answered."""
    c.set(svc("none", "12.0.182.75"), slice_("none", []))
    for proto, port in (("tcp", 80), ("udp", 53), ("tcp", 8081), ("udp", 5454)):
        vip = "12.0.182.75" if port in (80, 53) else VIP
        r = c.client(proto, vip, port, 2)
        assert r["errors"] == {"ConnectionRefusedError": 2}, (proto, port, r)
        assert r["seconds"] < 1.5, (proto, port, r)
    code = ("import socket, struct, sys\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)\n"
            "s.settimeout(2)\n"
            "def csum(b):\n"
            "    t = sum(struct.unpack('!%%dH' %% (len(b) // 2), b))\n"
            "    t = (t >> 16) + (t & 0xffff); t += t >> 16\n"
            "    return ~t & 0xffff\n"
            "h = struct.pack('!BBHHH', 8, 0, 0, 77, 1) + b'kxdp-ping'\n"
            "h = h[:2] + struct.pack('!H', csum(h + b'\\0')) + h[4:]\n"
            "s.sendto(h, ('%s', 0))\n"
            "data, peer = s.recvfrom(256)\n"
            "print(peer[0], data[20], struct.unpack('!H', data[24:26])[0])\n" % VIP)
    out = c.node.pod_run("client", kxnet.PY, "-c", code).stdout.split()
    assert out == [VIP, "0", "77"], out  # an echo reply from the VIP, our id


def test_should_fallback_to_terminating_endpoints_when_there_are_no_ready_endpoints(c):
    """KEP-1669 with internalTrafficPolicy=Cluster: only terminating (still
    serving) endpoints left, they serve; once one is ready, only it does."""
    try:
        c.set(slice_("test", [(c.ip["b1"], TERMINATING), (c.ip["b2"], TERMINATING)]))
        assert names(c.client("tcp", VIP, 80, 4)) == {"b1": 2, "b2": 2}
        c.set(slice_("test", [(c.ip["b1"], TERMINATING), (c.ip["b2"], TERMINATING),
                              (c.ip["b3"], READY)]))
        assert names(c.client("tcp", VIP, 80, 4)) == {"b3": 4}
    finally:
        c.set(slice_("test", [(c.ip["b1"], READY), (c.ip["b2"], READY)]))


def test_existing_connections_to_a_removed_backend_continue(c):
    """A connection open to a backend that becomes terminating, then leaves
    the slice altogether, keeps working until it closes."""
    n = c.node
    p = subprocess.Popen(kxnet.in_ns(n.pods["client"]["ns"], kxnet.PY,
                                     os.path.join(kxnet.HELPERS, "hold.py"), VIP, "80"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        who = p.stdout.readline().split("@")[0]
        other = "b2" if who == "b1" else "b1"
        c.set(slice_("test", [(c.ip[who], TERMINATING), (c.ip[other], READY)]))
        p.stdin.write("one\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "one"
        assert names(c.client("tcp", VIP, 80, 2)) == {other: 2}  # new ones: the ready one
        c.set(slice_("test", [(c.ip[other], READY)]))
        p.stdin.write("two\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "two"
    finally:
        p.kill()
        p.wait()
        c.set(slice_("test", [(c.ip["b1"], READY), (c.ip["b2"], READY)]))


def test_should_be_able_to_preserve_udp_traffic_when_server_pod_cycles_for_a_clusterip_service(c):
    """A UDP client keeps its source port (one conntrack flow); its backend
    is replaced by another pod: the next datagrams reach the new one (the
    flow to the removed backend is purged, no black hole)."""
    try:
        c.set(slice_("test", [(c.ip["b1"], READY)]))
        r = c.client("udp", VIP, 53, 1, sport=21400)
        assert names(r) == {"b1": 1}, r
        c.set(slice_("test", [(c.ip["b3"], READY)]))  # b1 "deleted", b3 its replacement
        r = c.client("udp", VIP, 53, 1, sport=21400)
        assert names(r) == {"b3": 1}, r  # b1 still answers: only a purge sends it to b3
    finally:
        c.set(slice_("test", [(c.ip["b1"], READY), (c.ip["b2"], READY)]))


def test_kube_router_scheduler_annotations(c):
    """kube-router.io/service.scheduler: sh keeps a client on one backend,
    mh too (Maglev), random spreads, an unknown one is rr."""
    three = slice_("test", [(c.ip[b], READY) for b in ("b1", "b2", "b3")])
    try:
        for sched, one_backend in (("sh", True), ("mh", True), ("random", False),
                                   ("wrr-unknown", False)):
            c.set(svc("test", VIP, ann={"kube-router.io/service.scheduler": sched}), three)
            r = c.client("tcp", VIP, 80, 30)
            assert r["errors"] == {}, (sched, r)
            assert (len(r["counts"]) == 1) == one_backend, (sched, r)
            if sched == "wrr-unknown":
                assert names(r) == {"b1": 10, "b2": 10, "b3": 10}
                assert any("service.scheduler \"wrr-unknown\" is not served" in l
                           for l in c.node.log_lines())
    finally:
        c.set(svc("test", VIP), slice_("test", [(c.ip["b1"], READY), (c.ip["b2"], READY)]))


def test_service_without_selector_and_publish_not_ready_addresses(c):
    """A Service with no selector, its EndpointSlice made by hand (no
    managed-by label) listing a not-ready pod, publishNotReadyAddresses."""
    manual = slice_("manual", [(c.ip["b2"], {"ready": False})])
    manual["metadata"]["labels"] = {"kubernetes.io/service-name": "manual"}
    c.set(svc("manual", "12.0.182.76", publishNotReadyAddresses=True), manual)
    r = c.client("tcp", "12.0.182.76", 80, 2)
    assert names(r) == {"b2": 2}, r
    c.set(svc("manual", "12.0.182.76"))  # without it, not-ready is not served
    r = c.client("tcp", "12.0.182.76", 80, 1)
    assert r["errors"] == {"ConnectionRefusedError": 1}, r


def test_idle_flows_leave_conntrack_open_connections_stay(c):
    """The agent's conntrack GC (short timeouts here, kube-proxy's 24 h for
    established TCP by default): a UDP flow and a closed TCP connection idle
    past their timeouts leave kx_ct; an open, idle TCP connection keeps its
    entries and still works; GC deletions are not read as evictions."""
    n = c.node
    n.stop_agent()
    n.agent_extra = ["--ct-gc-interval", "1", "--ct-udp-timeout", "3",
                     "--ct-tcp-close-timeout", "3", "--ct-tcp-timeout", "3600"]
    n.start_agent()
    p = subprocess.Popen(kxnet.in_ns(n.pods["client"]["ns"], kxnet.PY,
                                     os.path.join(kxnet.HELPERS, "hold.py"), VIP, "80",
                                     "21502"),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().split("@")[0] in ("b1", "b2")
        assert sum(names(c.client("udp", VIP, 53, 1, sport=21500)).values()) == 1
        assert sum(names(c.client("tcp", VIP, 80, 1, sport=21501)).values()) == 1

        def flows():
            """This test's flows (earlier tests' may still be there), by client port."""
            rows = json.loads(n.kxdp("ct", "list", "-o", "json").stdout)

            def of(proto, port):
                end = ":%d" % port
                return [r for r in rows if r["protocol"] == proto and
                        (r["src"].endswith(end) or r["dst"].endswith(end))]
            return of("UDP", 21500), of("TCP", 21501), of("TCP", 21502)

        udp, closed, held = flows()
        assert len(udp) == 2 and len(closed) == 2 and len(held) == 2, (udp, closed, held)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (udp or closed):
            time.sleep(0.5)
            udp, closed, held = flows()
        assert not udp and not closed, (udp, closed)
        assert len(held) == 2, held
        p.stdin.write("still here\n")
        p.stdin.flush()
        assert p.stdout.readline().strip() == "still here"
        assert json.loads(n.kxdp("stats", "-o", "json").stdout)["conntrack"]["evicted"] == 0
    finally:
        p.kill()
        p.wait()
        n.stop_agent()
        n.agent_extra = []
        n.start_agent()
