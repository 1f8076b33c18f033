package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// capturer is an allow-all admission webhook that keeps the first raw
// AdmissionReview body of each kind of request.
type capturer struct {
	dir  string
	mu   sync.Mutex
	seen map[string]int
}

func (cp *capturer) handler(phase string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var rv struct {
			Request struct {
				UID         string
				Operation   string
				SubResource string
				Resource    struct{ Resource string }
				Object      *struct {
					Metadata struct {
						Name   string
						Labels map[string]string
					}
				}
				OldObject *struct {
					Metadata struct{ Labels map[string]string }
				}
			}
		}
		_ = json.Unmarshal(body, &rv)
		rq := rv.Request
		singular := map[string]string{"pods": "pod", "sandboxes": "sandbox", "sandboxtemplates": "sandboxtemplate",
			"sandboxclaims": "sandboxclaim", "networkpolicies": "networkpolicy"}[rq.Resource.Resource]
		name := []string{phase, singular, strings.ToLower(rq.Operation)}
		if rq.SubResource != "" {
			name = []string{phase, "pod-" + rq.SubResource, strings.ToLower(rq.Operation)}
		}
		var lbl map[string]string
		if rq.Object != nil {
			lbl = rq.Object.Metadata.Labels
		}
		switch {
		case rq.Resource.Resource == "pods" && rq.SubResource == "" && rq.Operation == "CREATE":
			if _, ok := lbl[harness.LabelWarmPoolSandbox]; ok {
				name = append(name, "warm")
			} else if _, ok := lbl[harness.LabelTemplateRefHash]; ok {
				name = append(name, "cold")
			}
		case rq.Resource.Resource == "pods" && rq.SubResource == "" && rq.Operation == "UPDATE" && rq.OldObject != nil:
			_, was := rq.OldObject.Metadata.Labels[harness.LabelWarmPoolSandbox]
			_, is := lbl[harness.LabelWarmPoolSandbox]
			if was && !is {
				name = append(name, "adoption")
			}
		case rq.Resource.Resource == "networkpolicies" && rq.Object != nil:
			if strings.HasPrefix(rq.Object.Metadata.Name, "sandbox-guard-") {
				name = append(name, "sandbox-guard")
			} else {
				name = append(name, "agent-sandbox")
			}
		}
		file := strings.Join(name, "-") + ".json"
		cp.mu.Lock()
		cp.seen[file]++
		first := cp.seen[file] == 1
		cp.mu.Unlock()
		if first {
			_ = os.WriteFile(filepath.Join(cp.dir, file), body, 0o644)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":%q,"allowed":true}}`, rq.UID)
	}
}

