"""The docs tell the truth: every complete policy example in docs/ is a
policy the daemons accept, and the built-in default printed in
docs/policy.md is the one the webhook has."""
import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, binary

DOCS = {"webhook": ["policy.md", "network.md"], "extender": ["extender.md"]}


def json_blocks(name):
    with open(os.path.join(ROOT, "docs", name)) as f:
        text = f.read()
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        block = block.strip()
        if block.startswith("{"):
            yield block


CASES = [(daemon, doc, i, b) for daemon, docs in DOCS.items() for doc in docs
         for i, b in enumerate(json_blocks(doc))]


@pytest.mark.parametrize("daemon,doc,i,block", CASES,
                         ids=["%s#%d" % (c[1], c[2]) for c in CASES])
def test_policy_examples_are_accepted(tmp_path, daemon, doc, i, block):
    try:
        json.loads(block)
    except ValueError:
        pytest.skip("not a whole JSON document (an illustration)")
    path = str(tmp_path / "p.json")
    with open(path, "w") as f:
        f.write(block)
    p = subprocess.run([binary("sandbox-guard-" + daemon), "--check-policy=" + path],
                       capture_output=True, text=True)
    assert p.returncode == 0, "%s example %d rejected: %s" % (doc, i, p.stderr)


def test_default_policy_in_docs_is_the_real_one():
    out = subprocess.run([binary("sandbox-guard-webhook"), "--print-default-policy"],
                         capture_output=True, text=True, check=True).stdout
    first = next(json_blocks("policy.md"))
    assert json.loads(first) == json.loads(out), "docs/policy.md shows an outdated default"


def configmap_policy(path):
    """The policy.json of a ConfigMap manifest (a literal block, indented)."""
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    m = re.search(r"\n  policy\.json: \|\n((?:    .*\n|\n)+)", text)
    assert m, "%s has no policy.json block" % path
    return json.loads(m.group(1))


@pytest.mark.parametrize("daemon,path", [
    ("webhook", "manifests/base/policy-configmap.yaml"),
    ("extender", "manifests/extender/policy-configmap.yaml"),
])
def test_manifest_policy_is_the_built_in_default(daemon, path):
    """The shipped ConfigMaps say they hold the built-in default: they do."""
    out = subprocess.run([binary("sandbox-guard-" + daemon), "--print-default-policy"],
                         capture_output=True, text=True, check=True).stdout
    assert configmap_policy(path) == json.loads(out), "%s differs from the built-in policy" % path


def security_refs():
    """The test references of docs/security.md, by kind."""
    with open(os.path.join(ROOT, "docs", "security.md")) as f:
        text = f.read()
    refs = []
    # The legend's placeholders, and object names that look like fixtures.
    legend = {"suite.test", "TestX/Sub", "cases.json"}
    for tok in re.findall(r"`([^`\s]+)`", text):
        if tok in legend or tok.startswith("sandbox-guard-"):
            continue
        if re.fullmatch(r"(pod|sandbox|template|netpol|claim|v1\.0|v1alpha1)-[a-z0-9.-]+", tok):
            refs.append(("fixture", tok))
        elif re.fullmatch(r"[a-z]+\.[a-z0-9_]+", tok) and not tok.endswith((".md", ".py", ".c")):
            refs.append(("unit", tok))
        elif re.fullmatch(r"[a-z_]+\.py::test_[a-z0-9_]+", tok):
            refs.append(("integration", tok))
        elif re.fullmatch(r"test_[a-z0-9_]+", tok):
            refs.append(("integration", "*::" + tok))
        elif re.fullmatch(r"Test[A-Za-z0-9]+(/[A-Za-z0-9/]+)?", tok):
            refs.append(("e2e", tok))
    return refs


SECURITY_REFS = security_refs()


def test_security_doc_names_tests():
    kinds = {k for k, _ in SECURITY_REFS}
    assert kinds == {"fixture", "unit", "integration", "e2e"}, kinds


@pytest.mark.parametrize("kind,ref", SECURITY_REFS, ids=["%s:%s" % r for r in SECURITY_REFS])
def test_security_doc_points_at_tests_that_exist(kind, ref):
    """Each test docs/security.md cites for a claim is there under that name."""
    tests = os.path.join(ROOT, "tests")
    if kind == "fixture":
        with open(os.path.join(tests, "fixtures", "reviews", "cases.json")) as f:
            files = {c["file"] for c in json.load(f)}
        assert ref + ".json" in files, "no fixture case " + ref
    elif kind == "unit":
        suite, name = ref.split(".", 1)
        with open(os.path.join(tests, "unit", "test_%s.c" % suite)) as f:
            assert "Test(%s, %s)" % (suite, name) in f.read(), "no unit test " + ref
    elif kind == "integration":
        path, name = ref.split("::")
        files = ([os.path.join(tests, "integration", path)] if path != "*" else
                 [os.path.join(tests, "integration", n)
                  for n in os.listdir(os.path.join(tests, "integration")) if n.endswith(".py")])
        found = False
        for p in files:
            with open(p) as f:
                found = found or re.search(r"^def %s\(" % name, f.read(), re.M) is not None
        assert found, "no integration test " + ref
    else:
        func, _, sub = ref.partition("/")
        e2e = os.path.join(tests, "e2e")
        src = ""
        for n in os.listdir(e2e):
            if n.endswith("_test.go"):
                with open(os.path.join(e2e, n)) as f:
                    src += f.read()
        assert re.search(r"^func %s\(t \*testing\.T\)" % func, src, re.M), "no e2e test " + func
        if sub:
            assert 't.Run("%s"' % sub in src, "no subtest %s in %s" % (sub, func)
