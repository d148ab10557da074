#!/usr/bin/python3
"""A test Kubernetes API server: list and watch of Services, EndpointSlices,
Nodes, Pods, Namespaces and NetworkPolicies over HTTPS, with bearer-token
checking, shaped like the real one.

usage: apiserver.py --listen IP:PORT --cert FILE --key FILE --token TOKEN
                    [--state LIST.json]

Prints "ready" on stdout once listening. Then it takes commands, one JSON
object per line on stdin, and answers each with one JSON line on stdout:

  {"op": "apply", "object": {...}}           ADDED or MODIFIED
  {"op": "delete", "kind": K, "namespace": NS, "name": N}   DELETED (no
                                             namespace: a Node, a Namespace)
  {"op": "bookmark"}                         BOOKMARK on every watch that asked
  {"op": "expire"}                           forget history: older watches get 410
  {"op": "expire_http"}                      like expire, and the next watch
                                             request is answered HTTP 410
  {"op": "drop"}                             close every watch connection
  {"op": "malformed"}                        send a line that is not JSON
  {"op": "oversized", "bytes": N}            send an event line of N bytes
  {"op": "token", "value": T}                accept only T from now on
  {"op": "stats"}                            requests seen, by kind
"""
import argparse
import copy
import json
import ssl
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RESOURCES = {  # path -> (kind, apiVersion); Nodes and Namespaces are cluster-scoped
    "/api/v1/services": ("Service", "v1"),
    "/api/v1/nodes": ("Node", "v1"),
    "/apis/discovery.k8s.io/v1/endpointslices": ("EndpointSlice", "discovery.k8s.io/v1"),
    "/api/v1/pods": ("Pod", "v1"),
    "/api/v1/namespaces": ("Namespace", "v1"),
    "/apis/networking.k8s.io/v1/networkpolicies": ("NetworkPolicy", "networking.k8s.io/v1"),
}


class Store:
    """Objects, a resourceVersion counter and the event history."""

    def __init__(self):
        self.cond = threading.Condition()
        self.rv = 100
        self.objects = {}  # (kind, ns, name) -> object
        self.events = []  # (rv, kind, line) for watches to replay
        self.oldest = 0  # history before this rv is gone (410)
        self.token = ""
        self.drop_gen = 0
        self.http_410 = False
        self.stats = {"list": {}, "watch": {}, "unauthorized": 0}

    def _key(self, obj):
        md = obj["metadata"]
        return (obj["kind"], md.get("namespace", ""), md["name"])

    def _emit(self, kind, etype, obj):
        self.events.append((self.rv, kind, json.dumps({"type": etype, "object": obj})))
        self.cond.notify_all()

    def apply(self, obj):
        with self.cond:
            obj = copy.deepcopy(obj)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            key = self._key(obj)
            etype = "MODIFIED" if key in self.objects else "ADDED"
            self.objects[key] = obj
            self._emit(obj["kind"], etype, obj)
            return self.rv

    def delete(self, kind, ns, name):
        with self.cond:
            obj = self.objects.pop((kind, ns or "", name), None)
            if obj is None:
                return None
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj["metadata"]["resourceVersion"] = str(self.rv)
            self._emit(kind, "DELETED", obj)
            return self.rv

    def raw(self, line):
        """A line for every watch, whatever its kind (malformed, oversized)."""
        with self.cond:
            self.rv += 1
            self.events.append((self.rv, "*", line))
            self.cond.notify_all()

    def bookmark(self):
        with self.cond:
            self.rv += 1
            for kind, api in RESOURCES.values():
                self.events.append((self.rv, kind, "BOOKMARK"))
            self.cond.notify_all()

    def expire(self, http=False):
        with self.cond:
            self.rv += 1
            self.oldest = self.rv
            self.events = []
            self.http_410 = http
            self.drop_gen += 1  # open watches end; their rv is now too old
            self.cond.notify_all()

    def drop(self):
        with self.cond:
            self.drop_gen += 1
            self.cond.notify_all()


