#!/usr/bin/env python3
"""Soak: both daemons at a steady request rate for a fixed time.

    tests/soak/soak.py [--seconds N] [--rate R] [--daemons webhook,extender]

Starts the built daemons (SG_BUILD_DIR, default build/) the way the
integration suite does (tests/integration/conftest.py: dev certificates,
ports picked by the daemon) and drives each from its own thread at R
requests per second, paced on a fixed schedule (a slow answer does not lower
the offered rate; the schedule catches up):

- sandbox-guard-webhook, over TLS with the built-in policy: every
  AdmissionReview of tests/fixtures/reviews/cases.json in turn (pods,
  Sandboxes, SandboxTemplates, SandboxClaims and NetworkPolicies; patched,
  allowed and refused), each with a fresh uid. An answer is wrong unless it
  passes the integration suite's response check (check_response) and has
  the outcome cases.json expects (patched, allowed, or refused with 403),
  with the words cases.json expects in its message or warnings.
- sandbox-guard-extender, against the integration suite's fake API server
  (tests/integration/fakeapi.py) over TLS: filter and prioritize for a
  cold-start claim pod, a warm-pool refill pod, a Kata claim pod and an
  ordinary pod over five probe nodes whose pods do not change, so every
  answer is known in advance (the docs/extender.md formula; see PROBES). A
  churn thread meanwhile adds, re-labels and deletes sandbox pods on four
  other nodes (about 10 watch events a second), re-labels every node and
  changes an unused RuntimeClass every 10 s, cuts every watch each minute
  and compacts the pod history every five minutes (a quarter and half of
  the run in shorter runs; the extender must list again); at the end the
  extender's pod count must equal the fake API server's. The webhook
  watches the same fake API server's RuntimeClasses (every class the
  built-in policy allows exists, with its handler).

Both clients open a new connection every 25 requests, so accept, TLS
handshake and close run all along, not once. Every few seconds the driver
samples each daemon's RSS (VmRSS in /proc/PID/status) and open descriptors
(entries of /proc/PID/fd). An error is any exception, non-200 status or
wrong answer; and, at the end, any daemon log line at level warn or error,
an exit status other than 0 on SIGTERM, or a request counter in /metrics
that does not match what was sent.

Judgement (judge()): zero errors, and RSS and descriptors flat. Flat means:
leave out a warm-up (the first fifth of the run, at most 60 s), split the
remaining samples in quarters, and the median of the last quarter may
exceed the median of the first quarter by at most 2 MiB + 5 % (RSS) or 2
(descriptors). Medians ignore a single outlier sample; the slack covers
allocator noise and one connection open or not at sampling time. At 50
requests a second, the two-minute run (medians about 72 s apart) catches a
leak of about 0.8 KiB per request or more, the hour (about 44 minutes
apart) one of about 20 bytes per request.

Prints a Markdown table of the figures and exits 1 if a daemon fails.
Latency is given twice: as the client sees it (a Python client on the same,
shared machine: its own TLS and scheduling dominate) and as the daemon logs
it (`latency_us` of each review or extender call).
SG_SOAK_SECONDS and SG_SOAK_RATE give the defaults of --seconds and --rate.
"""
import argparse
import copy
import http.client
import json
import math
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))

from conftest import (Daemon, check_response, load_fixture, make_certs,  # noqa: E402
                      patch_ops, post_review, write_kubeconfig, FIXTURES)
from fakeapi import FakeAPI, node, pod  # noqa: E402

RECONNECT_EVERY = 25
# What a daemon logs at warn level when the churn cuts its watches or
# compacts the history under them: expected here, anything else is an error.
EXPECTED_WARNINGS = ("watch ended: transfer closed with outstanding read data remaining",)
RSS_ABS_KIB = 2048
RSS_REL = 0.05
FD_ABS = 2

# --- judgement --------------------------------------------------------------


def judge(samples, warmup, abs_slack, rel_slack):
    """Is a sampled series flat? samples: [(seconds since start, value)].

    Returns (flat, first-quarter median, last-quarter median, limit); flat is
    None when there are too few samples after the warm-up to say (fewer than
    eight).
    """
    vals = [v for t, v in samples if t >= warmup]
    if len(vals) < 8:
        return None, None, None, None
    q = len(vals) // 4
    first = statistics.median(vals[:q])
    last = statistics.median(vals[-q:])
    limit = first + abs_slack + rel_slack * first
    return last <= limit, first, last, limit


