"""The webhook's network reconciler against the fake API server.

It must keep sandbox-guard-<profile> in every namespace with pods of that
profile (server-side apply, our field manager), put it back after drift or
deletion, retry after conflicts, survive 410 Gone, follow policy reloads,
and with --network-gc delete what no pod needs.
"""
import json
import time

import pytest

from conftest import Daemon, make_certs, write_kubeconfig
from fakeapi import FakeAPI
from test_extender import wait, write

PROFILE = "sandbox-guard.io/network-profile"


def profile_pod(uid, ns="team-a", profile="default"):
    return {"kind": "Pod", "apiVersion": "v1",
            "metadata": {"name": "sb-" + uid, "namespace": ns, "uid": uid,
                         "labels": {PROFILE: profile,
                                    "agents.x-k8s.io/sandbox-name-hash": "12345678"}},
            "spec": {"containers": [{"name": "c", "image": "x"}]}}


@pytest.fixture
def api(tmp_path):
    certs = make_certs(str(tmp_path / "apicerts"))
    a = FakeAPI(certs_dir=certs, token="t0")
    write(str(tmp_path / "token"), "t0")
    write_kubeconfig(str(tmp_path / "kubeconfig"), certs, a.url, str(tmp_path / "token"))
    yield a
    a.close()


@pytest.fixture
def start(api, tmp_path):
    started = []

    def go(*extra):
        certs = make_certs(str(tmp_path / "whcerts"))
        args = ["--tls-cert=" + certs + "/tls.crt", "--tls-key=" + certs + "/tls.key",
                "--listen=127.0.0.1:0", "--health-listen=127.0.0.1:0",
                "--reload-interval=200ms", "--network-reconciler",
                "--kubeconfig=" + str(tmp_path / "kubeconfig"), *extra]
        d = Daemon(str(tmp_path), "sandbox-guard-webhook", args, certs)
        started.append(d)
        return d

    yield go
    for d in started:
        d.assert_clean_exit()


def applied_ok(d):
    return d.metric("sandbox_guard_network_reconciles_total", action="apply", result="ok") or 0


def test_applies_the_profile_policy_where_sandbox_pods_are(api, start):
    api.put_pod(profile_pod("p1", ns="team-a"))
    api.put_pod(profile_pod("p2", ns="team-a"))
    api.put_pod(profile_pod("p3", ns="team-b"))
    d = start()
    wait(lambda: api.netpol("team-a", "sandbox-guard-default") and
         api.netpol("team-b", "sandbox-guard-default"), "policies in both namespaces")
    np = api.netpol("team-a", "sandbox-guard-default")
    spec = np["spec"]
    assert spec["podSelector"] == {"matchLabels": {PROFILE: "default"}}
    assert spec["policyTypes"] == ["Ingress", "Egress"]
    assert spec["ingress"][0]["from"][0]["podSelector"] == {"matchLabels": {"app": "sandbox-router"}}
    assert spec["egress"][0]["to"][0]["ipBlock"]["cidr"] == "0.0.0.0/0"
    assert "169.254.0.0/16" in spec["egress"][0]["to"][0]["ipBlock"]["except"]
    dns = spec["egress"][-1]
    assert dns["to"][0]["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}
    assert {"protocol": "UDP", "port": 53} in dns["ports"]
    assert np["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "sandbox-guard"
    # Server-side apply with our field manager, forced.
    path, ctype, _ = api.applies[0]
    assert ctype == "application/apply-patch+yaml"
    assert "fieldManager=sandbox-guard" in path and "force=true" in path
    # No policy where there are no sandbox pods.
    assert api.netpol("team-c", "sandbox-guard-default") is None
    # A new namespace gets one as soon as a pod shows up.
    api.put_pod(profile_pod("p4", ns="team-c"))
    wait(lambda: api.netpol("team-c", "sandbox-guard-default"), "policy for a new namespace")
    assert d.metric("sandbox_guard_network_policies") == 3


def test_drift_and_deletion_are_corrected(api, start):
    api.put_pod(profile_pod("p1"))
    start()
    wait(lambda: api.netpol("team-a", "sandbox-guard-default"), "policy applied")
    good = api.netpol("team-a", "sandbox-guard-default")["spec"]
    widened = api.netpol("team-a", "sandbox-guard-default")
    widened["spec"]["egress"] = [{}]
    api.put_netpol(widened)
    wait(lambda: api.netpol("team-a", "sandbox-guard-default")["spec"] == good, "drift undone",
         timeout=10)
    api.delete_netpol(api.netpol("team-a", "sandbox-guard-default"))
    wait(lambda: api.netpol("team-a", "sandbox-guard-default") is not None, "recreated",
         timeout=10)


def test_conflicts_are_retried(api, start):
    api.conflicts = 2
    api.put_pod(profile_pod("p1"))
    d = start()
    wait(lambda: api.netpol("team-a", "sandbox-guard-default"), "applied after conflicts")
    assert d.metric("sandbox_guard_network_reconciles_total", action="apply",
                    result="failed") == 2


def test_410_gone_relists_and_keeps_converging(api, start):
    api.put_pod(profile_pod("p1"))
    d = start()
    wait(lambda: api.netpol("team-a", "sandbox-guard-default"), "applied")
    api.put_pod(profile_pod("p2", ns="team-z"))
    api.compact("pods")
    api.compact("networkpolicies")
    wait(lambda: api.netpol("team-z", "sandbox-guard-default"), "applied after relist")
    lists = [p for m, p, _ in api.requests if m == "GET" and "watch" not in p and "/pods" in p]
    assert len(lists) >= 2


def test_policy_reload_updates_the_objects(api, start, tmp_path):
    policy = str(tmp_path / "policy.json")
    write(policy, "{}")
    api.put_pod(profile_pod("p1"))
    start("--policy=" + policy)
    wait(lambda: api.netpol("team-a", "sandbox-guard-default"), "applied")
    router = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name":
                                                    "agent-sandbox-system"}},
              "podSelector": {"matchLabels": {"app": "sandbox-router"}}}
    write(policy, json.dumps({"network": {"profiles": {"default": {
        "ingress": [{"from": [router], "ports": [{"port": 8888}]}], "egress": [],
        "dns": True}}}}))
    wait(lambda: api.netpol("team-a", "sandbox-guard-default")["spec"]["ingress"][0].get(
        "ports") == [{"port": 8888}], "reload applied")
    assert api.netpol("team-a", "sandbox-guard-default")["spec"]["egress"][0]["ports"][0][
        "port"] == 53


