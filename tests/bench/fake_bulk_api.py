#!/usr/bin/env python3
"""A fake API server for benchmarks: many pods, generated, not stored.

    fake_bulk_api.py PORT POOLS REPLICAS NODES EVENTS

Serves GET /api/v1/pods (paged list of POOLS x REPLICAS warm pods spread over
NODES nodes, generated from their index), GET /api/v1/nodes (NODES nodes),
and watches: the pod watch streams EVENTS MODIFIED events (pods flipping
between ready and not ready) as fast as it can, then idles; the node watch
idles. Plain HTTP on 127.0.0.1, any bearer token. Prints "ready" when
listening.
"""
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT, POOLS, REPLICAS, NODES, EVENTS = (int(a) for a in sys.argv[1:6])
TOTAL = POOLS * REPLICAS


def fnv(s):
    h = 2166136261
    for c in s.encode():
        h = ((h ^ c) * 16777619) & 0xffffffff
    return h


def pod(k, ready=True, rv=1):
    p, r = divmod(k, REPLICAS)
    name = "pool-%d" % p
    node = (k * 7 + p) % NODES
    return {"kind": "Pod", "apiVersion": "v1", "metadata": {
        "name": "%s-%05d" % (name, r), "namespace": "team-%d" % (p % 50),
        "uid": "%08x-%04x-4000-8000-%012d" % (p, r, k), "resourceVersion": str(rv),
        "labels": {"agents.x-k8s.io/sandbox-name-hash": "%08x" % k,
                   "agents.x-k8s.io/sandbox-template-ref-hash": "%08x" % (fnv(name) ^ 0x5a5a5a5a),
                   "agents.x-k8s.io/warm-pool-sandbox": "%08x" % fnv(name),
                   "sandbox-guard.io/network-profile": "default"},
        "managedFields": [{"manager": "agent-sandbox-controller", "operation": "Update",
                           "fieldsType": "FieldsV1",
                           "fieldsV1": {"f:metadata": {"f:labels": {}}}}]},
        "spec": {"nodeName": "node-%04d" % node, "runtimeClassName": "gvisor",
                 "containers": [{"name": "runtime", "image": "registry.example.com/r:3"}]},
        "status": {"phase": "Running",
                   "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, obj):
        data = json.dumps(obj, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if q.get("watch") == "1":
            return self.watch(url.path)
        if url.path == "/api/v1/nodes":
            return self.send_json({"kind": "NodeList", "metadata": {"resourceVersion": "1"},
                                   "items": [{"metadata": {"name": "node-%04d" % i,
                                                           "labels": {}}}
                                             for i in range(NODES)]})
        start = int(q.get("continue") or 0)
        limit = int(q.get("limit") or TOTAL)
        end = min(TOTAL, start + limit)
        meta = {"resourceVersion": "1"}
        if end < TOTAL:
            meta["continue"] = str(end)
        self.send_json({"kind": "PodList", "metadata": meta,
                        "items": [pod(k) for k in range(start, end)]})

    def watch(self, path):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if path == "/api/v1/pods" and not getattr(self.server, "streamed", False):
            self.server.streamed = True
            for data in CHUNKS:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        time.sleep(600)


# The watch events are made before "ready", so that the stream runs at the
# speed of the socket, not of this generator.
CHUNKS = []
_batch = []
for _i in range(EVENTS):
    _k = (_i * 7919) % TOTAL
    _batch.append(json.dumps({"type": "MODIFIED", "object": pod(_k, ready=_i % 2 == 1, rv=2 + _i)},
                             separators=(",", ":")))
    if len(_batch) == 500 or _i == EVENTS - 1:
        CHUNKS.append(("\n".join(_batch) + "\n").encode())
        _batch = []

srv = ThreadingHTTPServer(("127.0.0.1", PORT), H)
srv.daemon_threads = True
print("ready", flush=True)
srv.serve_forever()
