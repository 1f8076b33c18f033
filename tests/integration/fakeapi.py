"""A fake Kubernetes API server for the extender's integration tests.

It serves what sandbox-guard-extender uses, the way kube-apiserver does:
paged lists (limit/continue) of pods (with a label selector), nodes and
RuntimeClasses (node.k8s.io/v1, cluster-scoped), and
watch streams (chunked, one JSON event per line) from a resourceVersion,
with bookmarks, "410 Gone" for a resourceVersion that has been compacted
(as an HTTP status or as an ERROR event), bearer tokens that can be rotated
or expired, and connections the test can cut. Tests change the cluster
through its methods; every change becomes a watch event.
"""
import copy
import json
import ssl
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeAPI:
    def __init__(self, certs_dir=None, token="token-1"):
        self.lock = threading.Condition()
        self.rv = 100
        kinds = ("pods", "nodes", "networkpolicies", "runtimeclasses")
        self.objects = {k: {} for k in kinds}     # kind -> key -> object
        self.events = {k: [] for k in kinds}      # (rv, type, object)
        self.compacted = {k: 0 for k in kinds}    # events at or below are gone
        self.conflicts = 0                        # answer the next N applies with 409
        self.applies = []                         # (path, content type, body) of each PATCH
        self.tokens = {token}
        self.requests = []                        # (method, path, auth)
        self.gone_as_event = False                # 410 as an ERROR event instead of HTTP 410
        self.bookmarks = True
        self.generation = 0                       # bump to cut every open watch
        self.fail_next_lists = 0
        self.continue_pad = ""                    # appended to continue tokens
        self.empty_watches = False                # end each watch at once, no event
        self.down = False                         # answer every request 503 (an outage)
        self.active_watches = 0
        self.fail_lists_of = {}                   # kind -> answer its next N lists 500
        self.truncate_next_event = None           # kind: cut its next watch event mid-line
        self.certs_dir = certs_dir
        self.namespaces = {}                      # name -> metadata (made by put_pod)
        self.denials = {}                         # "ns/name" -> refusal of a re-admission
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                api.handle(self)

            def do_PATCH(self):
                api.handle(self)

            def do_DELETE(self):
                api.handle(self)

        self.handler = Handler
        self.scheme = "https" if certs_dir else "http"
        self._serve(0)
        self.port = self.server.server_address[1]

    def _serve(self, port):
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self.handler)
        self.server.daemon_threads = True
        if self.certs_dir:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(self.certs_dir + "/tls.crt", self.certs_dir + "/tls.key")
            self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop_serving(self):
        """The API server process goes away: open watches end, connections are refused.

        The cluster (objects and history) stays, as etcd's would; tests may
        change it meanwhile, as other API server replicas would."""
        with self.lock:
            self._cut()
        self.server.shutdown()
        self.server.server_close()

    def start_serving(self):
        """The API server comes back on the same port."""
        self._serve(self.port)

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def close(self):
        with self.lock:
            self.generation += 1
            self.lock.notify_all()
        self.server.shutdown()
        self.server.server_close()

    # --- cluster changes ---------------------------------------------------

    def _emit(self, kind, etype, obj):
        with self.lock:
            self.rv += 1
            obj = copy.deepcopy(obj)
            obj.setdefault("metadata", {})["resourceVersion"] = str(self.rv)
            key = self.key(kind, obj)
            if etype == "DELETED":
                self.objects[kind].pop(key, None)
            else:
                self.objects[kind][key] = obj
            self.events[kind].append((self.rv, etype, obj))
            self.lock.notify_all()

    @staticmethod
    def key(kind, obj):
        m = obj["metadata"]
        if kind == "networkpolicies":
            return m["namespace"] + "/" + m["name"]
        return m.get("uid") or m["name"]

    def put_netpol(self, np):
        key = self.key("networkpolicies", np)
        etype = "MODIFIED" if key in self.objects["networkpolicies"] else "ADDED"
        self._emit("networkpolicies", etype, np)

    def delete_netpol(self, np):
        self._emit("networkpolicies", "DELETED", np)

    def netpol(self, ns, name):
        with self.lock:
            return copy.deepcopy(self.objects["networkpolicies"].get(ns + "/" + name))

    def put_pod(self, pod):
        with self.lock:
            self.namespaces.setdefault(pod["metadata"].get("namespace", "default"),
                                       {"labels": {}, "annotations": {}})
        key = pod["metadata"]["uid"]
        etype = "MODIFIED" if key in self.objects["pods"] else "ADDED"
        self._emit("pods", etype, pod)

    def delete_pod(self, pod):
        self._emit("pods", "DELETED", pod)

    def put_node(self, node):
        key = node["metadata"]["name"]
        etype = "MODIFIED" if key in self.objects["nodes"] else "ADDED"
        self._emit("nodes", etype, node)

    def put_runtimeclass(self, name, handler):
        etype = "MODIFIED" if name in self.objects["runtimeclasses"] else "ADDED"
        self._emit("runtimeclasses", etype, runtimeclass(name, handler))

    def delete_runtimeclass(self, name):
        with self.lock:
            cur = copy.deepcopy(self.objects["runtimeclasses"].get(name))
        if cur:
            self._emit("runtimeclasses", "DELETED", cur)

    def _cut(self):
        """Ends every open watch and waits until they are gone (call with the lock)."""
        self.generation += 1
        self.lock.notify_all()
        deadline = time.time() + 5
        while self.active_watches and time.time() < deadline:
            self.lock.wait(0.05)

    def compact(self, kind="pods"):
        """Forget every event so far: watches from older versions get 410."""
        with self.lock:
            # Other writes happened meanwhile: whatever a client saw is older.
            self.rv += 1
            self.compacted[kind] = self.rv
            self._cut()  # as an etcd compaction would

    def cut_watches(self):
        with self.lock:
            self._cut()

    def rotate_token(self, new, keep_old=False):
        with self.lock:
            if not keep_old:
                self.tokens = set()
            self.tokens.add(new)
            self._cut()  # the old token's watches end too

    def count(self, method_path_prefix):
        return sum(1 for m, p, _ in self.requests if (m + " " + p).startswith(method_path_prefix))

    # --- serving ------------------------------------------------------------

    def handle(self, h):
        auth = h.headers.get("Authorization", "")
        self.requests.append((h.command, h.path, auth))
        body = b""
        if h.headers.get("Content-Length"):
            body = h.rfile.read(int(h.headers["Content-Length"]))
        if self.down:
            return self.status(h, 503, "ServiceUnavailable", "the fake API server is down")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            return self.status(h, 401, "Unauthorized")
        url = urllib.parse.urlparse(h.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        parts = url.path.strip("/").split("/")
        if url.path.startswith("/apis/networking.k8s.io/v1/namespaces/") and len(parts) == 7:
            return self.item(h, parts[4], parts[6], q, body)
        if url.path.startswith("/apis/networking.k8s.io/v1/namespaces/") and len(parts) == 6 \
                and h.command == "GET":
            with self.lock:
                items = [copy.deepcopy(o) for o in self.objects["networkpolicies"].values()
                         if o["metadata"]["namespace"] == parts[4]]
                rv = self.rv
            return self.reply(h, 200, {"kind": "NetworkPolicyList", "apiVersion": "v1",
                                       "metadata": {"resourceVersion": str(rv)}, "items": items})
        if url.path.startswith("/api/v1/namespaces/") and len(parts) == 4:
            return self.namespace(h, parts[3], body)
        if h.command != "GET":
            return self.status(h, 405, "MethodNotAllowed")
        if url.path == "/api/v1/pods":
            kind = "pods"
        elif url.path == "/api/v1/nodes":
            kind = "nodes"
        elif url.path == "/apis/networking.k8s.io/v1/networkpolicies":
            kind = "networkpolicies"
        elif url.path == "/apis/node.k8s.io/v1/runtimeclasses":
            kind = "runtimeclasses"
        else:
            return self.status(h, 404, "NotFound")
        if q.get("watch") in ("1", "true"):
            return self.watch(h, kind, q)
        return self.list(h, kind, q)

    def namespace(self, h, name, body):
        """A namespace: GET, and merge-patches of its labels and annotations."""
        with self.lock:
            if name not in self.namespaces:
                return self.status(h, 404, "NotFound")
            meta = self.namespaces[name]
            if h.command == "PATCH":
                if h.headers.get("Content-Type") != "application/merge-patch+json":
                    return self.status(h, 415, "UnsupportedMediaType")
                patch = json.loads(body).get("metadata", {})
                for field in ("labels", "annotations"):
                    for k, v in patch.get(field, {}).items():
                        if v is None:
                            meta[field].pop(k, None)
                        else:
                            meta[field][k] = v
            elif h.command != "GET":
                return self.status(h, 405, "MethodNotAllowed")
            obj = {"kind": "Namespace", "apiVersion": "v1",
                   "metadata": {"name": name, "labels": dict(meta["labels"]),
                                "annotations": dict(meta["annotations"])}}
        return self.reply(h, 200, obj)

    def item(self, h, ns, name, q, body):
        """One NetworkPolicy: server-side apply (PATCH) and DELETE."""
        key = ns + "/" + name
        if h.command == "DELETE":
            with self.lock:
                cur = self.objects["networkpolicies"].get(key)
            if not cur:
                return self.status(h, 404, "NotFound")
            self.delete_netpol(cur)
            return self.reply(h, 200, cur)
        if h.command != "PATCH":
            return self.status(h, 405, "MethodNotAllowed")
        ctype = h.headers.get("Content-Type", "")
        if ctype == "application/merge-patch+json" and body == b"{}":
            # An empty patch: a re-admission. This fake has no admission
            # chain; a test may name the policies "our webhook" refuses.
            with self.lock:
                cur = copy.deepcopy(self.objects["networkpolicies"].get(key))
                denial = self.denials.get(key)
            if not cur:
                return self.status(h, 404, "NotFound")
            if denial:
                return self.status(h, 400, "BadRequest",
                                   'admission webhook "networkpolicies.validate.sandbox-guard.io" '
                                   "denied the request: " + denial)
            return self.reply(h, 200, cur)
        self.applies.append((h.path, ctype, body))
        if ctype != "application/apply-patch+yaml" or q.get("fieldManager") != "sandbox-guard":
            return self.status(h, 415, "UnsupportedMediaType")
        with self.lock:
            if self.conflicts > 0:
                self.conflicts -= 1
                return self.status(h, 409, "Conflict", "Apply failed with 1 conflict")
            cur = copy.deepcopy(self.objects["networkpolicies"].get(key))
        obj = json.loads(body)
        if obj["metadata"]["name"] != name or obj["metadata"]["namespace"] != ns:
            return self.status(h, 400, "BadRequest", "name or namespace does not match")
        if cur and q.get("force") == "true":
            # Forced apply by the only manager: the applied fields replace ours.
            new = copy.deepcopy(cur)
            new["metadata"]["labels"] = obj["metadata"].get("labels", {})
            new["spec"] = obj["spec"]
            if new == cur:
                return self.reply(h, 200, cur)  # no-op apply: no write, no event
            obj = new
        self.put_netpol(obj)
        return self.reply(h, 200 if cur else 201, self.netpol(ns, name))

    def reply(self, h, code, obj):
        data = json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def selected(self, kind, q, obj):
        sel = q.get("labelSelector")
        if not sel:
            return True
        labels = obj["metadata"].get("labels", {})
        if "=" in sel:
            k, v = sel.split("=", 1)
            return labels.get(k) == v
        return sel in labels

    def status(self, h, code, reason, message=None):
        body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                           "reason": reason, "code": code,
                           "message": message or reason}).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def list(self, h, kind, q):
        with self.lock:
            if self.fail_next_lists > 0:
                self.fail_next_lists -= 1
                return self.status(h, 500, "InternalError")
            if self.fail_lists_of.get(kind, 0) > 0:
                self.fail_lists_of[kind] -= 1
                return self.status(h, 500, "InternalError")
            items = sorted((o for o in self.objects[kind].values() if self.selected(kind, q, o)),
                           key=lambda o: o["metadata"].get("uid", o["metadata"]["name"]))
            rv = self.rv
        limit = int(q.get("limit", "0") or 0)
        start = 0
        if q.get("continue"):
            start_s, list_rv = q["continue"].split(":")
            list_rv = list_rv.rstrip("x")
            if int(list_rv) <= self.compacted[kind]:
                return self.status(h, 410, "Expired", "continue token expired")
            start = int(start_s)
        page = items[start:start + limit] if limit else items[start:]
        meta = {"resourceVersion": str(rv)}
        if limit and start + limit < len(items):
            meta["continue"] = "%d:%d%s" % (start + limit, rv, self.continue_pad)
        body = json.dumps({"kind": {"pods": "PodList", "nodes": "NodeList",
                                    "runtimeclasses": "RuntimeClassList"}.get(
                               kind, "NetworkPolicyList"),
                           "apiVersion": "v1", "metadata": meta, "items": page}).encode()
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def watch(self, h, kind, q):
        since = int(q.get("resourceVersion") or 0)
        timeout = float(q.get("timeoutSeconds") or 300)
        with self.lock:
            gone = since < self.compacted[kind]
            gen = self.generation
        if gone and not self.gone_as_event:
            return self.status(h, 410, "Expired", "too old resource version")
        with self.lock:
            self.active_watches += 1
        try:
            self._stream(h, kind, q, since, timeout, gone, gen)
        finally:
            with self.lock:
                self.active_watches -= 1
                self.lock.notify_all()

    def _stream(self, h, kind, q, since, timeout, gone, gen):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()

        def send(obj):
            data = (json.dumps(obj) + "\n").encode()
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            h.wfile.flush()

        try:
            if self.empty_watches:
                h.wfile.write(b"0\r\n\r\n")
                return
            if gone:
                send({"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1",
                                                  "status": "Failure", "reason": "Expired",
                                                  "code": 410,
                                                  "message": "too old resource version"}})
                h.wfile.write(b"0\r\n\r\n")
                return
            deadline = time.time() + timeout
            last_bookmark = time.time()
            pos = since
            while time.time() < deadline:
                with self.lock:
                    if self.generation != gen:
                        break  # cut: close without the final chunk, like a dropped link
                    pending = [e for e in self.events[kind] if e[0] > pos]
                    if not pending:
                        self.lock.wait(0.1)
                        if self.generation != gen:
                            break
                        pending = [e for e in self.events[kind] if e[0] > pos]
                    cur_rv = self.rv
                truncated = False
                for rv, etype, obj in pending:
                    if self.selected(kind, q, obj) or etype == "DELETED":
                        with self.lock:
                            truncated = self.truncate_next_event == kind
                            if truncated:
                                self.truncate_next_event = None
                        if truncated:
                            # Half an event, then the link drops: no newline, no final chunk.
                            data = (json.dumps({"type": etype, "object": obj}) + "\n").encode()
                            data = data[:len(data) // 2]
                            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                            h.wfile.flush()
                            break
                        send({"type": etype, "object": obj})
                    pos = rv
                if truncated:
                    break
                if self.bookmarks and q.get("allowWatchBookmarks") == "true" and \
                        time.time() - last_bookmark > 1.0:
                    send({"type": "BOOKMARK", "object": {
                        "kind": {"pods": "Pod", "nodes": "Node",
                                 "runtimeclasses": "RuntimeClass"}.get(kind, "NetworkPolicy"),
                        "apiVersion": "v1",
                        "metadata": {"resourceVersion": str(max(pos, cur_rv))}}})
                    pos = max(pos, cur_rv)
                    last_bookmark = time.time()
            else:
                h.wfile.write(b"0\r\n\r\n")
                return
            # Cut: drop the connection without ending the chunked body.
            h.close_connection = True
            h.connection.shutdown(2)
        except (BrokenPipeError, ConnectionResetError, OSError):
            pass


def pod(uid, node=None, template="9e8d7c6b", pool=None, ready=True, ns="team-a", phase=None,
        deleting=False, runtime="gvisor", name=None):
    labels = {"agents.x-k8s.io/sandbox-name-hash": "aaaa" + uid[-4:],
              "agents.x-k8s.io/sandbox-template-ref-hash": template}
    if pool:
        labels["agents.x-k8s.io/warm-pool-sandbox"] = pool
    p = {"kind": "Pod", "apiVersion": "v1",
         "metadata": {"name": name or "sb-" + uid, "namespace": ns, "uid": uid,
                      "labels": labels,
                      "managedFields": [{"manager": "agent-sandbox-controller",
                                         "operation": "Update",
                                         "fieldsV1": {"f:metadata": {}}}]},
         "spec": {"containers": [{"name": "c", "image": "x"}], "runtimeClassName": runtime},
         "status": {"phase": phase or ("Running" if node else "Pending")}}
    if node:
        p["spec"]["nodeName"] = node
    if ready and node:
        p["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    if deleting:
        p["metadata"]["deletionTimestamp"] = "2026-11-28T10:00:00Z"
    return p


def node(name, labels=None):
    return {"kind": "Node", "apiVersion": "v1",
            "metadata": {"name": name, "labels": dict({"kubernetes.io/hostname": name},
                                                      **(labels or {}))},
            "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}


def runtimeclass(name, handler):
    return {"kind": "RuntimeClass", "apiVersion": "node.k8s.io/v1",
            "metadata": {"name": name}, "handler": handler}