STORE = Store()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: stdout carries the protocol
        pass

    def send_json(self, code, obj):
        body = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def status(self, code, reason, message):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason,
                              "code": code})

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if self.headers.get("Authorization") != "Bearer " + STORE.token:
            STORE.stats["unauthorized"] += 1
            return self.status(401, "Unauthorized", "Unauthorized")
        if url.path not in RESOURCES:
            return self.status(404, "NotFound", "the server could not find the requested resource")
        kind, api = RESOURCES[url.path]
        if q.get("watch") in ("1", "true"):
            return self.watch(kind, api, q)
        return self.list(kind, api, q)

    def list(self, kind, api, q):
        STORE.stats["list"][kind] = STORE.stats["list"].get(kind, 0) + 1
        with STORE.cond:
            items = [copy.deepcopy(o) for k, o in sorted(STORE.objects.items()) if k[0] == kind]
            rv = STORE.rv
        for o in items:  # list items carry no kind, as from a real server
            o.pop("kind", None)
            o.pop("apiVersion", None)
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or 0) or len(items) or 1
        page = items[start:start + limit]
        meta = {"resourceVersion": str(rv)}
        if start + limit < len(items):
            meta["continue"] = str(start + limit)
        self.send_json(200, {"kind": kind + "List", "apiVersion": api, "metadata": meta,
                             "items": page})

    def chunk(self, line):
        data = (line + "\n").encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def watch(self, kind, api, q):
        STORE.stats["watch"][kind] = STORE.stats["watch"].get(kind, 0) + 1
        try:
            since = int(q.get("resourceVersion") or 0)
        except ValueError:
            return self.status(400, "BadRequest", "bad resourceVersion")
        bookmarks = q.get("allowWatchBookmarks") in ("1", "true")
        with STORE.cond:
            if STORE.http_410:
                STORE.http_410 = False
                return self.status(410, "Expired", "too old resource version")
            gen = STORE.drop_gen
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if since < STORE.oldest:
                self.chunk(json.dumps({"type": "ERROR", "object": {
                    "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                    "message": "too old resource version: %d (%d)" % (since, STORE.oldest),
                    "reason": "Expired", "code": 410}}))
                self.wfile.write(b"0\r\n\r\n")
                return
            sent = since
            while True:
                with STORE.cond:
                    while (STORE.drop_gen == gen and
                           not any(rv > sent for rv, _, _ in STORE.events)):
                        STORE.cond.wait(1)
                    if STORE.drop_gen != gen:
                        break
                    todo = [(rv, k, line) for rv, k, line in STORE.events if rv > sent]
                for rv, k, line in todo:
                    sent = rv
                    if line == "BOOKMARK":
                        if k == kind and bookmarks:
                            self.chunk(json.dumps({"type": "BOOKMARK", "object": {
                                "kind": kind, "apiVersion": api,
                                "metadata": {"resourceVersion": str(rv)}}}))
                    elif k in (kind, "*"):
                        self.chunk(line)
            # dropped: end the connection abruptly, no final chunk
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


class Server(ThreadingHTTPServer):
    """A thread per request; a listen backlog as deep as a real API
    server's: the default (5) overflows when every agent's watches (six
    kinds each) reconnect at once, and a dropped SYN costs a second or more."""
    daemon_threads = True
    request_queue_size = 256


def control():
    for line in sys.stdin:
        try:
            cmd = json.loads(line)
            op = cmd["op"]
            res = {"ok": True}
            if op == "apply":
                res["rv"] = STORE.apply(cmd["object"])
            elif op == "delete":
                res["rv"] = STORE.delete(cmd["kind"], cmd.get("namespace", ""), cmd["name"])
            elif op == "bookmark":
                STORE.bookmark()
            elif op == "expire":
                STORE.expire()
            elif op == "expire_http":
                STORE.expire(http=True)
            elif op == "drop":
                STORE.drop()
            elif op == "malformed":
                STORE.raw('{"type": "ADDED", "object": {not json')
            elif op == "oversized":
                pad = "x" * int(cmd["bytes"])
                STORE.raw(json.dumps({"type": "ADDED", "object": {"kind": "Service",
                                                                  "pad": pad}}))
            elif op == "token":
                STORE.token = cmd["value"]
            elif op == "stats":
                res["stats"] = STORE.stats
            else:
                res = {"ok": False, "error": "unknown op %s" % op}
        except Exception as e:  # the harness reads the error; the server goes on
            res = {"ok": False, "error": repr(e)}
        print(json.dumps(res), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--state")
    a = ap.parse_args()
    STORE.token = a.token
    if a.state:
        with open(a.state) as f:
            for obj in json.load(f)["items"]:
                STORE.apply(obj)
        STORE.events = []  # a fresh server: history starts now
        STORE.oldest = 0
    host, port = a.listen.rsplit(":", 1)
    srv = Server((host, int(port)), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print("ready", flush=True)
    control()


if __name__ == "__main__":
    main()
