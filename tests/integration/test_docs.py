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
