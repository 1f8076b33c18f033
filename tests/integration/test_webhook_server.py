"""The webhook as a server: bad input, limits, TLS, reloads, shutdown."""
import datetime
import http.client
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from email.utils import parsedate_to_datetime

import pytest

from conftest import (binary, check_response, load_fixture, make_certs, patch_ops,
                      post_review, sanitized)


def raw_tls(daemon, timeout=10, **kw):
    ctx = daemon.ssl_context()
    for k, v in kw.items():
        setattr(ctx, k, v)
    s = socket.create_connection(("127.0.0.1", daemon.port), timeout=timeout)
    return ctx.wrap_socket(s, server_hostname="localhost")


def read_until_closed(sock, limit=1 << 20):
    data = b""
    while len(data) < limit:
        try:
            chunk = sock.recv(65536)
        except (ssl.SSLError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


# --- bad input ----------------------------------------------------------------

BAD_BODIES = {
    "not-json": b"this is not json",
    "empty": b"",
    "array": b"[1,2,3]",
    "wrong-kind": json.dumps({"kind": "Pod", "apiVersion": "v1"}).encode(),
    "v1beta1": json.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1beta1",
                           "request": {"uid": "x"}}).encode(),
    "no-request": json.dumps({"kind": "AdmissionReview",
                              "apiVersion": "admission.k8s.io/v1"}).encode(),
    "no-uid": json.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
                          "request": {"kind": {"group": "", "version": "v1", "kind": "Pod"},
                                      "operation": "CREATE"}}).encode(),
    "uid-number": json.dumps({"kind": "AdmissionReview", "apiVersion": "admission.k8s.io/v1",
                              "request": {"uid": 7}}).encode(),
    "trailing-garbage": json.dumps(load_fixture("pod-warm-create.json")).encode() + b" }{",
    "deep-nesting": b"[" * 5000 + b"]" * 5000,
    "truncated": json.dumps(load_fixture("pod-warm-create.json")).encode()[:500],
    "invalid-utf8-and-nul": b'{"kind":"AdmissionReview\x00\xff"}',
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_malformed_body_is_400_and_server_keeps_serving(webhook, name):
    conn = webhook.connect()
    status, headers, raw = post_review(conn, "/validate", BAD_BODIES[name])
    assert status == 400, raw
    assert raw.startswith(b"invalid AdmissionReview: "), raw
    # The same connection and a new one both still work.
    review = load_fixture("pod-warm-create.json")
    for c in (conn, webhook.connect()):
        status, _, raw = post_review(c, "/mutate", review)
        assert status == 200
        check_response(review, raw, "mutate")


def test_request_fields_with_wrong_types_are_answered_not_crashed(webhook):
    review = load_fixture("pod-warm-create.json")
    conn = webhook.connect()
    for field, value in [("object", "a string"), ("object", [1, 2]), ("oldObject", 5),
                         ("userInfo", "x"), ("dryRun", "yes"), ("kind", {"kind": 1})]:
        r = json.loads(json.dumps(review))
        r["request"][field] = value
        for ep in ("mutate", "validate"):
            status, _, raw = post_review(conn, "/" + ep, r)
            assert status in (200, 400), (field, status)
            if status == 200:
                check_response(r, raw, ep)
    # Spec fields of the wrong type: a deny or an allow, never a crash or a bad patch.
    for field, value in [("containers", "x"), ("containers", [1, "a", None]),
                         ("securityContext", 3), ("volumes", {"a": 1}),
                         ("runtimeClassName", 12), ("tolerations", "x")]:
        r = json.loads(json.dumps(review))
        r["request"]["object"]["spec"][field] = value
        for ep in ("mutate", "validate"):
            status, _, raw = post_review(conn, "/" + ep, r)
            assert status == 200, (field, raw)
            check_response(r, raw, ep)


