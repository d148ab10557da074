#!/usr/bin/python3
"""Probe many targets at once from one pod, as the upstream NetworkPolicy
suite's agnhost connect does: a TCP connection that reads the server's
name, or a UDP datagram answered by it. A denied probe is one the datapath
drops: it times out.

usage: prober.py TIMEOUT_S JSON   (JSON: [[ip, port, "tcp"|"udp"], ...])
       prober.py TIMEOUT_S -      (one such JSON list a line on stdin, until it closes)
Prints a JSON list (a line) for each: per target, the name the server
answered, or null.
"""
import json
import socket
import sys
from concurrent.futures import ThreadPoolExecutor


def tcp(ip, port, timeout):
    with socket.create_connection((ip, port), timeout=timeout) as s:
        s.settimeout(timeout)
        return s.recv(256).decode().strip() or None


def udp(ip, port, timeout):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout / 2)
        s.connect((ip, port))
        for _ in range(2):  # the first datagram may wait for a neighbour
            s.send(b"probe")
            try:
                return s.recv(256).decode().strip() or None
            except socket.timeout:
                continue
    return None


def probe(target, timeout):
    ip, port, proto = target
    try:
        return (tcp if proto == "tcp" else udp)(ip, port, timeout)
    except OSError:
        return None


def probe_all(targets, timeout):
    with ThreadPoolExecutor(max_workers=min(64, max(1, len(targets)))) as ex:
        return list(ex.map(lambda t: probe(t, timeout), targets))


def main():
    timeout = float(sys.argv[1])
    if sys.argv[2] != "-":
        print(json.dumps(probe_all(json.loads(sys.argv[2]), timeout)))
        return
    for line in sys.stdin:  # a prober that stays: no interpreter start per round
        print(json.dumps(probe_all(json.loads(line), timeout)), flush=True)


if __name__ == "__main__":
    main()
