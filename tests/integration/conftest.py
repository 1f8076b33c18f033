"""Shared fixtures: a real sandbox-guard-webhook over real TLS.

The daemon under test is the one the build made (SG_BUILD_DIR, default
build/). Every test gets dev certificates in a temporary directory and
ports picked by the daemon itself (port 0), read back from its "listening"
log line. At teardown the daemon gets SIGTERM and must exit 0, and its
stderr must hold no sanitizer report: that is how the ASan/UBSan build
catches memory errors and leaks in the daemon.
"""
import base64
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.environ.get("SG_BUILD_DIR", os.path.join(ROOT, "build"))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                   "SUMMARY: UndefinedBehaviorSanitizer")


def binary(name):
    path = os.path.join(BUILD, "bin", name)
    if not os.path.exists(path):
        pytest.fail("%s not built (looked in %s)" % (name, path))
    return path


def sanitized(name):
    """True if the built daemon carries AddressSanitizer (the sanitizer build)."""
    with open(binary(name), "rb") as f:
        return b"__asan_init" in f.read()


def make_certs(directory, *extra):
    subprocess.run([os.path.join(ROOT, "certs", "gen-dev-certs.sh"), "--out", directory,
                    *extra], check=True, capture_output=True)
    return directory


class Daemon:
    """A running daemon with its log, ports and TLS client context."""

    def __init__(self, tmp, name, args, certs, env=None):
        self.tmp = tmp
        self.certs = certs
        self.log_path = os.path.join(tmp, name + ".log")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary(name)] + args, stdout=self.log,
                                     stderr=subprocess.STDOUT, env=env or os.environ.copy())
        self.port = None
        self.health_port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.find_log("listening")
            if line:
                self.port = line.get("port")
                self.health_port = line.get("health_port")
                break
            if self.proc.poll() is not None:
                raise AssertionError("daemon exited early:\n" + self.text())
            time.sleep(0.02)
        else:
            raise AssertionError("daemon did not start:\n" + self.text())

    def text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_lines(self):
        """The complete JSON log lines so far (one still being written is left out)."""
        out = []
        text = self.text()
        lines = text.split("\n")
        if not text.endswith("\n"):
            lines.pop()  # the daemon is writing it right now
        for raw in lines:
            raw = raw.strip()
            if raw.startswith("{"):
                out.append(json.loads(raw))
        return out

    def find_log(self, msg):
        for line in self.log_lines():
            if line.get("msg") == msg:
                return line
        return None

    def wait_log(self, predicate, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for line in self.log_lines():
                if predicate(line):
                    return line
            time.sleep(0.05)
        raise AssertionError("log line not seen; log:\n" + self.text())

    def ssl_context(self):
        ctx = ssl.create_default_context(cafile=os.path.join(self.certs, "ca.crt"))
        return ctx

    def connect(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ssl_context(),
                                           timeout=timeout)

    def health(self, path):
        c = http.client.HTTPConnection("127.0.0.1", self.health_port, timeout=10)
        c.request("GET", path)
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, body

    def metrics(self):
        """All series from /metrics as (name, labels, value)."""
        _, text = self.health("/metrics")
        out = []
        for line in text.splitlines():
            if not line or line.startswith("#"):
                continue
            series, _, value = line.rpartition(" ")
            name, _, rest = series.partition("{")
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', rest))
            out.append((name, labels, float(value)))
        return out

    def metric(self, name, **labels):
        """The sum of the series of name that carry these labels, or None."""
        total = None
        for n, l, v in self.metrics():
            if n == name and all(l.get(k) == val for k, val in labels.items()):
                total = (total or 0) + v
        return total

    def stop(self, timeout=30):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("daemon did not stop on SIGTERM:\n" + self.text())
        self.log.close()
        return self.proc.returncode

    def assert_clean_exit(self):
        rc = self.stop()
        text = self.text()
        for mark in SANITIZER_MARKS:
            assert mark not in text, "sanitizer report in daemon output:\n" + text
        assert rc == 0, "daemon exited %s:\n%s" % (rc, text)


def write_kubeconfig(path, certs_dir, api_url, token_file, user="tester"):
    """A kubeconfig for the fake API server: its CA, its URL by name
    (localhost, which its certificate carries) and a token file."""
    with open(path, "w") as f:
        json.dump({
            "apiVersion": "v1", "kind": "Config", "current-context": "fake",
            "clusters": [{"name": "fake", "cluster": {
                "server": api_url.replace("127.0.0.1", "localhost"),
                "certificate-authority": os.path.join(certs_dir, "ca.crt")}}],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": user}}],
            "users": [{"name": user, "user": {"tokenFile": token_file}}]}, f)


def post_review(conn, path, body):
    """POSTs a review as kube-apiserver does; returns (status, headers, parsed or raw body)."""
    if not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    conn.request("POST", path + "?timeout=10s", body=body,
                 headers={"Content-Type": "application/json", "Accept": "application/json",
                          "User-Agent": "kube-apiserver-admission"})
    r = conn.getresponse()
    raw = r.read()
    return r.status, dict(r.getheaders()), raw


def check_response(request_review, raw, endpoint):
    """Checks the answer the way kube-apiserver's webhook client does. Returns the response."""
    doc = json.loads(raw)
    assert doc.get("apiVersion") == "admission.k8s.io/v1", doc
    assert doc.get("kind") == "AdmissionReview", doc
    resp = doc["response"]
    allowed_keys = {"uid", "allowed", "status", "patch", "patchType", "auditAnnotations",
                    "warnings"}
    assert set(resp) <= allowed_keys, "unexpected response fields: %s" % (set(resp) - allowed_keys)
    assert resp["uid"] == request_review["request"]["uid"]
    assert isinstance(resp["allowed"], bool)
    assert ("patch" in resp) == ("patchType" in resp), "patch and patchType go together"
    if "patch" in resp:
        assert endpoint == "mutate", "a validating webhook must not send a patch"
        assert resp["allowed"], "a patch only makes sense when allowed"
        assert resp["patchType"] == "JSONPatch"
        raw_patch = base64.b64decode(resp["patch"], validate=True)
        ops = json.loads(raw_patch)
        assert isinstance(ops, list) and ops, "an empty patch must be omitted"
        for op in ops:
            assert op["op"] in ("add", "replace", "remove"), op
            assert op["path"].startswith("/"), op
    if not resp["allowed"]:
        st = resp["status"]
        assert isinstance(st["code"], int) and st["code"] >= 400
        assert isinstance(st["message"], str) and st["message"]
    for w in resp.get("warnings", []):
        assert isinstance(w, str)
        assert not any(ord(ch) < 0x20 or ord(ch) == 0x7f for ch in w), repr(w)
    assert sum(len(w) for w in resp.get("warnings", [])) <= 4096
    for k, v in resp.get("auditAnnotations", {}).items():
        assert len(k) <= 63 and "/" not in k and isinstance(v, str)
    return resp


def patch_ops(resp):
    if "patch" not in resp:
        return []
    return json.loads(base64.b64decode(resp["patch"]))


def load_fixture(name):
    with open(os.path.join(FIXTURES, "reviews", name)) as f:
        return json.load(f)


@pytest.fixture
def certs(tmp_path):
    return make_certs(str(tmp_path / "certs"))


@pytest.fixture
def start_webhook(tmp_path, certs):
    started = []

    def start(*extra, cert_dir=None, check_exit=True):
        cd = cert_dir or certs
        args = ["--tls-cert=" + os.path.join(cd, "tls.crt"),
                "--tls-key=" + os.path.join(cd, "tls.key"),
                "--listen=127.0.0.1:0", "--health-listen=127.0.0.1:0",
                "--reload-interval=200ms", *extra]
        d = Daemon(str(tmp_path), "sandbox-guard-webhook", args, cd)
        d.check_exit = check_exit
        started.append(d)
        return d

    yield start
    for d in started:
        if d.check_exit:
            d.assert_clean_exit()
        else:
            d.stop()


@pytest.fixture
def webhook(start_webhook):
    return start_webhook()