def percentile(sorted_vals, p):
    """Nearest rank: the smallest value with at least p % of them at or below it."""
    if not sorted_vals:
        return float("nan")
    i = min(len(sorted_vals) - 1, max(0, math.ceil(p / 100.0 * len(sorted_vals)) - 1))
    return sorted_vals[i]


def proc_rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# --- load ---------------------------------------------------------------------


class Load:
    """One daemon's paced client: counts, errors and latencies."""

    def __init__(self, name, rate, seconds):
        self.name = name
        self.rate = rate
        self.seconds = seconds
        self.sent = 0
        self.errors = 0
        self.error_samples = []
        self.latencies = []
        self.conn = None
        self.since_connect = 0
        self.stop = threading.Event()

    def error(self, what):
        self.errors += 1
        if len(self.error_samples) < 10:
            self.error_samples.append(what)

    def new_conn(self):
        raise NotImplementedError

    def one(self, i):
        """Sends request i on self.conn; returns an error string or None."""
        raise NotImplementedError

    def run(self):
        start = time.monotonic()
        i = 0
        while not self.stop.is_set():
            due = start + i / self.rate
            now = time.monotonic()
            if due - start >= self.seconds:
                break
            if due > now:
                time.sleep(due - now)
            if self.conn is None or self.since_connect >= RECONNECT_EVERY:
                if self.conn is not None:
                    self.conn.close()
                self.conn = self.new_conn()
                self.since_connect = 0
            t0 = time.monotonic()
            try:
                err = self.one(i)
            except Exception as e:  # noqa: BLE001 - every failure is an error to count
                err = "%s: %s" % (type(e).__name__, e)
                self.conn.close()
                self.conn = None
            self.latencies.append(time.monotonic() - t0)
            self.sent += 1
            self.since_connect += 1
            if err:
                self.error("request %d: %s" % (i, err))
            i += 1
        if self.conn is not None:
            self.conn.close()


class WebhookLoad(Load):
    def __init__(self, daemon, rate, seconds):
        super().__init__("webhook", rate, seconds)
        self.d = daemon
        with open(os.path.join(FIXTURES, "reviews", "cases.json")) as f:
            self.cases = json.load(f)
        self.reviews = [load_fixture(c["file"]) for c in self.cases]
        self.order = list(range(len(self.cases)))
        random.Random(1).shuffle(self.order)
        self.outcomes = {"patched": 0, "allowed": 0, "denied": 0}

    def new_conn(self):
        return self.d.connect()

    def one(self, i):
        k = self.order[i % len(self.order)]
        case = self.cases[k]
        review = copy.deepcopy(self.reviews[k])
        review["request"]["uid"] = "soak-%d" % i
        status, _, raw = post_review(self.conn, "/" + case["endpoint"], review)
        if status != 200:
            return "%s: status %d" % (case["file"], status)
        try:
            resp = check_response(review, raw, case["endpoint"])
        except AssertionError as e:
            return "%s: %s" % (case["file"], e)
        ops = patch_ops(resp)
        got = ("patched" if resp["allowed"] and ops else
               "allowed" if resp["allowed"] else "denied")
        if got != case["expect"]:
            return "%s: %s, expected %s" % (case["file"], got, case["expect"])
        if got == "denied" and resp["status"].get("code") != 403:
            return "%s: refused with code %s" % (case["file"], resp["status"].get("code"))
        text = "\n".join([resp.get("status", {}).get("message", "")] +
                         resp.get("warnings", []) +
                         list(resp.get("auditAnnotations", {}).values()))
        for s in case.get("contains", []):
            if s not in text:
                return "%s: %r not in the answer" % (case["file"], s)
        self.outcomes[got] += 1
        return None


TEMPLATE = "9e8d7c6b"
POOL = "1f2e3d4c"
PROBE_NODES = ["n1", "n2", "n3", "n4", "n5"]
CHURN_NODES = ["c1", "c2", "c3", "c4"]
CHURN_TEMPLATES = ["c0ffee%02d" % i for i in range(5)]
RUNTIMECLASSES = [("gvisor", "runsc"), ("kata", "kata"), ("kata-qemu", "kata-qemu"),
                  ("kata-clh", "kata-clh"), ("kata-fc", "kata-fc"),
                  ("kata-vm-isolation", "kata"), ("runc", "runc")]
EXTENDER_POLICY = {"maxSandboxPodsPerNode": 3,
                   "runtimeClassNodeLabels": {"kata": "katacontainers.io/kata-runtime=true"}}


