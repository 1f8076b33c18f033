"""Hostile and broken clients against both built daemons.

Each attack is followed by a correct answer to a real request (an
AdmissionReview for the webhook, a prioritize call for the extender) and a
check that the daemon's open descriptors and memory are back where they
were before it. The webhook serves TLS; the extender plain HTTP (and TLS
where the attack is about TLS).
"""
import json
import os
import resource
import socket
import ssl
import threading
import time

import pytest

from conftest import check_response, load_fixture, post_review, sanitized
from test_extender import args_names, cluster, cold_claim_pod, start_extender  # noqa: F401

REVIEW = load_fixture("pod-warm-create.json")


def proc_stat(pid):
    """(utime + stime in seconds, RSS in KiB) of pid."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, int(fields[21]) * 4


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


class Target:
    """One daemon under attack: how to reach it and what a correct answer is."""

    def __init__(self, daemon, kind, tls):
        self.d = daemon
        self.kind = kind
        self.tls = tls
        self.pid = daemon.proc.pid
        self.path = "/validate" if kind == "webhook" else "/filter"
        self.good()
        time.sleep(0.3)  # the server sees the close
        self.fds = open_fds(self.pid)
        self.rss = proc_stat(self.pid)[1]

    def ctx(self):
        ctx = self.d.ssl_context() if self.kind == "webhook" else ssl.create_default_context(
            cafile=os.path.join(self.d.certs, "ca.crt"))
        return ctx

    def sock(self, timeout=10):
        s = socket.create_connection(("127.0.0.1", self.d.port), timeout=timeout)
        if self.tls:
            s = self.ctx().wrap_socket(s, server_hostname="localhost")
        return s

    def conn(self, timeout=10):
        import http.client
        if self.tls:
            return http.client.HTTPSConnection("127.0.0.1", self.d.port, context=self.ctx(),
                                               timeout=timeout)
        return http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=timeout)

    def good(self, conn=None):
        """One real request, answered correctly."""
        c = conn or self.conn()
        if self.kind == "webhook":
            status, _, raw = post_review(c, "/mutate", REVIEW)
            assert status == 200, raw
            check_response(REVIEW, raw, "mutate")
        else:
            c.request("POST", "/prioritize", body=json.dumps(args_names(cold_claim_pod(), ["n1"])),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            raw = r.read()
            assert r.status == 200, raw
            assert [e["Host"] for e in json.loads(raw)] == ["n1"]
        if conn is None:
            c.close()

    def post(self, body, path=None, timeout=30):
        """(status, raw body) of one POST on a new connection."""
        c = self.conn(timeout=timeout)
        c.request("POST", path or self.path, body=body,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, raw

    def back_to_normal(self, rss_slack_mib=16):
        """A correct answer, then descriptors and memory where they were."""
        self.good()
        deadline = time.time() + 10
        while open_fds(self.pid) > self.fds and time.time() < deadline:
            time.sleep(0.05)
        assert open_fds(self.pid) <= self.fds, "descriptors left open"
        if not sanitized("sandbox-guard-" + self.kind):
            rss = proc_stat(self.pid)[1]
            assert rss < self.rss + rss_slack_mib * 1024, (self.rss, rss)


@pytest.fixture(params=["webhook", "extender"])
def attack(request, tmp_path):
    """Starts the daemon named by the parameter with extra flags: attack(*flags)."""
    def start(*extra, tls=None):
        if request.param == "webhook":
            d = request.getfixturevalue("start_webhook")(*extra)
            return Target(d, "webhook", True)
        certs = request.getfixturevalue("certs")
        flags = list(extra)
        if tls:
            flags += ["--tls-cert=" + os.path.join(certs, "tls.crt"),
                      "--tls-key=" + os.path.join(certs, "tls.key")]
        d = request.getfixturevalue("start_extender")(*flags)
        d.certs = certs
        return Target(d, "extender", bool(tls))
    return start


def read_response(s, timeout=5):
    """Reads until the peer closes, a reset, or timeout; returns the bytes."""
    s.settimeout(timeout)
    data = b""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            break
        except (ConnectionResetError, ssl.SSLError, OSError):
            break
        if not chunk:
            break
        data += chunk
    return data


# --- bodies over the limit ------------------------------------------------------------

@pytest.mark.parametrize("expect", [False, True], ids=["plain", "expect-100-continue"])
def test_declared_huge_body_gets_413_at_once_from_the_header(attack, expect):
    t = attack()
    s = t.sock()
    t0 = time.time()
    s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n" +
              (b"Expect: 100-continue\r\n" if expect else b"") +
              b"Content-Type: application/json\r\nContent-Length: 104857600\r\n\r\n" +
              (b"" if expect else b"{"))
    data = read_response(s, timeout=8)
    took = time.time() - t0
    assert data.startswith(b"HTTP/1.1 413 "), data[:200]
    assert b"Connection: close" in data
    # The answer and the close come at once, not at a request deadline.
    assert took < 1.5, took
    s.close()
    t.back_to_normal()


def test_chunked_body_is_refused_once_past_the_limit(attack):
    t = attack("--max-body=65536")
    # Within the limit, chunked bodies are fine.
    if t.kind == "webhook":
        body = json.dumps(REVIEW).encode()
    else:
        body = json.dumps(args_names(cold_claim_pod(), ["n1"])).encode()
    s = t.sock()
    s.sendall(b"POST " + (b"/mutate" if t.kind == "webhook" else b"/prioritize") +
              b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for i in range(0, len(body), 1000):
        part = body[i:i + 1000]
        s.sendall(b"%x\r\n%s\r\n" % (len(part), part))
    s.sendall(b"0\r\n\r\n")
    s.settimeout(5)
    assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
    s.close()
    # Past it: 413 as soon as the sum of the chunks passes the limit.
    s = t.sock()
    s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n")
    sent = 0
    got = b""
    s.settimeout(0.05)
    while sent < 256 << 10 and not got:
        s.sendall(b"2000\r\n" + b" " * 0x2000 + b"\r\n")
        sent += 0x2000
        try:
            got = s.recv(4096)
        except (socket.timeout, ssl.SSLWantReadError):
            pass
    assert got.startswith(b"HTTP/1.1 413 "), got[:200]
    assert 65536 < sent <= 65536 + 4 * 0x2000, sent
    s.close()
    # One chunk that declares more than the limit is refused at its size line.
    s = t.sock()
    s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n6400000\r\n{")
    assert read_response(s, timeout=3).startswith(b"HTTP/1.1 413 ")
    s.close()
    t.back_to_normal()


def test_sender_still_sending_reads_the_413_instead_of_a_reset(attack):
    """The 413 goes out early; the rest of the body must not turn into a reset."""
    t = attack("--max-body=65536")
    body = b"[" + b" " * (4 << 20) + b"]"
    for _ in range(5):
        s = t.sock(timeout=10)
        s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body))
        s.sendall(body)
        data = read_response(s, timeout=5)
        assert data.startswith(b"HTTP/1.1 413 "), data[:200]
        s.close()
    t.back_to_normal()


def test_lingering_after_413_is_bounded_for_a_trickling_sender(attack):
    """After the 413 the server reads on for a while, but not for ever."""
    t = attack()
    s = t.sock()
    s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
              b"Content-Length: 104857600\r\n\r\n{")
    assert read_response(s, timeout=3).startswith(b"HTTP/1.1 413 ")
    t0 = time.time()
    gone = False
    while time.time() - t0 < 8 and not gone:
        try:
            # Raw bytes even on TLS (the server reads them unparsed): the
            # TLS layer itself would refuse to write after the peer's EOF.
            socket.socket.sendall(s, b"x")
        except OSError:  # a reset: the server has closed for good
            gone = True
        time.sleep(0.3)
    assert gone, "the server kept reading a trickling sender after its 413"
    assert time.time() - t0 < 4.5
    s.close()
    t.back_to_normal()


# --- bad JSON -----------------------------------------------------------------------------

def review_text(**subst):
    text = json.dumps(REVIEW)
    for k, v in subst.items():
        assert k in text
        text = text.replace(k, v, 1)
    return text.encode()


def webhook_bodies():
    uid = REVIEW["request"]["uid"]
    return [
        # (name, body, expected status, check)
        ("malformed", b'{"kind": "AdmissionReview", "apiVersion": ', 400, None),
        ("truncated", json.dumps(REVIEW).encode()[:700], 400, None),
        ("nesting-beyond-limit", review_text(**{'"dryRun": false': '"dryRun": ' + "[" * 1001 +
                                                 "]" * 1001}), 400, None),
        ("unclosed-brackets", b"[" * 100000, 400, None),
        # Go's rule, which the API server follows: the last of duplicate keys wins.
        ("duplicate-keys", review_text(**{'"uid": "%s"' % uid:
                                          '"uid": "first", "uid": "%s"' % uid}), 200,
         lambda doc: doc["response"]["uid"] == uid),
        ("numbers-past-2^53", review_text(**{'"dryRun": false': '"dryRun": false, "x": '
                                             '[9007199254740993, -9007199254740993, '
                                             '1e400, 123456789012345678901234567890]'}),
         200, lambda doc: doc["response"]["uid"] == uid),
        ("invalid-utf8", json.dumps(REVIEW).encode().replace(uid.encode(),
                                                             uid.encode() + b"\xff", 1),
         400, None),
        ("missing-request", json.dumps({"kind": "AdmissionReview",
                                        "apiVersion": "admission.k8s.io/v1"}).encode(), 400,
         None),
        ("wrong-apiversion", json.dumps(dict(REVIEW, apiVersion="admission.k8s.io/v2")).encode(),
         400, None),
    ]


def extender_bodies():
    good = args_names(cold_claim_pod(), ["n1"])
    text = json.dumps(good)
    return [
        ("malformed", b'{"Pod": ', 400, None),
        ("truncated", text.encode()[:len(text) // 2], 400, None),
        ("nesting-beyond-limit", text.replace('"NodeNames"', '"X": ' + "[" * 1001 + "]" * 1001 +
                                              ', "NodeNames"', 1).encode(), 400, None),
        ("duplicate-keys", text.replace('"NodeNames": ["n1"]',
                                        '"NodeNames": ["n2"], "NodeNames": ["n1"]').encode(), 200,
         lambda doc: [e["Host"] for e in doc] == ["n1"]),
        ("numbers-past-2^53", text.replace('"NodeNames"', '"X": [9007199254740993, 1e400, '
                                           '123456789012345678901234567890], "NodeNames"',
                                           1).encode(), 200,
         lambda doc: [e["Host"] for e in doc] == ["n1"]),
        ("invalid-utf8", text.replace('"n1"', '"n1\\u0000"').encode().replace(b"\\u0000", b"\xff"),
         400, None),
        ("missing-pod", json.dumps({"NodeNames": ["n1"]}).encode(), 400, None),
    ]


def test_bad_json_is_answered_and_leaves_nothing_behind(attack):
    t = attack()
    bodies = webhook_bodies() if t.kind == "webhook" else extender_bodies()
    path = "/validate" if t.kind == "webhook" else "/prioritize"
    for name, body, want, check in bodies:
        status, raw = t.post(body, path=path)
        assert status == want, (name, status, raw[:300])
        if check:
            doc = json.loads(raw)
            assert check(doc), (name, doc)
        if t.kind == "webhook" and want == 200:
            check_response(REVIEW, raw, "validate")
        t.back_to_normal()


def test_update_of_several_mib_is_answered(start_webhook):
    t = Target(start_webhook(), "webhook", True)
    review = json.loads(json.dumps(load_fixture("pod-adoption-update.json")))
    req = review["request"]
    assert req["operation"] == "UPDATE"
    req["object"]["metadata"].setdefault("annotations", {})["blob"] = "x" * (3 << 20)
    req["oldObject"]["metadata"].setdefault("annotations", {})["blob"] = "y" * (3 << 20)
    for ep in ("mutate", "validate"):
        c = t.conn(timeout=30)
        t0 = time.time()
        status, _, raw = post_review(c, "/" + ep, review)
        assert status == 200, raw[:300]
        check_response(review, raw, ep)
        assert time.time() - t0 < 5
        c.close()
    t.back_to_normal(rss_slack_mib=32)


def test_large_extender_call_is_answered(cluster, start_extender):  # noqa: F811
    d = start_extender()
    t = Target(d, "extender", False)
    names = ["node-%05d" % i for i in range(20000)] + ["n1"]
    status, raw = t.post(json.dumps(args_names(cold_claim_pod(), names)).encode(),
                         path="/prioritize")
    assert status == 200, raw[:300]
    assert {e["Host"] for e in json.loads(raw)} <= set(names)
    t.back_to_normal(rss_slack_mib=32)


# --- slow and idle clients --------------------------------------------------------------

def test_slowloris_on_headers_and_body_is_cut_off_while_others_are_served(attack):
    t = attack("--request-timeout=1s")
    slow = []
    for i in range(16):
        s = t.sock()
        if i % 2:
            s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n")
        else:
            s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Length: 100000\r\n\r\n{")
        slow.append([s, i % 2, False])
    stop = time.time() + 4
    served = []
    while time.time() < stop:
        for entry in slow:
            s, headers, closed = entry
            if closed:
                continue
            try:
                s.sendall(b"X-A: b\r\n" if headers else b" ")
                s.settimeout(0.001)
                if s.recv(1) == b"":
                    entry[2] = True
            except (socket.timeout, ssl.SSLWantReadError):
                pass
            except (OSError, ssl.SSLError):
                entry[2] = True
        t0 = time.time()
        t.good()
        served.append(time.time() - t0)
        time.sleep(0.1)
    # Every trickler was cut off by the request deadline, and meanwhile every
    # real request was answered promptly.
    assert all(e[2] for e in slow), "%d tricklers still open" % sum(not e[2] for e in slow)
    assert len(served) >= 10 and max(served) < 1, served
    for e in slow:
        e[0].close()
    t.back_to_normal()


@pytest.fixture
def many_fds():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_thousands_of_idle_connections(attack, many_fds):
    t = attack("--max-connections=3000", "--request-timeout=30s")
    socks = [socket.create_connection(("127.0.0.1", t.d.port)) for _ in range(2500)]
    time.sleep(0.5)
    t0 = time.time()
    t.good()
    assert time.time() - t0 < 1
    assert open_fds(t.pid) >= t.fds + 2500
    for s in socks:
        s.close()
    t.back_to_normal(rss_slack_mib=32)


# --- TLS port ---------------------------------------------------------------------------

def tls_target(kind, request):
    """The webhook, or the extender serving HTTPS."""
    if kind == "webhook":
        return Target(request.getfixturevalue("start_webhook")(), "webhook", True)
    certs = request.getfixturevalue("certs")
    d = request.getfixturevalue("start_extender")(
        "--tls-cert=" + os.path.join(certs, "tls.crt"),
        "--tls-key=" + os.path.join(certs, "tls.key"))
    d.certs = certs
    return Target(d, "extender", True)


@pytest.mark.parametrize("kind", ["webhook", "extender"])
def test_plaintext_http_on_the_tls_port(kind, request):
    t = tls_target(kind, request)
    for _ in range(20):
        s = socket.create_connection(("127.0.0.1", t.d.port), timeout=5)
        s.sendall(b"POST " + t.path.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Length: 2\r\n\r\n{}")
        data = read_response(s)
        assert b"HTTP/1." not in data and b"{" not in data, data
        s.close()
    t.back_to_normal()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("version", ["TLSv1", "TLSv1_1"])
@pytest.mark.parametrize("kind", ["webhook", "extender"])
def test_old_tls_versions_are_refused(kind, version, request):
    t = tls_target(kind, request)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    v = getattr(ssl.TLSVersion, version)
    try:
        ctx.minimum_version = v
        ctx.maximum_version = v
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except (ValueError, ssl.SSLError):
        pytest.skip("this Python's OpenSSL cannot speak " + version)
    for _ in range(10):
        s = socket.create_connection(("127.0.0.1", t.d.port), timeout=5)
        # The refusal comes from the server (an alert), not from our own client.
        with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL"):
            ctx.wrap_socket(s).do_handshake()
        s.close()
    t.back_to_normal()


# --- clients that vanish --------------------------------------------------------------------

def reset(s):
    """Closes with a reset (SO_LINGER 0), as a crashed client's kernel does."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    s.close()


