#!/usr/bin/python3
"""Identity server for e2e tests: answers every TCP connection or UDP
datagram with its own name, so a client can count which backend served it;
a TCP connection is then echoed until the client closes it.

usage: server.py tcp|udp BIND_IP PORT NAME
NAME may hold "{peer}": it is replaced by the client address the server sees
(a test of source-address preservation reads it). Prints "ready" once bound,
then serves until killed.
"""
import socket
import socketserver
import sys


class TCPHandler(socketserver.BaseRequestHandler):
    """Send the name, then echo whatever comes until the client closes."""

    def handle(self):
        self.request.sendall(name_for(self.client_address))
        try:
            while True:
                data = self.request.recv(4096)
                if not data:
                    return
                self.request.sendall(data)
        except OSError:
            return


class TCPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 1024


def name_for(peer):
    return NAME.replace(b"{peer}", peer[0].encode())


def main():
    global NAME
    proto, ip, port, name = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    NAME = (name + "\n").encode()
    if proto == "tcp":
        srv = TCPServer((ip, port), TCPHandler)
        print("ready", flush=True)
        srv.serve_forever()
    else:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((ip, port))
        print("ready", flush=True)
        while True:
            _, peer = s.recvfrom(2048)
            s.sendto(name_for(peer), peer)


if __name__ == "__main__":
    main()
