package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

const adoptSandbox = `
apiVersion: agents.x-k8s.io/v1beta1
kind: Sandbox
metadata:
  name: adoptee
  namespace: %s
spec:
  podTemplate:
    spec:
      automountServiceAccountToken: false
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
`

// TestAdoptablePod: agent-sandbox adopts an unowned pod labelled
// agents.x-k8s.io/adoptable=true into the Sandbox of the same name, with one
// patch that adds the controller reference and the name-hash label. The
// webhook hardens such a pod when it is created, so the real controller's
// adoption passes; an ordinary pod given the same marks by hand is judged
// whole and refused.
func TestAdoptablePod(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "adopt")

	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "adoptee", Namespace: ns,
			Labels: map[string]string{"agents.x-k8s.io/adoptable": "true"}},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr(false),
			Containers:                   []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
	created, err := c.Client.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create adoptable pod: %v", err)
	}
	if created.Spec.RuntimeClassName == nil || *created.Spec.RuntimeClassName != "gvisor" ||
		created.Labels[profileLabel] != "default" {
		t.Fatalf("adoptable pod not hardened at creation: runtimeClassName %v, labels %v",
			created.Spec.RuntimeClassName, created.Labels)
	}

	mustCreate(t, c, adoptSandbox, ns)
	c.WaitFor(t, 2*time.Minute, "the controller adopts the pod", func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "adoptee", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		if p.UID != created.UID {
			return false, fmt.Errorf("pod was replaced (uid %s, want %s)", p.UID, created.UID)
		}
		owned := len(p.OwnerReferences) == 1 && p.OwnerReferences[0].Kind == "Sandbox" &&
			p.OwnerReferences[0].Name == "adoptee"
		hashed := p.Labels[harness.LabelSandboxNameHash] == fnvHex("adoptee")
		return owned && hashed, fmt.Errorf("owners %v, labels %v", p.OwnerReferences, p.Labels)
	})

	// An ordinary pod, never hardened, given a sandbox's mark afterwards.
	plain := pod.DeepCopy()
	plain.Name = "plain"
	plain.Labels = map[string]string{"app": "plain"}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, plain, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create plain pod: %v", err)
	}
	out, err := kubectl(c, "-n", ns, "label", "pod", "plain", harness.LabelSandboxNameHash+"="+fnvHex("plain"))
	if err == nil {
		t.Fatalf("labelling an ordinary pod as a sandbox pod succeeded:\n%s", out)
	}
	requireContains(t, "kubectl label", out, `admission webhook "pods.validate.sandbox-guard.io" denied the request`,
		"makes an existing pod a Sandbox pod")
}
