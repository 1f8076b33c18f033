package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"sandbox-guard/tests/e2e/harness"
)

// A template that says nothing about isolation: no runtime class, no
// security context. Everything comes from the webhook.
const plainTemplate = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxTemplate
metadata:
  name: %s
  namespace: %s
spec:
  podTemplate:
    metadata:
      labels:
        app: agent
    spec:
      nodeSelector:
        e2e.sandbox-guard.dev/general: "true"
      initContainers:
      - name: setup
        image: registry.k8s.io/pause:3.10
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
`

const warmPool = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxWarmPool
metadata:
  name: %s
  namespace: %s
spec:
  replicas: %d
  sandboxTemplateRef:
    name: %s
`

// TestWarmPool is scenarios 1 and 2: warm pods made by the real controller
// come out of the real API server hardened by the webhook (with the
// RuntimeClass admission plugin's overhead on reinvocation), and a claim
// adopts one of them without our validation getting in the way of the
// controller's label update.
func TestWarmPool(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "warm")
	mustCreate(t, c, plainTemplate, "plain", ns)
	begin := time.Now()
	mustCreate(t, c, warmPool, "pool", ns, 3, "plain")

	var warm []corev1.Pod
	t.Run("HardenedWarmPods", func(t *testing.T) {
		warm = waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 3, 2*time.Minute)
		waitPoolReady(t, c, ns, "pool", 3)
		t.Logf("warm pool of 3 ready in %s", time.Since(begin).Round(time.Millisecond))
		wantOverhead := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}
		for i := range warm {
			p := &warm[i]
			assertHardened(t, p, "gvisor")
			if len(p.Spec.Overhead) != 2 || !p.Spec.Overhead.Cpu().Equal(wantOverhead[corev1.ResourceCPU]) ||
				!p.Spec.Overhead.Memory().Equal(wantOverhead[corev1.ResourceMemory]) {
				t.Fatalf("pod %s: spec.overhead %v, want %v (RuntimeClass admission on reinvocation)", p.Name, p.Spec.Overhead, wantOverhead)
			}
			if len(p.OwnerReferences) == 0 || p.OwnerReferences[0].Kind != "Sandbox" {
				t.Fatalf("pod %s: owners %v, want a Sandbox", p.Name, p.OwnerReferences)
			}
			t.Logf("warm pod %s on %s: runtimeClass %s, overhead %v, labels %v", p.Name, p.Spec.NodeName,
				*p.Spec.RuntimeClassName, p.Spec.Overhead, p.Labels)
		}
		// The webhook mutated them (and the log says so).
		for _, p := range warm {
			if findLogLine(c.LogPath("sandbox-guard-webhook"), 0, `"msg":"review"`, `"endpoint":"mutate"`,
				`"namespace":"`+ns+`"`, `"decision":"patched"`) == nil {
				t.Fatalf("webhook log has no patched review in %s (pod %s)", ns, p.Name)
			}
		}
	})
	if t.Failed() {
		return
	}

	t.Run("ClaimAdoptsWarmPod", func(t *testing.T) {
		uids := map[types.UID]string{}
		for _, p := range warm {
			uids[p.UID] = p.Name
		}
		logMark := countLines(c.LogPath("sandbox-guard-webhook"))
		mustCreate(t, c, `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: adopt
  namespace: %s
spec:
  warmPoolRef:
    name: pool
  additionalPodMetadata:
    labels:
      sandbox.users.io/team: e2e
`, ns)
		sandbox := waitClaimReady(t, c, ns, "adopt")
		pod := sandboxPod(ctx, t, c, ns, sandbox)
		if _, ok := uids[pod.UID]; !ok {
			t.Fatalf("claim got pod %s (uid %s), not one of the warm pods %v: a new pod was made", pod.Name, pod.UID, uids)
		}
		c.WaitFor(t, time.Minute, "adopted pod relabelled by the controller", func(ctx context.Context) (bool, error) {
			p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			pod = p
			_, warmLabel := p.Labels[harness.LabelWarmPoolSandbox]
			return !warmLabel && p.Labels["sandbox.users.io/team"] == "e2e", fmt.Errorf("labels %v", p.Labels)
		})
		if pod.UID == "" || pod.DeletionTimestamp != nil {
			t.Fatalf("adopted pod is going away: %+v", pod.ObjectMeta)
		}
		assertHardened(t, pod, "gvisor")
		// Our validating webhook saw the controller's UPDATE and let it pass.
		updates := logLines(c.LogPath("sandbox-guard-webhook"), logMark, `"msg":"review"`, `"endpoint":"validate"`,
			`"kind":"Pod"`, `"name":"`+pod.Name+`"`, `"operation":"UPDATE"`)
		if len(updates) == 0 {
			t.Fatalf("webhook log shows no validation of the adoption UPDATE of pod %s", pod.Name)
		}
		for _, u := range updates {
			if u["decision"] != "allowed" {
				t.Fatalf("adoption UPDATE of pod %s: decision %v", pod.Name, u)
			}
		}
		t.Logf("claim adopted warm pod %s (same uid %s); labels now %v; %d UPDATE review(s) allowed", pod.Name, pod.UID, pod.Labels, len(updates))
	})
}
