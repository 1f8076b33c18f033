"""The webhook's network reconciler while its API server is briefly away.

No sandbox-guard NetworkPolicy may be lost (deleted, or left deleted) on
account of the outage, and once the API server is back the objects must
converge to what the pods need, whatever changed meanwhile.
"""
import time

import pytest

from test_reconciler import PROFILE, api, profile_pod, start  # noqa: F401 (fixtures)
from test_extender import wait

NAME = "sandbox-guard-default"


def deletes(api):
    return [p for m, p, _ in api.requests if m == "DELETE"]


def our_policy(ns):
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": NAME, "namespace": ns,
                         "labels": {"app.kubernetes.io/managed-by": "sandbox-guard",
                                    PROFILE: "default"}},
            "spec": {"podSelector": {"matchLabels": {PROFILE: "default"}},
                     "policyTypes": ["Ingress", "Egress"], "ingress": [], "egress": []}}


@pytest.mark.parametrize("compacted", [False, True], ids=["resumed", "relisted"])
def test_no_policy_lost_and_convergence_after_an_outage(api, start, compacted):
    api.put_pod(profile_pod("a1", ns="team-a"))
    api.put_pod(profile_pod("b1", ns="team-b"))
    d = start()
    wait(lambda: api.netpol("team-a", NAME) and api.netpol("team-b", NAME), "both applied")
    api.stop_serving()
    time.sleep(0.5)
    # Meanwhile, through another API server: team-a's policy deleted by
    # someone, a sandbox pod started in team-c, team-b's pod gone.
    api.delete_netpol(api.netpol("team-a", NAME))
    api.put_pod(profile_pod("c1", ns="team-c"))
    api.delete_pod(profile_pod("b1", ns="team-b"))
    if compacted:
        api.compact("pods")
        api.compact("networkpolicies")
    time.sleep(1.0)
    api.start_serving()
    wait(lambda: api.netpol("team-a", NAME) and api.netpol("team-c", NAME),
         "team-a restored and team-c applied", timeout=20)
    # Without --network-gc a namespace that lost its pods keeps its policy.
    assert api.netpol("team-b", NAME) is not None
    assert deletes(api) == []
    assert d.health("/readyz")[0] == 200


def test_gc_deletes_nothing_before_the_pods_are_listed(api, start):
    # The API server is back, but the pod list still fails a few times (the
    # NetworkPolicy list does not): until the pods are known, "no pods in
    # team-a" is ignorance, not a reason to delete team-a's policy.
    api.put_pod(profile_pod("a1", ns="team-a"))
    api.put_netpol(our_policy("team-a"))
    api.put_netpol(our_policy("team-x"))  # really unused: gc deletes it
    api.fail_lists_of = {"pods": 3}
    start("--network-gc")
    wait(lambda: api.netpol("team-x", NAME) is None, "the unused policy collected", timeout=20)
    assert api.fail_lists_of["pods"] == 0
    assert [p for p in deletes(api) if "/namespaces/team-a/" in p] == []
    assert api.netpol("team-a", NAME) is not None
