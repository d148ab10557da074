#!/usr/bin/python3
"""kube-router's NetworkPolicy enforcement shape, for the benchmark's peer of
kxdp's: the filter-table chains and ipsets its network policy controller
(pkg/controllers/netpol) builds for a default-deny policy plus one allow,
written from its documented structure, restored with ipset and
iptables-restore.

    kuberouter_policy.py ipset|iptables CLIENT_IP PORT SERVER_IP [SERVER_IP ...] -- OTHER_POD_IP ...

Every local pod gets a KUBE-POD-FW-* chain, jumped to from KUBE-ROUTER-FORWARD
(and from INPUT and OUTPUT) by destination and by source; it accepts what
conntrack knows (RELATED,ESTABLISHED), drops INVALID, accepts traffic from
the node itself, jumps to the chains of the policies selecting the pod
(which mark allowed traffic 0x10000) or, for a pod no policy selects in a
direction, to KUBE-NWPLCY-DEFAULT (which marks everything), and rejects what
stays unmarked. The servers are selected by a deny-all-ingress policy and by
one allowing CLIENT_IP on TCP PORT: ipsets of the pods the policy selects
(hash:ip) and of its allowed sources, matched together with the port. Toggle
it with `iptables -I FORWARD -j KUBE-ROUTER-FORWARD` and `-D`.
"""
import hashlib
import sys


def chain(prefix, *parts):
    return prefix + hashlib.sha256("/".join(parts).encode()).hexdigest()[:16].upper()


ALLOW = chain("KUBE-NWPLCY-", "bench", "allow-client")
DENY = chain("KUBE-NWPLCY-", "bench", "deny-all")
DST_SET = chain("KUBE-DST-", "bench", "allow-client")
SRC_SET = chain("KUBE-SRC-", "bench", "allow-client", "0")


def ipsets(client, servers):
    lines = ["create %s hash:ip family inet -exist" % DST_SET,
             "create %s hash:ip family inet -exist" % SRC_SET,
             "flush %s" % DST_SET, "flush %s" % SRC_SET]
    lines += ["add %s %s" % (DST_SET, ip) for ip in servers]
    lines.append("add %s %s" % (SRC_SET, client))
    return "\n".join(lines) + "\n"


def pod_chain(name, ip, ingress_chains, egress_chains):
    """One pod's firewall chain: kube-router's rule order."""
    c = chain("KUBE-POD-FW-", name)
    rules = ["-A %s -m comment --comment \"rule for stateful firewall for pod\" "
             "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" % c,
             "-A %s -m conntrack --ctstate INVALID -j DROP" % c,
             "-A %s -m comment --comment \"rule to permit the traffic traffic to pods when "
             "source is the pod's local node\" -m addrtype --src-type LOCAL -d %s -j ACCEPT"
             % (c, ip)]
    for ch in ingress_chains:
        rules.append("-A %s -d %s -j %s" % (c, ip, ch))
    for ch in egress_chains:
        rules.append("-A %s -s %s -j %s" % (c, ip, ch))
    rules += ["-A %s -m comment --comment \"rule to log dropped traffic POD name:%s\" "
              "-m mark ! --mark 0x10000/0x10000 -m limit --limit 10/minute --limit-burst 10 "
              "-j NFLOG --nflog-group 100" % (c, name),
              "-A %s -m comment --comment \"rule to REJECT traffic destined for POD name:%s\" "
              "-m mark ! --mark 0x10000/0x10000 -j REJECT" % (c, name),
              "-A %s -j MARK --set-xmark 0x0/0x10000" % c,
              "-A %s -j MARK --set-xmark 0x20000/0x20000" % c]
    return c, rules


def iptables(client, port, servers, others):
    out = ["*filter", ":KUBE-ROUTER-FORWARD - [0:0]", ":KUBE-ROUTER-INPUT - [0:0]",
           ":KUBE-ROUTER-OUTPUT - [0:0]", ":KUBE-NWPLCY-DEFAULT - [0:0]",
           ":%s - [0:0]" % ALLOW, ":%s - [0:0]" % DENY]
    body = ["-A KUBE-NWPLCY-DEFAULT -m comment --comment \"rule to mark traffic matching a "
            "network policy\" -j MARK --set-xmark 0x10000/0x10000",
            "-A %s -m set --match-set %s src -m set --match-set %s dst -p tcp --dport %s "
            "-j MARK --set-xmark 0x10000/0x10000" % (ALLOW, SRC_SET, DST_SET, port),
            "-A %s -m mark --mark 0x10000/0x10000 -j RETURN" % ALLOW]
    pods = [("server-%d" % i, ip, [DENY, ALLOW], ["KUBE-NWPLCY-DEFAULT"])
            for i, ip in enumerate(servers)]
    pods.append(("client", client, ["KUBE-NWPLCY-DEFAULT"], ["KUBE-NWPLCY-DEFAULT"]))
    pods += [("other-%d" % i, ip, ["KUBE-NWPLCY-DEFAULT"], ["KUBE-NWPLCY-DEFAULT"])
             for i, ip in enumerate(others)]
    for name, ip, ing, egr in pods:
        c, rules = pod_chain(name, ip, ing, egr)
        out.append(":%s - [0:0]" % c)
        body += rules
        for top in ("KUBE-ROUTER-FORWARD", "KUBE-ROUTER-OUTPUT"):
            body.append("-A %s -m comment --comment \"rule to jump traffic destined to POD "
                        "name:%s\" -d %s -j %s" % (top, name, ip, c))
        for top in ("KUBE-ROUTER-FORWARD", "KUBE-ROUTER-INPUT", "KUBE-ROUTER-OUTPUT"):
            body.append("-A %s -m comment --comment \"rule to jump traffic from POD name:%s\" "
                        "-s %s -j %s" % (top, name, ip, c))
    body.append("-A KUBE-ROUTER-FORWARD -m mark --mark 0x20000/0x20000 -j ACCEPT")
    return "\n".join(out + body + ["COMMIT"]) + "\n"


def main():
    kind, client, port = sys.argv[1], sys.argv[2], sys.argv[3]
    rest = sys.argv[4:]
    cut = rest.index("--") if "--" in rest else len(rest)
    servers, others = rest[:cut], rest[cut + 1:]
    sys.stdout.write(ipsets(client, servers) if kind == "ipset" else
                     iptables(client, port, servers, others))


if __name__ == "__main__":
    main()
