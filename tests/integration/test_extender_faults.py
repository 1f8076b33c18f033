"""The extender under scheduling load while its API server fails.

Client threads keep calling /filter and /prioritize the way kube-scheduler
does, while the fake API server goes away (connections refused) and comes
back, answers 410 Gone (as an HTTP status or as an ERROR event), or cuts a
watch stream in the middle of an event. Meanwhile the cluster changes (a
pod deleted, pods added, one finishing), as it would through another API
server replica. Every answer must be well formed and, node by node, match
either the cluster before the change or after it, and /readyz stays 200
(the outage is far below --max-staleness); once the API server is back the
extender's answers and its pod count must match the new cluster exactly.
The filter's per-node cap (1 here) names the count it holds in its reason
("node runs 2 sandbox pods"), so a pod counted twice shows.
"""
import json
import threading
import time

import pytest

from fakeapi import node, pod
from test_extender import POOL, TEMPLATE, args_names, call, cold_claim_pod, refill_pod, wait, \
    write
from test_extender import cluster, start_extender  # noqa: F401 (fixtures)

NODES = ["n1", "n2", "n3", "n4", "n5"]

# Cold-start scores, refill scores and sandbox pods counted per node.
# (In "count", CLOSED: the filter refuses the node as closed to sandboxes.)
CLOSED = -1
BEFORE = {"cold": {"n1": 10, "n2": 8, "n3": 0, "n4": 0, "n5": 0},
          "refill": {"n1": 4, "n2": 10, "n3": 5, "n4": 5, "n5": 5},
          "count": {"n1": 2, "n2": 1, "n3": 0, "n4": 0, "n5": 0}}
AFTER = {"cold": {"n1": 10, "n2": 6, "n3": 10, "n4": 8, "n5": 0},
         "refill": {"n1": 7, "n2": 10, "n3": 7, "n4": 10, "n5": 5},
         "count": {"n1": 1, "n2": 0, "n3": 1, "n4": 1, "n5": CLOSED}}
PODS_AFTER = 4  # w1, w3, c2 and the finished c1 (tracked, counted nowhere)


def seed(api):
    api.put_node(node("n5"))
    api.put_pod(pod("w1", node="n1", pool=POOL))
    api.put_pod(pod("w2", node="n1", pool=POOL))
    api.put_pod(pod("c1", node="n2"))


def change(api):
    """The cluster's truth moves on: every node changes once."""
    api.delete_pod(pod("w2", node="n1", pool=POOL))
    api.put_pod(pod("w3", node="n3", pool=POOL))
    api.put_pod(pod("c1", node="n2", phase="Succeeded"))
    api.put_pod(pod("c2", node="n4", template=TEMPLATE))
    api.put_node(node("n5", {"sandbox-guard.io/no-sandboxes": "true"}))  # drained


def counts_from_filter(out):
    """Sandbox pods per node as the filter's reasons say (cap 1: 0 passes)."""
    counts = {n: 0 for n in out["NodeNames"]}
    for n, reason in out["FailedNodes"].items():
        words = reason.split()
        assert reason.startswith("node runs ") and reason.endswith("(limit 1)"), reason
        counts[n] = int(words[2])
    for n, reason in out["FailedAndUnresolvableNodes"].items():
        assert "closed to sandbox pods" in reason, reason
        counts[n] = CLOSED
    return counts


def observe(d):
    """What the extender answers now: cold and refill scores, counts per node."""
    out = {}
    for kind, p in (("cold", cold_claim_pod()), ("refill", refill_pod())):
        status, data = call(d, "prioritize", args_names(p, NODES))
        assert status == 200, data
        out[kind] = {e["Host"]: e["Score"] for e in json.loads(data)}
    status, data = call(d, "filter", args_names(cold_claim_pod(), NODES))
    assert status == 200, data
    out["count"] = counts_from_filter(json.loads(data))
    return out


