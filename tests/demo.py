#!/usr/bin/python3
"""make demo: the reference cluster of DESIGN.md section 1, built from network
namespaces on this machine, with traffic through the ClusterIP and the state
shown the way an operator reads it.

    tests/demo.py            build, show, tear down
    KEEP=1 tests/demo.py     leave it running (make demo-clean removes it)
    tests/demo.py --clean    remove a kept demo

Nothing is linked to the root network namespace: the three nodes meet on a
switch (a bridge) inside a fabric namespace of their own.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "e2e"))
import kxnet  # noqa: E402

kxnet.PREFIX = "kxdemo-"
kxnet.TMP_PREFIX = "kxdp-demo-"

NODES = [("node130", "10.124.242.130", "12.0.2.0/24", "12.0.2.1"),
         ("node131", "10.124.242.131", "12.0.0.0/24", "12.0.0.1"),
         ("node132", "10.124.242.132", "12.0.1.0/24", "12.0.1.1")]
BACKENDS = [("node132", "test-749dd49bb4-m2v6c", "12.0.1.93"),
            ("node130", "test-749dd49bb4-wjsrm", "12.0.2.132")]
VIP, PORT = "12.0.182.73", 5432


def step(text):
    print("\n==> " + text, flush=True)


def show(title, text):
    print("--- %s" % title)
    print(text.rstrip())


def build():
    step("Creating the fabric: a namespace holding one L2 switch (bridge sw0)")
    fabric = kxnet.Fabric()
    nodes = {}
    try:
        state = kxnet.reference_cluster()
        for name, ip, cidr, gw in NODES:
            step("Node %s: namespace %s, uplink eth0 %s/24 on the switch, private bpffs"
                 % (name, kxnet.PREFIX + name, ip))
            nodes[name] = kxnet.Node(name, ip, cidr, gw, fabric=fabric)
            print("    starting kxdp-agent --node %s --state manifests/examples/"
                  "reference-cluster.json" % name)
            nodes[name].start_agent(state)
        for node, pod, ip in BACKENDS:
            step("Pod %s on %s: kxdp-cni ADD with host-local, CNI_ARGS=IP=%s" % (pod, node, ip))
            nodes[node].add_pod(pod, ip=ip)
            print("    server on :5001 answering with its pod name")
            nodes[node].serve(pod, "tcp", "0.0.0.0", 5001, pod)
        step("Pod client on node131: kxdp-cni ADD with host-local")
        ip = nodes["node131"].add_pod("client")
        print("    client IP %s" % ip)
        return fabric, nodes
    except BaseException:
        teardown(fabric, nodes)
        raise


def traffic(nodes):
    step("Client on node131 -> %s:%d (service test/test), 6 connections" % (VIP, PORT))
    for i in range(6):
        out = nodes["node131"].client("client", "tcp", VIP, PORT, 1)
        if out["errors"]:
            raise SystemExit("demo: connection %d failed: %s" % (i + 1, out["errors"]))
        print("    connection %d: answered by %-24s (peer %s)"
              % (i + 1, next(iter(out["counts"])), out["peers"][0]))


def state(nodes):
    step("kxdp svc list on node131 (the ipvsadm -Ln layout)")
    print(nodes["node131"].kxdp("svc", "list").stdout.rstrip())
    step("kxdp pods on node130 (kx_endpoints: the pods kxdp delivers to)")
    print(nodes["node130"].kxdp("ep", "list").stdout.rstrip())
    step("ip route on node130 (no bridge; kxdp's routes are proto 180, pods' 181)")
    print(nodes["node130"].run("ip", "route").stdout.rstrip())
    bridges = [n for n in nodes.values()
               if json.loads(n.run("ip", "-j", "link", "show", "type", "bridge").stdout or "[]")]
    print("    bridges in the nodes: %s" % ("none" if not bridges else bridges))
    step("bpftool map dump pinned .../kxdp/kx_svc on node130")
    print(kxnet.sh("bpftool", "map", "dump", "pinned",
                   os.path.join(nodes["node130"].bpffs, "kxdp", "kx_svc")).stdout.rstrip())
    print("    (vip and port are in network byte order, printed as host integers:\n"
          "     1236664332 = 0x49b6000c -> bytes 0c 00 b6 49 = 12.0.182.73; "
          "14357 = 0x3815 -> 15 38 = 5432)")


def pod_object(ns, name, node, ip, labels):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "ports": [
                {"name": "postgres", "containerPort": 5001, "protocol": "TCP"}]}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}


def policy_object(name, spec):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": "test"}, "spec": spec}


DENY_ALL = {"podSelector": {}, "policyTypes": ["Ingress"], "ingress": []}
ALLOW_CLIENT = {"podSelector": {"matchLabels": {"app": "test"}}, "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"namespaceSelector": {},
                                       "podSelector": {"matchLabels": {"app": "client"}}}],
                             "ports": [{"port": "postgres"}]}]}


def apply_everywhere(nodes, items, needle):
    """The reference cluster plus items, given to every node's agent; each
    has taken it in once it logs needle."""
    st = kxnet.reference_cluster()
    st["items"] += items
    for n in nodes.values():
        n.apply_state(st, needle=needle)


def policy(nodes):
    client = nodes["node131"].pods["client"]["ip"]
    pods = [pod_object("test", pod, node, ip, {"app": "test"}) for node, pod, ip in BACKENDS]
    pods.append(pod_object("default", "client", "node131", client, {"app": "client"}))
    namespaces = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
                  for n in ("test", "default")]
    backend = BACKENDS[0][2]
    step("NetworkPolicy test/deny-all: every pod of namespace test isolated for ingress")
    apply_everywhere(nodes, namespaces + pods + [policy_object("deny-all", DENY_ALL)],
                     "policy test/deny-all applied")
    out = nodes["node131"].client("client", "tcp", VIP, PORT, 1)
    print("    client -> %s:%d: %s" % (VIP, PORT, "answered (unexpected)" if out["counts"] else
                                        "no answer (%s): dropped at the backend's node" %
                                        ", ".join(out["errors"])))
    if out["counts"]:
        raise SystemExit("demo: deny-all did not deny")
    show("kxdp policy explain %s %s:5001 on node132" % (client, backend),
         nodes["node132"].kxdp("policy", "explain", client, backend + ":5001").stdout)
    step("NetworkPolicy test/allow-client: app=client pods of any namespace, on the named "
         "port postgres")
    apply_everywhere(nodes, namespaces + pods + [policy_object("deny-all", DENY_ALL),
                                                 policy_object("allow-client", ALLOW_CLIENT)],
                     "policy test/allow-client applied")
    out = nodes["node131"].client("client", "tcp", VIP, PORT, 1)
    if not out["counts"]:
        raise SystemExit("demo: allow-client did not allow: %s" % out["errors"])
    print("    client -> %s:%d: answered by %s" % (VIP, PORT, next(iter(out["counts"]))))
    show("kxdp policy explain %s %s:5001 on node132" % (client, backend),
         nodes["node132"].kxdp("policy", "explain", client, backend + ":5001").stdout)
    show("kxdp policy list on node132", nodes["node132"].kxdp("policy", "list").stdout)
    show("kxdp stats | grep policy on node132",
         "\n".join(l for l in nodes["node132"].kxdp("stats").stdout.splitlines()
                   if "policy" in l))


def teardown(fabric, nodes):
    step("Tearing down: pods (kxdp-cni DEL), agents, namespaces, bpffs mounts")
    for n in nodes.values():
        n.cleanup()
    fabric.cleanup()


def main():
    if os.geteuid() != 0:
        raise SystemExit("demo: run as root (network namespaces, BPF)")
    if "--clean" in sys.argv:
        step("Removing a kept demo (namespaces %s*, their processes and mounts)" % kxnet.PREFIX)
        kxnet.remove_leftovers()
        return
    kxnet.remove_leftovers()
    fabric, nodes = build()
    keep = os.environ.get("KEEP") == "1"
    try:
        traffic(nodes)
        state(nodes)
        policy(nodes)
    except BaseException:
        keep = False
        raise
    finally:
        if keep:
            step("KEEP=1: the cluster stays. Try:\n"
                 "    nsenter --net=/run/netns/kxdemo-node131-client "
                 "/usr/bin/python3 tests/e2e/helpers/client.py tcp 12.0.182.73 5432 4\n"
                 "    nsenter --net=/run/netns/kxdemo-node130 ip route\n"
                 "Remove it with: make demo-clean")
        else:
            teardown(fabric, nodes)
    print("\ndemo: done")


if __name__ == "__main__":
    main()
