"""The upstream NetworkPolicy suite's model on two simulated nodes:
namespaces x, y, z (labels ns=<name>), pods a, b, c in each (label
pod=<name>) spread over both nodes so same-node and cross-node deliveries
are both judged, every pod serving TCP and UDP 80 and 81 (container ports
serve-<port>-<proto>), one ClusterIP Service per pod; the objects served by
a test API server the agents watch. A probe round asks every pod to reach
every other through its Service and by its pod IP."""
import contextlib
import copy
import ipaddress
import json
import os
import subprocess
import time

import kxnet

NAMESPACES = ("x", "y", "z")
PODS = ("a", "b", "c")
NODES = {"node130": ("10.124.242.130", "12.0.2.0/24", "12.0.2.1"),
         "node131": ("10.124.242.131", "12.0.0.0/24", "12.0.0.1")}
PROBE_TIMEOUT = 0.8


def pod_names():
    return ["%s/%s" % (ns, p) for ns in NAMESPACES for p in PODS]


def namespace_object(name, labels=None):
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {
        "name": name,
        "labels": labels if labels is not None else
        {"ns": name, "kubernetes.io/metadata.name": name}}}


def pod_object(ns, name, node, ip, labels=None):
    ports = [{"name": "serve-%d-%s" % (port, proto.lower()), "containerPort": port,
              "protocol": proto} for port in (80, 81) for proto in ("TCP", "UDP", "SCTP")]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": ns,
                         "labels": labels if labels is not None else {"pod": name}},
            "spec": {"nodeName": node, "containers": [{"name": "cont-80-81", "ports": ports}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}


def service_objects(ns, name, vip, ip):
    ports = [("serve-%d-%s" % (p, pr.lower()), p, pr) for p in (80, 81) for pr in ("TCP", "UDP")]
    svc = kxnet.service(ns, "s-" + name, vip, [(n, p, pr, p) for n, p, pr in ports])
    sl = kxnet.endpoint_slice(ns, "s-" + name, "s-%s-1" % name, ports, [ip])
    return [svc, sl]


class Model:
    """The running model: nodes, API server, pods (ns/name -> node, ip, vip)."""

    def __init__(self, nodes, api, pods):
        self.nodes, self.api, self.pods = nodes, api, pods
        self.policies = set()  # (ns, name) of policies a case created
        self.probers = {}  # pod -> a prober.py that stays, reading rounds on stdin
        for pod in pods:
            node = self.pod_node(pod)
            proc = subprocess.Popen(
                kxnet.in_ns(node.pods[pod.replace("/", "-")]["ns"], kxnet.PY,
                            os.path.join(kxnet.HELPERS, "prober.py"), str(PROBE_TIMEOUT), "-"),
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            node.procs.append(proc)
            self.probers[pod] = proc

    def pod_node(self, pod):
        return self.nodes[self.pods[pod]["node"]]

    def substitute(self, obj):
        """The fixture's {ip:ns/pod} and {cidr4:ns/pod} made addresses."""
        text = json.dumps(obj)
        for pod, p in self.pods.items():
            net = ipaddress.ip_network(p["ip"] + "/4", strict=False)
            text = text.replace("{ip:%s}" % pod, p["ip"]).replace("{cidr4:%s}" % pod, str(net))
        return json.loads(text)

    def apply(self, obj):
        self.api.cmd("apply", object=obj)

    def act(self, action):
        """One step action of the fixture."""
        (kind, arg), = action.items()
        if kind in ("create", "update"):
            obj = self.substitute(arg)
            self.policies.add((obj["metadata"]["namespace"], obj["metadata"]["name"]))
            self.apply(obj)
        elif kind == "deleteAll":
            self.delete_policies()
        elif kind == "setNamespaceLabels":
            self.apply(namespace_object(arg[0], arg[1]))
        elif kind == "setPodLabels":
            self.set_pod_labels(arg[0], arg[1])
        else:
            raise ValueError("unknown action %s" % kind)

    def set_pod_labels(self, pod, labels):
        ns, name = pod.split("/")
        p = self.pods[pod]
        self.apply(pod_object(ns, name, p["node"], p["ip"], labels))

    def delete_policies(self):
        for ns, name in sorted(self.policies):
            self.api.cmd("delete", kind="NetworkPolicy", namespace=ns, name=name)
        self.policies.clear()

    def reset(self):
        """Back to the model's start: no policy, the original labels."""
        self.delete_policies()
        for ns in NAMESPACES:
            self.apply(namespace_object(ns))
        for pod in self.pods:
            self.set_pod_labels(pod, None)

    def probe_round(self, port, proto):
        """{(via, client, server): answered} for every pair but self pairs,
        via "service" (the server's ClusterIP) and "pod" (its pod IP), all
        probes of a round at once."""
        asked = {}
        for client in self.pods:
            asked[client] = [(via, s) for via in ("service", "pod") for s in self.pods
                             if s != client]
            targets = [[self.pods[s]["vip" if via == "service" else "ip"], port, proto]
                       for via, s in asked[client]]
            self.probers[client].stdin.write(json.dumps(targets) + "\n")
            self.probers[client].stdin.flush()
        result = {}
        for client, pairs in asked.items():
            answers = json.loads(self.probers[client].stdout.readline())
            for (via, server), answer in zip(pairs, answers):
                result[(via, client, server)] = answer == server
        return result

    def pods_denied_by_ns(self, ns):
        """The pairs a deny-all ingress of namespace ns denies."""
        return sorted("%s->%s" % (c, s) for s in self.pods if s.startswith(ns + "/")
                      for c in self.pods if c != s)

    def denied(self, port, proto):
        """{via: sorted "client->server" pairs denied}."""
        out = {"service": [], "pod": []}
        for (via, c, s), ok in sorted(self.probe_round(port, proto).items()):
            if not ok:
                out[via].append("%s->%s" % (c, s))
        return out

    def expect(self, port, proto, denied, timeout=10):
        """Probe until both ways (Service, pod IP) deny exactly the pairs in
        denied (the agents take the change in asynchronously), then assert."""
        want = sorted(denied)
        deadline = time.monotonic() + timeout
        while True:
            got = self.denied(port, proto)
            if all(g == want for g in got.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        for via, g in got.items():
            assert g == want, "%s %d via %s: denied %s, want %s (extra %s, missing %s)" % (
                proto, port, via, g, want, sorted(set(g) - set(want)),
                sorted(set(want) - set(g)))


@contextlib.contextmanager
def running_model():
    """The model up (agents watching the API server), removed after, even on failure."""
    fabric = kxnet.Fabric()
    nodes = {}
    try:
        for name, (ip, cidr, gw) in NODES.items():
            nodes[name] = kxnet.Node(name, ip, cidr, gw, fabric=fabric)
        objs = [kxnet.node_object(n, ip, cidr) for n, (ip, cidr, gw) in NODES.items()]
        objs += [namespace_object(ns) for ns in NAMESPACES]
        api = kxnet.ApiServer(nodes["node130"], state=kxnet.k8s_list(*objs))
        for n in nodes.values():
            n.start_agent(kubeconfig=api.kubeconfig)
        pods = {}
        node_names = list(NODES)
        for i, pod in enumerate(pod_names()):
            node = nodes[node_names[i % 2]]
            ns, name = pod.split("/")
            ip = node.add_pod(pod.replace("/", "-"), cni_args="IgnoreUnknown=1;K8S_POD_NAMESPACE=%s;K8S_POD_NAME=%s" % (ns, name))
            vip = "12.0.130.%d" % (10 + i)
            pods[pod] = {"node": node.name, "ip": ip, "vip": vip}
            proc = subprocess.Popen(
                kxnet.in_ns(node.pods[pod.replace("/", "-")]["ns"], kxnet.PY,
                            os.path.join(kxnet.HELPERS, "netpol_server.py"), pod),
                stdout=subprocess.PIPE, text=True)
            node.procs.append(proc)
            if proc.stdout.readline().strip() != "ready":
                raise RuntimeError("server of %s did not start" % pod)
        model = Model(nodes, api, pods)
        for pod, p in pods.items():
            ns, name = pod.split("/")
            model.apply(pod_object(ns, name, p["node"], p["ip"]))
            for obj in service_objects(ns, name, p["vip"], p["ip"]):
                model.apply(obj)
        yield model
    finally:
        for n in nodes.values():
            n.cleanup()
        fabric.cleanup()


def load_cases():
    with open(os.path.join(kxnet.ROOT, "tests", "fixtures", "netpol-upstream-cases.json")) as f:
        return json.load(f)["cases"]


def udp_copy(case):
    """The upstream suite's UDP copy of a TCP case: every policy port and
    probe on UDP (a port without protocol made UDP, named ports serve-N-udp);
    None when the case is about protocols itself."""
    text = json.dumps(case)
    if "SCTP" in text or '"UDP"' in text:
        return None
    c = copy.deepcopy(case)
    for step in c["steps"]:
        for action in step["actions"]:
            obj = action.get("create") or action.get("update")
            if not obj:
                continue
            for rules in (obj["spec"].get("ingress") or [], obj["spec"].get("egress") or []):
                for rule in rules:
                    for port in rule.get("ports") or []:
                        port["protocol"] = "UDP"
                        if isinstance(port.get("port"), str):
                            port["port"] = port["port"].replace("-tcp", "-udp")
        for probe in step["probes"]:
            probe["proto"] = "UDP"
    c["id"] += "-udp"
    return c

