"""pytest fixtures: a single simulated node with pods wired by kxdp-cni."""
import os

import pytest

import kxnet


def pytest_sessionstart(session):
    if os.geteuid() != 0:
        raise pytest.UsageError("the e2e suite needs root (network namespaces, BPF)")
    kxnet.remove_leftovers()


VIP = "12.0.182.73"
API_VIP = "12.0.128.1"
EMPTY_VIP = "12.0.182.99"


def single_node_state(node):
    b1, b2 = node.pods["b1"]["ip"], node.pods["b2"]["ip"]
    return kxnet.k8s_list(
        kxnet.node_object("node130", node.node_ip, node.pod_cidr),
        kxnet.service("test", "test", VIP,
                      [("postgres", 5432, "TCP", 5001), ("dns", 53, "UDP", 5353)]),
        kxnet.endpoint_slice("test", "test", "test-1",
                             [("postgres", 5001, "TCP"), ("dns", 5353, "UDP")], [b1, b2]),
        kxnet.service("default", "kubernetes", API_VIP, [("https", 443, "TCP", 6443)]),
        kxnet.endpoint_slice("default", "kubernetes", "kubernetes", [("https", 6443, "TCP")],
                             [node.node_ip]),
        kxnet.service("test", "empty", EMPTY_VIP, [("web", 80, "TCP", 8080),
                                                   ("q", 81, "UDP", 8081)]),
    )


@pytest.fixture(scope="module")
def node():
    """node130 of the reference cluster, alone: pods a (client), b1, b2, c."""
    n = kxnet.Node("node130", "10.124.242.130", "12.0.2.0/24", "12.0.2.1")
    try:
        n.start_agent(kxnet.k8s_list(kxnet.node_object("node130", n.node_ip, n.pod_cidr)))
        for pod in ("a", "b1", "b2", "c"):
            n.add_pod(pod)
        n.apply_state(single_node_state(n))
        n.serve("b1", "tcp", "0.0.0.0", 5001, "b1")
        n.serve("b2", "tcp", "0.0.0.0", 5001, "b2")
        n.serve("b1", "udp", "0.0.0.0", 5353, "b1")
        n.serve("b2", "udp", "0.0.0.0", 5353, "b2")
        n.serve("c", "tcp", "0.0.0.0", 7000, "c")
        n.serve("node", "tcp", n.node_ip, 6443, "apiserver")
        yield n
    finally:
        n.cleanup()
