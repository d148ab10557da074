#!/usr/bin/python3
"""kube-proxy's rule shapes, for the benchmark's nftables and iptables variants.

The measured service comes from the benchmark; N-1 other services (10
endpoints each, unreachable addresses) are added in front of it, so that in
iptables order the measured one is last, as in the worst case kube-proxy
meets.

    kubeproxy_rules.py nft|iptables SERVICES PER VIP PORT BACKEND:PORT [BACKEND:PORT ...]

PER is the number of endpoints of each of the other services.

nftables (kube-proxy --proxy-mode=nftables): a verdict map keyed by
address . protocol . port jumping to a chain per service, which picks an
endpoint with numgen and jumps to a chain per endpoint that DNATs (and marks
hairpin traffic for masquerade).

iptables (--proxy-mode=iptables): KUBE-SERVICES with one rule per service,
KUBE-SVC-* picking with `statistic --mode random --probability 1/n`,
KUBE-SEP-* doing the DNAT, restored with iptables-restore.
"""
import hashlib
import sys


def chain_id(*parts):
    return hashlib.sha256("/".join(parts).encode()).hexdigest()[:16].upper()


def services(n, vip, port, backends, per=10):
    """[(name, vip, port, [(ip, port)])]: n-1 fillers of `per` endpoints, then
    the measured one."""
    out = []
    for i in range(n - 1):
        fvip = "10.%d.%d.%d" % (96 + (i >> 16), (i >> 8) & 255, i & 255)
        eps = [("10.%d.%d.%d" % (200 + (i >> 16), (i >> 8) & 255, j), 8080) for j in range(per)]
        out.append(("bench/filler-%d" % i, fvip, 80, eps))
    out.append(("bench/measured", vip, port, backends))
    return out


def nft(svcs):
    lines = ["table ip kube-proxy {",
             "  chain mark-for-masquerade { meta mark set meta mark | 0x4000; }",
             "  chain masquerading { meta mark & 0x4000 == 0 return; "
             "meta mark set meta mark ^ 0x4000; masquerade fully-random; }",
             "  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; "
             "jump services; }",
             "  chain nat-output { type nat hook output priority -100; policy accept; "
             "jump services; }",
             "  chain nat-postrouting { type nat hook postrouting priority srcnat; "
             "policy accept; jump masquerading; }"]
    elements, chains = [], []
    for name, vip, port, eps in svcs:
        sid = chain_id(name, "tcp", str(port))
        elements.append("%s . tcp . %d : goto service-%s" % (vip, port, sid))
        picks = []
        for k, (ip, eport) in enumerate(eps):
            eid = chain_id(name, ip, str(eport))
            picks.append("%d : goto endpoint-%s" % (k, eid))
            chains.append("  chain endpoint-%s { ip saddr %s jump mark-for-masquerade; "
                          "meta l4proto tcp dnat to %s:%d; }" % (eid, ip, ip, eport))
        chains.append("  chain service-%s { numgen random mod %d vmap { %s }; }"
                      % (sid, len(eps), ", ".join(picks)))
    # chains first, then the map that jumps to them, then its elements in
    # batches, as kube-proxy's transactions add them
    lines += chains
    lines.append("  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }")
    lines.append("  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }")
    lines.append("}")
    for i in range(0, len(elements), 1000):
        lines.append("add element ip kube-proxy service-ips { %s }" % ", ".join(elements[i:i + 1000]))
    return "\n".join(lines) + "\n"


def iptables(svcs):
    decl = [":KUBE-SERVICES - [0:0]", ":KUBE-MARK-MASQ - [0:0]", ":KUBE-POSTROUTING - [0:0]"]
    rules = ["-A PREROUTING -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
             "-A OUTPUT -m comment --comment \"kubernetes service portals\" -j KUBE-SERVICES",
             "-A POSTROUTING -m comment --comment \"kubernetes postrouting rules\" "
             "-j KUBE-POSTROUTING",
             "-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000",
             "-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN",
             "-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0",
             "-A KUBE-POSTROUTING -j MASQUERADE --random-fully"]
    for name, vip, port, eps in svcs:
        svc = "KUBE-SVC-" + chain_id(name, "tcp", str(port))
        decl.append(":%s - [0:0]" % svc)
        rules.append("-A KUBE-SERVICES -d %s/32 -p tcp -m comment --comment \"%s cluster IP\" "
                     "-m tcp --dport %d -j %s" % (vip, name, port, svc))
        for k, (ip, eport) in enumerate(eps):
            sep = "KUBE-SEP-" + chain_id(name, ip, str(eport))
            decl.append(":%s - [0:0]" % sep)
            left = len(eps) - k
            if left > 1:
                rules.append("-A %s -m comment --comment \"%s -> %s:%d\" -m statistic --mode "
                             "random --probability %.11f -j %s"
                             % (svc, name, ip, eport, 1.0 / left, sep))
            else:
                rules.append("-A %s -m comment --comment \"%s -> %s:%d\" -j %s"
                             % (svc, name, ip, eport, sep))
            rules.append("-A %s -s %s/32 -j KUBE-MARK-MASQ" % (sep, ip))
            rules.append("-A %s -p tcp -m tcp -j DNAT --to-destination %s:%d" % (sep, ip, eport))
    return "*nat\n" + "\n".join(decl + rules) + "\nCOMMIT\n"


def main():
    kind, n, per = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    vip, port = sys.argv[4], int(sys.argv[5])
    backends = [(b.rsplit(":", 1)[0], int(b.rsplit(":", 1)[1])) for b in sys.argv[6:]]
    svcs = services(n, vip, port, backends, per)
    sys.stdout.write(nft(svcs) if kind == "nft" else iptables(svcs))


if __name__ == "__main__":
    main()
