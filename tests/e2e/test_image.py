"""The image runs the DaemonSet as a kubelet would: the image `make image`
built (loaded from its archive into a podman of the test's own), each init
container of manifests/kxdp.yaml with its command and privileges, then the
agent with exactly the manifest's capabilities, seccomp profile, env, args
and volumes (hostNetwork: the node's namespace), against the test API server
with in-cluster config. It becomes ready, installs the plugin, and a pod
wired through the installed plugin reaches a ClusterIP."""
import json
import os
import subprocess
import tempfile

import pytest

import kxnet
from podman_env import PodmanEnv, podman_teardown

IMAGE = "localhost/kxdp:latest"
ARCHIVE = os.path.join(kxnet.BUILD, "image", "kxdp-image.tar")
NODE_IP = "10.124.242.130"  # the ConfigMap's KUBERNETES_SERVICE_HOST
VIP = "12.0.182.73"
BACKEND = "12.0.2.50"


def cluster_state():
    return kxnet.k8s_list(
        kxnet.node_object("node130", NODE_IP, "12.0.2.0/24"),
        kxnet.service("test", "test", VIP, [("postgres", 5432, "TCP", 5001)]),
        kxnet.endpoint_slice("test", "test", "test-1", [("postgres", 5001, "TCP")],
                             [BACKEND]))


def pod_spec():
    docs = kxnet.manifest_docs()
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    cm = next(d for d in docs if d["kind"] == "ConfigMap")["data"]
    return ds["spec"]["template"]["spec"], cm


def container_args(ctr, spec, cm, hostpaths, node_name):
    """podman run options for one container of the pod spec, as the kubelet
    would set it up: env (fieldRef, ConfigMap), $(VAR) in command and args,
    hostPath volumes with their propagation, privileges, capabilities,
    no-new-privileges, seccomp."""
    env = {}
    for e in ctr.get("env", []):
        src = e.get("valueFrom", {})
        if "value" in e:
            env[e["name"]] = e["value"]
        elif src.get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[e["name"]] = node_name
        elif "configMapKeyRef" in src:
            env[e["name"]] = cm[src["configMapKeyRef"]["key"]]
        else:
            raise AssertionError("env %s: a source the test does not know" % e["name"])

    def expand(a):
        for k, v in env.items():
            a = a.replace("$(%s)" % k, v)
        return a
    vols = {v["name"]: v for v in spec["volumes"]}
    opts = ["--network", "host", "--name", ctr["name"]]
    for k, v in env.items():
        opts += ["-e", "%s=%s" % (k, v)]
    for m in ctr.get("volumeMounts", []):
        src = hostpaths[vols[m["name"]]["hostPath"]["path"]]
        prop = {"Bidirectional": ":rshared", "HostToContainer": ":rslave"}.get(
            m.get("mountPropagation"), "")
        opts += ["-v", "%s:%s%s" % (src, m["mountPath"], prop)]
    sc = ctr.get("securityContext", {})
    if sc.get("privileged"):
        opts.append("--privileged")
    else:
        caps = sc.get("capabilities", {})
        opts += ["--cap-drop", ",".join(caps.get("drop", []))] if caps.get("drop") else []
        opts += ["--cap-add", ",".join(caps.get("add", []))] if caps.get("add") else []
    if sc.get("allowPrivilegeEscalation") is False:
        opts += ["--security-opt", "no-new-privileges"]
    if sc.get("seccompProfile", {}).get("type") == "Unconfined":
        opts += ["--security-opt", "seccomp=unconfined"]
    command = [expand(a) for a in ctr["command"]]
    opts += ["--entrypoint", json.dumps(command[:1]), IMAGE] + command[1:] + \
        [expand(a) for a in ctr.get("args", [])]
    return opts


