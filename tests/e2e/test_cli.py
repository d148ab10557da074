"""Golden output of every kxdp command on the reference cluster, text and
JSON (tests/e2e/golden/). What differs from run to run (MACs, veth names,
ifindexes, packet counts) is masked before comparing. KX_GOLDEN_UPDATE=1
rewrites the files from this run instead: review the diff before committing.
"""
import json
import os
import re

import pytest

import kxnet

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")
VIP = "12.0.182.73"


@pytest.fixture(scope="module")
def cluster():
    with kxnet.reference_nodes() as nodes:
        nodes["node131"].add_pod("client", ip="12.0.0.10")
        # two connections from fixed ports, so conntrack holds known flows
        r = nodes["node131"].client("client", "tcp", VIP, 5432, 2, sport=23000)
        assert r["errors"] == {}, r
        yield nodes


MASKS = [
    (re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}"), "<mac>"),
    (re.compile(r"\bkx[0-9a-f]{12}\b"), "<veth>"),
]


# a count (with the spaces that align it): traffic makes these vary
NUM = (re.compile(r"[ \t]+\d+(?=[ \t]|$)", re.M), " <n>")


def mask(text, masks=()):
    for rx, rep in MASKS + list(masks):
        text = rx.sub(rep, text)
    return text


def check(name, text):
    path = os.path.join(GOLDEN, name)
    if os.environ.get("KX_GOLDEN_UPDATE") == "1":
        with open(path, "w") as f:
            f.write(text)
        return
    with open(path) as f:
        want = f.read()
    assert text == want, "%s differs from the golden file:\n%s" % (name, text)


def json_masked(out, drop=()):
    """JSON text with volatile keys (drop) set to "<masked>", keys sorted."""
    def walk(v):
        if isinstance(v, dict):
            return {k: ("<masked>" if k in drop else walk(x)) for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x) for x in v]
        return v
    return json.dumps(walk(json.loads(out)), indent=2, sort_keys=True) + "\n"


def test_svc_list(cluster):
    n = cluster["node131"]
    check("svc_list.txt", n.kxdp("svc", "list").stdout)
    # traffic counters vary with retransmissions and ACK timing: masked
    check("svc_list.json", json_masked(n.kxdp("svc", "list", "-o", "json").stdout,
                                       drop=("stats",)))
    check("svc_list_vip.txt", n.kxdp("svc", "list", VIP + ":5432").stdout)
    check("svc_list_stats.txt", mask(n.kxdp("svc", "list", "--stats").stdout, [NUM]))


def test_ct_list_and_flush(cluster):
    n = cluster["node131"]
    check("ct_list.txt", n.kxdp("ct", "list").stdout)
    check("ct_list.json", json_masked(n.kxdp("ct", "list", "-o", "json").stdout))
    check("ct_list_backend.txt", n.kxdp("ct", "list", "--backend", "12.0.1.93").stdout)
    check("ct_list_svc.txt", n.kxdp("ct", "list", "--svc", "12.0.128.1:443").stdout)
    assert n.kxdp("ct", "flush", "--backend", "12.0.1.93").stdout == \
        "2 conntrack entries flushed\n"
    assert "12.0.1.93" not in n.kxdp("ct", "list").stdout


def test_ep_list(cluster):
    n = cluster["node130"]
    ifx = (re.compile(r"[ \t]+\d+(?= <mac>)"), " <ifindex>")
    check("ep_list.txt", mask(n.kxdp("ep", "list").stdout, [ifx]))
    check("ep_list.json", mask(json_masked(n.kxdp("ep", "list", "-o", "json").stdout,
                                           drop=("ifindex",))))


def test_route_list(cluster):
    for name, n in cluster.items():
        check("route_list_%s.txt" % name, n.kxdp("route", "list").stdout)
    check("route_list.json", json_masked(cluster["node130"].kxdp("route", "list", "-o",
                                                                 "json").stdout))


