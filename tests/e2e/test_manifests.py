"""The manifests parse and hold what the agent needs; the agent runs with
exactly the DaemonSet's command line (see test_api.py for it at work)."""
import os

import kxnet


def kinds():
    return {d["kind"]: d for d in kxnet.manifest_docs()}


def test_rbac_lets_the_agent_list_and_watch():
    k = kinds()
    rules = k["ClusterRole"]["rules"]
    need = {("", "services"), ("", "nodes"), ("", "pods"), ("", "namespaces"),
            ("discovery.k8s.io", "endpointslices"), ("networking.k8s.io", "networkpolicies")}
    for group, res in need:
        assert any(group in r["apiGroups"] and res in r["resources"] and
                   {"get", "list", "watch"} <= set(r["verbs"]) for r in rules), (group, res)
    b = k["ClusterRoleBinding"]
    assert b["roleRef"]["name"] == k["ClusterRole"]["metadata"]["name"]
    sa = k["ServiceAccount"]["metadata"]
    assert {"kind": "ServiceAccount", "name": sa["name"], "namespace": sa["namespace"]} \
        in b["subjects"]


def test_daemonset_shape():
    k = kinds()
    spec = k["DaemonSet"]["spec"]["template"]["spec"]
    assert spec["hostNetwork"] is True
    assert spec["priorityClassName"] == "system-node-critical"
    assert {"operator": "Exists"} in spec["tolerations"]
    assert spec["serviceAccountName"] == k["ServiceAccount"]["metadata"]["name"]
    vols = {v["name"]: v for v in spec["volumes"]}
    assert vols["bpffs"]["hostPath"]["path"] == "/sys/fs/bpf"
    agent = next(c for c in spec["containers"] if c["name"] == "kxdp-agent")
    sc = agent["securityContext"]
    assert sc["privileged"] is False and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"], "add": ["BPF", "PERFMON", "NET_ADMIN"]}
    mounts = {m["name"]: m for m in agent["volumeMounts"]}
    assert mounts["bpffs"]["mountPath"] == "/sys/fs/bpf"
    assert mounts["bpffs"]["mountPropagation"] == "HostToContainer"
    init = {c["name"]: c for c in spec["initContainers"]}
    assert "mount -t bpf" in " ".join(init["mount-bpffs"]["command"])
    assert init["mount-bpffs"]["volumeMounts"][0]["mountPropagation"] == "Bidirectional"
    assert mounts["cni-conf"]["mountPath"] == "/etc/cni/net.d"
    args = agent["args"]
    assert args[args.index("--bpffs") + 1] == "/sys/fs/bpf"
    assert args[args.index("--cni-conf-dir") + 1] == "/etc/cni/net.d"
    # the probes hit the address the agent is told to serve on
    env = {e["name"]: e for e in agent["env"]}
    cm = k["ConfigMap"]["data"]
    host, port = cm["KXDP_METRICS_ADDR"].rsplit(":", 1)
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = agent[probe]["httpGet"]
        assert (get["host"], str(get["port"]), get["path"]) == (host, port, path)
    assert env["NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    for key in ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT"):
        assert env[key]["valueFrom"]["configMapKeyRef"]["name"] == \
            k["ConfigMap"]["metadata"]["name"]
        assert cm[key]
    # not a ClusterIP kxdp itself serves: the reference API server's own address
    assert cm["KUBERNETES_SERVICE_HOST"] == "10.124.242.130"
    inits = {c["name"]: c for c in spec["initContainers"]}
    assert "mount -t bpf bpf /sys/fs/bpf" in " ".join(inits["mount-bpffs"]["command"])
    assert inits["mount-bpffs"]["volumeMounts"][0]["mountPropagation"] == "Bidirectional"
    cni = inits["install-cni"]
    assert cni["command"][0] == "/usr/lib/kxdp/install-cni.sh"
    assert vols["cni-bin"]["hostPath"]["path"] == "/opt/cni/bin"
    assert cni["volumeMounts"][0]["mountPath"] == cni["command"][1]


def test_image_holds_what_the_pod_runs():
    """(test_image.py runs the built image as the DaemonSet; this checks the
    source of it: a Debian 12 base, nothing of a host's build tree.)"""
    with open(os.path.join(kxnet.ROOT, "Containerfile")) as f:
        text = f.read()
    assert "ARG BASE=docker.io/library/debian:12-slim" in text
    assert "COPY . " not in text  # only what make reads
    with open(os.path.join(kxnet.ROOT, ".containerignore")) as f:
        ignored = f.read().split()
    assert "build" in ignored and ".git" in ignored
    assert "/usr/lib/kxdp/install-cni.sh" in text
    assert "make -C /src install DESTDIR=/out PREFIX=/usr" in text
    with open(os.path.join(kxnet.ROOT, "Makefile")) as f:
        mk = f.read()
    # install puts kxdp-cni where install-cni.sh takes it from
    assert "$(PREFIX)/lib/kxdp/kxdp-cni" in mk
    with open(os.path.join(kxnet.ROOT, "manifests", "image", "install-cni.sh")) as f:
        assert "/usr/lib/kxdp/kxdp-cni" in f.read()
