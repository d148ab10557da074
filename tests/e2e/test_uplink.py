"""The uplink hooks: native XDP where the driver has it (veth does, see
test_cluster), generic XDP with a warning where it does not."""
import json
import os
import subprocess

import kxnet


def test_generic_xdp_fallback_with_warning():
    n = kxnet.Node("nodexdp", "10.124.242.150", "12.0.9.0/24", "12.0.9.1")
    try:
        n.write_state(kxnet.k8s_list(kxnet.node_object("nodexdp", n.node_ip, n.pod_cidr)))
        # loopback has no native XDP: the agent must fall back and say so
        r = n.run(os.path.join(kxnet.BUILD, "kxdp-agent"), "--node", "nodexdp", "--state",
                  n.state, "--bpffs", n.bpffs, "--cni-conf-dir", n.cni_dir, "--uplink", "lo",
                  "--once", check=False)
        assert r.returncode == 0, r.stderr
        assert "uplink lo: no native XDP in its driver" in r.stderr
        assert "xdp_netdev attached (generic XDP)" in r.stderr
        link = json.loads(n.run("ip", "-j", "-d", "link", "show", "dev", "lo").stdout)[0]
        assert link["xdp"]["mode"] == 2  # XDP_ATTACHED_SKB
        assert link["xdp"]["prog"]["name"] == "xdp_netdev"
        assert "tc_netdev" in n.run("tc", "filter", "show", "dev", "lo", "ingress").stdout
        # a second run replaces in place, staying generic, without a detach error
        r = n.run(os.path.join(kxnet.BUILD, "kxdp-agent"), "--node", "nodexdp", "--state",
                  n.state, "--bpffs", n.bpffs, "--cni-conf-dir", n.cni_dir, "--uplink", "lo",
                  "--once", check=False)
        assert r.returncode == 0, r.stderr
        assert "no native XDP" not in r.stderr
    finally:
        n.cleanup()


def test_xdp_off_detaches_an_earlier_runs_program():
    """--xdp off on a node where an earlier run attached xdp_netdev takes it
    off (it would go on serving node ports from maps this run no longer
    means for it), and leaves another project's XDP program alone."""
    n = kxnet.Node("nodexoff", "10.124.242.152", "12.0.7.0/24", "12.0.7.1")
    agent = os.path.join(kxnet.BUILD, "kxdp-agent")
    try:
        n.write_state(kxnet.k8s_list(kxnet.node_object("nodexoff", n.node_ip, n.pod_cidr)))
        args = ["--node", "nodexoff", "--state", n.state, "--bpffs", n.bpffs,
                "--cni-conf-dir", n.cni_dir, "--uplink", "lo", "--once"]
        r = n.run(agent, *args, check=False)
        assert r.returncode == 0, r.stderr
        link = json.loads(n.run("ip", "-j", "-d", "link", "show", "dev", "lo").stdout)[0]
        assert link["xdp"]["prog"]["name"] == "xdp_netdev"

        r = n.run(agent, *args, "--xdp", "off", check=False)
        assert r.returncode == 0, r.stderr
        assert "uplink lo: xdp_netdev detached (--xdp off)" in r.stderr
        link = json.loads(n.run("ip", "-j", "-d", "link", "show", "dev", "lo").stdout)[0]
        assert "xdp" not in link
        assert "tc_netdev" in n.run("tc", "filter", "show", "dev", "lo", "ingress").stdout

        # a program that is not kxdp's stays where it is
        src = os.path.join(n.tmp, "other_xdp.c")
        with open(src, "w") as f:
            f.write('__attribute__((section("xdp"), used)) int other_xdp(void *ctx)'
                    ' { return 2; }\nchar _license[] __attribute__((section("license"), used))'
                    ' = "GPL";\n')
        subprocess.run(["clang", "-target", "bpf", "-O2", "-c", src, "-o", src + ".o"],
                       check=True)
        n.run("ip", "link", "set", "dev", "lo", "xdpgeneric", "obj", src + ".o", "sec", "xdp")
        other = json.loads(n.run("ip", "-j", "-d", "link", "show", "dev", "lo").stdout)[0]
        assert other["xdp"]["prog"]["name"] != "xdp_netdev"
        r = n.run(agent, *args, "--xdp", "off", check=False)
        assert r.returncode == 0, r.stderr
        assert "not kxdp's: left in place" in r.stderr
        link = json.loads(n.run("ip", "-j", "-d", "link", "show", "dev", "lo").stdout)[0]
        assert link["xdp"]["prog"]["id"] == other["xdp"]["prog"]["id"]
    finally:
        n.cleanup()


def test_missing_uplink_is_reported():
    n = kxnet.Node("nodenoup", "10.124.242.151", "12.0.8.0/24", "12.0.8.1")
    try:
        n.write_state(kxnet.k8s_list(kxnet.node_object("nodenoup", n.node_ip, n.pod_cidr)))
        r = n.run(os.path.join(kxnet.BUILD, "kxdp-agent"), "--node", "nodenoup", "--state",
                  n.state, "--bpffs", n.bpffs, "--cni-conf-dir", n.cni_dir, "--uplink",
                  "nosuch0", "--once", check=False)
        assert "uplink nosuch0: no such interface" in r.stderr
        # the state is still applied and the CNI config still written
        assert os.path.exists(os.path.join(n.cni_dir, "10-kxdp.conflist"))
    finally:
        n.cleanup()
