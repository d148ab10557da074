"""kxdp-cni invoked as a container runtime invokes it: errors in CNI JSON
with the right code, nothing half-made left behind, DEL idempotent, CHECK."""
import json
import os
import socket
import time

import kxnet


def host_links(node):
    return {l["ifname"] for l in json.loads(node.run("ip", "-j", "link").stdout)}


def leases(node):
    d = os.path.join(node.ipam_dir, "kxdp")
    return sorted(f for f in os.listdir(d) if f[0].isdigit()) if os.path.isdir(d) else []


def cni_error(r):
    assert r.returncode != 0
    err = json.loads(r.stdout)
    assert set(err) >= {"cniVersion", "code", "msg"} and "\n" not in err["msg"]
    return err


def test_version(node):
    r = node.cni("VERSION", "x", stdin="")
    assert r.returncode == 0
    assert "1.0.0" in json.loads(r.stdout)["supportedVersions"]


def test_missing_env_and_bad_config(node):
    err = cni_error(node.cni("ADD", "x", "/run/netns/none", drop_env=("CNI_CONTAINERID",)))
    assert err["code"] == 4 and "CNI_CONTAINERID" in err["msg"]
    err = cni_error(node.cni("ADD", "x", "/run/netns/none", stdin="{bad json"))
    assert err["code"] == 6
    err = cni_error(node.cni("ADD", "x", "/run/netns/none", conf=node.cni_conf(bogus=1)))
    assert err["code"] == 2 and "bogus" in err["msg"]
    err = cni_error(node.cni("ADD", "x", "/run/netns/none", conf=node.cni_conf(cniVersion="9.9.9")))
    assert err["code"] == 1
    err = cni_error(node.cni("NOPE", "x"))
    assert err["code"] == 4


def test_unknown_netns_leaves_nothing(node):
    links, held = host_links(node), leases(node)
    err = cni_error(node.cni("ADD", "ghost", "/run/netns/kxe2e-does-not-exist"))
    assert err["code"] == 3
    assert host_links(node) == links and leases(node) == held


def test_ipam_failure_leaves_nothing(node):
    kxnet.sh("ip", "netns", "add", node.ns + "-ipamfail")
    try:
        links, held = host_links(node), leases(node)
        conf = node.cni_conf()
        conf["ipam"]["ranges"] = [[{"subnet": "not-a-subnet"}]]
        err = cni_error(node.cni("ADD", "ipamfail", kxnet.netns_path(node.ns + "-ipamfail"),
                                 conf=conf))
        assert err["code"] == 102 and "host-local" in err["msg"]
        assert host_links(node) == links and leases(node) == held
        conf["ipam"]["type"] = "no-such-ipam"
        err = cni_error(node.cni("ADD", "ipamfail", kxnet.netns_path(node.ns + "-ipamfail"),
                                 conf=conf))
        assert "no-such-ipam" in err["msg"] and host_links(node) == links
    finally:
        kxnet.sh("ip", "netns", "del", node.ns + "-ipamfail")


def test_add_check_del_lifecycle(node):
    ns = node.ns + "-life"
    kxnet.sh("ip", "netns", "add", ns)
    try:
        links, held = host_links(node), leases(node)
        r = node.cni("ADD", "life", kxnet.netns_path(ns))
        assert r.returncode == 0, r.stdout + r.stderr
        res = json.loads(r.stdout)
        ip = res["ips"][0]["address"].split("/")[0]
        assert res["ips"][0]["gateway"] == "12.0.2.1"
        assert res["interfaces"][1]["sandbox"] == kxnet.netns_path(ns)
        assert len(host_links(node)) == len(links) + 1 and len(leases(node)) == len(held) + 1
        # a second ADD of the same container is refused and changes nothing
        err = cni_error(node.cni("ADD", "life", kxnet.netns_path(ns)))
        assert "already" in err["msg"]
        conf = node.cni_conf(prevResult=res)
        r = node.cni("CHECK", "life", kxnet.netns_path(ns), conf=conf)
        assert r.returncode == 0, r.stdout + r.stderr
        # CHECK notices a missing endpoint entry
        octets = [int(x) for x in ip.split(".")]
        slot = (octets[2] << 8 | octets[3]).to_bytes(4, "little")  # a free slot: all zero
        kxnet.sh("bpftool", "map", "update", "pinned",
                 os.path.join(node.bpffs, "kxdp", "kx_endpoints"),
                 "key", *[str(b) for b in slot], "value", *["0"] * 20)
        err = cni_error(node.cni("CHECK", "life", kxnet.netns_path(ns), conf=conf))
        assert err["code"] == 103
        assert node.cni("DEL", "life", kxnet.netns_path(ns)).returncode == 0
        assert host_links(node) == links and leases(node) == held
        assert node.cni("DEL", "life", kxnet.netns_path(ns)).returncode == 0  # again: fine
        assert not [x for x in json.loads(node.run("ip", "-j", "route").stdout)
                    if x["dst"] == ip]
    finally:
        kxnet.sh("ip", "netns", "del", ns)


def test_del_after_netns_is_gone(node):
    """The runtime removed the pod's netns first: the veth went with it, and
    DEL (with prevResult, as runtimes send it) still clears entry and lease."""
    ns = node.ns + "-gone"
    kxnet.sh("ip", "netns", "add", ns)
    links, held = host_links(node), leases(node)
    r = node.cni("ADD", "gone", kxnet.netns_path(ns))
    assert r.returncode == 0, r.stdout + r.stderr
    res = json.loads(r.stdout)
    ip = res["ips"][0]["address"].split("/")[0]
    kxnet.sh("ip", "netns", "del", ns)
    deadline = time.monotonic() + 10  # the kernel tears a netns down asynchronously
    while host_links(node) != links and time.monotonic() < deadline:
        time.sleep(0.05)
    assert host_links(node) == links  # the veth pair died with the netns
    r = node.cni("DEL", "gone", kxnet.netns_path(ns), conf=node.cni_conf(prevResult=res))
    assert r.returncode == 0, r.stdout + r.stderr
    assert leases(node) == held
    assert ip not in {p["ip"] for p in json.loads(node.kxdp("ep", "list", "-o", "json").stdout)}
