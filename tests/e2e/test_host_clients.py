"""Clients in a node's own network namespace (kubelet probes, hostNetwork
pods, node daemons) reach ClusterIPs through the cgroup sock_* programs: TCP,
connected and unconnected UDP, the ClusterIP as the peer they see. Two nodes
share one cgroup here, with the same ClusterIP served by different backends:
each node's programs act in its own namespace only (netns cookie)."""
import os

import pytest

import kxnet

VIP = "12.0.182.73"
EMPTY_VIP = "12.0.182.99"


def state(node, backend):
    return kxnet.k8s_list(
        kxnet.node_object(node.name, node.node_ip, node.pod_cidr),
        kxnet.service("test", "test", VIP,
                      [("postgres", 5432, "TCP", 5001), ("dns", 53, "UDP", 5353)]),
        kxnet.endpoint_slice("test", "test", "test-1",
                             [("postgres", 5001, "TCP"), ("dns", 5353, "UDP")], [backend]),
        kxnet.service("test", "empty", EMPTY_VIP, [("web", 80, "TCP", 8080)]),
    )


@pytest.fixture(scope="module")
def nodes():
    made = []
    try:
        for name, ip, cidr, gw in (("node130", "10.124.242.130", "12.0.2.0/24", "12.0.2.1"),
                                   ("node131", "10.124.242.131", "12.0.0.0/24", "12.0.0.1")):
            n = kxnet.Node(name, ip, cidr, gw)
            made.append(n)
            n.start_agent(kxnet.k8s_list(kxnet.node_object(name, ip, cidr)))
            backend = n.add_pod("backend")
            n.apply_state(state(n, backend))
            n.serve("backend", "tcp", "0.0.0.0", 5001, name + "-backend")
            n.serve("backend", "udp", "0.0.0.0", 5353, name + "-backend")
        # node131's agent attaches to node130's cgroup too: both nodes'
        # programs then run for every socket of that cgroup.
        a, b = made
        b.run(os.path.join(kxnet.BUILD, "kxdp-agent"), "--node", b.name, "--state", b.state,
              "--bpffs", b.bpffs, "--cni-conf-dir", "", "--metrics-addr", "", "--cgroup",
              a.cgroup, "--once")
        yield made
    finally:
        for n in made:
            n.cleanup()


def test_host_process_reaches_a_cluster_ip_over_tcp(nodes):
    """A node process connects to ClusterIP:port; its own node's backend
    answers, and getpeername() gives the ClusterIP, not the backend."""
    for n in nodes:
        r = n.host_client("tcp", VIP, 5432, 3, cgroup=nodes[0].cgroup)
        assert r["errors"] == {}, (n.name, r)
        assert r["counts"] == {n.name + "-backend": 3}, n.name
        assert r["peers"] == [VIP + ":5432"]


def test_host_process_reaches_a_cluster_ip_over_udp(nodes):
    """Connected UDP: the answer comes from the ClusterIP (recvmsg, getpeername)."""
    for n in nodes:
        r = n.host_client("udp", VIP, 53, 3, cgroup=nodes[0].cgroup)
        assert r["errors"] == {}, (n.name, r)
        assert r["counts"] == {n.name + "-backend": 3}
        assert r["peers"] == [VIP + ":53"]


def test_unconnected_udp_sees_the_cluster_ip_as_source(nodes):
    """sendto() to the ClusterIP, recvfrom() names the ClusterIP as sender."""
    n = nodes[0]
    code = ("import socket\n"
            "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
            "s.settimeout(3)\n"
            "s.sendto(b'hi', ('%s', 53))\n"
            "data, peer = s.recvfrom(2048)\n"
            "print(data.decode().strip(), '%%s:%%d' %% peer)\n" % VIP)
    out = n.host_run(kxnet.PY, "-c", code).stdout.split()
    assert out == [n.name + "-backend", VIP + ":53"]


def test_host_process_refused_by_a_service_without_endpoints(nodes):
    """No endpoint: ECONNREFUSED at once, as kube-proxy's REJECT gives."""
    n = nodes[0]
    r = n.host_client("tcp", EMPTY_VIP, 80, 1)
    assert r["errors"] == {"ConnectionRefusedError": 1}, r
    assert r["seconds"] < 1


def test_programs_leave_other_cgroups_and_other_traffic_alone(nodes):
    """A process outside the cgroup is not translated; nor is traffic to a
    pod address (no service there)."""
    n = nodes[0]
    r = n.run(kxnet.PY, os.path.join(kxnet.HELPERS, "client.py"), "tcp", VIP, "5432", "1",
              check=False)
    assert '"counts": {}' in r.stdout, r.stdout
    r = n.host_client("tcp", n.pods["backend"]["ip"], 5001, 1)
    assert r["counts"] == {n.name + "-backend": 1} and r["peers"] == \
        [n.pods["backend"]["ip"] + ":5001"]