def test_unknown_path_and_wrong_method(webhook):
    conn = webhook.connect()
    conn.request("POST", "/nope", body=b"{}")
    r = conn.getresponse()
    r.read()
    assert r.status == 404
    conn.request("GET", "/mutate")
    r = conn.getresponse()
    r.read()
    assert r.status == 405
    assert "POST" in r.getheader("Allow")


def test_body_over_limit_is_413(start_webhook):
    d = start_webhook("--max-body=65536")
    conn = d.connect()
    status, _, _ = post_review(conn, "/validate", b"{" + b" " * 70000 + b"}")
    assert status == 413
    conn = d.connect()
    review = load_fixture("pod-warm-create.json")
    status, _, _ = post_review(conn, "/validate", review)
    assert status == 200


def test_default_body_limit_is_8_mib(webhook):
    conn = webhook.connect(timeout=30)
    review = load_fixture("pod-warm-create.json")
    review["request"]["object"]["metadata"]["annotations"]["big"] = "x" * (7 << 20)
    status, _, raw = post_review(conn, "/mutate", review)
    assert status == 200
    check_response(review, raw, "mutate")
    conn = webhook.connect(timeout=30)
    status, _, _ = post_review(conn, "/mutate", b"[" + b" " * (8 << 20) + b"]")
    assert status == 413


def test_oversized_headers_are_refused(webhook):
    conn = webhook.connect()
    conn.putrequest("POST", "/validate")
    conn.putheader("X-Big", "a" * (128 << 10))
    try:
        conn.endheaders()
        r = conn.getresponse()
        assert r.status >= 400
    except (ConnectionError, http.client.HTTPException, ssl.SSLError):
        pass  # Closing the connection is also a refusal.
    # And the server is still there.
    review = load_fixture("pod-warm-create.json")
    assert post_review(webhook.connect(), "/mutate", review)[0] == 200


# --- TLS -------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_tls_1_1_is_refused(webhook):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    s = socket.create_connection(("127.0.0.1", webhook.port), timeout=5)
    # The refusal must come from the server (an alert), not from our own client.
    with pytest.raises(ssl.SSLError, match="ALERT_PROTOCOL_VERSION"):
        ctx.wrap_socket(s).do_handshake()


@pytest.mark.parametrize("version", ["TLSv1_2", "TLSv1_3"])
def test_tls_1_2_and_1_3_work(webhook, version):
    v = getattr(ssl.TLSVersion, version)
    s = raw_tls(webhook, minimum_version=v, maximum_version=v)
    assert s.version() == version.replace("_", ".")
    s.close()


def test_alpn_selects_http_1_1(webhook):
    ctx = webhook.ssl_context()
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", webhook.port)),
                        server_hostname="localhost")
    assert s.selected_alpn_protocol() == "http/1.1"
    s.close()


def test_certificate_has_ip_and_service_sans(webhook):
    s = raw_tls(webhook)
    cert = s.getpeercert()
    sans = {v for _, v in cert["subjectAltName"]}
    assert "127.0.0.1" in sans
    assert "sandbox-guard-webhook.sandbox-guard-system.svc" in sans
    s.close()


def test_plain_http_on_tls_port_gets_no_http_answer(webhook):
    s = socket.create_connection(("127.0.0.1", webhook.port), timeout=5)
    s.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    data = read_until_closed(s)
    assert b"HTTP/1." not in data, data
    s.close()


def test_garbage_handshake_does_not_hurt_others(webhook):
    for payload in (b"\x16\x03\x01\x00\x05hello", os.urandom(4096), b"\x00" * 10):
        s = socket.create_connection(("127.0.0.1", webhook.port), timeout=5)
        s.sendall(payload)
        read_until_closed(s)
        s.close()
    review = load_fixture("pod-warm-create.json")
    status, _, raw = post_review(webhook.connect(), "/mutate", review)
    assert status == 200


# --- timeouts and connection limits ------------------------------------------------