class Load:
    """Scheduler-shaped clients calling the extender until stopped.

    Each answer is checked: status 200, the documented shape, only nodes it
    was asked about, and per node a value of the cluster before or after
    the change (the watch applies events one at a time, so a mix across
    nodes is fine, a value of neither state is not)."""

    def __init__(self, d, threads=2):
        self.d = d
        self.stop_flag = threading.Event()
        self.lock = threading.Lock()
        self.answers = []  # completion times
        self.failures = []
        self.unready = []  # /readyz answers other than 200 meanwhile
        self.threads = [threading.Thread(target=self.run, args=(i,), daemon=True)
                        for i in range(threads)]
        self.threads.append(threading.Thread(target=self.probe, daemon=True))

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def stop(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join(20)
        return self

    def one(self, i):
        kind = ("cold", "refill", "count")[i % 3]
        p = refill_pod() if kind == "refill" else cold_claim_pod()
        verb = "filter" if kind == "count" else "prioritize"
        status, data = call(self.d, verb, args_names(p, NODES))
        if status != 200:
            return "HTTP %d: %r" % (status, data[:200])
        out = json.loads(data)
        if verb == "filter":
            if set(out) != {"NodeNames", "FailedNodes", "FailedAndUnresolvableNodes", "Error"} \
                    or out["Error"] != "":
                return "bad filter answer %r" % out
            if sorted(out["NodeNames"] + list(out["FailedNodes"]) +
                      list(out["FailedAndUnresolvableNodes"])) != NODES:
                return "filter lost or invented nodes: %r" % out
            got = counts_from_filter(out)
        else:
            if any(set(e) != {"Host", "Score"} for e in out):
                return "bad prioritize answer %r" % out
            got = {e["Host"]: e["Score"] for e in out}
            if sorted(got) != NODES or len(out) != len(NODES):
                return "prioritize lost or invented nodes: %r" % out
        for n in NODES:
            if got[n] not in (BEFORE[kind][n], AFTER[kind][n]):
                return "%s on %s is %d: neither before (%d) nor after (%d)" % (
                    kind, n, got[n], BEFORE[kind][n], AFTER[kind][n])
        return None

    def run(self, k):
        i = k
        while not self.stop_flag.is_set():
            try:
                err = self.one(i)
            except Exception as e:  # a refused or broken connection is a failure too
                err = repr(e)
            with self.lock:
                if err:
                    self.failures.append(err)
                else:
                    self.answers.append(time.time())
            i += 1

    def probe(self):
        """kubelet's readiness probe, every 100 ms."""
        while not self.stop_flag.wait(0.1):
            try:
                status, body = self.d.health("/readyz")
            except Exception as e:
                status, body = None, repr(e)
            if status != 200:
                with self.lock:
                    self.unready.append((status, body))

    def answered_between(self, t0, t1):
        with self.lock:
            return sum(1 for t in self.answers if t0 <= t <= t1)


def outage(api, compacted):
    """The API server goes away; the cluster changes meanwhile; it comes back."""
    api.stop_serving()
    time.sleep(0.5)
    change(api)
    if compacted:
        api.compact("pods")  # its watch cache starts after the change: 410 on resume
    time.sleep(0.7)
    api.start_serving()


FAULTS = {
    "refused": lambda api: outage(api, compacted=False),
    "refused-then-410": lambda api: outage(api, compacted=True),
    "410-status": lambda api: (change(api), api.compact("pods")),
    "410-error-event": lambda api: (setattr(api, "gone_as_event", True), change(api),
                                    api.compact("pods")),
    "cut-mid-event": lambda api: (setattr(api, "truncate_next_event", "pods"), change(api)),
}
RELISTS = {"refused-then-410", "410-status", "410-error-event"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_answers_stay_correct_and_the_inventory_converges(cluster, start_extender, tmp_path,
                                                          fault):
    api = cluster.api
    policy = str(tmp_path / "policy.json")
    write(policy, json.dumps({"maxSandboxPodsPerNode": 1}))
    seed(api)
    d = start_extender("--policy=" + policy)
    wait(lambda: observe(d) == BEFORE, "the first list")
    lists = d.metric("sandbox_guard_inventory_lists_total")
    watches = d.metric("sandbox_guard_inventory_watch_starts_total")
    load = Load(d).start()
    time.sleep(0.3)
    t0 = time.time()
    FAULTS[fault](api)
    t1 = time.time()
    try:
        wait(lambda: observe(d) == AFTER, "answers to match the changed cluster", timeout=20)
        wait(lambda: d.metric("sandbox_guard_inventory_pods") == PODS_AFTER,
             "the pod count to match", timeout=5)
        converged = time.time()
        time.sleep(0.3)  # and stay there under load
    finally:
        load.stop()
    assert load.failures == [], load.failures[:5]
    # Counts seconds old still place pods better than none: the extender
    # stays ready through a short outage (below --max-staleness).
    assert load.unready == [], load.unready[:3]
    assert observe(d) == AFTER
    assert d.metric("sandbox_guard_inventory_pods") == PODS_AFTER
    assert d.metric("sandbox_guard_inventory_watch_starts_total") > watches
    if fault == "cut-mid-event":
        assert api.truncate_next_event is None and "watch ended" in d.text()
    if fault in RELISTS:
        assert d.metric("sandbox_guard_inventory_lists_total") > lists
    else:
        # Resumed from its resourceVersion: the missed events replayed, no relist.
        assert d.metric("sandbox_guard_inventory_lists_total") == lists
    if fault.startswith("refused"):
        # The scheduler was answered all through the outage, from the last known counts.
        assert load.answered_between(t0, t1) > 0
    print("%s: %d answers, converged %.2f s after the fault ended" % (
        fault, len(load.answers), converged - t1))
