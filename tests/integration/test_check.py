"""`sandbox-guard-webhook check`: the offline checker agrees with the daemon.

Every CREATE fixture in tests/fixtures/reviews (generate.py) is sent to the
running daemon the way kube-apiserver sends it (mutate, the patch applied
with the independent `jsonpatch` package, then validate), and its object is
given to `check` as a manifest with the same namespace, user and groups.
Both must agree on admitted or refused, on the defaults patch and on the
list of problems. Then golden outputs (text and JSON) for the manifests in
tests/fixtures/check/, exit codes, malformed and hostile input.
Regenerate the goldens with SG_UPDATE_GOLDEN=1 after a deliberate change.
"""
import base64
import copy
import json
import os
import subprocess
import time

import jsonpatch
import pytest

from conftest import FIXTURES, binary, check_response, load_fixture, patch_ops, post_review

CHECK_DIR = os.path.join(FIXTURES, "check")
GOLDEN = os.path.join(CHECK_DIR, "golden")
CONTROLLER = "system:serviceaccount:agent-sandbox-system:agent-sandbox-controller"

with open(os.path.join(FIXTURES, "reviews", "cases.json")) as _f:
    CASES = json.load(_f)


def run_check(*args, stdin=None, cwd=None, timeout=60):
    p = subprocess.run([binary("sandbox-guard-webhook"), "check", *args], input=stdin,
                       capture_output=True, text=True, cwd=cwd, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def create_fixtures():
    """The CREATE reviews of the fixture set, each once, in name order."""
    out = []
    for name in sorted(os.listdir(os.path.join(FIXTURES, "reviews"))):
        if not name.endswith(".json") or name == "cases.json":
            continue
        review = load_fixture(name)
        req = review.get("request", {})
        if req.get("operation") == "CREATE" and not req.get("subResource") \
                and req.get("object"):
            out.append((name, review))
    return out


def problems(message):
    """The '- ' items of a denial message, as check lists them."""
    parts = message.split("\n- ")
    return parts[1:] if len(parts) > 1 else [message]


def daemon_answer(conn, review):
    """What the API server would end with: allowed, the patch ops, the problems."""
    status, _, raw = post_review(conn, "/mutate", review)
    assert status == 200, raw
    ops = patch_ops(check_response(review, raw, "mutate"))
    obj = jsonpatch.JsonPatch(ops).apply(copy.deepcopy(review["request"]["object"])) \
        if ops else review["request"]["object"]
    again = copy.deepcopy(review)
    again["request"]["object"] = obj
    status, _, raw = post_review(conn, "/validate", again)
    assert status == 200, raw
    resp = check_response(again, raw, "validate")
    found = [] if resp["allowed"] else problems(resp["status"]["message"])
    return resp["allowed"], ops, found


def test_check_agrees_with_the_daemon_on_every_create_fixture(webhook, tmp_path):
    fixtures = create_fixtures()
    assert len(fixtures) >= 60, "the fixture set shrank: %d" % len(fixtures)
    conn = webhook.connect()
    expected = {c["file"]: c for c in CASES if c["endpoint"] == "validate"}
    disagreements = []
    checked_against_cases = 0
    for name, review in fixtures:
        req = review["request"]
        allowed, ops, found = daemon_answer(conn, review)
        obj = copy.deepcopy(req["object"])
        # The API server fills metadata.namespace before admission; check does too.
        path = tmp_path / name
        path.write_text(json.dumps(obj))
        user = req.get("userInfo", {})
        args = ["-o", "json", "--user=" + user.get("username", "")]
        if req.get("namespace"):
            args.append("--namespace=" + req["namespace"])
        for g in user.get("groups", []):
            if g != "system:authenticated":
                args.append("--group=" + g)
        rc, out, err = run_check(*(args + [str(path)]))
        assert rc in (0, 1), (name, rc, err)
        doc = json.loads(out)
        assert doc["errors"] == [], (name, doc["errors"])
        objs = doc["objects"]
        assert len(objs) == 1, (name, out)
        mine = objs[0]
        check_allowed = mine["decision"] != "refused"
        assert rc == (0 if check_allowed else 1), (name, rc)
        if check_allowed != allowed:
            disagreements.append("%s: daemon %s, check %s" % (name, allowed, mine["decision"]))
        if mine["defaults"] != ops:
            disagreements.append("%s: patch differs:\n  daemon %s\n  check  %s" %
                                 (name, ops, mine["defaults"]))
        if mine["violations"] != found:
            disagreements.append("%s: problems differ:\n  daemon %s\n  check  %s" %
                                 (name, found, mine["violations"]))
        # Where the daemon adds nothing, the validate case's expected answer applies as is.
        case = expected.get(name)
        if case and not ops and case["expect"] in ("allowed", "denied"):
            checked_against_cases += 1
            if check_allowed != (case["expect"] == "allowed"):
                disagreements.append("%s: cases.json expects %s, check says %s" %
                                     (name, case["expect"], mine["decision"]))
    conn.close()
    assert not disagreements, "\n".join(disagreements)
    assert checked_against_cases >= 40, checked_against_cases


# name: (arguments, expected exit status)
GOLDEN_CASES = {
    "allowed": (["allowed.yaml"], 0),
    "refused": (["refused.yaml"], 1),
    "defaults": (["defaults.yaml"], 0),
    "list": (["list.json"], 1),
    "netpol": (["netpol.yaml"], 0),
    "controller": (["--user=" + CONTROLLER, "controller.yaml"], 0),
    "controller-as-tenant": (["controller.yaml"], 1),
    "warn-mode": (["--policy=policies/warn.yaml", "refused.yaml"], 0),
    "exempt": (["--policy=policies/warn.yaml", "--namespace=ci-exempt", "defaults.yaml"], 0),
    "directory": (["."], 1),
}


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("name", sorted(GOLDEN_CASES))
def test_golden_output(name, fmt):
    args, want_rc = GOLDEN_CASES[name]
    rc, out, err = run_check("-o", fmt, *args, cwd=CHECK_DIR)
    got = "exit %d\n--- stdout\n%s--- stderr\n%s" % (rc, out, err)
    path = os.path.join(GOLDEN, "%s.%s" % (name, fmt))
    if os.environ.get("SG_UPDATE_GOLDEN") == "1":
        os.makedirs(GOLDEN, exist_ok=True)
        with open(path, "w") as f:
            f.write(got)
    with open(path) as f:
        want = f.read()
    assert got == want, "golden %s differs (SG_UPDATE_GOLDEN=1 rewrites it)\n%s" % (path, got)
    assert rc == want_rc, got
    if fmt == "json":
        doc = json.loads(out)
        assert doc["summary"]["refused"] == sum(o["decision"] == "refused"
                                                for o in doc["objects"])


def test_stdin_is_a_manifest_stream(tmp_path):
    with open(os.path.join(CHECK_DIR, "refused.yaml")) as f:
        text = f.read()
    rc, out, err = run_check("-", stdin=text)
    assert rc == 1, err
    assert out.startswith("-:"), out
    rc, out, _ = run_check("-o", "json", "-", stdin="")
    assert rc == 0 and json.loads(out)["summary"]["checked"] == 0


@pytest.mark.parametrize("text,where,needle", [
    ("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a\n", "bad.yaml:5:1:", "invalid YAML"),
    ("a: 1\nb:\n\t- x\n", "bad.yaml:3:1:", "invalid YAML"),
    ("kind: Pod\nkind: Pod\n", "bad.yaml:2:1:", "duplicate key 'kind'"),
    ("apiVersion: v1\nkind: Pod\nmetadata: {name: x, labels: *nope}\n", "bad.yaml:3:",
     "names no anchor"),
    ("apiVersion: v1\nkind: Pod\nspec: {x: .inf}\n", "bad.yaml:3:", "JSON can hold"),
    ("apiVersion: v1\nkind: ConfigMap\n---\n- a list\n", "bad.yaml:4:",
     "not a Kubernetes object"),
    ("{\"apiVersion\": \"v1\", \"kind\": \"Pod\",}", "bad.yaml:", "invalid JSON"),
    ("a: b\x00c\n", "bad.yaml:1:", "invalid YAML"),
])
def test_bad_input_names_file_line_and_column(tmp_path, text, where, needle):
    path = tmp_path / "bad.yaml"
    path.write_bytes(text.encode())
    rc, out, err = run_check("bad.yaml", cwd=str(tmp_path))
    assert rc == 2, (out, err)
    assert err.startswith(where), err
    assert needle in err, err


def test_usage_errors_exit_2(tmp_path):
    assert run_check()[0] == 2
    assert run_check("-o", "yaml", "x.yaml")[0] == 2
    assert run_check("--bogus", "x.yaml")[0] == 2
    rc, _, err = run_check(str(tmp_path / "missing.yaml"))
    assert rc == 2 and "No such file" in err
    (tmp_path / "p.yaml").write_text("mode: sometimes\n")
    rc, _, err = run_check("--policy=" + str(tmp_path / "p.yaml"), "-", stdin="")
    assert rc == 2 and "mode" in err
    rc, out, _ = run_check("--help")
    assert rc == 0 and "controllerUsers" in out
    # An object whose namespace differs from --namespace: kubectl refuses it too.
    (tmp_path / "ns.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: one}\nspec: {}\n")
    rc, _, err = run_check("--namespace=two", str(tmp_path / "ns.yaml"))
    assert rc == 2 and "does not match --namespace" in err


def test_input_errors_win_over_refusals(tmp_path):
    (tmp_path / "bad.yaml").write_text("a: [\n")
    rc, out, err = run_check(os.path.join(CHECK_DIR, "refused.yaml"), str(tmp_path / "bad.yaml"))
    assert rc == 2
    assert "refused" in out and "bad.yaml:2:1:" in err


def test_alias_bomb_and_deep_nesting_fail_fast(tmp_path):
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    prev = "a"
    for c in "bcdefghi":
        lines.append("%s: &%s [%s]" % (c, c, ",".join(["*" + prev] * 10)))
        prev = c
    (tmp_path / "bomb.yaml").write_text("\n".join(lines) + "\n")
    start = time.monotonic()
    rc, _, err = run_check(str(tmp_path / "bomb.yaml"))
    assert rc == 2 and "aliases expand to more than" in err, err
    (tmp_path / "deep.yaml").write_text("a: " + "[" * 200000)
    rc, _, err = run_check(str(tmp_path / "deep.yaml"))
    assert rc == 2 and "nested deeper than" in err, err
    (tmp_path / "deep.json").write_text('{"a":' * 200000)
    rc, _, err = run_check(str(tmp_path / "deep.json"))
    assert rc == 2 and "invalid JSON" in err, err
    assert time.monotonic() - start < 10


def test_huge_files(tmp_path):
    # Two thousand sandbox pods in one 2.5 MB stream: all checked, quickly.
    with open(os.path.join(CHECK_DIR, "defaults.yaml")) as f:
        pod = f.read()
    (tmp_path / "many.yaml").write_text("---\n".join([pod] * 2000))
    start = time.monotonic()
    rc, out, err = run_check("-o", "json", str(tmp_path / "many.yaml"), timeout=120)
    took = time.monotonic() - start
    assert rc == 0, err
    doc = json.loads(out)
    assert doc["summary"]["checked"] == 2000 * len(
        [o for o in json.loads(run_check("-o", "json", os.path.join(CHECK_DIR, "defaults.yaml"))[1])
         ["objects"]])
    assert took < 60, took
    # Past the size limit: refused without reading it all into a tree.
    with open(tmp_path / "big.yaml", "w") as f:
        f.write("# padding\n" * (7 << 20))
    rc, _, err = run_check(str(tmp_path / "big.yaml"))
    assert rc == 2 and "larger than 64 MiB" in err, err


def test_yaml_policy_examples_in_the_docs_load(tmp_path):
    import re
    with open(os.path.join(FIXTURES, "..", "..", "docs", "policy.md")) as f:
        text = f.read()
    section = text.split("## Policy files in YAML", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```yaml\n(.*?)```", section, re.S)
    assert blocks
    for i, block in enumerate(blocks):
        path = tmp_path / ("p%d.yaml" % i)
        path.write_text(block)
        p = subprocess.run([binary("sandbox-guard-webhook"), "--check-policy=" + str(path)],
                           capture_output=True, text=True)
        assert p.returncode == 0, (block, p.stdout, p.stderr)
