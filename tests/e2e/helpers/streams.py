#!/usr/bin/python3
"""Traffic that must survive agent restarts, run inside a client pod.

usage: streams.py IP PORT STREAMS SECONDS
Keeps STREAMS long-lived TCP connections exchanging 16-byte pings with an
echoing backend every 50 ms, and opens a new connection every 10 ms, for
SECONDS. Prints one JSON object: counts of what worked and every failure.
"""
import json
import socket
import sys
import threading
import time

IP, PORT, STREAMS, SECONDS = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
END = time.monotonic() + SECONDS
LOCK = threading.Lock()
RESULT = {"streams_ok": 0, "pings": 0, "stream_errors": [], "new_ok": 0, "new_failed": []}


def readline(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(256)
        if not chunk:
            raise ConnectionError("closed before the name")
        data += chunk
    return data


def stream(i):
    pings = 0
    try:
        with socket.create_connection((IP, PORT), timeout=3) as s:
            readline(s)
            while time.monotonic() < END:
                msg = b"%015d\n" % (i * 10**9 + pings)
                s.sendall(msg)
                got = b""
                while len(got) < len(msg):
                    chunk = s.recv(len(msg) - len(got))
                    if not chunk:
                        raise ConnectionError("closed by peer")
                    got += chunk
                if got != msg:
                    raise ValueError("echo mismatch")
                pings += 1
                time.sleep(0.05)
        with LOCK:
            RESULT["streams_ok"] += 1
            RESULT["pings"] += pings
    except Exception as e:
        with LOCK:
            RESULT["stream_errors"].append("stream %d after %d pings: %r" % (i, pings, e))


def new_connections():
    while time.monotonic() < END:
        try:
            with socket.create_connection((IP, PORT), timeout=3) as s:
                readline(s)
            RESULT["new_ok"] += 1
        except Exception as e:
            RESULT["new_failed"].append(repr(e))
        time.sleep(0.01)


threads = [threading.Thread(target=stream, args=(i,)) for i in range(STREAMS)]
threads.append(threading.Thread(target=new_connections))
for t in threads:
    t.start()
for t in threads:
    t.join()
print(json.dumps(RESULT))
