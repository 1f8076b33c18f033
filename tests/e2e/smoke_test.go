package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"sandbox-guard/tests/e2e/harness"
)

const smokeTemplate = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxTemplate
metadata:
  name: trivial
  namespace: %s
spec:
  envVarsInjectionPolicy: Allowed
  podTemplate:
    metadata:
      labels:
        app: smoke
    spec:
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        resources:
          requests:
            cpu: 100m
            memory: 64Mi
`

const smokePool = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxWarmPool
metadata:
  name: pool
  namespace: %s
spec:
  replicas: 3
  sandboxTemplateRef:
    name: trivial
`

const smokeWarmClaim = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: warm-claim
  namespace: %s
spec:
  warmPoolRef:
    name: pool
  # Claim labels must use an allowed domain: sandbox.users.io unless the
  # controller finds another list in /etc/sandbox-config/allowed-label-domains.
  additionalPodMetadata:
    labels:
      sandbox.users.io/claimed: "yes"
`

// A claim that sets env bypasses the warm pool: the controller creates a
// new Sandbox (and pod) for it.
const smokeColdClaim = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: cold-claim
  namespace: %s
spec:
  warmPoolRef:
    name: pool
  env:
  - name: SMOKE_GREETING
    value: hello
`

// TestSmoke proves the control plane and the agent-sandbox controller work
// end to end without any Sandbox Guard component: a warm pool is filled by
// the controller, bound by the real kube-scheduler and made Ready by the
// kubelet stand-in; a claim adopts a warm pod; a claim with env takes the
// cold path.
func TestSmoke(t *testing.T) {
	begin := time.Now()
	c := harness.Start(t, harness.Options{})
	ctx := context.Background()
	const ns = "smoke"
	c.CreateNamespace(t, ns, nil)
	nodes := map[string]bool{}
	for i := 1; i <= 3; i++ {
		n := c.CreateNode(t, harness.NodeSpec{
			Name:   fmt.Sprintf("smoke-node-%d", i),
			CPU:    "4",
			Memory: "8Gi",
			Pods:   20,
			Labels: map[string]string{"e2e.sandbox-guard.dev/pool": "smoke"},
		})
		nodes[n.Name] = true
	}

	if out, err := c.Kubectl(ctx, "get", "nodes", "-o", "wide"); err != nil {
		t.Fatalf("kubectl get nodes: %v\n%s", err, out)
	} else {
		t.Logf("kubectl get nodes:\n%s", out)
	}

	create := func(doc string) *unstructured.Unstructured {
		t.Helper()
		obj, err := c.Create(ctx, harness.MustObject(t, fmt.Sprintf(doc, ns)))
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		return obj
	}
	create(smokeTemplate)

	// 1. Warm pool of 3: created by the controller, bound by the scheduler,
	// Ready through the kubelet stand-in, reported ready by the pool.
	step := time.Now()
	create(smokePool)
	warmSelector := harness.LabelWarmPoolSandbox
	warm := waitWarmPods(t, c, ns, warmSelector, 3, 2*time.Minute)
	warmUIDs := map[types.UID]string{}
	for _, p := range warm {
		if !nodes[p.Spec.NodeName] {
			t.Fatalf("pod %s bound to unknown node %q", p.Name, p.Spec.NodeName)
		}
		if !scheduledByDefaultScheduler(ctx, t, c, &p) {
			t.Fatalf("pod %s: no Scheduled event from default-scheduler", p.Name)
		}
		if len(p.OwnerReferences) == 0 || p.OwnerReferences[0].Kind != "Sandbox" {
			t.Fatalf("pod %s: owner %v, want a Sandbox", p.Name, p.OwnerReferences)
		}
		warmUIDs[p.UID] = p.Name
		t.Logf("warm pod %s on %s, IP %s", p.Name, p.Spec.NodeName, p.Status.PodIP)
	}
	c.WaitFor(t, time.Minute, "warm pool readyReplicas=3", func(ctx context.Context) (bool, error) {
		pool, err := c.GetUnstructured(ctx, harness.SandboxWarmPoolGVR, ns, "pool")
		if err != nil {
			return false, err
		}
		r, _, _ := unstructured.NestedInt64(pool.Object, "status", "readyReplicas")
		return r == 3, fmt.Errorf("readyReplicas=%d", r)
	})
	t.Logf("warm pool ready in %s", time.Since(step).Round(time.Millisecond))

	// 2. Warm claim: adopts one of the three pods (same UID), which loses
	// the warm-pool label and gains the claim's label.
	step = time.Now()
	create(smokeWarmClaim)
	sandboxName := waitClaimReady(t, c, ns, "warm-claim")
	pod := sandboxPod(ctx, t, c, ns, sandboxName)
	if _, ok := warmUIDs[pod.UID]; !ok {
		t.Fatalf("claim got pod %s (uid %s), not one of the warm pods %v", pod.Name, pod.UID, warmUIDs)
	}
	c.WaitFor(t, time.Minute, "adopted pod relabelled", func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		_, stillWarm := p.Labels[harness.LabelWarmPoolSandbox]
		claimed := p.Labels["sandbox.users.io/claimed"] == "yes"
		return !stillWarm && claimed, fmt.Errorf("labels %v", p.Labels)
	})
	t.Logf("warm claim Ready with adopted pod %s in %s", pod.Name, time.Since(step).Round(time.Millisecond))

	// The pool refills to 3 warm pods with a new one.
	waitWarmPods(t, c, ns, warmSelector, 3, 2*time.Minute)

	// 3. Cold claim (env set): a new pod carrying the env variable.
	step = time.Now()
	create(smokeColdClaim)
	coldSandbox := waitClaimReady(t, c, ns, "cold-claim")
	cold := sandboxPod(ctx, t, c, ns, coldSandbox)
	if name, ok := warmUIDs[cold.UID]; ok {
		t.Fatalf("cold claim adopted warm pod %s", name)
	}
	if _, ok := cold.Labels[harness.LabelWarmPoolSandbox]; ok {
		t.Fatalf("cold claim pod %s carries the warm-pool label", cold.Name)
	}
	found := false
	for _, e := range cold.Spec.Containers[0].Env {
		if e.Name == "SMOKE_GREETING" && e.Value == "hello" {
			found = true
		}
	}
	if !found {
		t.Fatalf("cold claim pod %s lacks SMOKE_GREETING: %v", cold.Name, cold.Spec.Containers[0].Env)
	}
	if !scheduledByDefaultScheduler(ctx, t, c, cold) {
		t.Fatalf("cold pod %s: no Scheduled event from default-scheduler", cold.Name)
	}
	t.Logf("cold claim Ready with new pod %s on %s in %s", cold.Name, cold.Spec.NodeName, time.Since(step).Round(time.Millisecond))

	if err := c.CheckAlive(); err != nil {
		t.Fatal(err)
	}
	t.Logf("smoke test done in %s", time.Since(begin).Round(time.Millisecond))
}

