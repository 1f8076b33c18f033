package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// TestFailureBehaviour is scenario 6: with the webhook down, sandbox
// objects fail closed while ordinary pods and exempt namespaces go on; with
// the extender down, sandbox pods are still scheduled (ignorable).
func TestFailureBehaviour(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "failure")

	t.Run("WebhookDown", func(t *testing.T) {
		e.webhook.stop()
		defer func() {
			if err := e.webhook.start(c); err != nil {
				t.Fatalf("restart webhook: %v", err)
			}
			if err := e.waitWebhookActive(ctx); err != nil {
				t.Fatalf("webhook not called again after restart: %v", err)
			}
		}()

		_, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, sandboxPodSpec(ns, "sandbox", nil), metav1.CreateOptions{})
		if err == nil {
			t.Fatal("a sandbox pod was created while the webhook was down (want fail closed)")
		}
		requireContains(t, "sandbox pod create", err.Error(), `failed calling webhook "pods.mutate.sandbox-guard.io"`)
		t.Logf("sandbox pod refused: %v", err)

		// Sandbox kinds fail closed too.
		_, err = c.Create(ctx, harness.MustObject(t, fmt.Sprintf(plainTemplate, "while-down", ns)))
		if err == nil {
			t.Fatal("a SandboxTemplate was created while the webhook was down")
		}
		requireContains(t, "template create", err.Error(), `failed calling webhook "agent-sandbox.validate.sandbox-guard.io"`)

		// An ordinary pod: matchConditions keep it away from the webhook.
		plain := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "ordinary", Namespace: ns, Labels: map[string]string{"app": "web"}},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/pause:3.10"}}},
		}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, plain, metav1.CreateOptions{}); err != nil {
			t.Fatalf("ordinary pod refused while the webhook was down: %v", err)
		}
		// A sandbox pod in kube-system: the namespaceSelector exempts it.
		sys := sandboxPodSpec("kube-system", "exempt-sandbox", nil)
		if _, err := c.ControllerClient.CoreV1().Pods("kube-system").Create(ctx, sys, metav1.CreateOptions{}); err != nil {
			t.Fatalf("sandbox pod in kube-system refused while the webhook was down: %v", err)
		}
		defer c.DeletePod(ctx, "kube-system", "exempt-sandbox")
		got, _ := c.Client.CoreV1().Pods("kube-system").Get(ctx, "exempt-sandbox", metav1.GetOptions{})
		if got != nil && got.Labels[profileLabel] != "" {
			t.Fatalf("kube-system pod was mutated: labels %v", got.Labels)
		}
		// kubectl says the same thing to a person.
		f := writeManifest(t, c, "sandbox-pod-down.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: sandbox-kubectl
  namespace: %s
  labels:
    agents.x-k8s.io/sandbox-name-hash: "%s"
spec:
  automountServiceAccountToken: false
  containers:
  - name: main
    image: registry.k8s.io/pause:3.10
`, ns, fnvHex("sandbox-kubectl")))
		out, err := kubectl(c, "apply", "-f", f)
		if err == nil {
			t.Fatalf("kubectl created a sandbox pod while the webhook was down:\n%s", out)
		}
		requireContains(t, "kubectl apply", out, "failed calling webhook")
		t.Logf("kubectl apply:\n%s", out)
	})
	if t.Failed() {
		return
	}

	t.Run("WebhookBack", func(t *testing.T) {
		p, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, sandboxPodSpec(ns, "sandbox", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("sandbox pod after the webhook restart: %v", err)
		}
		assertHardened(t, p, "gvisor")
	})

	t.Run("ExtenderDown", func(t *testing.T) {
		e.extender.stop()
		defer func() {
			if err := e.extender.start(c); err != nil {
				t.Fatalf("restart extender: %v", err)
			}
		}()
		pod := sandboxPodSpec(ns, "while-extender-down", nil)
		if _, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		begin := time.Now()
		bound := waitPodBound(t, c, ns, pod.Name, time.Minute)
		t.Logf("sandbox pod bound to %s %s after creation with the extender down", bound.Spec.NodeName, time.Since(begin).Round(time.Millisecond))
		// The scheduler noticed the extender was unreachable and went on.
		var lines []string
		for _, l := range logLinesRaw(c.LogPath("kube-scheduler")) {
			if strings.Contains(l, "Skipping extender") && strings.Contains(l, ns+"/"+pod.Name) {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			t.Fatalf("kube-scheduler log has no \"Skipping extender\" line for %s/%s", ns, pod.Name)
		}
		t.Logf("kube-scheduler: %s", lines[0])
	})
}
