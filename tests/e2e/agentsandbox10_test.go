package e2e

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"sandbox-guard/tests/e2e/harness"
)

// TestAgentSandbox10Fields sends the fields agent-sandbox 1.0 relies on
// through the real API server. The controller here is v0.5.6 (the newest
// the module proxy serves), but its v1beta1 CRDs already carry the 1.0
// shapes: SandboxClaim env, volumeClaimTemplates and additionalPodMetadata,
// Sandbox operatingMode. What matters here is the API server's part: the
// structural schema keeps these fields (nothing pruned before the webhook
// sees them) and defaults operatingMode. The 1.0-only pod labelling is
// covered by fixtures (tests/fixtures/reviews/generate.py).
func TestAgentSandbox10Fields(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "as10")

	t.Run("ClaimAnnotationUnconfined", func(t *testing.T) {
		_, err := c.Create(ctx, harness.MustObject(t, fmt.Sprintf(`
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: unconfined
  namespace: %s
spec:
  warmPoolRef:
    name: python-pool
  env:
  - name: TASK_ID
    value: "43"
  additionalPodMetadata:
    labels:
      task: review-43
    annotations:
      container.apparmor.security.beta.kubernetes.io/main: unconfined
`, ns)))
		if err == nil {
			t.Fatal("a SandboxClaim whose pod metadata turns AppArmor off was created")
		}
		requireContains(t, "create SandboxClaim", err.Error(),
			`admission webhook "agent-sandbox.validate.sandbox-guard.io" denied the request`,
			"SandboxClaim "+ns+"/unconfined violates the sandbox isolation policy",
			"spec.additionalPodMetadata.annotations: annotation container.apparmor.security.beta.kubernetes.io/main is unconfined")
	})

	t.Run("ClaimWithEnvAndVolumes", func(t *testing.T) {
		if _, err := c.Create(ctx, harness.MustObject(t, fmt.Sprintf(`
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: plain
  namespace: %s
spec:
  warmPoolRef:
    name: no-such-pool
  env:
  - name: TASK_ID
    value: "43"
  volumeClaimTemplates:
  - metadata:
      name: scratch
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
  additionalPodMetadata:
    labels:
      task: review-43
    annotations:
      team: reviewers
`, ns))); err != nil {
			t.Fatalf("an ordinary 1.0-shaped SandboxClaim was refused: %v", err)
		}
	})

	sandbox := func(name, mode string, privileged bool) *unstructured.Unstructured {
		return harness.MustObject(t, fmt.Sprintf(`
apiVersion: agents.x-k8s.io/v1beta1
kind: Sandbox
metadata:
  name: %s
  namespace: %s
spec:
  operatingMode: %s
  volumeClaimTemplates:
  - metadata:
      name: workspace
    spec:
      accessModes: [ReadWriteOnce]
      resources:
        requests:
          storage: 1Gi
  podTemplate:
    spec:
      automountServiceAccountToken: false
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        securityContext:
          privileged: %t
`, name, ns, mode, privileged))
	}

	t.Run("SuspendedSandboxIsChecked", func(t *testing.T) {
		_, err := c.Create(ctx, sandbox("suspended-privileged", "Suspended", true))
		if err == nil {
			t.Fatal("a Suspended privileged Sandbox was created (it would run privileged on resume)")
		}
		requireContains(t, "create Sandbox", err.Error(), "denied the request",
			"spec.podTemplate.spec.containers[0] (main).securityContext.privileged is true")
		got, err := c.Create(ctx, sandbox("suspended", "Suspended", false))
		if err != nil {
			t.Fatalf("a Suspended Sandbox inside the policy was refused: %v", err)
		}
		if mode, _, _ := unstructured.NestedString(got.Object, "spec", "operatingMode"); mode != "Suspended" {
			t.Fatalf("stored operatingMode %q, want Suspended", mode)
		}
	})
}
