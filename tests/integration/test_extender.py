"""sandbox-guard-extender against a fake API server and a scheduler-shaped client.

The fake API server (fakeapi.py) serves lists and chunked watch streams over
TLS with a rotating bearer token; the tests change the cluster and check the
extender's answers against the documented formula (scheduler-plugin/
extender.h, docs/extender.md), in both nodeCacheCapable modes.
"""
import http.client
import json
import os
import time

import pytest

from conftest import Daemon, make_certs, write_kubeconfig
from fakeapi import FakeAPI, node, pod

TEMPLATE = "9e8d7c6b"
POOL = "1f2e3d4c"


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


class Cluster:
    def __init__(self, tmp, api, token_file):
        self.tmp = tmp
        self.api = api
        self.token_file = token_file


@pytest.fixture
def cluster(tmp_path):
    certs = make_certs(str(tmp_path / "apicerts"))
    api = FakeAPI(certs_dir=certs, token="token-1")
    token_file = str(tmp_path / "token")
    write(token_file, "token-1\n")
    write_kubeconfig(str(tmp_path / "kubeconfig"), certs, api.url, token_file)
    for n in ("n1", "n2", "n3", "n4"):
        api.put_node(node(n))
    yield Cluster(str(tmp_path), api, token_file)
    api.close()


@pytest.fixture
def start_extender(cluster, tmp_path):
    started = []

    def start(*extra, wait_ready=True):
        args = ["--kubeconfig=" + str(tmp_path / "kubeconfig"), "--listen=127.0.0.1:0",
                "--health-listen=127.0.0.1:0", "--reload-interval=200ms", *extra]
        d = Daemon(str(tmp_path), "sandbox-guard-extender", args, None)
        started.append(d)
        if wait_ready:
            wait(lambda: d.health("/readyz")[0] == 200, "extender ready")
        return d

    yield start
    for d in started:
        d.assert_clean_exit()


def wait(pred, what, timeout=15):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting for " + what)


