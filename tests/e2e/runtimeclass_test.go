package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// TestRuntimeClasses: the webhook watches the cluster's RuntimeClasses
// through the real API server (with its ServiceAccount's RBAC from the
// manifests) and defaults a sandbox pod only to a class that exists with
// a sandbox handler, in the policy's order of preference; with none it
// refuses the pod naming what is missing, and a class named gvisor whose
// handler is runc is refused. Each subtest sets up the classes it needs (so
// any one runs alone); the shared classes are put back at the end.
func TestRuntimeClasses(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "rtclass")
	rcs := c.Client.NodeV1().RuntimeClasses()
	t.Cleanup(func() {
		if err := createRuntimeClasses(ctx, c); err != nil {
			t.Errorf("restoring the shared RuntimeClasses: %v", err)
			return
		}
		// Later tests expect gvisor again: wait until the webhook has seen it.
		c.WaitFor(t, 30*time.Second, "the webhook defaults to gvisor again", func(ctx context.Context) (bool, error) {
			p, err := dryRunPod(ctx, c, ns, nil)
			return err == nil && runtimeOf(p) == "gvisor", fmt.Errorf("pod %s, %v", runtimeOf(p), err)
		})
	})
	deleteRC := func(t *testing.T, name string) {
		t.Helper()
		if err := rcs.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			t.Fatalf("delete RuntimeClass %s: %v", name, err)
		}
	}
	waitDefault := func(t *testing.T, want string) {
		t.Helper()
		c.WaitFor(t, 30*time.Second, "the webhook to default to "+want, func(ctx context.Context) (bool, error) {
			p, err := dryRunPod(ctx, c, ns, nil)
			if err != nil {
				return false, err
			}
			return runtimeOf(p) == want, fmt.Errorf("runtimeClassName %q", runtimeOf(p))
		})
	}
	waitRefused := func(t *testing.T, what string, rc *string, fragments ...string) string {
		t.Helper()
		var msg string
		c.WaitFor(t, 30*time.Second, what, func(ctx context.Context) (bool, error) {
			p, err := dryRunPod(ctx, c, ns, rc)
			if err == nil {
				return false, fmt.Errorf("admitted with runtimeClassName %q", runtimeOf(p))
			}
			msg = err.Error()
			for _, f := range fragments {
				if !strings.Contains(msg, f) {
					return false, fmt.Errorf("refused, but without %q: %s", f, msg)
				}
			}
			return true, nil
		})
		return msg
	}

	t.Run("GvisorExists", func(t *testing.T) {
		// The shared classes: gvisor (runsc) is first in the preference list.
		p, err := dryRunPod(ctx, c, ns, nil)
		if err != nil {
			t.Fatalf("dry-run sandbox pod: %v", err)
		}
		assertHardened(t, p, "gvisor")
	})

	t.Run("OnlyKata", func(t *testing.T) {
		deleteRC(t, "gvisor")
		waitDefault(t, "kata")
	})

	t.Run("NoneExists", func(t *testing.T) {
		deleteRC(t, "gvisor")
		deleteRC(t, "kata")
		msg := waitRefused(t, "a sandbox pod refused for want of a class", nil,
			`admission webhook "pods.validate.sandbox-guard.io" denied the request`,
			"spec.runtimeClassName is not set: no RuntimeClass of gvisor, kata, kata-qemu, kata-clh, kata-fc, kata-vm-isolation exists in this cluster; create one (docs/operations.md)")
		t.Logf("refused: %s", msg)

		// A SandboxTemplate is applied, with a warning that its pods will not be.
		f := writeManifest(t, c, "rtclass-template.yaml", fmt.Sprintf(`
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxTemplate
metadata:
  name: needs-kata
  namespace: %s
spec:
  podTemplate:
    spec:
      runtimeClassName: kata
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
`, ns))
		out, err := kubectl(c, "apply", "--dry-run=server", "-f", f)
		if err != nil {
			t.Fatalf("kubectl apply of a SandboxTemplate naming a missing class failed:\n%s", out)
		}
		requireContains(t, "kubectl apply", out, "Warning: sandbox-guard: spec.podTemplate.spec.runtimeClassName: RuntimeClass 'kata' does not exist in this cluster")
		t.Logf("kubectl apply:\n%s", out)
	})

	t.Run("GvisorRunsRunc", func(t *testing.T) {
		deleteRC(t, "gvisor")
		deleteRC(t, "kata")
		fake := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runc"}
		if _, err := rcs.Create(ctx, fake, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create RuntimeClass gvisor (handler runc): %v", err)
		}
		msg := waitRefused(t, "a pod naming gvisor (handler runc) refused", ptr("gvisor"),
			"spec.runtimeClassName: RuntimeClass 'gvisor' has handler 'runc', which is not a sandbox")
		t.Logf("refused: %s", msg)
		// Nor is it written as a default: the pod without a class is refused too.
		waitRefused(t, "a pod without a class refused", nil,
			"'gvisor' has handler 'runc'", "no RuntimeClass of gvisor, kata")
		// Reported as misconfigured.
		c.WaitFor(t, 10*time.Second, "the misconfigured class in the metrics", func(ctx context.Context) (bool, error) {
			text, err := e.webhook.metrics()
			if err != nil {
				return false, err
			}
			v := metric(text, "sandbox_guard_runtimeclass_misconfigured", `runtimeclass="gvisor"`, `handler="runc"`)
			return v == 1, fmt.Errorf("sandbox_guard_runtimeclass_misconfigured{gvisor,runc} = %v", v)
		})
		if findLogLine(c.LogPath("sandbox-guard-webhook"), 0, "misconfigured RuntimeClass", `"runtimeclass":"gvisor"`, `"handler":"runc"`) == nil {
			t.Fatalf("no log line about the misconfigured class")
		}
		deleteRC(t, "gvisor")
	})
}

// dryRunPod creates a sandbox pod with dry run (the API server runs every
// admission step, webhooks included, and stores nothing), naming class rc
// if not nil, and returns what would have been stored.
func dryRunPod(ctx context.Context, c *harness.Cluster, ns string, rc *string) (*corev1.Pod, error) {
	p := sandboxPodSpec(ns, "rtclass-probe", nil)
	p.Spec.RuntimeClassName = rc
	out, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("no pod returned")
	}
	return out, nil
}

func runtimeOf(p *corev1.Pod) string {
	if p == nil || p.Spec.RuntimeClassName == nil {
		return ""
	}
	return *p.Spec.RuntimeClassName
}