// TestCaptureFixtures is item 9 (gated by SG_E2E_CAPTURE=<dir>): the raw
// AdmissionReview requests the real API server sends for the agent-sandbox
// flows, written to <dir> as fixtures. A capturing mutating webhook whose
// configuration sorts before "sandbox-guard" sees pods as our mutating
// webhook does (before any patch); a capturing validating webhook sees what
// our validating webhook sees (after every mutation).
func TestCaptureFixtures(t *testing.T) {
	dir := os.Getenv("SG_E2E_CAPTURE")
	if dir == "" {
		t.Skip("set SG_E2E_CAPTURE=<dir> to capture AdmissionReview fixtures")
	}
	e := shared(t)
	c := e.c
	ctx := context.Background()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range old {
		os.Remove(f)
	}
	ns := freshNamespace(t, c, "capture")

	cert, err := c.CA.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert.CertPEM, cert.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cp := &capturer{dir: dir, seen: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("/mutate", cp.handler("mutate"))
	mux.HandleFunc("/validate", cp.handler("validate"))
	srv := &http.Server{Handler: mux, TLSConfig: &tls.Config{Certificates: []tls.Certificate{pair}}}
	go srv.ServeTLS(ln, "", "")
	defer srv.Close()
	target := harness.WebhookTarget{BaseURL: "https://" + ln.Addr().String(), CABundle: c.CA.CertPEM}

	none := admissionregistrationv1.SideEffectClassNone
	ignore := admissionregistrationv1.Ignore
	never := admissionregistrationv1.NeverReinvocationPolicy
	nsSel := &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}
	rule := func(group string, ops []admissionregistrationv1.OperationType, res ...string) admissionregistrationv1.RuleWithOperations {
		return admissionregistrationv1.RuleWithOperations{Operations: ops,
			Rule: admissionregistrationv1.Rule{APIGroups: []string{group}, APIVersions: []string{"*"}, Resources: res}}
	}
	create := []admissionregistrationv1.OperationType{admissionregistrationv1.Create}
	update := []admissionregistrationv1.OperationType{admissionregistrationv1.Update}
	cu := []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}
	const cfgName = "0-sg-capture" // sorts before "sandbox-guard"
	_, err = c.RegisterMutatingWebhooks(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: cfgName},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "pods.capture.sandbox-guard.io", AdmissionReviewVersions: []string{"v1"}, SideEffects: &none,
			FailurePolicy: &ignore, ReinvocationPolicy: &never, NamespaceSelector: nsSel,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr("https://x/mutate")},
			Rules:        []admissionregistrationv1.RuleWithOperations{rule("", create, "pods"), rule("", update, "pods/ephemeralcontainers")},
		}},
	}, target)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.RegisterValidatingWebhooks(ctx, &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: cfgName},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name: "all.capture.sandbox-guard.io", AdmissionReviewVersions: []string{"v1"}, SideEffects: &none,
			FailurePolicy: &ignore, NamespaceSelector: nsSel,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: ptr("https://x/validate")},
			Rules: []admissionregistrationv1.RuleWithOperations{
				rule("", cu, "pods", "pods/ephemeralcontainers"),
				rule("agents.x-k8s.io", cu, "sandboxes"),
				rule("extensions.agents.x-k8s.io", cu, "sandboxtemplates", "sandboxclaims"),
				rule("networking.k8s.io", cu, "networkpolicies"),
			},
		}},
	}, target)
	if err != nil {
		t.Fatal(err)
	}
	defer c.UnregisterWebhooks(ctx, cfgName)
	// Wait for the API server to call it.
	c.WaitFor(t, 30*time.Second, "capture webhook active", func(ctx context.Context) (bool, error) {
		p := sandboxPodSpec(ns, "probe", nil)
		_, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		cp.mu.Lock()
		n := cp.seen["mutate-pod-create.json"]
		cp.mu.Unlock()
		return n > 0, err
	})
	os.Remove(filepath.Join(dir, "mutate-pod-create.json"))
	os.Remove(filepath.Join(dir, "validate-pod-create.json"))
	cp.mu.Lock()
	cp.seen = map[string]int{}
	cp.mu.Unlock()

	// The flows.
	mustCreate(t, c, `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxTemplate
metadata:
  name: fixture
  namespace: %s
spec:
  envVarsInjectionPolicy: Allowed
  podTemplate:
    metadata:
      labels:
        app: agent
    spec:
      nodeSelector:
        e2e.sandbox-guard.dev/general: "true"
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
`, ns)
	mustCreate(t, c, warmPool, "pool", ns, 2, "fixture")
	waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 2, 2*time.Minute)
	mustCreate(t, c, `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: warm
  namespace: %s
spec:
  warmPoolRef:
    name: pool
  additionalPodMetadata:
    labels:
      sandbox.users.io/team: fixtures
`, ns)
	adopted := sandboxPod(ctx, t, c, ns, waitClaimReady(t, c, ns, "warm"))
	mustCreate(t, c, `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: cold
  namespace: %s
spec:
  warmPoolRef:
    name: pool
  env:
  - name: GREETING
    value: hello
`, ns)
	waitClaimReady(t, c, ns, "cold")
	// kubectl debug's way: an ephemeral container through the subresource.
	c.WaitFor(t, 30*time.Second, "ephemeral container added", func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, adopted.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "registry.k8s.io/busybox:1.36", Stdin: true, TTY: true},
			TargetContainerName:      "main",
		})
		_, err = c.Client.CoreV1().Pods(ns).UpdateEphemeralContainers(ctx, p.Name, p, metav1.UpdateOptions{})
		return err == nil, err
	})

	// Our mutating webhook hardened the new ephemeral container.
	dbg, err := c.Client.CoreV1().Pods(ns).Get(ctx, adopted.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ec := dbg.Spec.EphemeralContainers; len(ec) != 1 || ec[0].SecurityContext == nil ||
		ec[0].SecurityContext.AllowPrivilegeEscalation == nil || *ec[0].SecurityContext.AllowPrivilegeEscalation ||
		ec[0].SecurityContext.Capabilities == nil || len(ec[0].SecurityContext.Capabilities.Drop) != 1 {
		t.Fatalf("ephemeral container not hardened: %+v", dbg.Spec.EphemeralContainers)
	}

	want := []string{
		"validate-sandboxtemplate-create.json",
		"validate-sandbox-create.json",
		"mutate-pod-create-warm.json", "validate-pod-create-warm.json",
		"validate-networkpolicy-create-agent-sandbox.json", "validate-networkpolicy-create-sandbox-guard.json",
		"validate-sandboxclaim-create.json",
		"validate-pod-update-adoption.json",
		"mutate-pod-create-cold.json", "validate-pod-create-cold.json",
		"mutate-pod-ephemeralcontainers-update.json", "validate-pod-ephemeralcontainers-update.json",
	}
	c.WaitFor(t, 30*time.Second, "every fixture captured", func(ctx context.Context) (bool, error) {
		var missing []string
		for _, f := range want {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				missing = append(missing, f)
			}
		}
		return len(missing) == 0, fmt.Errorf("missing %v", missing)
	})
	cp.mu.Lock()
	var files []string
	for f, n := range cp.seen {
		files = append(files, fmt.Sprintf("%s (%d seen)", f, n))
	}
	cp.mu.Unlock()
	sort.Strings(files)
	t.Logf("captured into %s:\n  %s", dir, strings.Join(files, "\n  "))
}