def call(d, verb, args, prefix=""):
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    body = json.dumps(args)
    c.request("POST", prefix + "/" + verb, body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read()
    c.close()
    return r.status, data


def args_names(p, names):
    # What kube-scheduler sends with nodeCacheCapable: Go field names.
    return {"Pod": p, "Nodes": None, "NodeNames": names}


def args_nodes(p, nodes):
    return {"Pod": p, "Nodes": {"metadata": {}, "items": nodes}, "NodeNames": None}


def scores(d, p, names):
    status, data = call(d, "prioritize", args_names(p, names))
    assert status == 200, data
    out = json.loads(data)
    for e in out:
        assert set(e) == {"Host", "Score"}
        assert e["Host"] in names and 0 <= e["Score"] <= 10 and isinstance(e["Score"], int)
    return {e["Host"]: e["Score"] for e in out}


def cold_claim_pod():
    # A cold-start claim pod: template hash, no warm-pool label, not yet bound.
    return pod("cold-0001", template=TEMPLATE, name="claim-42")


def refill_pod():
    return pod("refill-0001", template=TEMPLATE, pool=POOL, name="python-pool-new")


def test_ready_only_after_first_list(cluster, start_extender):
    cluster.api.fail_next_lists = 3
    d = start_extender(wait_ready=False)
    assert d.health("/readyz")[0] == 503
    wait(lambda: d.health("/readyz")[0] == 200, "ready after the list succeeds")


def test_cold_start_scores_follow_the_formula(cluster, start_extender):
    api = cluster.api
    api.put_pod(pod("w1", node="n1", pool=POOL))                 # warm, ready
    api.put_pod(pod("w2", node="n2", pool=POOL, ready=False))    # warm, not ready
    api.put_pod(pod("c1", node="n3"))                             # claimed
    api.put_pod(pod("x1", node="n4", template="other000", pool="other000"))
    d = start_extender()
    s = scores(d, cold_claim_pod(), ["n1", "n2", "n3", "n4"])
    assert s == {"n1": 10, "n2": 8, "n3": 8, "n4": 0}


def test_same_template_name_in_another_namespace_gives_no_locality(cluster, start_extender):
    # agent-sandbox hashes the template name only: team-b's "python" carries
    # the same hash as team-a's, yet its warm pods are not team-a's image.
    api = cluster.api
    api.put_pod(pod("b1", node="n1", pool=POOL, ns="team-b"))
    api.put_pod(pod("b2", node="n1", pool=POOL, ns="team-b"))
    api.put_pod(pod("a1", node="n2", pool=POOL, ns="team-a"))
    d = start_extender()
    assert scores(d, cold_claim_pod(), ["n1", "n2"]) == {"n1": 0, "n2": 10}
    other = pod("cold-b", template=TEMPLATE, ns="team-b", name="claim-b")
    assert scores(d, other, ["n1", "n2"]) == {"n1": 10, "n2": 0}
    # Refills count only their own namespace's pool and image: n1 has neither
    # for team-a (5: no image; counting team-b's two would give 4), n2 has the
    # image and one warm pod of the pool (10 - 3).
    assert scores(d, refill_pod(), ["n1", "n2"]) == {"n1": 5, "n2": 7}


def test_adoption_moves_a_pod_from_warm_to_claimed(cluster, start_extender):
    api = cluster.api
    warm = pod("w1", node="n1", pool=POOL)
    api.put_pod(warm)
    d = start_extender()
    assert scores(d, cold_claim_pod(), ["n1"]) == {"n1": 10}
    adopted = pod("w1", node="n1")  # the warm-pool label is gone
    api.put_pod(adopted)
    wait(lambda: scores(d, cold_claim_pod(), ["n1"]) == {"n1": 8}, "adoption seen")
    # Deleted: the template was here a moment ago (freshness window).
    api.delete_pod(adopted)
    wait(lambda: scores(d, cold_claim_pod(), ["n1"]) == {"n1": 6}, "deletion seen")


def test_unbound_finished_and_deleting_pods_count_nowhere(cluster, start_extender):
    api = cluster.api
    api.put_pod(pod("u1", node=None, pool=POOL))
    api.put_pod(pod("f1", node="n2", pool=POOL, phase="Succeeded"))
    api.put_pod(pod("f2", node="n3", pool=POOL, phase="Failed"))
    api.put_pod(pod("d1", node="n4", pool=POOL, deleting=True))
    d = start_extender()
    s = scores(d, cold_claim_pod(), ["n1", "n2", "n3", "n4"])
    assert s["n1"] == 0
    # Finished or deleting pods are not warm; the template was just there (6).
    assert s["n2"] == 6 and s["n3"] == 6 and s["n4"] == 6
    # Binding the pending pod makes it count.
    api.put_pod(pod("u1", node="n1", pool=POOL))
    wait(lambda: scores(d, cold_claim_pod(), ["n1"]) == {"n1": 10}, "binding seen")


def test_refill_prefers_image_nodes_with_fewer_warm_pods(cluster, start_extender):
    api = cluster.api
    for i in range(3):
        api.put_pod(pod("a%d" % i, node="n1", pool=POOL))
    api.put_pod(pod("b0", node="n2", pool=POOL))
    api.put_pod(pod("c0", node="n3", pool="0ther000"))  # same template, another pool
    d = start_extender()
    s = scores(d, refill_pod(), ["n1", "n2", "n3", "n4"])
    assert s == {"n1": 1, "n2": 7, "n3": 10, "n4": 5}


def test_other_pods_get_a_cheap_neutral_answer(cluster, start_extender):
    d = start_extender()
    plain = {"metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
             "spec": {"containers": [{"name": "c"}]}}
    assert scores(d, plain, ["n1", "n2"]) == {}
    status, data = call(d, "filter", args_names(plain, ["n1", "n2"]))
    out = json.loads(data)
    assert out["NodeNames"] == ["n1", "n2"] and out["FailedNodes"] == {}
    assert out["Error"] == ""


def test_watch_survives_dropped_connections_without_losing_events(cluster, start_extender):
    api = cluster.api
    d = start_extender()
    watches = d.metric("sandbox_guard_inventory_watch_starts_total")
    api.cut_watches()
    api.put_pod(pod("w1", node="n1", pool=POOL))  # arrives while the watch reconnects
    wait(lambda: scores(d, cold_claim_pod(), ["n1"]) == {"n1": 10}, "event after reconnect")
    assert d.metric("sandbox_guard_inventory_watch_starts_total") > watches
    assert d.metric("sandbox_guard_inventory_pods") == 1


@pytest.mark.parametrize("as_event", [False, True], ids=["http-410", "error-event-410"])
def test_410_gone_relists_without_double_counting(cluster, start_extender, as_event):
    api = cluster.api
    api.gone_as_event = as_event
    api.put_pod(pod("w1", node="n1", pool=POOL))
    api.put_pod(pod("w2", node="n1", pool=POOL))
    d = start_extender()
    lists = d.metric("sandbox_guard_inventory_lists_total")
    # While disconnected: w2 is deleted and w3 added, then history is compacted,
    # so the resumed watch gets 410 and the extender must list again.
    api.delete_pod(pod("w2", node="n1", pool=POOL))
    api.put_pod(pod("w3", node="n2", pool=POOL))
    api.compact("pods")
    wait(lambda: d.metric("sandbox_guard_inventory_lists_total") > lists, "relist")
    wait(lambda: d.metric("sandbox_guard_inventory_pods") == 2, "two pods after relist")
    s = scores(d, refill_pod(), ["n1", "n2"])
    assert s == {"n1": 7, "n2": 7}  # one warm pod of the pool on each


def test_relist_drops_pods_deleted_while_disconnected(cluster, start_extender):
    api = cluster.api
    api.put_pod(pod("w1", node="n1", pool=POOL))
    d = start_extender()
    assert scores(d, cold_claim_pod(), ["n1"]) == {"n1": 10}
    with api.lock:
        # Gone without a watch event (as if deleted during a long outage).
        api.objects["pods"].clear()
    api.compact("pods")
    wait(lambda: d.metric("sandbox_guard_inventory_pods") == 0, "pod dropped by resync")
    assert scores(d, cold_claim_pod(), ["n1"])["n1"] == 6


def test_paged_list(cluster, start_extender):
    api = cluster.api
    for i in range(1200):
        api.put_pod(pod("p%04d" % i, node="n%d" % (1 + i % 4), pool=POOL))
    d = start_extender()
    assert d.metric("sandbox_guard_inventory_pods") == 1200
    assert api.count("GET /api/v1/pods?labelSelector") >= 3  # pages of 500


def test_unfollowable_continue_token_is_a_failed_list_not_its_end(cluster, start_extender):
    api = cluster.api
    for i in range(600):
        api.put_pod(pod("p%04d" % i, node="n1", pool=POOL))
    d = start_extender()
    assert d.metric("sandbox_guard_inventory_pods") == 600
    lists = d.metric("sandbox_guard_inventory_lists_total")
    # The next list's first page hands out a token too long to follow.
    api.continue_pad = "x" * 5000
    api.compact("pods")
    api.put_pod(pod("p0600", node="n2", pool=POOL))  # lists now start after the compaction
    wait(lambda: "continue token is over" in d.text(), "the long token noticed")
    time.sleep(0.5)
    # Ending the list at its first page would have dropped the other 100 pods.
    assert d.metric("sandbox_guard_inventory_pods") == 600
    assert d.metric("sandbox_guard_inventory_lists_total") == lists
    api.continue_pad = ""
    wait(lambda: d.metric("sandbox_guard_inventory_lists_total") > lists, "relist completes")
    assert d.metric("sandbox_guard_inventory_pods") == 601


def test_watch_that_ends_at_once_is_retried_with_back_off(cluster, start_extender):
    api = cluster.api
    d = start_extender()
    api.empty_watches = True
    before = api.count("GET /api/v1/pods?")
    api.cut_watches()
    time.sleep(2)
    # Without back-off this is a reconnect per round trip: hundreds in 2 s.
    starts = api.count("GET /api/v1/pods?") - before
    assert starts < 20, starts
    assert "watch ended at once" in d.text()
    api.empty_watches = False
    api.put_pod(pod("w1", node="n1", pool=POOL))
    wait(lambda: scores(d, cold_claim_pod(), ["n1"]) == {"n1": 10}, "event after recovery",
         timeout=30)


def test_unready_when_the_inventory_is_stale_beyond_the_bound(cluster, start_extender):
    api = cluster.api
    d = start_extender("--max-staleness=3s")
    # Healthy and quiet: bookmarks keep confirming the inventory.
    time.sleep(4)
    assert d.health("/readyz")[0] == 200
    assert d.metric("sandbox_guard_inventory_staleness_seconds") < 3
    api.down = True
    api.cut_watches()
    wait(lambda: d.health("/readyz")[0] == 503, "unready during the outage", timeout=10)
    status, text = d.health("/readyz")
    assert "not been confirmed by the API server" in text, text
    assert d.metric("sandbox_guard_inventory_staleness_seconds") > 3
    # Placement answers go on meanwhile (the scheduler decides whether to ask).
    assert call(d, "prioritize", args_names(cold_claim_pod(), ["n1"]))[0] == 200
    api.down = False
    wait(lambda: d.health("/readyz")[0] == 200, "ready again after the outage", timeout=40)


def test_staleness_bound_can_be_switched_off(cluster, start_extender):
    api = cluster.api
    d = start_extender("--max-staleness=0")
    api.down = True
    api.cut_watches()
    time.sleep(3)
    assert d.health("/readyz")[0] == 200
    assert d.metric("sandbox_guard_inventory_staleness_seconds") > 1
    api.down = False


def test_rotated_token_is_read_from_the_file(cluster, start_extender):
    api = cluster.api
    d = start_extender()
    write(cluster.token_file, "token-2\n")
    api.rotate_token("token-2")  # token-1 expires; open watches end
    api.put_pod(pod("w1", node="n1", pool=POOL))
    wait(lambda: scores(d, cold_claim_pod(), ["n1"]) == {"n1": 10}, "event with new token")
    assert any(a == "Bearer token-2" for _, _, a in api.requests)


def test_filter_rules(cluster, start_extender, tmp_path):
    api = cluster.api
    api.put_node(node("n2", {"sandbox-guard.io/no-sandboxes": "true"}))
    api.put_node(node("n3", {"katacontainers.io/kata-runtime": "true"}))
    for i in range(2):
        api.put_pod(pod("k%d" % i, node="n4", pool=POOL))
    policy = str(tmp_path / "policy.json")
    write(policy, json.dumps({"maxSandboxPodsPerNode": 2,
                              "runtimeClassNodeLabels": {
                                  "kata": "katacontainers.io/kata-runtime=true"}}))
    d = start_extender("--policy=" + policy)
    wait(lambda: d.metric("sandbox_guard_inventory_nodes") == 4, "nodes cached")
    p = cold_claim_pod()
    status, data = call(d, "filter", args_names(p, ["n1", "n2", "n3", "n4"]))
    out = json.loads(data)
    assert out["NodeNames"] == ["n1", "n3"]
    assert "closed to sandbox pods" in out["FailedAndUnresolvableNodes"]["n2"]
    assert out["FailedNodes"] == {"n4": "node runs 2 sandbox pods (limit 2)"}
    p["spec"]["runtimeClassName"] = "kata"
    out = json.loads(call(d, "filter", args_names(p, ["n1", "n2", "n3", "n4"]))[1])
    assert out["NodeNames"] == ["n3"]
    assert "RuntimeClass kata is not available" in out["FailedAndUnresolvableNodes"]["n1"]
    # The policy reloads: no cap any more.
    write(policy, json.dumps({"maxSandboxPodsPerNode": 0}))
    wait(lambda: "n4" in json.loads(call(d, "filter", args_names(
        cold_claim_pod(), ["n4"]))[1])["NodeNames"], "policy reload")


def test_full_node_list_mode_echoes_node_objects(cluster, start_extender):
    api = cluster.api
    api.put_pod(pod("w1", node="n1", pool=POOL))
    d = start_extender()
    nodes = [node("n1"), node("n2", {"sandbox-guard.io/no-sandboxes": "yes"}), node("n3")]
    nodes[0]["status"]["capacity"] = {"big": 12345678901234567890}
    raw = json.dumps(args_nodes(cold_claim_pod(), nodes))
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    c.request("POST", "/filter", body=raw, headers={"Content-Type": "application/json"})
    out = json.loads(c.getresponse().read())
    assert [n["metadata"]["name"] for n in out["Nodes"]["items"]] == ["n1", "n3"]
    assert out["Nodes"]["items"][0] == nodes[0]  # byte for byte, big numbers included
    assert "n2" in out["FailedAndUnresolvableNodes"]
    status, data = call(d, "prioritize", args_nodes(cold_claim_pod(), nodes))
    assert {e["Host"]: e["Score"] for e in json.loads(data)} == {"n1": 10, "n2": 0, "n3": 0}


def test_never_names_a_node_it_was_not_asked_about(cluster, start_extender):
    api = cluster.api
    for i, n in enumerate(("n1", "n2", "n3", "n4")):
        api.put_pod(pod("w%d" % i, node=n, pool=POOL))
    d = start_extender()
    s = scores(d, cold_claim_pod(), ["n2"])
    assert set(s) == {"n2"}
    out = json.loads(call(d, "filter", args_names(cold_claim_pod(), ["n3", "zz"]))[1])
    assert out["NodeNames"] == ["n3", "zz"]


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"Pod": 1}', b'{"Pod": {}}',
                                  b'{"Pod": {}, "NodeNames": [1]}'])