def test_stats(cluster):
    n = cluster["node131"]
    check("stats.txt", mask(n.kxdp("stats").stdout, [NUM]))
    js = json.loads(n.kxdp("stats", "-o", "json").stdout)
    # the counters the client's two connections must have moved
    assert js["counters"]["svc_new"]["packets"] >= 2
    svc = [s for s in js["services"] if s["vip"] == VIP and s["port"] == 5432][0]
    assert svc["conns"] == 2 and svc["in_pkts"] >= 6 and svc["out_pkts"] >= 4
    # the flush before this test deleted entries: counted so, they are no evictions
    ct = js["conntrack"]
    assert ct["entries"] >= 2 and ct["capacity"] > ct["entries"] and ct["evicted"] == 0, ct
    check("stats.json", json_masked(json.dumps(js), drop=("packets", "bytes", "conns", "entries",
                                                           "in_pkts", "out_pkts", "in_bytes",
                                                           "out_bytes")))


def test_version_help_and_errors(cluster):
    n = cluster["node131"]
    assert re.fullmatch(r"kxdp \d+\.\d+\.\d+\n", n.kxdp("version").stdout)
    check("help.txt", n.kxdp("--help").stdout.replace(n.bpffs, "<bpffs>"))
    r = n.kxdp("ct", "list", "--svc", "nonsense", check=False)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    r = n.kxdp("frobnicate", check=False)
    assert r.returncode == 2 and "unknown command" in r.stderr and r.stderr.count("\n") == 1
    r = kxnet.sh(os.path.join(kxnet.BUILD, "kxdp"), "--bpffs", "/nonexistent", "svc", "list",
                 check=False)
    assert r.returncode == 1 and r.stderr.startswith("kxdp: map ") and \
        r.stderr.count("\n") == 1, r.stderr


def scrape(node):
    """GET /metrics on the node's agent (127.0.0.1:9475 in its netns), parsed
    by prometheus_client's own text parser: {(name, labels tuple): value}."""
    text = node.agent_get("/metrics")
    from prometheus_client.parser import text_string_to_metric_families
    out, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out, types