@pytest.fixture(scope="module")
def ds():
    if not os.path.exists(ARCHIVE):
        pytest.fail("%s is missing: make image builds it (make check does)" % ARCHIVE)
    fabric = kxnet.Fabric()
    node = env = None
    try:
        node = kxnet.Node("node130", NODE_IP, "12.0.2.0/24", "12.0.2.1", fabric=fabric)
        api = kxnet.ApiServer(node, state=cluster_state())
        host = os.path.join(node.tmp, "host")
        hostpaths = {"/sys/fs/bpf": "/sys/fs/bpf",  # in podman's mount namespace: its own
                     "/opt/cni/bin": os.path.join(host, "opt-cni-bin"),
                     "/etc/cni/net.d": os.path.join(host, "etc-cni-net.d"),
                     "/sys/fs/cgroup": node.cgroup}  # never the machine's root cgroup
        sa = os.path.join(host, "serviceaccount")
        for d in (hostpaths["/opt/cni/bin"], hostpaths["/etc/cni/net.d"], sa,
                  os.path.join(host, "no-networks"), os.path.join(host, "no-plugins")):
            os.makedirs(d)
        with open(os.path.join(sa, "token"), "w") as f:
            f.write(open(api.token_file).read())
        with open(os.path.join(sa, "ca.crt"), "w") as f:
            f.write(open(api.cert).read())
        env = PodmanEnv(node.ns, tempfile.mkdtemp(prefix=kxnet.TMP_PREFIX + "podman-"),
                        os.path.join(host, "no-networks"), [os.path.join(host, "no-plugins")])
        env.setup()
        # the "host" of these pods is podman's mount namespace: /sys there is
        # shared (Bidirectional needs it) and /sys/fs/bpf holds no bpffs yet
        env.in_mount_ns("mount", "--make-rshared", "/sys")
        env.podman("load", "-i", ARCHIVE, timeout=300)
        spec, cm = pod_spec()
        assert spec["hostNetwork"] is True
        procs = []
        yield {"node": node, "api": api, "env": env, "spec": spec, "cm": cm,
               "hostpaths": hostpaths, "sa": sa, "procs": procs}
    finally:
        podman_teardown(locals().get("procs", []), env, node, fabric)


def run_init_containers(ds):
    for ctr in ds["spec"]["initContainers"]:
        opts = container_args(ctr, ds["spec"], ds["cm"], ds["hostpaths"], "node130")
        r = ds["env"].podman("run", "--rm", *opts, host_network=True, check=False)
        assert r.returncode == 0, (ctr["name"], r.stdout, r.stderr)


def start_agent(ds, seccomp_default=False):
    ctr = next(c for c in ds["spec"]["containers"] if c["name"] == "kxdp-agent")
    opts = container_args(ctr, ds["spec"], ds["cm"], ds["hostpaths"], "node130")
    if seccomp_default:  # the runtime's default profile instead of the manifest's
        i = opts.index("seccomp=unconfined")
        del opts[i - 1:i + 1]
    opts[opts.index("--name") + 1] += "-default-seccomp" if seccomp_default else ""
    # the service-account token and CA, where the kubelet projects them
    opts[0:0] = ["-v", "%s:/var/run/secrets/kubernetes.io/serviceaccount:ro" % ds["sa"]]
    return ds["env"].podman("run", "-d", *opts, host_network=True)


def eventually(check, timeout=30):
    return kxnet.eventually(check, timeout, every=0.2)


def test_init_containers_mount_bpffs_and_install_the_plugins(ds):
    env = ds["env"]
    assert env.in_mount_ns("mountpoint", "-q", "/sys/fs/bpf", check=False).returncode != 0
    run_init_containers(ds)
    fstype = env.in_mount_ns("stat", "-f", "-c", "%T", "/sys/fs/bpf").stdout.strip()
    assert fstype == "bpf_fs", fstype
    assert ds["node"].run("sysctl", "-n", "net.ipv4.ip_forward").stdout.strip() == "1"
    for p in ("kxdp", "host-local", "portmap"):
        assert os.access(os.path.join(ds["hostpaths"]["/opt/cni/bin"], p), os.X_OK), p