def test_trickled_request_is_cut_off(start_webhook):
    d = start_webhook("--request-timeout=1s")
    s = raw_tls(d)
    s.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\n")
    t0 = time.time()
    # Keep trickling bytes: each resets an idle timer, but not the request deadline.
    closed = False
    while time.time() - t0 < 6:
        try:
            s.sendall(b"X-A: b\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            closed = True
            break
        time.sleep(0.2)
        s.settimeout(0.01)
        try:
            if s.recv(1) == b"":
                closed = True
                break
        except (socket.timeout, ssl.SSLWantReadError):
            pass
        except (ConnectionResetError, ssl.SSLError):
            closed = True
            break
    assert closed, "the server kept a trickling request open"
    assert time.time() - t0 < 4


def test_trickled_handshake_is_cut_off(start_webhook):
    # A ClientHello sent one byte at a time, each well inside the idle timeout:
    # only the request deadline, which starts at accept, can end it.
    d = start_webhook("--request-timeout=1s", "--idle-timeout=5s")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert len(hello) > 40
    s = socket.create_connection(("127.0.0.1", d.port))
    t0 = time.time()
    closed = False
    for i in range(len(hello)):
        try:
            s.sendall(hello[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            closed = True
            break
        s.settimeout(0.2)
        try:
            if s.recv(1) == b"":
                closed = True
                break
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed = True
            break
        if time.time() - t0 > 6:
            break
    assert closed, "the server kept a trickling handshake open"
    assert time.time() - t0 < 4


def test_idle_keep_alive_connection_is_closed(start_webhook):
    d = start_webhook("--idle-timeout=1s")
    s = raw_tls(d)
    t0 = time.time()
    s.settimeout(5)
    assert read_until_closed(s) == b""
    assert time.time() - t0 < 4


def test_connection_cap_refuses_excess_at_once_and_counts_it(start_webhook):
    d = start_webhook("--max-connections=4")
    held = [raw_tls(d) for _ in range(4)]
    # The fifth is accepted and closed at once, not left waiting in the backlog.
    t0 = time.time()
    extra = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        d.ssl_context().wrap_socket(extra, server_hostname="localhost")
    assert time.time() - t0 < 2
    assert d.metric("sandbox_guard_http_connections_refused_total") == 1
    held.pop().close()
    review = load_fixture("pod-warm-create.json")
    deadline = time.time() + 5
    while True:  # The freed place shows once the server has seen the close.
        try:
            status, _, _ = post_review(d.connect(), "/mutate", review)
            break
        except (ssl.SSLError, ConnectionError):
            assert time.time() < deadline, "no place freed after a connection closed"
            time.sleep(0.05)
    assert status == 200
    for s in held:
        s.close()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for %d" % pid)


def open_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_connection_storms_leave_no_memory_or_descriptors_behind(start_webhook):
    """Idle and half-sent connections, four storms: RSS and fds come back down."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))
    d = start_webhook("--max-connections=1500", "--request-timeout=30s")
    pid = d.proc.pid
    review = load_fixture("pod-warm-create.json")

    def review_once():
        conn = d.connect()
        assert post_review(conn, "/mutate", review)[0] == 200
        conn.close()

    def fds_settled(limit):
        deadline = time.time() + 10
        while open_fds(pid) > limit and time.time() < deadline:
            time.sleep(0.1)
        return open_fds(pid)

    review_once()
    time.sleep(0.5)  # the server sees the close
    idle_fds = open_fds(pid)
    idle_rss = rss_kib(pid)
    ctx = d.ssl_context()
    after = []
    for _ in range(4):
        socks = [socket.create_connection(("127.0.0.1", d.port)) for _ in range(1200)]
        for _ in range(300):
            s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.port)),
                                server_hostname="localhost")
            s.sendall(b"POST /validate HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            socks.append(s)
        time.sleep(0.5)
        for s in socks:
            s.close()
        assert fds_settled(idle_fds) == idle_fds
        time.sleep(1.5)  # one sweep: memory is handed back after the storm
        after.append(rss_kib(pid))
        review_once()
    # Close to idle, and no creep from one storm to the next. AddressSanitizer's
    # allocator quarantines freed memory and never hands it back, so the
    # sanitizer build checks descriptors and service only.
    if not sanitized("sandbox-guard-webhook"):
        assert max(after) < idle_rss + 16 * 1024, (idle_rss, after)
        assert after[-1] < after[0] + 2 * 1024, (idle_rss, after)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


# --- certificate reload ---------------------------------------------------------------

def serial_seen(daemon):
    s = raw_tls(daemon)
    der = s.getpeercert(binary_form=True)
    s.close()
    return der


def wait_for_change(daemon, before, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        now = serial_seen(daemon)
        if now != before:
            return now
        time.sleep(0.1)
    raise AssertionError("certificate was not reloaded")


def test_certificate_rewritten_in_place_is_reloaded(start_webhook, tmp_path, certs):
    d = start_webhook()
    before = serial_seen(d)
    held = d.connect()
    review = load_fixture("pod-warm-create.json")
    assert post_review(held, "/mutate", review)[0] == 200
    # A new pair from the same CA (so clients still trust it), written over the old files.
    issue_from_ca(certs, str(tmp_path / "reissued"))
    shutil.copy(str(tmp_path / "reissued" / "tls.key"), os.path.join(certs, "tls.key"))
    shutil.copy(str(tmp_path / "reissued" / "tls.crt"), os.path.join(certs, "tls.crt"))
    wait_for_change(d, before)
    # The connection opened before the swap keeps working.
    assert post_review(held, "/mutate", review)[0] == 200
    assert d.metric("sandbox_guard_tls_reloads_total", result="ok") >= 1


def issue_from_ca(ca_dir, out):
    """A new serving pair signed by the CA in ca_dir."""
    os.makedirs(out, exist_ok=True)
    key, csr, crt = (os.path.join(out, n) for n in ("tls.key", "tls.csr", "tls.crt"))
    ext = os.path.join(out, "ext.cnf")
    with open(ext, "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out",
                    key], check=True)
    subprocess.run(["openssl", "req", "-new", "-key", key, "-subj", "/CN=reissued", "-out", csr],
                   check=True)
    subprocess.run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(ca_dir, "ca.crt"),
                    "-CAkey", os.path.join(ca_dir, "ca.key"), "-CAcreateserial", "-days", "2",
                    "-extfile", ext, "-out", crt], check=True, capture_output=True)


def kubelet_dir(base, source):
    """Lays out files the way the kubelet mounts a Secret: name -> ..data/name."""
    ts = os.path.join(base, "..2026_11_28_10_00_00.%d" % int(time.time() * 1000))
    os.makedirs(ts)
    for n in ("tls.crt", "tls.key", "ca.crt"):
        shutil.copy(os.path.join(source, n), os.path.join(ts, n))
    tmp_link = os.path.join(base, "..data_tmp")
    os.symlink(os.path.basename(ts), tmp_link)
    os.rename(tmp_link, os.path.join(base, "..data"))  # atomic swap, as the kubelet does
    for n in ("tls.crt", "tls.key", "ca.crt"):
        link = os.path.join(base, n)
        if not os.path.islink(link):
            os.symlink(os.path.join("..data", n), link)


def test_kubelet_symlink_swap_is_reloaded(start_webhook, tmp_path, certs):
    mount = str(tmp_path / "mount")
    os.makedirs(mount)
    kubelet_dir(mount, certs)
    d = start_webhook(cert_dir=mount)
    before = serial_seen(d)
    issue_from_ca(certs, str(tmp_path / "rotated"))
    shutil.copy(os.path.join(certs, "ca.crt"), str(tmp_path / "rotated" / "ca.crt"))
    time.sleep(0.01)
    kubelet_dir(mount, str(tmp_path / "rotated"))
    wait_for_change(d, before)


def test_broken_new_pair_keeps_the_old_one(start_webhook, tmp_path, certs):
    d = start_webhook()
    before = serial_seen(d)
    other = make_certs(str(tmp_path / "other"))
    # A key that does not match the certificate.
    shutil.copy(os.path.join(other, "tls.key"), os.path.join(certs, "tls.key"))
    d.wait_log(lambda l: l.get("level") == "error" and "keeping the current serving" in l["msg"])
    assert serial_seen(d) == before
    failed = d.metric("sandbox_guard_tls_reloads_total", result="failed")
    assert failed >= 1
    status, _ = d.health("/readyz")
    assert status == 200
    # Garbage in the certificate file: same. The reload is only seen to have
    # happened (and failed) once the failed count moves past the one above.
    with open(os.path.join(certs, "tls.crt"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot base64\n")
    deadline = time.time() + 10
    while d.metric("sandbox_guard_tls_reloads_total", result="failed") <= failed:
        assert time.time() < deadline, "the broken certificate was not tried"
        time.sleep(0.05)
    assert serial_seen(d) == before
    assert not d.metric("sandbox_guard_tls_reloads_total", result="ok")


def test_not_after_is_exported(webhook):
    v = webhook.metric("sandbox_guard_tls_cert_not_after_seconds")
    assert v is not None and v > time.time() + 300 * 86400


# --- policy -------------------------------------------------------------------------------

def write_policy(path, doc):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.replace(tmp, path)


def test_policy_file_modes_and_reload(start_webhook, tmp_path):
    path = str(tmp_path / "policy.json")
    write_policy(path, {"mode": "warn"})
    d = start_webhook("--policy=" + path)
    review = load_fixture("pod-runc-create.json")
    conn = d.connect()
    resp = check_response(review, post_review(conn, "/validate", review)[2], "validate")
    assert resp["allowed"] and any("runc" in w for w in resp["warnings"])

    write_policy(path, {"mode": "audit"})
    d.wait_log(lambda l: l.get("msg", "").startswith("policy reloaded"))
    resp = check_response(review, post_review(conn, "/validate", review)[2], "validate")
    assert resp["allowed"] and "runc" in resp["auditAnnotations"]["violations"]

    write_policy(path, {"mode": "enforce"})
    deadline = time.time() + 10
    while time.time() < deadline:
        resp = check_response(review, post_review(conn, "/validate", review)[2], "validate")
        if not resp["allowed"]:
            break
        time.sleep(0.1)
    assert not resp["allowed"]

    # A broken file keeps the last good policy and says why.
    with open(path, "w") as f:
        f.write('{"mode": "enforce", "hardening": {"dropAllCapabilitie": true}}')
    line = d.wait_log(lambda l: "keeping the current policy" in l.get("msg", ""))
    assert "dropAllCapabilitie" in line["msg"]
    assert d.metric("sandbox_guard_policy_reloads_total", result="failed") >= 1
    resp = check_response(review, post_review(conn, "/validate", review)[2], "validate")
    assert not resp["allowed"]


def test_policy_namespace_override_and_exemptions(start_webhook, tmp_path):
    path = str(tmp_path / "policy.json")
    write_policy(path, {
        "namespaces": {"team-a": {"runtimeClass": {"default": "kata", "allowed": ["kata"]}}},
        "exemptions": {"namespaces": ["trusted"], "users": ["break-glass"],
                       "groups": ["platform-admins"]},
    })
    d = start_webhook("--policy=" + path)
    conn = d.connect()
    review = load_fixture("pod-warm-create.json")
    resp = check_response(review, post_review(conn, "/mutate", review)[2], "mutate")
    assert {"op": "add", "path": "/spec/runtimeClassName", "value": "kata"} in patch_ops(resp)

    for mutate in ({"namespace": "trusted"}, {"user": "break-glass"},
                   {"group": "platform-admins"}):
        r = load_fixture("pod-runc-create.json")
        if "namespace" in mutate:
            r["request"]["namespace"] = mutate["namespace"]
        if "user" in mutate:
            r["request"]["userInfo"]["username"] = mutate["user"]
        if "group" in mutate:
            r["request"]["userInfo"]["groups"].append(mutate["group"])
        resp = check_response(r, post_review(conn, "/validate", r)[2], "validate")
        assert resp["allowed"], mutate


@pytest.mark.parametrize("doc,needle", [
    ('{"mode": "block"}', "mode is 'block'"),
    ('{"runtimeClass": {"default": "runc"}}', "'runc' is not in runtimeClass.allowed"),
    ('{"runtimeClass": {"allowed": []}}', "at least one RuntimeClass"),
    ('{"hardening": {"seccompRuntimeDefault": "yes"}}', "must be true or false"),
    ('{"namespaces": {"Team_A": {}}}', "not a valid namespace name"),
    ('{"unknownField": 1}', "unknown field 'unknownField'"),
    ('{"mode": "enforce",}', "invalid JSON"),
    ('[]', "must be a JSON object"),
])
def test_invalid_policy_at_startup_exits_nonzero(tmp_path, certs, doc, needle):
    path = str(tmp_path / "policy.json")
    with open(path, "w") as f:
        f.write(doc)
    p = subprocess.run([binary("sandbox-guard-webhook"), "--tls-cert=" + certs + "/tls.crt",
                        "--tls-key=" + certs + "/tls.key", "--policy=" + path,
                        "--listen=127.0.0.1:0", "--health-listen=127.0.0.1:0"],
                       capture_output=True, text=True, timeout=20)
    assert p.returncode == 1
    assert needle in p.stderr, p.stderr
    c = subprocess.run([binary("sandbox-guard-webhook"), "--check-policy=" + path],
                       capture_output=True, text=True, timeout=20)
    assert c.returncode == 1 and needle in c.stderr


def test_default_policy_passes_its_own_check(tmp_path):
    out = subprocess.run([binary("sandbox-guard-webhook"), "--print-default-policy"],
                         capture_output=True, text=True, check=True).stdout
    doc = json.loads(out)
    assert doc["runtimeClass"]["default"][0] == "gvisor"
    assert "runsc" in doc["runtimeClass"]["allowedHandlers"]
    assert "runc" not in doc["runtimeClass"]["allowedHandlers"]
    assert doc["runtimeClass"]["allowed"] == ["gvisor", "kata", "kata-qemu", "kata-clh",
                                              "kata-fc", "kata-vm-isolation"]
    assert doc["mode"] == "enforce"
    path = str(tmp_path / "default.json")
    with open(path, "w") as f:
        f.write(out)
    subprocess.run([binary("sandbox-guard-webhook"), "--check-policy=" + path], check=True,
                   capture_output=True)


# --- health, flags ---------------------------------------------------------------------

def test_health_endpoints(webhook):
    assert webhook.health("/healthz") == (200, "ok\n")
    assert webhook.health("/readyz") == (200, "ok\n")
    status, text = webhook.health("/metrics")
    assert status == 200
    for family in ("sandbox_guard_admission_requests_total",
                   "sandbox_guard_admission_duration_seconds",
                   "sandbox_guard_policy_reloads_total",
                   "sandbox_guard_tls_cert_not_after_seconds",
                   "sandbox_guard_http_connections"):
        assert "# TYPE " + family in text, family


def test_flags():
    b = binary("sandbox-guard-webhook")
    assert subprocess.run([b, "--version"], capture_output=True).returncode == 0
    h = subprocess.run([b, "--help"], capture_output=True, text=True)
    assert h.returncode == 0 and "--tls-cert" in h.stdout and "--policy" in h.stdout
    assert subprocess.run([b, "--bogus"], capture_output=True).returncode == 2
    assert subprocess.run([b], capture_output=True).returncode == 2
    assert subprocess.run([b, "--tls-cert=a", "--tls-key=b", "--reload-interval=x"],
                          capture_output=True).returncode == 2


def test_missing_certificate_exits_with_reason(tmp_path):
    p = subprocess.run([binary("sandbox-guard-webhook"), "--tls-cert=/nonexistent/tls.crt",
                        "--tls-key=/nonexistent/tls.key", "--listen=127.0.0.1:0",
                        "--health-listen=127.0.0.1:0"], capture_output=True, text=True,
                       timeout=20)
    assert p.returncode == 1
    assert "/nonexistent/tls.crt" in p.stderr


# --- graceful shutdown ------------------------------------------------------------------------

def test_sigterm_finishes_in_flight_request_then_exits_0(start_webhook):
    d = start_webhook("--drain-timeout=10s", check_exit=False)
    review = json.dumps(load_fixture("pod-warm-create.json")).encode()
    idle = raw_tls(d)
    busy = raw_tls(d)
    head = ("POST /mutate?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\n\r\n" % len(review)).encode()
    busy.sendall(head + review[:100])
    time.sleep(0.3)
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    # Not ready any more; new connections are refused; the idle one was closed.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", d.port), timeout=2)
    idle.settimeout(2)
    assert read_until_closed(idle) == b""
    busy.sendall(review[100:])
    busy.settimeout(5)
    data = read_until_closed(busy)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert b"Connection: close" in data
    body = data.split(b"\r\n\r\n", 1)[1]
    assert json.loads(body)["response"]["allowed"] is True
    assert d.proc.wait(timeout=10) == 0
    text = d.text()
    assert "draining" in text and "stopped" in text


def test_shutdown_delay_keeps_serving_while_unready(start_webhook):
    d = start_webhook("--shutdown-delay=1500ms", check_exit=False)
    review = load_fixture("pod-warm-create.json")
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    assert d.health("/readyz")[0] == 503
    status, _, raw = post_review(d.connect(), "/mutate", review)
    assert status == 200
    check_response(review, raw, "mutate")
    assert d.proc.wait(timeout=10) == 0
    assert time.time() - t0 >= 1.4


def test_shutdown_delay_retires_keep_alive_connections(start_webhook):
    # The API server pools webhook connections by Service name and keeps
    # reusing one to a replica whose endpoint is gone. During the delay each
    # answer closes its connection, so the pool moves to other replicas
    # before the drain closes idle ones under a client writing to them.
    d = start_webhook("--shutdown-delay=1500ms", check_exit=False)
    review = json.dumps(load_fixture("pod-warm-create.json")).encode()
    request = ("POST /mutate?timeout=10s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % len(review)).encode() + review

    def answer(sock):
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, body = data.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        while len(body) < length:
            body += sock.recv(65536)
        return head, body

    conn = raw_tls(d)
    conn.sendall(request)
    head, _ = answer(conn)
    assert head.startswith(b"HTTP/1.1 200") and b"Connection: close" not in head, head
    d.proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    conn.sendall(request)
    head, body = answer(conn)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"Connection: close" in head, head
    assert json.loads(body)["response"]["allowed"] is True
    # The server ends the connection after that answer, long before the
    # delay is over.
    conn.settimeout(1)
    assert read_until_closed(conn) == b""
    assert d.proc.wait(timeout=10) == 0


def test_sigterm_with_no_connections_exits_fast(start_webhook):
    d = start_webhook(check_exit=False)
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    assert d.proc.wait(timeout=10) == 0
    assert time.time() - t0 < 3


def test_replies_carry_one_current_date_header(webhook):
    """The Date header (cached per second by the server) is RFC 7231's format and current."""
    conn = webhook.connect()
    for _ in range(3):
        status, headers, _ = post_review(conn, "/mutate", load_fixture("pod-cold-claim-create.json"))
        assert status == 200
        conn.request("GET", "/nope")
        r = conn.getresponse()
        r.read()
        for date in (headers.get("Date"), r.getheader("Date")):
            assert re.fullmatch(r"[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT",
                                date), date
            when = parsedate_to_datetime(date)
            now = datetime.datetime.now(datetime.timezone.utc)
            assert abs((now - when).total_seconds()) < 2, (date, now)
        assert len(r.msg.get_all("Date")) == 1
        time.sleep(1.1)
