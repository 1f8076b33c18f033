"""Real-shaped AdmissionReviews against the running webhook, over real TLS.

Every case in tests/fixtures/reviews/cases.json is sent to the daemon with
the built-in default policy. Answers are checked as kube-apiserver checks
them; patches are applied with the `jsonpatch` package (an independent RFC
6902 implementation, not our code); the patched pod is sent back to
/mutate (it must need no further patch: the API server may call us again)
and then to /validate.
"""
import copy
import json

import jsonpatch
import pytest

from conftest import check_response, load_fixture, patch_ops, post_review

with open(__import__("os").path.join(__import__("conftest").FIXTURES, "reviews",
                                     "cases.json")) as _f:
    CASES = json.load(_f)


def get_path(obj, dotted):
    """Follows a dotted path whose keys may themselves contain dots (label keys)."""
    parts = dotted.split(".")
    cur = obj
    while parts:
        if isinstance(cur, list):
            cur = cur[int(parts.pop(0))]
            continue
        for i in range(len(parts), 0, -1):
            key = ".".join(parts[:i])
            if key in cur:
                cur = cur[key]
                parts = parts[i:]
                break
        else:
            raise KeyError(dotted)
    return cur


def answer_text(resp):
    return "\n".join([resp.get("status", {}).get("message", "")] + resp.get("warnings", []) +
                     list(resp.get("auditAnnotations", {}).values()))


def with_object(review, obj, uid):
    r = copy.deepcopy(review)
    r["request"]["object"] = obj
    r["request"]["uid"] = uid
    return r


@pytest.mark.parametrize("case", CASES, ids=[c["file"] for c in CASES])
def test_case(webhook, case):
    review = load_fixture(case["file"])
    endpoint = case["endpoint"]
    conn = webhook.connect()
    status, headers, raw = post_review(conn, "/" + endpoint, review)
    assert status == 200, raw
    assert headers.get("Content-Type", "").startswith("application/json")
    resp = check_response(review, raw, endpoint)
    ops = patch_ops(resp)
    expect = case["expect"]

    if expect == "patched":
        assert resp["allowed"] and ops, resp
    elif expect == "allowed":
        assert resp["allowed"] and not ops, resp
    elif expect == "denied":
        assert not resp["allowed"], resp
        assert resp["status"]["code"] == 403
        assert resp["status"]["reason"] == "Forbidden"
    text = answer_text(resp)
    for s in case.get("contains", []):
        assert s in text, "%r not in answer:\n%s" % (s, text)
    paths = [op["path"] for op in ops]
    for s in case.get("absent", []):
        assert s not in text and s not in paths, "%r should be absent" % s
    if "patch_paths" in case:
        assert paths == case["patch_paths"], paths

    if not ops:
        return
    # Apply with an independent implementation, as the API server would.
    obj = review["request"]["object"]
    patched = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(obj))
    for path, want in case.get("after", {}).items():
        assert get_path(patched, path) == want, path
    # Only additions: everything the user wrote is still there, unchanged,
    # except the two API defaults the policy replaces (see mutate.h).
    for op in ops:
        assert op["op"] == "add", op
    replaced = {"/spec/enableServiceLinks", "/spec/schedulerName"}
    for op in ops:
        if op["path"] in replaced:
            continue
        try:
            jsonpatch.JsonPointer(op["path"]).resolve(obj)
            existed = True
        except (jsonpatch.JsonPointerException, KeyError, IndexError):
            existed = False
        if existed:
            old = jsonpatch.JsonPointer(op["path"]).resolve(obj)
            assert old is None, "overwrote a user value at %s: %r" % (op["path"], old)

    # Reinvocation: our own output needs no further patch.
    again = with_object(review, patched, "reinvoke-" + review["request"]["uid"])
    status, _, raw = post_review(conn, "/mutate", again)
    assert status == 200
    resp2 = check_response(again, raw, "mutate")
    assert resp2["allowed"] and "patch" not in resp2, patch_ops(resp2)

    if "then_validate" in case:
        status, _, raw = post_review(conn, "/validate", again)
        assert status == 200
        resp3 = check_response(again, raw, "validate")
        want = case["then_validate"] == "allowed"
        assert resp3["allowed"] == want, answer_text(resp3)
    conn.close()


def test_decision_logged_with_uid(webhook):
    review = load_fixture("pod-runc-create.json")
    review["request"]["uid"] = "log-check-uid-1"
    conn = webhook.connect()
    post_review(conn, "/validate", review)
    line = webhook.wait_log(lambda l: l.get("uid") == "log-check-uid-1")
    assert line["msg"] == "review"
    assert line["decision"] == "denied"
    assert line["kind"] == "Pod" and line["operation"] == "CREATE"
    assert line["namespace"] == "team-a" and line["name"] == "runc-pod"
    assert isinstance(line["latency_us"], int)
    assert webhook.metric("sandbox_guard_admission_requests_total", endpoint="validate",
                          kind="Pod", operation="CREATE", decision="denied") == 1


def test_keep_alive_many_reviews_one_connection(webhook):
    review = load_fixture("pod-warm-create.json")
    conn = webhook.connect()
    for i in range(200):
        review["request"]["uid"] = "ka-%d" % i
        status, _, raw = post_review(conn, "/mutate", review)
        assert status == 200
        assert json.loads(raw)["response"]["uid"] == "ka-%d" % i
    conn.close()