def test_agent_with_the_default_seccomp_profile_says_so(ds):
    """Without the manifest's Unconfined profile, the runtime's default denies
    bpf(2): the agent exits and its one line names seccomp."""
    env = ds["env"]
    start_agent(ds, seccomp_default=True)
    assert env.wait_state("kxdp-agent-default-seccomp", "exited")
    logs = env.podman("logs", "kxdp-agent-default-seccomp").stderr
    assert "seccomp" in logs and "docs/troubleshooting.md" in logs, logs
    env.rm("kxdp-agent-default-seccomp")


def test_agent_becomes_ready_with_the_manifest_privileges(ds):
    env, node = ds["env"], ds["node"]
    start_agent(ds)
    assert eventually(lambda: node.agent_status("/readyz") == "200"), \
        env.podman("logs", "kxdp-agent", check=False).stderr
    pid = env.inspect("kxdp-agent")["State"]["Pid"]
    with open("/proc/%d/status" % pid) as f:
        status = dict(l.split(":", 1) for l in f if ":" in l)
    CAP_NET_ADMIN, CAP_PERFMON, CAP_BPF = 12, 38, 39
    assert int(status["CapEff"], 16) == (1 << CAP_NET_ADMIN) | (1 << CAP_PERFMON) | (1 << CAP_BPF)
    assert status["NoNewPrivs"].strip() == "1"
    assert status["Seccomp"].strip() == "0"  # Unconfined, as the manifest says
    conflist = os.path.join(ds["hostpaths"]["/etc/cni/net.d"], "10-kxdp.conflist")
    assert eventually(lambda: os.path.exists(conflist))


def cni_add(ds, name, ip=None):
    """The kubelet's part: a pod netns, and ADD through the installed plugin
    with the conflist the agent wrote (its first plugin), on the host."""
    ns = "%s-%s" % (ds["node"].ns, name)
    kxnet.sh("ip", "netns", "add", ns)
    ds["node"].pods[name] = {"ns": ns}  # the node's cleanup removes it
    holder = subprocess.Popen(kxnet.in_ns(ns, "sleep", "3600"))
    ds["procs"].append(holder)
    with open(os.path.join(ds["hostpaths"]["/etc/cni/net.d"], "10-kxdp.conflist")) as f:
        conflist = json.load(f)
    conf = dict(conflist["plugins"][0], name=conflist["name"],
                cniVersion=conflist["cniVersion"])
    bins = ds["hostpaths"]["/opt/cni/bin"]
    cenv = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "CNI_COMMAND": "ADD",
            "CNI_CONTAINERID": "cid-" + ns, "CNI_NETNS": "/proc/%d/ns/net" % holder.pid,
            "CNI_IFNAME": "eth0", "CNI_PATH": bins}
    if ip:
        cenv["CNI_ARGS"] = "IP=" + ip
    r = ds["env"].in_mount_ns(os.path.join(bins, "kxdp"), input=json.dumps(conf), env=cenv,
                              check=False)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return json.loads(r.stdout)["ips"][0]["address"].split("/")[0]


def test_pod_wired_by_the_installed_plugin_reaches_a_cluster_ip(ds):
    node = ds["node"]
    assert cni_add(ds, "backend", ip=BACKEND) == BACKEND
    client_ip = cni_add(ds, "client")
    assert client_ip.startswith("12.0.2.")
    server = subprocess.Popen(kxnet.in_ns(node.pods["backend"]["ns"], kxnet.PY,
                                          os.path.join(kxnet.HELPERS, "server.py"), "tcp",
                                          "0.0.0.0", "5001", "backend"),
                              stdout=subprocess.PIPE, text=True)
    ds["procs"].append(server)
    assert server.stdout.readline().strip() == "ready"
    out = json.loads(kxnet.sh(*kxnet.in_ns(node.pods["client"]["ns"], kxnet.PY,
                                           os.path.join(kxnet.HELPERS, "client.py"), "tcp",
                                           VIP, "5432", "4"), timeout=60).stdout)
    assert out["counts"] == {"backend": 4} and out["peers"] == ["%s:5432" % VIP], out
