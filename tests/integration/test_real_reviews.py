"""AdmissionReviews a real kube-apiserver sent (tests/fixtures/real/, see its
README), replayed byte for byte against the webhook with the built-in policy.

Besides the decision, the mutating webhook's patch applied to the pod as the
API server sent it must give the pod the API server then sent to the
validating webhook (the same runtime class, hardening and profile label):
the patch really produces what the real control plane stored.
"""
import glob
import json
import os

import jsonpatch
import pytest

from conftest import FIXTURES, check_response, patch_ops, post_review

REAL = os.path.join(FIXTURES, "real")
FILES = sorted(os.path.basename(p) for p in glob.glob(os.path.join(REAL, "*.json")))

# Every recorded review is allowed: the controller's per-template
# NetworkPolicy was recorded after our mutating webhook narrowed it into the
# envelope (the controller runs as its ServiceAccount, which the default
# policy names), and our reconciler's with today's profile. A review the
# default policy would refuse goes here, with the reason.
DENIED = set()

HARDENED = ("runtimeClassName", "automountServiceAccountToken", "enableServiceLinks",
            "securityContext")
PROFILE = "sandbox-guard.io/network-profile"


def load(name):
    with open(os.path.join(REAL, name), "rb") as f:
        return f.read()


def ask(webhook, name, raw=None):
    raw = raw if raw is not None else load(name)
    review = json.loads(raw)
    endpoint = name.split("-", 1)[0]
    status, _, body = post_review(webhook.connect(), "/" + endpoint, raw)
    assert status == 200, body
    return review, check_response(review, body, endpoint)


def test_there_are_fixtures():
    assert len(FILES) >= 10, FILES


@pytest.mark.parametrize("name", FILES)
def test_decision(webhook, name):
    _, resp = ask(webhook, name)
    assert resp["allowed"] == (name not in DENIED), resp
    if name in DENIED:
        assert "egress" in resp["status"]["message"], resp["status"]["message"]


@pytest.mark.parametrize("flow", ["warm", "cold"])
def test_patch_gives_what_the_api_server_stored(webhook, flow):
    review, resp = ask(webhook, "mutate-pod-create-%s.json" % flow)
    ops = patch_ops(resp)
    assert ops, "a sandbox pod from the controller needs hardening"
    mine = jsonpatch.apply_patch(review["request"]["object"], ops)
    stored = json.loads(load("validate-pod-create-%s.json" % flow))["request"]["object"]

    for key in HARDENED:
        assert mine["spec"].get(key) == stored["spec"].get(key), key
    for kind in ("initContainers", "containers"):
        got = [c.get("securityContext") for c in mine["spec"].get(kind, [])]
        want = [c.get("securityContext") for c in stored["spec"].get(kind, [])]
        assert got == want, kind
    # The limits (and the zero requests beside them) are stored as written: no
    # request was defaulted from a limit after our patch.
    for kind in ("initContainers", "containers"):
        got = [c.get("resources") for c in mine["spec"].get(kind, [])]
        want = [c.get("resources") for c in stored["spec"].get(kind, [])]
        assert got == want, kind
        for res in got:
            assert set(res["limits"]) >= {"memory", "ephemeral-storage"}, res
    assert mine["metadata"]["labels"][PROFILE] == stored["metadata"]["labels"][PROFILE]
    assert mine["spec"]["runtimeClassName"] == "gvisor"

    # The API server may call the mutating webhook again: nothing more to do.
    again = dict(review, request=dict(review["request"], object=mine))
    _, resp = ask(webhook, "mutate-pod-create-%s.json" % flow, json.dumps(again))
    assert resp["allowed"] and not patch_ops(resp), resp