def probe_cluster(api):
    """The probe nodes' fixed pods, chosen so each score and filter rule shows."""
    api.put_node(node("n1"))
    api.put_node(node("n2"))
    api.put_node(node("n3"))
    api.put_node(node("n4", {"katacontainers.io/kata-runtime": "true"}))
    api.put_node(node("n5", {"sandbox-guard.io/no-sandboxes": "true"}))
    for n in CHURN_NODES:
        api.put_node(node(n))
    api.put_pod(pod("p-n1-w1", node="n1", pool=POOL))             # one warm pod of the pool
    api.put_pod(pod("p-n2-w1", node="n2", pool=POOL))             # two
    api.put_pod(pod("p-n2-w2", node="n2", pool=POOL))
    api.put_pod(pod("p-n3-c1", node="n3"))                        # claimed: image only
    api.put_pod(pod("p-n3-o1", node="n3", template="0ther000"))  # n3 is at the cap of 3
    api.put_pod(pod("p-n3-o2", node="n3", template="0ther000"))


def kata_claim():
    p = pod("cold-kata", template=TEMPLATE, name="claim-kata", runtime="kata")
    return p


PLAIN = {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
         "spec": {"containers": [{"name": "c", "image": "x"}]}}
UNRESOLVABLE_N5 = "node is closed to sandbox pods"
CAP_N3 = "node runs 3 sandbox pods (limit 3)"

# (name, pod, prioritize answer, filter: passing nodes, failed, unresolvable
# nodes). From docs/extender.md: cold claim 10 with a ready warm pod of the
# template, 8 with only other pods of it, 0 without; refill 10 - 3 * k with
# the image (k warm pods of the pool), 5 without; others get no scores and
# pass the filter untouched.
PROBES = [
    ("cold", pod("cold-0001", template=TEMPLATE, name="claim-42"),
     {"n1": 10, "n2": 10, "n3": 8, "n4": 0, "n5": 0},
     ["n1", "n2", "n4"], ["n3"], ["n5"]),
    ("refill", pod("refill-0001", template=TEMPLATE, pool=POOL, name="python-pool-new"),
     {"n1": 7, "n2": 4, "n3": 10, "n4": 5, "n5": 5},
     ["n1", "n2", "n4"], ["n3"], ["n5"]),
    ("kata", kata_claim(),
     {"n1": 10, "n2": 10, "n3": 8, "n4": 0, "n5": 0},
     ["n4"], [], ["n1", "n2", "n3", "n5"]),
    ("plain", PLAIN, {}, PROBE_NODES, [], []),
]