def sample(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def test_metrics_move_with_traffic(cluster):
    """Every metric family parses; per-service connections, packets and bytes,
    datapath events and drops by reason, conntrack fill, the sync histogram
    and the watch/error counters are there, and the counters move by exactly
    the traffic sent."""
    n = cluster["node131"]
    before, types = scrape(n)
    assert types["kxdp_service_connections"] == "counter"  # the parser drops _total
    assert types["kxdp_sync_duration_seconds"] == "histogram"
    assert types["kxdp_conntrack_fill_ratio"] == "gauge"
    assert types["kxdp_conntrack_evictions"] == "counter"
    lab = dict(namespace="test", service="test", address=VIP, port="5432", protocol="TCP",
               scope="internal")
    c0 = sample(before, "kxdp_service_connections_total", **lab)
    i0 = sample(before, "kxdp_service_packets_total", direction="in", **lab)
    o0 = sample(before, "kxdp_service_bytes_total", direction="out", **lab)
    d0 = sample(before, "kxdp_drops_total", reason="reject_no_backend")
    assert None not in (c0, i0, o0, d0)
    r = n.client("client", "tcp", VIP, 5432, 5)
    assert r["errors"] == {}, r
    n.apply_state(kxnet.k8s_list(*kxnet.reference_cluster()["items"],
                                 kxnet.service("test", "empty", "12.0.182.99",
                                               [("web", 80, "TCP", 8080)])))
    r = n.client("client", "tcp", "12.0.182.99", 80, 3)
    assert r["errors"] == {"ConnectionRefusedError": 3}, r
    after, _ = scrape(n)
    assert sample(after, "kxdp_service_connections_total", **lab) == c0 + 5
    # each connection: SYN, ACK, ACK of the name, FIN, ACK at least
    assert sample(after, "kxdp_service_packets_total", direction="in", **lab) >= i0 + 5 * 4
    assert sample(after, "kxdp_service_bytes_total", direction="out", **lab) > o0
    assert sample(after, "kxdp_drops_total", reason="reject_no_backend") == d0 + 3
    assert sample(after, "kxdp_datapath_packets_total", event="svc_new") >= 5
    assert sample(after, "kxdp_conntrack_entries") >= 2 * 5
    assert 0 < sample(after, "kxdp_conntrack_fill_ratio") < 1
    assert sample(after, "kxdp_conntrack_evictions_total") == 0  # room for all: none evicted
    assert sample(after, "kxdp_sync_duration_seconds_count") >= 2  # one more apply
    assert sample(after, "kxdp_sync_duration_seconds_bucket", le="+Inf") == \
        sample(after, "kxdp_sync_duration_seconds_count")
    assert sample(after, "kxdp_map_update_errors_total") == 0
    assert sample(after, "kxdp_watch_restarts_total") == 0  # a state file: no watch
    n.apply_state(kxnet.reference_cluster())


def test_make_install_puts_everything_in_place(tmp_path):
    """make install with DESTDIR and PREFIX: the binaries, the CNI plugin, the
    BPF object and the man page, and the installed CLI runs."""
    dest = str(tmp_path / "root")
    kxnet.sh("make", "-C", kxnet.ROOT, "--no-print-directory", "install", "DESTDIR=" + dest,
             "PREFIX=/usr", "BUILD=" + kxnet.BUILD, timeout=600)
    for f in ("usr/bin/kxdp", "usr/bin/kxdp-agent", "usr/lib/kxdp/kxdp-cni",
              "usr/lib/kxdp/kxdp.bpf.o", "usr/share/man/man8/kxdp.8"):
        assert os.path.isfile(os.path.join(dest, f)), f
    assert kxnet.sh(os.path.join(dest, "usr/bin/kxdp"), "version").stdout.startswith("kxdp ")
    with open(os.path.join(dest, "usr/share/man/man8/kxdp.8")) as f:
        page = f.read()
    for cmd in ("svc list", "ep list", "ct list", "ct flush", "route list", "stats"):
        assert ".B " + cmd in page, cmd


LOG_LINE = re.compile(r"kxdp-agent: (info|warning|debug): \S")


def test_logs_are_leveled_lines_naming_objects_and_never_per_packet(cluster):
    """Each agent log line is one leveled line; events name their object
    (service test/test, node node132); traffic writes none; -v adds debug
    lines naming each entry written."""
    n = cluster["node131"]
    lines = n.log_lines()
    assert lines and all(LOG_LINE.match(l) for l in lines), "\n".join(\
        l for l in lines if not LOG_LINE.match(l))
    assert any("node node132" in l or "node132" in l for l in lines)
    before = len(n.log_lines())
    r = n.client("client", "tcp", VIP, 5432, 50)
    assert r["errors"] == {}
    assert len(n.log_lines()) == before  # 50 connections, not one line
    # -v on fresh maps (a bpffs of its own, no uplink: node131's datapath is
    # left alone): a debug line for every entry written, naming its Service
    fresh = os.path.join(n.tmp, "bpffs-v")
    os.makedirs(fresh)
    kxnet.sh("mount", "-t", "bpf", "bpf", fresh)
    try:
        out = n.run(os.path.join(kxnet.BUILD, "kxdp-agent"), "-v", "--node", "node131",
                    "--state", n.state, "--bpffs", fresh, "--uplink", "none0",
                    "--cni-conf-dir", "", "--metrics-addr", "", "--cgroup", "", "--once",
                    check=False).stderr.splitlines()
    finally:
        kxnet.sh("umount", fresh)
    assert all(LOG_LINE.match(l) for l in out), [l for l in out if not LOG_LINE.match(l)]
    assert any(re.match(r"kxdp-agent: debug: service test/test:postgres: entry \d+ written", l)
               for l in out), out
    assert not any(": debug: " in l for l in n.log_lines())  # none without -v
