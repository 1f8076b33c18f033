package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// writeManifest writes a YAML document for kubectl -f into the run directory.
func writeManifest(t *testing.T, c *harness.Cluster, name, doc string) string {
	t.Helper()
	dir := filepath.Join(c.Dir, "manifests")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestDenials is scenario 4: what the webhook refuses, refused by the real
// API server with our message, through kubectl where a person would use it.
func TestDenials(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "deny")

	t.Run("PrivilegedTemplate/kubectl", func(t *testing.T) {
		f := writeManifest(t, c, "privileged-template.yaml", fmt.Sprintf(`
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxTemplate
metadata:
  name: privileged
  namespace: %s
spec:
  podTemplate:
    spec:
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        securityContext:
          privileged: true
`, ns))
		out, err := kubectl(c, "apply", "-f", f)
		if err == nil {
			t.Fatalf("kubectl apply of a privileged SandboxTemplate succeeded:\n%s", out)
		}
		requireContains(t, "kubectl apply", out, `admission webhook "agent-sandbox.validate.sandbox-guard.io" denied the request`,
			"SandboxTemplate "+ns+"/privileged violates the sandbox isolation policy",
			"spec.podTemplate.spec.containers[0] (main).securityContext.privileged is true; remove it")
		t.Logf("kubectl apply:\n%s", out)
	})

	t.Run("SandboxHostPath", func(t *testing.T) {
		_, err := c.Create(ctx, harness.MustObject(t, fmt.Sprintf(`
apiVersion: agents.x-k8s.io/v1beta1
kind: Sandbox
metadata:
  name: hostpath
  namespace: %s
spec:
  podTemplate:
    spec:
      automountServiceAccountToken: false
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
        volumeMounts:
        - name: host
          mountPath: /host
      volumes:
      - name: host
        hostPath:
          path: /
`, ns)))
		if err == nil {
			t.Fatal("a Sandbox with a hostPath volume was created")
		}
		requireContains(t, "create Sandbox", err.Error(), "denied the request", "Sandbox "+ns+"/hostpath violates the sandbox isolation policy",
			"hostPath volumes expose the node's filesystem")
		t.Logf("create Sandbox: %v", err)
	})

	t.Run("RuncSandboxPod/kubectl", func(t *testing.T) {
		f := writeManifest(t, c, "runc-pod.yaml", fmt.Sprintf(`
apiVersion: v1
kind: Pod
metadata:
  name: runc
  namespace: %s
  labels:
    agents.x-k8s.io/sandbox-name-hash: "%s"
spec:
  runtimeClassName: runc
  automountServiceAccountToken: false
  containers:
  - name: main
    image: registry.k8s.io/pause:3.10
`, ns, fnvHex("runc")))
		out, err := kubectl(c, "apply", "-f", f)
		if err == nil {
			t.Fatalf("kubectl apply of a runc sandbox pod succeeded:\n%s", out)
		}
		requireContains(t, "kubectl apply", out, `admission webhook "pods.validate.sandbox-guard.io" denied the request`,
			"Pod "+ns+"/runc violates the sandbox isolation policy", "spec.runtimeClassName is 'runc'; use a sandboxed runtime")
		t.Logf("kubectl apply:\n%s", out)
	})

	t.Run("RemoveIsolationLabel/kubectl", func(t *testing.T) {
		pod, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, sandboxPodSpec(ns, "running", nil), metav1.CreateOptions{})
		if err != nil {
			t.Fatalf("create sandbox pod: %v", err)
		}
		if pod.Labels[profileLabel] != "default" {
			t.Fatalf("sandbox pod created without %s (labels %v)", profileLabel, pod.Labels)
		}
		c.WaitFor(t, time.Minute, "sandbox pod running", func(ctx context.Context) (bool, error) {
			p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "running", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return harness.PodRunningReady(p), fmt.Errorf("phase %s", p.Status.Phase)
		})
		out, err := kubectl(c, "-n", ns, "patch", "pod", "running", "--type=json",
			"-p", `[{"op":"remove","path":"/metadata/labels/sandbox-guard.io~1network-profile"}]`)
		if err == nil {
			t.Fatalf("kubectl patch removing the isolation label succeeded:\n%s", out)
		}
		requireContains(t, "kubectl patch", out, `admission webhook "pods.validate.sandbox-guard.io" denied the request`,
			"Pod "+ns+"/running violates the sandbox isolation policy",
			"metadata.labels: sandbox-guard.io/network-profile=default was removed; isolation labels may not be removed or changed")
		t.Logf("kubectl patch:\n%s", out)
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "running", metav1.GetOptions{})
		if err != nil || p.Labels[profileLabel] != "default" {
			t.Fatalf("after the refused patch: labels %v, %v", p.Labels, err)
		}
		// Changing it is refused too; an unrelated label change passes.
		out, err = kubectl(c, "-n", ns, "label", "pod", "running", "--overwrite", profileLabel+"=open")
		if err == nil {
			t.Fatalf("kubectl label changing the isolation label succeeded:\n%s", out)
		}
		requireContains(t, "kubectl label", out, "denied the request")
		if out, err := kubectl(c, "-n", ns, "label", "pod", "running", "sandbox.users.io/note=ok"); err != nil {
			t.Fatalf("kubectl label with an unrelated label failed: %v\n%s", err, out)
		}
		// pods/status takes new labels as well (the API server keeps only
		// spec and owners there): the same refusal, from its own webhook.
		out, err = kubectl(c, "-n", ns, "patch", "pod", "running", "--subresource=status", "--type=json",
			"-p", `[{"op":"remove","path":"/metadata/labels/sandbox-guard.io~1network-profile"}]`)
		if err == nil {
			t.Fatalf("removing the isolation label through pods/status succeeded:\n%s", out)
		}
		requireContains(t, "kubectl patch --subresource=status", out,
			`admission webhook "pods-status.validate.sandbox-guard.io" denied the request`,
			"sandbox-guard.io/network-profile=default was removed")
		// An ordinary status write (the kubelet's kind) never reaches the webhook.
		if out, err := kubectl(c, "-n", ns, "patch", "pod", "running", "--subresource=status", "--type=merge",
			"-p", `{"status":{"message":"still fine"}}`); err != nil {
			t.Fatalf("a status patch without label changes failed: %v\n%s", err, out)
		}
	})

	t.Run("NetworkPolicyOpenIngress/kubectl", func(t *testing.T) {
		f := writeManifest(t, c, "open-ingress.yaml", fmt.Sprintf(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: open-ingress
  namespace: %s
spec:
  podSelector:
    matchLabels:
      sandbox-guard.io/network-profile: default
  policyTypes: [Ingress]
  ingress:
  - {}
`, ns))
		out, err := kubectl(c, "apply", "-f", f)
		if err == nil {
			t.Fatalf("kubectl apply of a NetworkPolicy opening sandbox ingress succeeded:\n%s", out)
		}
		requireContains(t, "kubectl apply", out, `admission webhook "networkpolicies.validate.sandbox-guard.io" denied the request`,
			"NetworkPolicy "+ns+"/open-ingress violates the sandbox isolation policy", "spec.ingress[0]", "the envelope allows ingress from")
		t.Logf("kubectl apply:\n%s", out)
		// The same policy for pods that are not sandboxes is fine.
		ok := writeManifest(t, c, "web-ingress.yaml", fmt.Sprintf(`
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: web-ingress
  namespace: %s
spec:
  podSelector:
    matchLabels:
      app: web
  ingress:
  - {}
`, ns))
		out, err = kubectl(c, "apply", "-f", ok)
		if err != nil {
			t.Fatalf("kubectl apply of a NetworkPolicy for non-sandbox pods failed: %v\n%s", err, out)
		}
		// It is open beyond the envelope and sandbox pods may carry app=web
		// too: stored scoped away from them, and kubectl shows why.
		requireContains(t, "kubectl apply (web-ingress)", out, "Warning: sandbox-guard: this NetworkPolicy goes beyond",
			"scoped it away from them")
		sel, err := kubectl(c, "-n", ns, "get", "networkpolicy", "web-ingress", "-o", "jsonpath={.spec.podSelector.matchExpressions}")
		if err != nil {
			t.Fatalf("kubectl get: %v\n%s", err, sel)
		}
		requireContains(t, "web-ingress podSelector", sel, `"key":"sandbox-guard.io/network-profile"`, `"operator":"DoesNotExist"`)
	})
}