@pytest.mark.parametrize("gc", [True, False], ids=["gc", "no-gc"])
def test_unused_policies_are_deleted_only_with_gc(api, start, gc):
    api.put_pod(profile_pod("p1"))
    d = start(*(["--network-gc"] if gc else []))
    wait(lambda: api.netpol("team-a", "sandbox-guard-default"), "applied")
    api.delete_pod(profile_pod("p1"))
    if gc:
        wait(lambda: api.netpol("team-a", "sandbox-guard-default") is None, "deleted")
    else:
        time.sleep(1.5)
        assert api.netpol("team-a", "sandbox-guard-default") is not None
    assert d.health("/readyz")[0] == 200


def test_reconciler_flags_need_each_other():
    import subprocess
    from conftest import binary
    p = subprocess.run([binary("sandbox-guard-webhook"), "--network-gc", "--tls-cert=a",
                        "--tls-key=b"], capture_output=True, text=True)
    assert p.returncode == 2 and "--network-reconciler" in p.stderr


SANDBOXES = "sandbox-guard.io/sandboxes"
CHECKED = "sandbox-guard.io/networkpolicies-checked"


def tenant_policy(ns, name, selector=None):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"podSelector": selector or {}, "policyTypes": ["Egress"], "egress": [{}]}}


# What the mutating webhook leaves of an open policy for every pod.
SCOPED = {"matchExpressions": [{"key": PROFILE, "operator": "DoesNotExist"}]}
SANDBOX_ONLY = {"matchExpressions": [{"key": "agents.x-k8s.io/sandbox-name-hash",
                                      "operator": "Exists"}]}


def test_sandbox_namespaces_are_labelled_and_their_policies_checked_again(api, start):
    # Written before team-a held sandboxes, so no webhook saw them (the
    # NetworkPolicy webhooks apply only in labelled namespaces).
    # (This fake has no admission chain: allow-egress is as the mutating
    # webhook would have left it, denied-egress is what a webhook refuses,
    # and sandbox-egress is admitted unchanged, as an update keeping what
    # it held is, but opens sandbox pods beyond the envelope.)
    api.put_netpol(tenant_policy("team-a", "allow-egress", SCOPED))
    api.put_netpol(tenant_policy("team-a", "denied-egress"))
    api.denials["team-a/denied-egress"] = "goes beyond the sandbox network envelope"
    api.put_netpol(tenant_policy("team-a", "sandbox-egress", SANDBOX_ONLY))
    api.put_netpol(tenant_policy("team-b", "allow-egress"))
    api.put_pod(profile_pod("p1", ns="team-a"))
    d = start()
    wait(lambda: api.namespaces["team-a"]["labels"].get(SANDBOXES) == "true", "team-a labelled")
    wait(lambda: api.netpol("team-a", "sandbox-egress") is None and
         api.netpol("team-a", "denied-egress") is None, "the refused policies deleted")
    rechecks = [p for m, p, _ in api.requests if m == "PATCH" and "/team-a/networkpolicies/" in p
                and "sandbox-guard-default" not in p]
    assert sorted(p.rsplit("/", 1)[1] for p in rechecks) == [
        "allow-egress", "denied-egress", "sandbox-egress"]
    assert api.netpol("team-a", "allow-egress") is not None  # admitted again: kept
    assert api.netpol("team-b", "allow-egress") is not None
    assert not any("team-b" in p for _, p, _ in api.requests)  # no sandboxes there
    wait(lambda: d.metric("sandbox_guard_network_reconciles_total", action="delete-unchecked",
                          result="ok") == 2, "the deletions counted")
    assert d.metric("sandbox_guard_network_reconciles_total", action="recheck",
                    result="refused") == 2
    assert "spec.egress[0]" in d.text()  # the reason, in the log
    # Someone removes the label; the next time team-a gets a first pod
    # (or the minute pass) it is put back.
    assert api.namespaces["team-a"]["annotations"] == {CHECKED: "true"}
    # A restarted replica reads the namespace and re-checks nothing.
    d.assert_clean_exit()
    before = len(api.requests)
    d = start()
    wait(lambda: any(m == "GET" and p == "/api/v1/namespaces/team-a"
                     for m, p, _ in api.requests[before:]), "team-a read")
    time.sleep(2.5)  # longer than a re-check would wait before listing
    assert [(m, p) for m, p, _ in api.requests[before:] if "/namespaces/team-a" in p and
            "sandbox-guard-default" not in p] == [("GET", "/api/v1/namespaces/team-a")]
    with api.lock:
        del api.namespaces["team-a"]["labels"][SANDBOXES]
    api.delete_pod(profile_pod("p1", ns="team-a"))
    api.put_pod(profile_pod("p2", ns="team-a"))
    wait(lambda: api.namespaces["team-a"]["labels"].get(SANDBOXES) == "true", "team-a labelled again")
