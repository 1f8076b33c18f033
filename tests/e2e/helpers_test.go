package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"sandbox-guard/tests/e2e/harness"
)

// nsCounter makes namespace names unique within a run (there is no
// namespace controller: a deleted namespace stays Terminating).
var nsCounter int

// freshNamespace makes a namespace for sandboxes, labelled
// sandbox-guard.io/sandboxes=true from the start as an admin who sets up
// a team's sandbox namespace would (the reconciler labels it anyway once
// a sandbox pod runs there): NetworkPolicies written in it before the
// first sandbox are checked too.
func freshNamespace(t *testing.T, c *harness.Cluster, prefix string) string {
	t.Helper()
	nsCounter++
	name := fmt.Sprintf("%s-%d", prefix, nsCounter)
	c.CreateNamespace(t, name, map[string]string{sandboxesLabel: "true"})
	return name
}

// ordinaryNamespace makes a namespace without that label: one for
// ordinary workloads, until a sandbox pod shows up there.
func ordinaryNamespace(t *testing.T, c *harness.Cluster, prefix string) string {
	t.Helper()
	nsCounter++
	name := fmt.Sprintf("%s-%d", prefix, nsCounter)
	c.CreateNamespace(t, name, nil)
	return name
}

// mustCreate creates the object described by a YAML literal, after
// formatting it with args.
func mustCreate(t *testing.T, c *harness.Cluster, doc string, args ...any) *unstructured.Unstructured {
	t.Helper()
	obj, err := c.Create(context.Background(), harness.MustObject(t, fmt.Sprintf(doc, args...)))
	if err != nil {
		t.Fatalf("create: %v\n%s", err, fmt.Sprintf(doc, args...))
	}
	return obj
}

// waitWarmPods waits until n warm pods matching selector are Running/Ready
// and returns them.
func waitWarmPods(t *testing.T, c *harness.Cluster, ns, selector string, n int, timeout time.Duration) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	c.WaitFor(t, timeout, fmt.Sprintf("%d ready warm pods (%s) in %s", n, selector, ns), func(ctx context.Context) (bool, error) {
		all, err := c.ListPods(ctx, ns, selector)
		if err != nil {
			return false, err
		}
		pods = pods[:0]
		ready := 0
		for i := range all {
			if all[i].DeletionTimestamp != nil {
				continue
			}
			pods = append(pods, all[i])
			if harness.PodRunningReady(&all[i]) {
				ready++
			}
		}
		return len(pods) == n && ready == n, fmt.Errorf("%d warm pods, %d ready", len(pods), ready)
	})
	return pods
}

func waitPoolReady(t *testing.T, c *harness.Cluster, ns, pool string, n int64) {
	t.Helper()
	c.WaitFor(t, time.Minute, fmt.Sprintf("warm pool %s readyReplicas=%d", pool, n), func(ctx context.Context) (bool, error) {
		p, err := c.GetUnstructured(ctx, harness.SandboxWarmPoolGVR, ns, pool)
		if err != nil {
			return false, err
		}
		r, _, _ := unstructured.NestedInt64(p.Object, "status", "readyReplicas")
		return r == n, fmt.Errorf("readyReplicas=%d", r)
	})
}

func scalePool(t *testing.T, c *harness.Cluster, ns, pool string, replicas int) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"replicas":%d}}`, replicas)
	if _, err := c.Dynamic.Resource(harness.SandboxWarmPoolGVR).Namespace(ns).Patch(context.Background(), pool,
		types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("scale pool %s to %d: %v", pool, replicas, err)
	}
}

// waitPodBound waits for a pod to be bound and returns it.
func waitPodBound(t *testing.T, c *harness.Cluster, ns, name string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	c.WaitFor(t, timeout, "pod "+ns+"/"+name+" bound", func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		return p.Spec.NodeName != "", fmt.Errorf("pod not bound yet (phase %s)", p.Status.Phase)
	})
	return pod
}

// sandboxPodSpec is a minimal pod that the webhooks treat as a sandbox pod
// (the label agent-sandbox puts on every pod it creates). Its labels are the
// controller's to write: create it with Cluster.ControllerClient.
func sandboxPodSpec(ns, name string, extraLabels map[string]string) *corev1.Pod {
	labels := map[string]string{harness.LabelSandboxNameHash: fnvHex(name)}
	for k, v := range extraLabels {
		labels[k] = v
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			// A pod must say this itself: the ServiceAccount admission plugin
			// mounts a token before any webhook runs otherwise.
			AutomountServiceAccountToken: ptr(false),
			Containers:                   []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
}

// fnvHex is agent-sandbox's name hash: FNV-1a 32-bit as 8 hex digits.
func fnvHex(s string) string {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h ^= uint32(s[i])
		h *= 16777619
	}
	return fmt.Sprintf("%08x", h)
}

// requireContains fails unless text contains every fragment.
func requireContains(t *testing.T, what, text string, fragments ...string) {
	t.Helper()
	for _, f := range fragments {
		if !strings.Contains(text, f) {
			t.Fatalf("%s: want %q in:\n%s", what, f, text)
		}
	}
}

// kubectl runs kubectl and returns its output and error.
func kubectl(c *harness.Cluster, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return c.Kubectl(ctx, args...)
}

// assertHardened checks the defaults our mutating webhook writes (and what
// the API server added on top) on a sandbox pod.
func assertHardened(t *testing.T, p *corev1.Pod, wantRuntime string) {
	t.Helper()
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if p.Spec.RuntimeClassName == nil || *p.Spec.RuntimeClassName != wantRuntime {
		bad("runtimeClassName %v, want %s", p.Spec.RuntimeClassName, wantRuntime)
	}
	if p.Spec.AutomountServiceAccountToken == nil || *p.Spec.AutomountServiceAccountToken {
		bad("automountServiceAccountToken %v, want false", p.Spec.AutomountServiceAccountToken)
	}
	if p.Spec.EnableServiceLinks == nil || *p.Spec.EnableServiceLinks {
		bad("enableServiceLinks %v, want false", p.Spec.EnableServiceLinks)
	}
	if sc := p.Spec.SecurityContext; sc == nil || sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		bad("pod securityContext %+v, want seccompProfile RuntimeDefault", sc)
	}
	for _, v := range p.Spec.Volumes {
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ServiceAccountToken != nil {
					bad("volume %s mounts a service-account token", v.Name)
				}
			}
		}
	}
	all := append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...)
	for _, ctr := range all {
		sc := ctr.SecurityContext
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			bad("container %s: allowPrivilegeEscalation not false (%+v)", ctr.Name, sc)
		}
		if sc == nil || sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
			bad("container %s: capabilities %+v, want drop [ALL]", ctr.Name, sc)
		}
	}
	if p.Labels[profileLabel] != "default" {
		bad("label %s=%q, want default", profileLabel, p.Labels[profileLabel])
	}
	if len(problems) > 0 {
		t.Fatalf("pod %s/%s is not hardened as expected:\n- %s", p.Namespace, p.Name, strings.Join(problems, "\n- "))
	}
}

// plainClaim is a SandboxClaim for a warm pool, nothing else set.
const plainClaim = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: %s
  namespace: %s
spec:
  warmPoolRef:
    name: %s
`

// claimFromPool creates a plain claim for a warm pool, waits until it is
// Ready and returns its Sandbox's name.
func claimFromPool(t *testing.T, c *harness.Cluster, ns, name, pool string) string {
	t.Helper()
	mustCreate(t, c, plainClaim, name, ns, pool)
	return waitClaimReady(t, c, ns, name)
}
