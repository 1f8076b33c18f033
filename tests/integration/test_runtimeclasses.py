"""The webhook with API access: RuntimeClasses watched on the fake API server.

With a kubeconfig the webhook lists and watches node.k8s.io/v1
runtimeclasses: it is not ready until the list is in, defaults a Sandbox
pod to the first preferred class that exists with a sandbox handler,
refuses the pod when there is none (naming what is missing) or when its
class resolves to another handler, warns about templates whose class is
missing, and reports misconfigured classes in logs and metrics. Without
API access it says so once and trusts the policy's names.
"""
import json

from conftest import check_response, load_fixture, patch_ops, post_review
from test_extender import wait
from test_reconciler import api  # noqa: F401 (fixture: fake API server and kubeconfig)

MISCONFIGURED = "sandbox_guard_runtimeclass_misconfigured"


def start(start_webhook, tmp_path, ready=True, *extra):
    d = start_webhook("--kubeconfig=" + str(tmp_path / "kubeconfig"), *extra)
    if ready:
        wait(lambda: d.health("/readyz")[0] == 200, "webhook ready")
    return d


def review(d, endpoint, name, rc=None):
    """Sends fixture name (its pod spec's runtimeClassName set to rc if given)."""
    body = load_fixture(name)
    if rc is not None:
        obj = body["request"]["object"]
        spec = obj["spec"].get("podTemplate", {}).get("spec") or obj["spec"]
        spec["runtimeClassName"] = rc
    status, _, raw = post_review(d.connect(), "/" + endpoint, body)
    assert status == 200, raw
    return check_response(body, raw, endpoint)


def defaulted_class(d):
    for op in patch_ops(review(d, "mutate", "pod-warm-create.json")):
        if op["path"] == "/spec/runtimeClassName":
            return op["value"]
    return None


def test_not_ready_until_runtimeclasses_are_listed(api, start_webhook, tmp_path):
    api.fail_next_lists = 1000
    d = start(start_webhook, tmp_path, ready=False)
    wait(lambda: api.count("GET /apis/node.k8s.io/v1/runtimeclasses") >= 1, "a list attempt")
    status, body = d.health("/readyz")
    assert status != 200 and "RuntimeClasses not listed yet" in body, (status, body)
    api.fail_next_lists = 0
    wait(lambda: d.health("/readyz")[0] == 200, "ready once listed", timeout=15)
    assert any(l.get("msg", "").endswith("watching RuntimeClasses") for l in d.log_lines())


def test_defaults_to_the_first_preferred_class_that_exists(api, start_webhook, tmp_path):
    api.put_runtimeclass("kata", "kata-qemu")
    api.put_runtimeclass("runc", "runc")
    d = start(start_webhook, tmp_path)
    assert defaulted_class(d) == "kata"
    # gVisor installed later: the watch brings it, and it is preferred.
    api.put_runtimeclass("gvisor", "runsc")
    wait(lambda: defaulted_class(d) == "gvisor", "gvisor preferred once it exists")


def test_no_sandboxed_class_refuses_the_pod_naming_what_is_missing(api, start_webhook,
                                                                    tmp_path):
    api.put_runtimeclass("runc", "runc")
    d = start(start_webhook, tmp_path)
    assert defaulted_class(d) is None
    resp = review(d, "validate", "pod-warm-create.json")
    assert not resp["allowed"]
    assert ("spec.runtimeClassName is not set: no RuntimeClass of gvisor, kata, kata-qemu, "
            "kata-clh, kata-fc, kata-vm-isolation exists in this cluster; create one "
            "(docs/operations.md)") in resp["status"]["message"], resp["status"]["message"]
    # A SandboxTemplate is applied with a warning, not refused.
    resp = review(d, "validate", "template-minimal-create.json")
    assert resp["allowed"]
    assert any("no RuntimeClass of gvisor" in w for w in resp.get("warnings", [])), resp
    resp = review(d, "validate", "sandbox-minimal-create.json", rc="kata")
    assert resp["allowed"]
    assert any("RuntimeClass 'kata' does not exist in this cluster" in w
               for w in resp.get("warnings", [])), resp


def test_a_class_named_gvisor_running_runc_is_refused_and_reported(api, start_webhook,
                                                                     tmp_path):
    api.put_runtimeclass("gvisor", "runc")
    d = start(start_webhook, tmp_path)
    resp = review(d, "validate", "pod-hardened-create.json")
    assert not resp["allowed"]
    assert ("RuntimeClass 'gvisor' has handler 'runc', which is not a sandbox"
            in resp["status"]["message"]), resp["status"]["message"]
    # Nothing else to default to: gvisor is skipped, not written.
    assert defaulted_class(d) is None
    assert d.metric(MISCONFIGURED, runtimeclass="gvisor", handler="runc") == 1
    d.wait_log(lambda l: l.get("msg", "").startswith("misconfigured RuntimeClass") and
               l.get("runtimeclass") == "gvisor" and l.get("handler") == "runc")
    # Fixed in the cluster: the pod passes and the gauge drops.
    api.put_runtimeclass("gvisor", "runsc")
    wait(lambda: review(d, "validate", "pod-hardened-create.json")["allowed"], "allowed")
    assert d.metric(MISCONFIGURED, runtimeclass="gvisor", handler="runc") == 0
    assert d.metric("sandbox_guard_runtimeclasses") == 1


def test_a_policy_reload_judges_the_classes_again(api, start_webhook, tmp_path):
    # A security team that really runs gVisor under a handler named gvisor-prod.
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"runtimeClass": {"allowedHandlers": ["runsc"]}}))
    api.put_runtimeclass("gvisor", "gvisor-prod")
    d = start(start_webhook, tmp_path, True, "--policy=" + str(policy))
    assert not review(d, "validate", "pod-hardened-create.json")["allowed"]
    assert d.metric(MISCONFIGURED, runtimeclass="gvisor", handler="gvisor-prod") == 1
    policy.write_text(json.dumps({"runtimeClass": {"allowedHandlers": ["runsc",
                                                                       "gvisor-prod"]}}))
    wait(lambda: d.metric(MISCONFIGURED, runtimeclass="gvisor", handler="gvisor-prod") == 0,
         "the class judged again under the new policy")
    assert review(d, "validate", "pod-hardened-create.json")["allowed"]
    assert defaulted_class(d) == "gvisor"


def test_a_deleted_class_is_no_longer_defaulted(api, start_webhook, tmp_path):
    api.put_runtimeclass("gvisor", "runsc")
    api.put_runtimeclass("kata", "kata")
    d = start(start_webhook, tmp_path)
    assert defaulted_class(d) == "gvisor"
    api.delete_runtimeclass("gvisor")
    wait(lambda: defaulted_class(d) == "kata", "kata once gvisor is gone")


def test_without_api_access_names_are_trusted_and_it_says_so(start_webhook):
    d = start_webhook()
    line = d.wait_log(lambda l: l.get("msg", "").startswith("no API access"))
    assert "the policy's runtimeClass names are trusted" in line["msg"]
    assert defaulted_class(d) == "gvisor"
    assert d.health("/readyz")[0] == 200
    assert d.metric("sandbox_guard_runtimeclasses") is None
