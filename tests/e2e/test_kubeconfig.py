"""--kubeconfig: server, inline CA data, token file; and a clear failure
when the CA does not match."""
import base64
import os

import kxnet


def kubeconfig(path, api, ca_pem):
    with open(path, "w") as f:
        f.write("""apiVersion: v1
kind: Config
current-context: k
contexts:
- name: k
  context: {cluster: c, user: u}
clusters:
- name: c
  cluster:
    server: %s
    certificate-authority-data: %s
users:
- name: u
  user:
    tokenFile: %s
""" % (api.url, base64.b64encode(ca_pem).decode(), api.token_file))


def test_kubeconfig_with_inline_ca_data_and_token_file():
    n = kxnet.Node("nodekc", "10.124.242.160", "12.0.7.0/24", "12.0.7.1")
    try:
        state = kxnet.k8s_list(kxnet.node_object("nodekc", n.node_ip, n.pod_cidr),
                               kxnet.service("a", "web", "12.0.190.1", [("http", 80, "TCP", 8080)]),
                               kxnet.endpoint_slice("a", "web", "web-1", [("http", 8080, "TCP")],
                                                    ["12.0.7.9"]))
        api = kxnet.ApiServer(n, state=state)
        path = os.path.join(n.tmp, "kubeconfig-inline")
        with open(api.cert, "rb") as f:
            kubeconfig(path, api, f.read())
        r = n.run(*n.agent_args(kubeconfig=path)[2:], "--once", check=False)
        assert r.returncode == 0, r.stderr
        assert "TCP  12.0.190.1:80 rr" in n.kxdp("svc", "list").stdout
        assert "12.0.7.9:8080" in n.kxdp("svc", "list").stdout

        # a CA that did not sign the server's certificate: refused, said plainly
        other = os.path.join(n.tmp, "other.crt")
        kxnet.sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-days", "1", "-subj", "/CN=other",
                 "-keyout", os.path.join(n.tmp, "other.key"), "-out", other)
        with open(other, "rb") as f:
            kubeconfig(path, api, f.read())
        r = n.run(*n.agent_args(kubeconfig=path)[2:], "--once", check=False, timeout=60)
        assert r.returncode == 1
        assert "list services:" in r.stderr and "certificate" in r.stderr.lower()
        assert "giving up" in r.stderr
    finally:
        n.cleanup()