def test_clients_vanishing_mid_request_and_mid_response(attack):
    t = attack()
    if t.kind == "webhook":
        req = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        body = json.dumps(REVIEW).encode()
    else:
        req = b"POST /prioritize HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        body = json.dumps(args_names(cold_claim_pod(),
                                     ["node-%05d" % i for i in range(3000)])).encode()
    req += b"Content-Length: %d\r\n\r\n" % len(body)
    for i in range(60):
        s = t.sock()
        if i % 3 == 0:
            s.sendall(req + body[:len(body) // 2])  # gone mid-request
        else:
            s.sendall(req + body)  # gone before or while the answer is written
        if i % 3 == 1:
            time.sleep(0.01)
        if i % 2:
            reset(s)
        else:
            s.close()
    t.back_to_normal()


# --- out of descriptors -------------------------------------------------------------------------

def cpu_seconds(pid):
    return proc_stat(pid)[0]


def test_out_of_descriptors_then_recovers(attack, many_fds):
    """With RLIMIT_NOFILE low, idle connections exhaust the daemon's descriptors:
    it neither dies nor spins, and serves again once they are closed."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # The daemon inherits the limit it starts with; ours goes back up at once.
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, hard))
    try:
        t = attack("--max-connections=1000", "--request-timeout=60s")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    socks = [socket.create_connection(("127.0.0.1", t.d.port)) for _ in range(120)]
    time.sleep(0.5)
    assert open_fds(t.pid) >= 60, "the daemon's descriptors were not exhausted"
    cpu0 = cpu_seconds(t.pid)
    time.sleep(2)
    used = cpu_seconds(t.pid) - cpu0
    # Not spinning on accept(2) failing with EMFILE.
    assert used < 0.5, used
    assert t.d.proc.poll() is None
    for s in socks:
        s.close()
    deadline = time.time() + 10
    while True:
        try:
            t.good()
            break
        except (OSError, ssl.SSLError, AssertionError):
            assert time.time() < deadline, "the daemon did not serve again"
            time.sleep(0.1)
    t.back_to_normal()