class ExtenderLoad(Load):
    def __init__(self, daemon, rate, seconds):
        super().__init__("extender", rate, seconds)
        self.d = daemon

    def new_conn(self):
        return http.client.HTTPConnection("127.0.0.1", self.d.port, timeout=10)

    def call(self, verb, args):
        self.conn.request("POST", "/" + verb, body=json.dumps(args),
                          headers={"Content-Type": "application/json"})
        r = self.conn.getresponse()
        return r.status, r.read()

    def one(self, i):
        name, p, scores, passing, failed, unresolvable = PROBES[(i // 2) % len(PROBES)]
        args = {"Pod": p, "Nodes": None, "NodeNames": PROBE_NODES}
        if i % 2 == 0:
            status, raw = self.call("prioritize", args)
            if status != 200:
                return "%s prioritize: status %d" % (name, status)
            got = {e["Host"]: e["Score"] for e in json.loads(raw)}
            if got != scores:
                return "%s prioritize: %s, expected %s" % (name, got, scores)
            return None
        status, raw = self.call("filter", args)
        if status != 200:
            return "%s filter: status %d" % (name, status)
        out = json.loads(raw)
        if out.get("Error"):
            return "%s filter: Error %r" % (name, out["Error"])
        if out.get("NodeNames") != passing:
            return "%s filter: passing %s, expected %s" % (name, out.get("NodeNames"), passing)
        if sorted(out.get("FailedNodes") or {}) != failed:
            return "%s filter: failed %s, expected %s" % (name, out.get("FailedNodes"), failed)
        if sorted(out.get("FailedAndUnresolvableNodes") or {}) != unresolvable:
            return "%s filter: unresolvable %s" % (name, out.get("FailedAndUnresolvableNodes"))
        if failed and out["FailedNodes"].get("n3") != CAP_N3:
            return "%s filter: n3 reason %r" % (name, out["FailedNodes"].get("n3"))
        if UNRESOLVABLE_N5 not in out["FailedAndUnresolvableNodes"].get("n5", ""):
            if name != "plain":
                return "%s filter: n5 reason %r" % (name, out["FailedAndUnresolvableNodes"])
        return None


class Churn:
    """Changes the fake cluster all along; none of it may change a probe's answer."""

    def __init__(self, api, stop, seconds, rate=10.0):
        self.api = api
        # A watch cut each minute, a compaction each five; in a short run
        # at least one cut and one compaction even so.
        self.cut_every = min(60.0, seconds / 4)
        self.compact_every = min(300.0, seconds / 2)
        self.stop = stop
        self.rate = rate
        self.live = []
        self.seq = 0
        self.events = 0
        self.cuts = 0
        self.compactions = 0

    def run(self):
        rnd = random.Random(2)
        start = time.monotonic()
        last_cut = last_compact = last_nodes = start
        while not self.stop.wait(1.0 / self.rate):
            now = time.monotonic()
            op = rnd.random()
            if len(self.live) < 20 or (op < 0.4 and len(self.live) < 60):
                self.seq += 1
                p = pod("churn-%08d" % self.seq, node=rnd.choice(CHURN_NODES),
                        template=rnd.choice(CHURN_TEMPLATES), ns="churn",
                        pool=rnd.choice([None, "c0ffeeaa"]), ready=rnd.random() < 0.5)
                self.api.put_pod(p)
                self.live.append(p)
            elif op < 0.7:
                idx = rnd.randrange(len(self.live))
                p = copy.deepcopy(self.live[idx])
                ready = not p["status"].get("conditions")
                p["status"]["conditions"] = [{"type": "Ready", "status": "True"}] if ready else []
                self.api.put_pod(p)
                self.live[idx] = p
            else:
                p = self.live.pop(rnd.randrange(len(self.live)))
                self.api.delete_pod(p)
            self.events += 1
            if now - last_nodes >= 10:
                for n in PROBE_NODES + CHURN_NODES:
                    cur = copy.deepcopy(self.api.objects["nodes"][n])
                    cur["metadata"]["labels"]["soak.sandbox-guard.io/generation"] = str(self.seq)
                    self.api.put_node(cur)
                # A class no policy names: a watch event for the webhook, no answer changes.
                self.api.put_runtimeclass("soak-unused", "runc-%d" % (self.seq % 7))
                last_nodes = now
            if now - last_cut >= self.cut_every:
                self.api.cut_watches()
                self.cuts += 1
                last_cut = now
            if now - last_compact >= self.compact_every:
                self.compact()
                last_compact = now

    def compact(self):
        """Compacts the pod history and drops it from memory, as etcd would."""
        self.api.compact("pods")
        with self.api.lock:
            for kind in self.api.events:
                self.api.events[kind] = [e for e in self.api.events[kind]
                                         if e[0] > self.api.compacted[kind]]
        self.compactions += 1


# --- the run ------------------------------------------------------------------


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def wait_for(pred, what, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def log_problems(d):
    """Daemon log lines at level warn or error, streamed (the log can be large).

    Returns (problems, expected, latencies): the warnings that the churn
    provokes on purpose (a watch cut or compacted away, see
    EXPECTED_WARNINGS) are counted by message in expected; every other warn
    or error line is a problem; latencies are the daemon's own latency_us
    of each review or extender call, in seconds.
    """
    problems, expected, latencies = [], {}, []
    with open(d.log_path, "rb") as f:
        for raw in f:
            raw = raw.strip()
            if not raw.startswith(b"{"):
                continue
            try:
                line = json.loads(raw)
            except ValueError:
                problems.append(raw.decode("utf-8", "replace")[:200])
                continue
            if isinstance(line.get("latency_us"), int):
                latencies.append(line["latency_us"] / 1e6)
            if line.get("level") not in ("warn", "error"):
                continue
            msg = line.get("msg", "")
            if line["level"] == "warn" and any(w in msg for w in EXPECTED_WARNINGS):
                expected[msg] = expected.get(msg, 0) + 1
            else:
                problems.append(raw.decode("utf-8", "replace")[:300])
    return problems, expected, latencies


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float,
                    default=float(os.environ.get("SG_SOAK_SECONDS", "120")))
    ap.add_argument("--rate", type=float, default=float(os.environ.get("SG_SOAK_RATE", "50")),
                    help="requests per second to each daemon")
    ap.add_argument("--daemons", default="webhook,extender")
    ap.add_argument("--sample", type=float, default=0,
                    help="seconds between samples (default: duration / 60, 2..10)")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    if a.seconds <= 0:
        print("soak: skipped (0 seconds)")
        return 0
    sample_every = a.sample or min(10.0, max(2.0, a.seconds / 60))
    warmup = min(60.0, a.seconds / 5)
    which = a.daemons.split(",")

    tmp = tempfile.mkdtemp(prefix="sg-soak-")
    daemons, loads, extra = {}, {}, {}
    stop = threading.Event()
    # One fake API server for both: the extender's inventory and node labels,
    # the webhook's RuntimeClasses (every class the built-in policy allows,
    # with its handler, so the fixtures' expected answers hold).
    apicerts = make_certs(os.path.join(tmp, "apicerts"))
    api = FakeAPI(certs_dir=apicerts, token="soak-token")
    token_file = os.path.join(tmp, "token")
    write(token_file, "soak-token\n")
    kc = os.path.join(tmp, "kubeconfig")
    write_kubeconfig(kc, apicerts, api.url, token_file, user="soak")
    for name, handler in RUNTIMECLASSES:
        api.put_runtimeclass(name, handler)
    if "webhook" in which:
        certs = make_certs(os.path.join(tmp, "certs"))
        d = Daemon(tmp, "sandbox-guard-webhook",
                   ["--tls-cert=" + os.path.join(certs, "tls.crt"),
                    "--tls-key=" + os.path.join(certs, "tls.key"), "--kubeconfig=" + kc,
                    "--listen=127.0.0.1:0", "--health-listen=127.0.0.1:0"], certs)
        wait_for(lambda: d.health("/readyz")[0] == 200, "webhook ready")
        daemons["webhook"] = d
        loads["webhook"] = WebhookLoad(d, a.rate, a.seconds)
    if "extender" in which:
        policy = os.path.join(tmp, "extender-policy.json")
        write(policy, json.dumps(EXTENDER_POLICY))
        probe_cluster(api)
        d = Daemon(tmp, "sandbox-guard-extender",
                   ["--kubeconfig=" + kc, "--listen=127.0.0.1:0",
                    "--health-listen=127.0.0.1:0", "--policy=" + policy], None)
        wait_for(lambda: d.health("/readyz")[0] == 200, "extender ready")
        wait_for(lambda: d.metric("sandbox_guard_inventory_nodes") == 9, "nodes cached")
        daemons["extender"] = d
        loads["extender"] = ExtenderLoad(d, a.rate, a.seconds)
    churn = Churn(api, stop, a.seconds)

    samples = {n: [] for n in daemons}
    threads = [threading.Thread(target=l.run, daemon=True) for l in loads.values()]
    threads.append(threading.Thread(target=churn.run, daemon=True))
    t_start = time.monotonic()
    for t in threads:
        t.start()
    print("soak: %s for %gs at %g requests/s each, sampling every %gs (logs in %s, "
          "removed if it passes)" % (", ".join(daemons), a.seconds, a.rate, sample_every, tmp),
          flush=True)
    try:
        next_sample = t_start
        while any(t.is_alive() for t in threads[:len(loads)]):
            now = time.monotonic()
            if now >= next_sample:
                for n, d in daemons.items():
                    samples[n].append((now - t_start, proc_rss_kib(d.proc.pid),
                                       proc_fds(d.proc.pid)))
                next_sample += sample_every
            time.sleep(min(0.5, max(0.01, next_sample - time.monotonic())))
    finally:
        stop.set()
        for l in loads.values():
            l.stop.set()
        for t in threads:
            t.join(timeout=30)
    elapsed = time.monotonic() - t_start

    failed = False
    rows = []
    for n, d in daemons.items():
        load = loads[n]
        if n == "extender":
            # After the churn stops the inventory must agree with the API server.
            with api.lock:
                want = len(api.objects["pods"])
            try:
                wait_for(lambda: d.metric("sandbox_guard_inventory_pods") == want,
                         "inventory of %d pods" % want, timeout=30)
            except AssertionError:
                load.error("inventory holds %s pods, the API server %d" %
                           (d.metric("sandbox_guard_inventory_pods"), want))
            got = d.metric("sandbox_guard_extender_calls_total")
            extra[n] = "churn: %d pod events, %d watch cuts, %d compactions; %s lists, " \
                "%s watch starts" % (churn.events, churn.cuts, churn.compactions,
                                     int(d.metric("sandbox_guard_inventory_lists_total") or 0),
                                     int(d.metric("sandbox_guard_inventory_watch_starts_total")
                                         or 0))
        else:
            got = d.metric("sandbox_guard_admission_requests_total")
            extra[n] = "answers: %d patched, %d allowed, %d refused" % (
                load.outcomes["patched"], load.outcomes["allowed"], load.outcomes["denied"])
        if got != load.sent:
            load.error("/metrics counts %s requests, %d were sent" % (got, load.sent))
        end_rss, end_fds = proc_rss_kib(d.proc.pid), proc_fds(d.proc.pid)
        problems, expected, served = log_problems(d)
        for line in problems:
            load.error("log: " + line)
        if expected:
            extra[n] += "; expected warnings: " + "; ".join(
                "%d× %s" % (c, m) for m, c in sorted(expected.items()))
        try:
            d.assert_clean_exit()
        except AssertionError as e:
            load.error(str(e)[:300])
        rss = [(t, r) for t, r, _ in samples[n]]
        fds = [(t, f) for t, _, f in samples[n]]
        rss_ok, rss_first, rss_last, rss_limit = judge(rss, warmup, RSS_ABS_KIB, RSS_REL)
        fd_ok, fd_first, fd_last, fd_limit = judge(fds, warmup, FD_ABS, 0)
        lat = sorted(load.latencies)
        served.sort()
        ok = load.errors == 0 and rss_ok is not False and fd_ok is not False
        failed = failed or not ok
        rows.append((n, load, samples[n], lat, served, (rss_ok, rss_first, rss_last, rss_limit),
                     (fd_ok, fd_first, fd_last, fd_limit), ok, end_rss, end_fds))

    print()
    print("| daemon | requests | req/s | errors | p50 / p99 / max ms (client) | "
          "p50 / p99 / max ms (daemon) | RSS KiB start→end (first/last quarter median, limit) "
          "| fds start→end (first/last quarter median, limit) | verdict |")
    print("|---|---|---|---|---|---|---|---|---|")
    figures = {}
    for n, load, smp, lat, served, rj, fj, ok, end_rss, end_fds in rows:
        def flat(j, fmt):
            if j[0] is None:
                return "too short to judge"
            return (fmt + "/" + fmt + ", ≤ " + fmt + "%s") % (j[1], j[2], j[3],
                                                              "" if j[0] else " NOT FLAT")
        print("| %s | %d | %.1f | %d | %.2f / %.2f / %.2f | %.3f / %.3f / %.3f | %d→%d (%s) "
              "| %d→%d (%s) | %s |" % (
                  n, load.sent, load.sent / elapsed, load.errors, percentile(lat, 50) * 1e3,
                  percentile(lat, 99) * 1e3, (lat[-1] if lat else 0) * 1e3,
                  percentile(served, 50) * 1e3, percentile(served, 99) * 1e3,
                  (served[-1] if served else 0) * 1e3, smp[0][1], end_rss, flat(rj, "%d"),
                  smp[0][2], end_fds, flat(fj, "%g"), "pass" if ok else "FAIL"))
        figures[n] = {"requests": load.sent, "seconds": elapsed, "errors": load.errors,
                      "error_samples": load.error_samples,
                      "p50_ms": percentile(lat, 50) * 1e3, "p99_ms": percentile(lat, 99) * 1e3,
                      "daemon_p50_ms": percentile(served, 50) * 1e3,
                      "daemon_p99_ms": percentile(served, 99) * 1e3,
                      "rss_kib": {"start": smp[0][1], "end": end_rss, "first_q": rj[1],
                                  "last_q": rj[2], "limit": rj[3], "flat": rj[0]},
                      "fds": {"start": smp[0][2], "end": end_fds, "first_q": fj[1],
                              "last_q": fj[2], "limit": fj[3], "flat": fj[0]},
                      "samples": smp, "notes": extra[n]}
    print()
    for n, load, *_ in rows:
        print("%s: %s" % (n, extra[n]))
        for e in load.error_samples:
            print("  error: %s" % e)
    print("\nflat: after a warm-up of %gs, last-quarter median ≤ first-quarter median + "
          "%d KiB + %d%% (RSS), + %d (fds); samples every %gs" %
          (warmup, RSS_ABS_KIB, RSS_REL * 100, FD_ABS, sample_every))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(figures, f, indent=1)
    api.close()
    if failed:
        print("soak: FAILED (daemon logs kept in %s)" % tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
        print("soak: passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
