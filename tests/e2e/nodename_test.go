package e2e

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// TestNodeNameRefused: spec.nodeName binds a pod without the scheduler, and
// so without the extender's filters. A sandbox pod created with it by
// anyone but the controller is refused, as is a Sandbox whose podTemplate
// sets it (the controller would copy it into the pod); ordinary pods may
// still use it.
func TestNodeNameRefused(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "nodename")
	node := e.generalNodes[0]

	// A tenant's own sandbox pod: one made for adoption.
	pinned := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "pinned", Namespace: ns,
			Labels: map[string]string{"agents.x-k8s.io/adoptable": "true"}},
		Spec: corev1.PodSpec{
			NodeName:                     node,
			AutomountServiceAccountToken: ptr(false),
			Containers:                   []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	_, err := c.Client.CoreV1().Pods(ns).Create(ctx, pinned, metav1.CreateOptions{})
	if err == nil {
		t.Fatalf("a sandbox pod with spec.nodeName %s was created", node)
	}
	requireContains(t, "create pinned sandbox pod", err.Error(), `"pods.validate.sandbox-guard.io" denied the request`,
		"spec.nodeName is '"+node+"': a sandbox pod must go through the scheduler")
	t.Logf("pinned sandbox pod refused: %v", err)
	// Without nodeName the same pod is fine.
	free := pinned.DeepCopy()
	free.Spec.NodeName = ""
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, free, metav1.CreateOptions{}); err != nil {
		t.Fatalf("the same sandbox pod without spec.nodeName: %v", err)
	}

	_, err = c.Create(ctx, harness.MustObject(t, fmt.Sprintf(`
apiVersion: agents.x-k8s.io/v1beta1
kind: Sandbox
metadata:
  name: pinned
  namespace: %s
spec:
  podTemplate:
    spec:
      nodeName: %s
      automountServiceAccountToken: false
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
`, ns, node)))
	if err == nil {
		t.Fatalf("a Sandbox with spec.podTemplate.spec.nodeName was created")
	}
	requireContains(t, "create pinned Sandbox", err.Error(), `"agent-sandbox.validate.sandbox-guard.io" denied the request`,
		"spec.podTemplate.spec.nodeName is '"+node+"'")

	// An ordinary pod may be bound by hand.
	plain := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns, Labels: map[string]string{"app": "plain"}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}}},
	}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatalf("an ordinary pod with spec.nodeName was refused: %v", err)
	}
}
