#!/usr/bin/python3
"""The NetworkPolicy model's pod server: answers on TCP and UDP ports 80
and 81 with its name, as the upstream suite's agnhost serves its ports.

usage: netpol_server.py NAME
Prints "ready" once every socket is bound, then serves until killed.
"""
import socket
import socketserver
import sys
import threading

PORTS = (80, 81)


class TCPHandler(socketserver.BaseRequestHandler):
    def handle(self):
        try:
            self.request.sendall(NAME)
        except OSError:
            pass


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def serve_udp(sock):
    while True:
        _, peer = sock.recvfrom(2048)
        sock.sendto(NAME, peer)


def main():
    global NAME
    NAME = (sys.argv[1] + "\n").encode()
    threads = []
    for port in PORTS:
        srv = TCPServer(("0.0.0.0", port), TCPHandler)
        threads.append(threading.Thread(target=srv.serve_forever, daemon=True))
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("0.0.0.0", port))
        threads.append(threading.Thread(target=serve_udp, args=(u,), daemon=True))
    for t in threads:
        t.start()
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
