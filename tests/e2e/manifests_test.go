package e2e

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"sandbox-guard/tests/e2e/harness"
)

// copyDir copies a directory tree (regular files and directories only).
func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !info.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, info.Mode().Perm())
	})
}

// dryRunOnly says which rendered objects are applied with a server-side
// dry run only: webhook configurations (they point at a Service that does
// not route here and would break the cluster's sandbox admission) and
// Deployments (they need a kubelet and a controller-manager).
func dryRunOnly(o *unstructured.Unstructured) bool {
	switch o.GetKind() {
	case "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "Deployment":
		return true
	}
	return false
}

func writeObjects(t *testing.T, path string, objs []*unstructured.Unstructured) {
	t.Helper()
	var b strings.Builder
	for _, o := range objs {
		data, err := yaml.Marshal(o.Object)
		if err != nil {
			t.Fatal(err)
		}
		b.WriteString("---\n")
		b.Write(data)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestManifests is scenario 5: every kustomization of manifests/ goes onto
// the real API server without an error, and the webhook configurations the
// suite registers are the manifests' own apart from clientConfig.
func TestManifests(t *testing.T) {
	e := shared(t)
	c := e.c
	work := filepath.Join(c.Dir, "manifests-copy")
	if err := copyDir(manifest(), work); err != nil {
		t.Fatal(err)
	}
	certs := filepath.Join(work, "overlays", "self-signed", "certs")
	os.RemoveAll(certs)
	gen := exec.Command(filepath.Join(repoRoot(), "certs", "gen-dev-certs.sh"), "--out", certs)
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gen-dev-certs.sh: %v\n%s", err, out)
	}
	// A kustomization that uses the component, as its comment says to.
	routed := filepath.Join(work, "overlays", "e2e-routed")
	if err := os.MkdirAll(routed, 0o755); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(routed, "kustomization.yaml"), []byte(
		"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [../../base]\ncomponents: [../../components/route-to-sandbox-scheduler]\n"), 0o644)

	rendered := map[string][]*unstructured.Unstructured{}
	for _, dir := range []string{".", "extender", "second-scheduler", "overlays/self-signed", "overlays/cert-manager", "overlays/e2e-routed"} {
		out, err := kubectl(c, "kustomize", filepath.Join(work, dir))
		if err != nil {
			t.Fatalf("kubectl kustomize manifests/%s: %v\n%s", dir, err, out)
		}
		objs, err := harness.ParseYAML([]byte(out))
		if err != nil {
			t.Fatalf("manifests/%s renders unparsable YAML: %v", dir, err)
		}
		rendered[dir] = objs
		kinds := []string{}
		for _, o := range objs {
			kinds = append(kinds, o.GetKind()+"/"+o.GetName())
		}
		t.Logf("manifests/%s renders %d objects: %s", dir, len(objs), strings.Join(kinds, ", "))
	}

	// Real apply of what is safe, then a server-side dry run of the rest,
	// both with kubectl as a person would.
	for _, dir := range []string{".", "extender", "second-scheduler", "overlays/self-signed"} {
		var real, dry, webhooks []*unstructured.Unstructured
		for _, o := range rendered[dir] {
			switch {
			case strings.HasSuffix(o.GetKind(), "WebhookConfiguration"):
				webhooks = append(webhooks, o)
			case dryRunOnly(o):
				dry = append(dry, o)
			default:
				real = append(real, o)
			}
		}
		base := filepath.Join(c.Dir, "apply-"+strings.NewReplacer("/", "-", ".", "root").Replace(dir))
		if len(real) > 0 {
			writeObjects(t, base+"-real.yaml", real)
			out, err := kubectl(c, "apply", "-f", base+"-real.yaml")
			if err != nil {
				t.Fatalf("kubectl apply (manifests/%s, %d objects): %v\n%s", dir, len(real), err, out)
			}
			t.Logf("manifests/%s: kubectl apply:\n%s", dir, out)
		}
		if len(dry) > 0 {
			writeObjects(t, base+"-dry.yaml", dry)
			out, err := kubectl(c, "apply", "--dry-run=server", "-f", base+"-dry.yaml")
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server (manifests/%s): %v\n%s", dir, err, out)
			}
			t.Logf("manifests/%s: kubectl apply --dry-run=server:\n%s", dir, out)
		}
		if len(webhooks) > 0 {
			// The suite registered configurations of the same names (with a
			// url clientConfig): an apply would merge service into url, so
			// the manifests' objects are checked whole with a dry-run replace.
			writeObjects(t, base+"-webhooks.yaml", webhooks)
			out, err := kubectl(c, "replace", "--dry-run=server", "-o", "json", "-f", base+"-webhooks.yaml")
			if err != nil {
				t.Fatalf("kubectl replace --dry-run=server (manifests/%s webhook configurations): %v\n%s", dir, err, out)
			}
			compareWebhooks(t, e, dir, out)
		}
	}

	// The self-signed overlay put the CA into every webhook's caBundle.
	caPEM, err := os.ReadFile(filepath.Join(certs, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range rendered["overlays/self-signed"] {
		if !strings.HasSuffix(o.GetKind(), "WebhookConfiguration") {
			continue
		}
		whs, _, _ := unstructured.NestedSlice(o.Object, "webhooks")
		for _, w := range whs {
			ca, _, _ := unstructured.NestedString(w.(map[string]any), "clientConfig", "caBundle")
			if !strings.Contains(string(mustB64(t, ca)), strings.TrimSpace(string(caPEM))) {
				t.Fatalf("self-signed overlay: %s webhook %v has caBundle %q, not the generated CA", o.GetKind(), w.(map[string]any)["name"], ca)
			}
		}
	}

	// cert-manager: no CRDs here; it must render, with the Certificate and
	// the CA-injection annotation on both configurations.
	var sawCert, annotated int
	for _, o := range rendered["overlays/cert-manager"] {
		if o.GetKind() == "Certificate" {
			sawCert++
		}
		if strings.HasSuffix(o.GetKind(), "WebhookConfiguration") && o.GetAnnotations()["cert-manager.io/inject-ca-from"] == "sandbox-guard-system/sandbox-guard-webhook" {
			annotated++
		}
	}
	if sawCert != 1 || annotated != 2 {
		t.Fatalf("cert-manager overlay: %d Certificate(s), %d annotated webhook configurations; want 1 and 2", sawCert, annotated)
	}

	// Policies in ConfigMaps pass the webhook's own check.
	for _, dir := range []string{".", "overlays/e2e-routed"} {
		for _, o := range rendered[dir] {
			if o.GetKind() != "ConfigMap" || o.GetName() != "sandbox-guard-policy" {
				continue
			}
			pol, _, _ := unstructured.NestedString(o.Object, "data", "policy.json")
			f := filepath.Join(c.Dir, "policy-"+strings.ReplaceAll(dir, "/", "-")+".json")
			os.WriteFile(f, []byte(pol), 0o644)
			out, err := exec.Command(e.webhook.bin, "--check-policy="+f).CombinedOutput()
			if err != nil {
				t.Fatalf("manifests/%s policy ConfigMap: --check-policy: %v\n%s", dir, err, out)
			}
			if dir == "overlays/e2e-routed" && !strings.Contains(pol, `"schedulerName": "sandbox-scheduler"`) {
				t.Fatalf("route-to-sandbox-scheduler component: policy.json is %q", pol)
			}
		}
	}

	// Both scheduler configurations carry the same extender entry.
	a, err := manifestExtender(manifest("scheduler", "kube-scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := manifestExtender(manifest("second-scheduler", "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("extender entries differ:\nscheduler/kube-scheduler-config.yaml: %+v\nsecond-scheduler/config.yaml: %+v", a, b)
	}
}

func mustB64(t *testing.T, s string) []byte {
	t.Helper()
	// kustomize copies the Secret's data, wrapped at 70 columns; base64
	// decoders (the API server's too) skip the newlines.
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("caBundle is not base64: %v", err)
	}
	return b
}

// compareWebhooks compares the server's view of the manifests' webhook
// configurations (a dry-run replace, defaults applied) with the ones the
// suite registered, field by field apart from clientConfig.
func compareWebhooks(t *testing.T, e *env, dir, jsonOut string) {
	t.Helper()
	objs, err := harness.ParseYAML([]byte(jsonOut))
	if err != nil {
		t.Fatalf("dry-run output: %v", err)
	}
	type hook struct {
		Rules                   []admissionregistrationv1.RuleWithOperations
		MatchConditions         []admissionregistrationv1.MatchCondition
		NamespaceSelector       any
		ObjectSelector          any
		MatchPolicy             any
		FailurePolicy           any
		SideEffects             any
		TimeoutSeconds          any
		ReinvocationPolicy      any
		AdmissionReviewVersions []string
	}
	norm := func(kind string, o any) map[string]hook {
		u := map[string]any{}
		data, _ := json.Marshal(o)
		json.Unmarshal(data, &u)
		out := map[string]hook{}
		whs, _ := u["webhooks"].([]any)
		for _, w := range whs {
			var h hook
			data, _ := json.Marshal(w)
			var m admissionregistrationv1.MutatingWebhook // a superset of ValidatingWebhook's fields
			json.Unmarshal(data, &m)
			h.Rules, h.MatchConditions, h.AdmissionReviewVersions = m.Rules, m.MatchConditions, m.AdmissionReviewVersions
			h.NamespaceSelector, h.ObjectSelector, h.MatchPolicy = m.NamespaceSelector, m.ObjectSelector, m.MatchPolicy
			h.FailurePolicy, h.SideEffects, h.TimeoutSeconds, h.ReinvocationPolicy = m.FailurePolicy, m.SideEffects, m.TimeoutSeconds, m.ReinvocationPolicy
			// Pointers compare by value below.
			hb, _ := json.Marshal(h)
			var hh hook
			json.Unmarshal(hb, &hh)
			out[m.Name] = hh
		}
		return out
	}
	for _, o := range objs {
		var registered any
		switch o.GetKind() {
		case "MutatingWebhookConfiguration":
			for _, m := range e.mutating {
				if m.Name == o.GetName() {
					registered = m
				}
			}
		case "ValidatingWebhookConfiguration":
			for _, v := range e.validating {
				if v.Name == o.GetName() {
					registered = v
				}
			}
		}
		if registered == nil {
			t.Fatalf("manifests/%s: %s %s is not what the suite registers", dir, o.GetKind(), o.GetName())
		}
		// Read back what the API server stores now.
		live, err := e.c.GetUnstructured(t.Context(), gvrOf(o), "", o.GetName())
		if err != nil {
			t.Fatal(err)
		}
		want, got := norm(o.GetKind(), o.Object), norm(o.GetKind(), live.Object)
		if len(want) == 0 || !reflect.DeepEqual(want, got) {
			wj, _ := json.MarshalIndent(want, "", "  ")
			gj, _ := json.MarshalIndent(got, "", "  ")
			t.Fatalf("manifests/%s: %s %s differs from the registered one apart from clientConfig:\nmanifest (server defaults applied):\n%s\nregistered:\n%s",
				dir, o.GetKind(), o.GetName(), wj, gj)
		}
		// And the live ones point at the test webhook, not the Service.
		whs, _, _ := unstructured.NestedSlice(live.Object, "webhooks")
		for _, w := range whs {
			url, _, _ := unstructured.NestedString(w.(map[string]any), "clientConfig", "url")
			if !strings.HasPrefix(url, e.target.BaseURL+"/") {
				t.Fatalf("registered webhook %v calls %q", w.(map[string]any)["name"], url)
			}
		}
		t.Logf("manifests/%s: %s %s: %d webhooks equal to the registered ones (rules, matchConditions, selectors, policies, timeouts, versions)",
			dir, o.GetKind(), o.GetName(), len(want))
	}
}

func gvrOf(o *unstructured.Unstructured) harness.GVR {
	gvk := o.GroupVersionKind()
	res := strings.ToLower(gvk.Kind) + "s"
	return harness.GVR{Group: gvk.Group, Version: gvk.Version, Resource: res}
}
