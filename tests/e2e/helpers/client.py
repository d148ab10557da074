#!/usr/bin/python3
"""Client for e2e tests, run inside a pod's network namespace.

usage: client.py tcp|udp IP PORT COUNT [SPORT]
Opens COUNT connections (or sends COUNT datagrams on connected sockets),
from source ports SPORT, SPORT+1, ... when given (else ephemeral ones, which
may repeat: a repeated UDP source port is the same flow, kept on its backend),
reads the server's name from each, and prints one JSON object:
{"counts": {name: n}, "peers": ["ip:port", ...], "errors": {"ExcName": n},
 "seconds": elapsed}
"""
import collections
import json
import socket
import sys
import time


def one(proto, ip, port, sport=None):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as s:
        s.settimeout(3)
        if sport:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("0.0.0.0", sport))
        s.connect((ip, port))
        if proto == "udp":
            s.send(b"hello")
            data = s.recv(2048)
        else:
            data = b""
            while not data.endswith(b"\n"):
                chunk = s.recv(2048)
                if not chunk:
                    break
                data += chunk
        peer = "%s:%d" % s.getpeername()
    return data.decode().strip(), peer


def main():
    proto, ip, port, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    sport = int(sys.argv[5]) if len(sys.argv) > 5 else None
    counts, errors, peers = collections.Counter(), collections.Counter(), set()
    start = time.monotonic()
    for i in range(count):
        try:
            name, peer = one(proto, ip, port, sport + i if sport else None)
            counts[name] += 1
            peers.add(peer)
        except OSError as e:
            errors[type(e).__name__] += 1
    print(json.dumps({"counts": counts, "peers": sorted(peers), "errors": errors,
                      "seconds": time.monotonic() - start}))


if __name__ == "__main__":
    main()
