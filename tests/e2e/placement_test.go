package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"sandbox-guard/tests/e2e/harness"
)

const (
	placementLabel = "e2e.sandbox-guard.dev/placement"
)

// Template A runs only on the placement nodes (node selector + toleration
// of their taint), so no other scenario's pods share them.
const placementTemplate = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxTemplate
metadata:
  name: tpl-a
  namespace: %s
spec:
  envVarsInjectionPolicy: Allowed
  podTemplate:
    spec:
      nodeSelector:
        e2e.sandbox-guard.dev/placement: "true"
      tolerations:
      - key: e2e.sandbox-guard.dev/placement
        operator: Exists
        effect: NoSchedule
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
`

func placementNode(name string) harness.NodeSpec {
	return harness.NodeSpec{
		Name: name, CPU: "4", Memory: "8Gi", Pods: 30,
		Labels: map[string]string{placementLabel: "true"},
		Taints: []corev1.Taint{{Key: placementLabel, Value: "true", Effect: corev1.TaintEffectNoSchedule}},
	}
}

// TestPlacement is scenario 3: the real kube-scheduler, configured with the
// extender entry of manifests/scheduler/kube-scheduler-config.yaml, binds
// a cold-start claim's new pod next to the warm pods of its template, and
// warm-pool refills follow the extender's formula (10 - 3*min(k,3) on a
// node with the template's image, 5 elsewhere): a second warm pod joins the
// first (7 > 5, against the scheduler's own preference for emptier nodes),
// the third goes to another node (4 < 5).
func TestPlacement(t *testing.T) {
	e := shared(t)
	c := e.c
	ns := freshNamespace(t, c, "placement")
	extLog := c.LogPath("sandbox-guard-extender")
	metricsBefore, err := e.extender.metrics()
	if err != nil {
		t.Fatal(err)
	}

	// Only place-1 exists while the pool's first warm pod is scheduled.
	c.CreateNode(t, placementNode("place-1"))
	mustCreate(t, c, placementTemplate, ns)
	mustCreate(t, c, warmPool, "pool-a", ns, 1, "tpl-a")
	first := waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 1, 2*time.Minute)
	if first[0].Spec.NodeName != "place-1" {
		t.Fatalf("first warm pod on %s, want place-1 (the only placement node)", first[0].Spec.NodeName)
	}
	// Two more nodes of the same size, empty.
	c.CreateNode(t, placementNode("place-2"))
	c.CreateNode(t, placementNode("place-3"))
	waitExtenderNodes(t, e, 5) // general-1, general-2, place-1..3

	known := map[string]bool{first[0].Name: true}
	newWarmPod := func(n int) corev1.Pod {
		t.Helper()
		pods := waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, n, 2*time.Minute)
		for _, p := range pods {
			if !known[p.Name] {
				known[p.Name] = true
				return p
			}
		}
		t.Fatalf("no new warm pod among %d", len(pods))
		return corev1.Pod{}
	}

	// Refill 1: k=1 on place-1 -> 7 there, 5 on the empty nodes. The
	// scheduler alone would pick an empty node (LeastAllocated).
	scalePool(t, c, ns, "pool-a", 2)
	second := newWarmPod(2)
	assertPrioritized(t, extLog, ns, second.Name, "refill", 7)
	if second.Spec.NodeName != "place-1" {
		t.Fatalf("second warm pod %s on %s, want place-1 (refill score 7 with one warm pod there vs 5 on nodes without the image)",
			second.Name, second.Spec.NodeName)
	}
	t.Logf("refill 1: warm pod %s on %s (extender best score 7)", second.Name, second.Spec.NodeName)

	// Cold start: a claim with env gets a new pod; place-1 has ready warm
	// pods of tpl-a (10), place-2 and place-3 nothing (0).
	mustCreate(t, c, `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: cold
  namespace: %s
spec:
  warmPoolRef:
    name: pool-a
  env:
  - name: GREETING
    value: hello
`, ns)
	sandbox := waitClaimReady(t, c, ns, "cold")
	cold := sandboxPod(context.Background(), t, c, ns, sandbox)
	if known[cold.Name] {
		t.Fatalf("cold claim adopted warm pod %s", cold.Name)
	}
	if _, warm := cold.Labels[harness.LabelWarmPoolSandbox]; warm {
		t.Fatalf("cold pod %s has the warm-pool label", cold.Name)
	}
	assertPrioritized(t, extLog, ns, cold.Name, "cold-start", 10)
	if cold.Spec.NodeName != "place-1" {
		t.Fatalf("cold-start pod %s on %s, want place-1 where the warm pods of its template are", cold.Name, cold.Spec.NodeName)
	}
	t.Logf("cold start: pod %s on %s (extender best score 10)", cold.Name, cold.Spec.NodeName)

	// Refill 2: k=2 on place-1 -> 4 there, 5 elsewhere: the pool spreads.
	scalePool(t, c, ns, "pool-a", 3)
	third := newWarmPod(3)
	assertPrioritized(t, extLog, ns, third.Name, "refill", 5)
	if third.Spec.NodeName == "place-1" || third.Spec.NodeName == "" {
		t.Fatalf("third warm pod %s on %q, want place-2 or place-3 (refill score 4 with two warm pods on place-1 vs 5)",
			third.Name, third.Spec.NodeName)
	}
	t.Logf("refill 2: warm pod %s on %s (extender best score 5)", third.Name, third.Spec.NodeName)

	after, err := e.extender.metrics()
	if err != nil {
		t.Fatal(err)
	}
	for _, class := range []string{"cold-start", "refill"} {
		d := metric(after, "sandbox_guard_extender_calls_total", `verb="prioritize"`, `class="`+class+`"`) -
			metric(metricsBefore, "sandbox_guard_extender_calls_total", `verb="prioritize"`, `class="`+class+`"`)
		if d < 1 {
			t.Fatalf("sandbox_guard_extender_calls_total{verb=prioritize,class=%s} did not grow", class)
		}
	}
}

// assertPrioritized waits for the extender's log line of a prioritize call
// for the pod and checks its class and best score.
func assertPrioritized(t *testing.T, logPath, ns, pod, class string, best int) {
	t.Helper()
	var lines []map[string]any
	err := waitUntil(10*time.Second, func() bool {
		lines = logLines(logPath, 0, `"msg":"prioritize"`, `"pod":"`+ns+`/`+pod+`"`)
		return len(lines) > 0
	})
	if err != nil {
		t.Fatalf("extender log %s: no prioritize call for %s/%s: the scheduler did not ask the extender", logPath, ns, pod)
	}
	l := lines[len(lines)-1]
	if l["class"] != class || l["best_score"] != float64(best) {
		t.Fatalf("extender prioritized %s/%s as %v with best score %v, want %s and %d (%v)", ns, pod, l["class"], l["best_score"], class, best, l)
	}
}

func waitUntil(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s", timeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}

// waitExtenderNodes waits until the extender's node cache holds n nodes.
func waitExtenderNodes(t *testing.T, e *env, n int) {
	t.Helper()
	e.c.WaitFor(t, 30*time.Second, fmt.Sprintf("extender knows %d nodes", n), func(ctx context.Context) (bool, error) {
		m, err := e.extender.metrics()
		if err != nil {
			return false, err
		}
		got := metric(m, "sandbox_guard_inventory_nodes")
		return got >= float64(n), fmt.Errorf("sandbox_guard_inventory_nodes=%v", got)
	})
}