// waitClaimReady waits for the claim's Ready condition and returns the name
// of its Sandbox.
func waitClaimReady(t *testing.T, c *harness.Cluster, ns, name string) string {
	t.Helper()
	var sandbox string
	c.WaitFor(t, 2*time.Minute, "claim "+name+" Ready", func(ctx context.Context) (bool, error) {
		claim, err := c.GetUnstructured(ctx, harness.SandboxClaimGVR, ns, name)
		if err != nil {
			return false, err
		}
		sandbox, _, _ = unstructured.NestedString(claim.Object, "status", "sandbox", "name")
		status, reason := condition(claim, "Ready")
		return status == "True" && sandbox != "", fmt.Errorf("Ready=%q (%s), sandbox %q", status, reason, sandbox)
	})
	return sandbox
}

// sandboxPod returns the pod of a Sandbox (annotation agents.x-k8s.io/pod-name,
// else the Sandbox's own name).
func sandboxPod(ctx context.Context, t *testing.T, c *harness.Cluster, ns, sandbox string) *corev1.Pod {
	t.Helper()
	sb, err := c.GetUnstructured(ctx, harness.SandboxGVR, ns, sandbox)
	if err != nil {
		t.Fatalf("get sandbox %s: %v", sandbox, err)
	}
	podName := sb.GetAnnotations()["agents.x-k8s.io/pod-name"]
	if podName == "" {
		podName = sandbox
	}
	pod, err := c.Client.CoreV1().Pods(ns).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s of sandbox %s: %v", podName, sandbox, err)
	}
	return pod
}

func condition(obj *unstructured.Unstructured, typ string) (status, reason string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != typ {
			continue
		}
		s, _ := m["status"].(string)
		r, _ := m["reason"].(string)
		return s, r
	}
	return "", "no condition"
}

// scheduledByDefaultScheduler looks for the scheduler's "Scheduled" event.
func scheduledByDefaultScheduler(ctx context.Context, t *testing.T, c *harness.Cluster, p *corev1.Pod) bool {
	t.Helper()
	var seen []string
	err := c.WaitForE(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		evs, err := c.Client.EventsV1().Events(p.Namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		seen = seen[:0]
		for _, e := range evs.Items {
			if e.Regarding.UID != p.UID {
				continue
			}
			seen = append(seen, e.ReportingController+"/"+e.Reason)
			if e.Reason == "Scheduled" && e.ReportingController == "default-scheduler" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		sort.Strings(seen)
		t.Logf("events for pod %s: %s", p.Name, strings.Join(seen, ", "))
		return false
	}
	return true
}