def test_bad_requests(cluster, start_extender, body):
    d = start_extender()
    c = http.client.HTTPConnection("127.0.0.1", d.port, timeout=10)
    c.request("POST", "/filter", body=body)
    r = c.getresponse()
    out = json.loads(r.read())
    assert r.status == 200 and out["Error"].startswith("invalid ExtenderArgs")
    c.request("POST", "/prioritize", body=body)
    r = c.getresponse()
    r.read()
    assert r.status == 400


def test_lowercase_field_names_are_accepted(cluster, start_extender):
    cluster.api.put_pod(pod("w1", node="n1", pool=POOL))
    d = start_extender()
    status, data = call(d, "prioritize", {"pod": cold_claim_pod(), "nodenames": ["n1"]})
    assert json.loads(data) == [{"Host": "n1", "Score": 10}]


def test_url_prefix(cluster, start_extender):
    d = start_extender("--url-prefix=/sandbox-guard/")
    status, _ = call(d, "prioritize", args_names(cold_claim_pod(), ["n1"]), prefix="/sandbox-guard")
    assert status == 200
    status, _ = call(d, "prioritize", args_names(cold_claim_pod(), ["n1"]))
    assert status == 404


def test_metrics_and_logs(cluster, start_extender):
    d = start_extender()
    scores(d, cold_claim_pod(), ["n1"])
    assert d.metric("sandbox_guard_extender_calls_total", verb="prioritize",
                    **{"class": "cold-start"}) == 1
    line = d.wait_log(lambda l: l.get("msg") == "prioritize")
    assert line["pod"] == "team-a/claim-42" and line["class"] == "cold-start"


def test_no_kubeconfig_and_not_in_cluster_fails_clearly(tmp_path):
    import subprocess
    from conftest import binary
    env = {k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_")}
    p = subprocess.run([binary("sandbox-guard-extender"), "--listen=127.0.0.1:0",
                        "--health-listen=127.0.0.1:0"], capture_output=True, text=True,
                       env=env, timeout=20)
    assert p.returncode == 1 and "not running in a cluster" in p.stderr
