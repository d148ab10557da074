"""Capture IPv4 TCP/UDP packets to a destination port on an interface (of
the namespace this runs in) and check their IPv4 and L4 checksums as the
bytes are on the wire, recomputed by scapy.

usage: csum_sniff.py IFACE PORT SECONDS
Prints "ready" once capturing, then one JSON line:
{"packets": N, "bad": [summaries of packets with a wrong checksum]}
"""
import json
import socket
import sys
import time

from scapy.all import IP, TCP, UDP, Ether, raw

ETH_P_ALL = 3


def checksums_ok(ip, l4):
    fresh = IP(raw(ip))
    del fresh.chksum
    del fresh[l4].chksum
    fresh = IP(raw(fresh))
    if ip.chksum != fresh.chksum:
        return False
    return ip[l4].chksum == fresh[l4].chksum or (l4 is UDP and ip[l4].chksum == 0)


def main():
    iface, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.settimeout(0.2)
    print("ready", flush=True)
    packets, bad = 0, []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            frame, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        p = Ether(frame)
        if IP not in p:
            continue
        l4 = TCP if TCP in p else UDP if UDP in p else None
        if l4 is None or p[l4].dport != port:
            continue
        packets += 1
        if not checksums_ok(p[IP], l4):
            bad.append(p[IP].summary())
    print(json.dumps({"packets": packets, "bad": bad[:10]}))


if __name__ == "__main__":
    main()
