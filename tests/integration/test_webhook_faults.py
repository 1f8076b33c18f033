"""Faults under load: certificate rotation, SIGTERM and a broken policy file
while several clients keep posting real reviews.

Each test runs a few seconds of load from client threads (some on one
keep-alive connection, some opening a new TLS connection per review) and
counts every failure: a request that was sent must get a correct answer.
The figures (requests served, time to see a new certificate, drain time)
are printed, so `pytest -s` shows them.
"""
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

from conftest import check_response, load_fixture, post_review

REVIEW = load_fixture("pod-warm-create.json")
REVIEW_BODY = json.dumps(REVIEW).encode()


class Load:
    """Client threads posting reviews until stopped, with their tallies.

    keepalive threads reuse one connection (a new one only after a failure);
    fresh threads open a new TLS connection for every review. check(resp)
    may add conditions on each answer. Every failure is kept with its time
    and whether the request was wholly sent (so a test can judge when it
    happened)."""

    def __init__(self, daemon, keepalive=2, fresh=2, endpoint="mutate", review=None,
                 check=None):
        self.daemon = daemon
        self.endpoint = endpoint
        self.review = review or REVIEW
        self.body = json.dumps(self.review).encode()
        self.check = check
        # Made once: the CA file may sit in a volume being swapped under the test.
        self.ctx = daemon.ssl_context()
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.ok_after = []  # completion times of answered requests
        self.failures = []  # (time wholly sent or None, phase, repr(exception))
        self.handshake_errors = 0
        self.serials = []  # (connect began, handshake done, serial) of fresh connections
        self.threads = [threading.Thread(target=self.run, args=(True,), daemon=True)
                        for _ in range(keepalive)]
        self.threads += [threading.Thread(target=self.run, args=(False,), daemon=True)
                         for _ in range(fresh)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(timeout=30)
            assert not t.is_alive(), "a client thread is stuck"

    def tls(self):
        ctx = self.ctx
        raw = socket.create_connection(("127.0.0.1", self.daemon.port), timeout=10)
        try:
            s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        except Exception:
            raw.close()
            raise
        return s

    def one(self, sock, sent_at):
        """Sends one review on sock, noting in sent_at[0] when it was wholly sent. Raises on
        failure."""
        req = (b"POST /%s?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               b"Content-Type: application/json\r\nAccept: application/json\r\n"
               b"Content-Length: %d\r\n\r\n" % (self.endpoint.encode(), len(self.body)))
        sock.sendall(req + self.body)
        sent_at[0] = time.time()
        f = sock.makefile("rb")
        try:
            status_line = f.readline()
            if not status_line:
                raise ConnectionError("closed before any answer")
            parts = status_line.split()
            status = int(parts[1])
            length = None
            while True:
                line = f.readline()
                if not line:
                    raise ConnectionError("closed in the headers")
                if line in (b"\r\n", b"\n"):
                    break
                k, _, v = line.decode().partition(":")
                if k.strip().lower() == "content-length":
                    length = int(v.strip())
            if length is None:
                raise AssertionError("no Content-Length")
            raw = f.read(length)
            if len(raw) != length:
                raise ConnectionError("body cut short")
        finally:
            f.close()
        if status != 200:
            raise AssertionError("status %d: %r" % (status, raw[:200]))
        resp = check_response(self.review, raw, self.endpoint)
        if self.check:
            self.check(resp)

    def run(self, keepalive):
        sock = None
        while not self.stop_flag.is_set():
            if sock is None:
                began = time.time()
                try:
                    sock = self.tls()
                except ssl.SSLError as e:
                    with self.lock:
                        self.handshake_errors += 1
                        self.failures.append((None, "handshake", repr(e)))
                    continue
                except OSError as e:
                    with self.lock:
                        self.failures.append((None, "connect", repr(e)))
                    if self.stop_flag.wait(0.01):
                        break
                    continue
                if not keepalive:
                    serial = sock.getpeercert().get("serialNumber")
                    with self.lock:
                        self.serials.append((began, time.time(), serial))
            sent_at = [None]
            try:
                self.one(sock, sent_at)
                with self.lock:
                    self.ok += 1
                    self.ok_after.append(time.time())
            except Exception as e:  # noqa: BLE001 - every failure is counted
                with self.lock:
                    self.failures.append((sent_at[0], "request", repr(e)))
                sock.close()
                sock = None
                continue
            if not keepalive:
                sock.close()
                sock = None
        if sock is not None:
            sock.close()


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


# --- 1. certificate rotation as the kubelet does it ----------------------------------------

def issue(ca_dir, out, cn):
    """A new serving pair signed by the CA in ca_dir; returns its serial (hex, upper case)."""
    os.makedirs(out)
    key, csr, crt = (os.path.join(out, n) for n in ("tls.key", "tls.csr", "tls.crt"))
    ext = os.path.join(out, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, text=True)  # noqa: E731
    run("openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
    run("openssl", "req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", csr)
    run("openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.crt"),
        "-CAkey", os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-days", "2",
        "-extfile", ext, "-out", crt)
    shutil.copy(os.path.join(ca_dir, "ca.crt"), os.path.join(out, "ca.crt"))
    return serial_of(crt)


def serial_of(crt):
    out = subprocess.run(["openssl", "x509", "-noout", "-serial", "-in", crt], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().partition("=")[2].upper()


class SecretVolume:
    """A directory laid out and updated the way the kubelet's atomic writer
    updates a Secret volume: the visible names are symlinks through ..data,
    ..data points at a timestamped directory, and an update writes a new
    timestamped directory, points a new ..data_tmp symlink at it, renames
    ..data_tmp over ..data (the one atomic step) and removes the old
    directory."""

    NAMES = ("tls.crt", "tls.key", "ca.crt")

    def __init__(self, base):
        self.base = base
        self.current = None
        self.generation = 0
        os.makedirs(base)

    def update(self, source):
        self.generation += 1
        ts = os.path.join(self.base, "..2026_12_04_14_00_%02d.%d" % (self.generation,
                                                                     os.getpid()))
        os.makedirs(ts)
        for n in self.NAMES:
            shutil.copy(os.path.join(source, n), os.path.join(ts, n))
        tmp_link = os.path.join(self.base, "..data_tmp")
        os.symlink(os.path.basename(ts), tmp_link)
        os.rename(tmp_link, os.path.join(self.base, "..data"))
        for n in self.NAMES:
            link = os.path.join(self.base, n)
            if not os.path.islink(link):
                os.symlink(os.path.join("..data", n), link)
        if self.current:
            shutil.rmtree(self.current)
        self.current = ts


def test_certificate_rotation_under_load(start_webhook, tmp_path, certs):
    swaps = 4
    pairs = [str(tmp_path / ("pair%d" % i)) for i in range(swaps + 1)]
    serials = [issue(certs, p, "rotation-%d" % i) for i, p in enumerate(pairs)]
    assert len(set(serials)) == len(serials)
    vol = SecretVolume(str(tmp_path / "mount"))
    vol.update(pairs[0])
    d = start_webhook("--reload-interval=100ms", cert_dir=vol.base)
    load = Load(d, keepalive=2, fresh=2).start()
    try:
        wait_until(lambda: load.ok >= 20, 10, "first answers")
        seen = [s for _, _, s in load.serials]
        assert seen and set(seen) == {serials[0]}, seen
        delays = []
        for i in range(1, swaps + 1):
            before = load.ok
            t0 = time.time()
            vol.update(pairs[i])
            # The fresh-connection threads report what new connections see.
            wait_until(lambda: any(b > t0 and s == serials[i] for b, _, s in load.serials), 10,
                       "serial %s on new connections" % serials[i])
            first = min(e for b, e, s in load.serials if b > t0 and s == serials[i])
            delays.append(first - t0)
            # Once one new connection saw it, every later one must: no going back.
            wait_until(lambda: load.ok >= before + 100
                       and sum(1 for b, _, _ in load.serials if b > first) >= 20, 10,
                       "load to go on")
            later = [s for b, _, s in load.serials if b > first]
            assert set(later) == {serials[i]}, (i, serials, later)
    finally:
        load.stop()
    print("\nrotation: %d reviews answered over %d swaps, %d failed, %d handshake errors, "
          "new certificate seen after %s s" % (load.ok, swaps, len(load.failures),
                                              load.handshake_errors,
                                              ", ".join("%.3f" % x for x in delays)))
    assert load.handshake_errors == 0, load.failures[:5]
    assert load.failures == [], load.failures[:5]
    assert d.metric("sandbox_guard_tls_reloads_total", result="ok") >= swaps
    assert not d.metric("sandbox_guard_tls_reloads_total", result="failed")


# --- 2. SIGTERM under load ---------------------------------------------------------------

def partial_request(daemon, body):
    """A TLS connection that has sent the headers and half the body of a review."""
    ctx = daemon.ssl_context()
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", daemon.port), timeout=10),
                        server_hostname="127.0.0.1")
    s.sendall(b"POST /mutate?timeout=10s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
              + body[:len(body) // 2])
    return s


def test_sigterm_under_load(start_webhook):
    drain_ms = 2000
    d = start_webhook("--drain-timeout=%dms" % drain_ms)
    load = Load(d, keepalive=3, fresh=2).start()
    try:
        wait_until(lambda: load.ok >= 100, 10, "load to start")
        # Reviews in flight when the signal comes: half sent, finished after the drain began.
        inflight = [partial_request(d, REVIEW_BODY) for _ in range(3)]
        # And one that never finishes: the drain must give up on it at its deadline.
        stuck = partial_request(d, REVIEW_BODY)
        t_sig = time.time()
        d.proc.send_signal(signal.SIGTERM)
        d.wait_log(lambda l: l.get("msg", "").startswith("draining"))
        t_drain = time.time()
        # New connections are refused once the drain has begun.
        refused = 0
        for _ in range(5):
            try:
                socket.create_connection(("127.0.0.1", d.port), timeout=2).close()
            except ConnectionRefusedError:
                refused += 1
        assert refused == 5, "new connections accepted while draining"
        for s in inflight:
            s.sendall(REVIEW_BODY[len(REVIEW_BODY) // 2:])
        for s in inflight:
            raw = read_reply(s)
            head, _, body = raw.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 200"), raw[:300]
            check_response(REVIEW, body, "mutate")
            s.close()
        rc = d.proc.wait(timeout=drain_ms / 1000 + 10)
        t_exit = time.time()
    finally:
        load.stop()
    stuck.close()
    before = [f for f in load.failures if f[0] is not None and f[0] < t_sig]
    after = [f for f in load.failures if f not in before]
    served_after = sum(1 for t in load.ok_after if t > t_sig)
    print("\nsigterm: %d reviews answered (%d after the signal), %d failed that were sent "
          "before it, %d refused or cut after it; exit %s after %.3f s (drain began after "
          "%.3f s, timeout %.1f s)" % (load.ok, served_after, len(before), len(after), rc,
                                      t_exit - t_sig, t_drain - t_sig, drain_ms / 1000))
    assert before == [], before[:5]
    assert rc == 0, d.text()
    # The stuck client holds the drain to its deadline, and not much longer.
    assert drain_ms / 1000 - 0.2 <= t_exit - t_sig <= drain_ms / 1000 + 1.5
    # Whatever failed after the signal failed without a partial answer.
    for _, phase, err in after:
        assert phase == "connect" or "Refused" in err or "Reset" in err or "closed" in err \
            or "EOF" in err or "Broken" in err, err


def read_reply(s):
    """Reads one HTTP reply with a Content-Length body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(65536)
        assert chunk, "closed before the reply: %r" % data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int([l.split(b":")[1] for l in head.split(b"\r\n")
                  if l.lower().startswith(b"content-length:")][0])
    while len(body) < length:
        chunk = s.recv(65536)
        assert chunk, "closed in the body"
        body += chunk
    return head + b"\r\n\r\n" + body


# --- 3. a broken policy file under load -----------------------------------------------------

def write_atomically(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def test_invalid_policy_under_load_keeps_the_last_good_one(start_webhook, tmp_path):
    path = str(tmp_path / "policy.json")
    write_atomically(path, json.dumps({"mode": "enforce"}))
    d = start_webhook("--reload-interval=100ms", "--policy=" + path)
    runc = load_fixture("pod-runc-create.json")

    def denied(resp):
        # The good policy (enforce) refuses runc; any of the broken files below, were it
        # taken, would allow it (warn mode).
        assert resp["allowed"] is False, resp

    load = Load(d, keepalive=2, fresh=1).start()
    deny = Load(d, keepalive=1, fresh=1, endpoint="validate", review=runc, check=denied).start()
    broken = [
        # Valid JSON, an unknown field: refused as a whole, its mode included.
        json.dumps({"mode": "warn", "hardening": {"dropAllCapabilitie": True}}),
        # Truncated, as a writer that is not atomic leaves it half way.
        json.dumps({"mode": "warn", "namespaces": {}})[:12],
        # A value of the wrong type.
        json.dumps({"mode": "warn", "hardening": {"dropAllCapabilities": "yes"}}),
    ]
    try:
        wait_until(lambda: load.ok >= 50 and deny.ok >= 20, 10, "load to start")
        for i, text in enumerate(broken):
            before = (load.ok, deny.ok)
            write_atomically(path, text)
            # Logged as an error, once per broken file.
            wait_until(lambda: sum(1 for x in d.log_lines() if x.get("level") == "error"
                                   and "keeping the current policy" in x.get("msg", "")) > i,
                       10, "the failed reload in the log")
            wait_until(lambda: d.metric("sandbox_guard_policy_reloads_total",
                                        result="failed") == i + 1, 10, "failed reload count")
            # Load goes on past the failed reload, still decided by the old policy.
            wait_until(lambda: load.ok >= before[0] + 50 and deny.ok >= before[1] + 20, 10,
                       "load after the failed reload")
    finally:
        load.stop()
        deny.stop()
    failed = d.metric("sandbox_guard_policy_reloads_total", result="failed")
    print("\npolicy: %d reviews answered, %d runc pods denied by the last good policy across "
          "%d broken files, %d failed, reloads failed=%d" % (
              load.ok, deny.ok, len(broken), len(load.failures) + len(deny.failures), failed))
    assert load.failures == [], load.failures[:5]
    assert deny.failures == [], deny.failures[:5]
    assert not d.metric("sandbox_guard_policy_reloads_total", result="ok")
    # The watch still works after the failures: a good warn policy is taken and allows runc.
    write_atomically(path, json.dumps({"mode": "warn"}))
    d.wait_log(lambda l: l.get("msg", "").startswith("policy reloaded"))
    conn = d.connect()
    resp = check_response(runc, post_review(conn, "/validate", runc)[2], "validate")
    assert resp["allowed"] and resp.get("warnings"), resp
    assert d.metric("sandbox_guard_policy_reloads_total", result="ok") == 1


def test_secret_updated_during_a_reload_is_not_a_failed_reload(start_webhook, tmp_path, certs):
    """The kubelet may swap ..data (and remove the old directory) between the
    daemon's reads of tls.crt and tls.key. That is no broken pair: the reload
    must neither log an error nor count a failure, and the next poll must take
    the newest pair. Rapid swaps make that window likely within a second."""
    pairs = [str(tmp_path / ("pair%d" % i)) for i in range(3)]
    serials = [issue(certs, p, "race-%d" % i) for i, p in enumerate(pairs)]
    vol = SecretVolume(str(tmp_path / "mount"))
    vol.update(pairs[0])
    d = start_webhook("--reload-interval=100ms", cert_dir=vol.base)
    load = Load(d, keepalive=1, fresh=1).start()
    swaps = 0
    try:
        deadline = time.time() + 1.5
        while time.time() < deadline:
            vol.update(pairs[swaps % 2])
            swaps += 1
        t0 = time.time()
        vol.update(pairs[2])
        wait_until(lambda: any(b > t0 and s == serials[2] for b, _, s in load.serials), 10,
                   "the last pair on new connections")
    finally:
        load.stop()
    ok = d.metric("sandbox_guard_tls_reloads_total", result="ok")
    failed = d.metric("sandbox_guard_tls_reloads_total", result="failed")
    raced = d.text().count("changed while being loaded")
    print("\nswaps during reloads: %d swaps, reloads ok=%s failed=%s (%d loads found the files "
          "changing under them), %d reviews answered, %d failed" % (
              swaps, ok, failed, raced, load.ok, len(load.failures)))
    assert load.failures == [], load.failures[:5]
    assert not failed, d.text()[-2000:]
    assert "keeping the current serving certificate" not in d.text()
