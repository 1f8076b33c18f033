package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// TestReservedLabels: agent-sandbox's agents.x-k8s.io/ pod labels are the
// controller's alone. The real controller, running as its ServiceAccount
// with the RBAC of its own manifests, makes and relabels warm pods through
// the webhook; anyone else (here the harness's admin, a system:masters
// user, which is neither the controller nor exempt) is refused when it
// plants a pod with a real warm pool's labels, relabels a pod, or writes
// those labels through pods/status. The adoptable path stays open
// (TestAdoptablePod).
func TestReservedLabels(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "reserved")

	// The controller really runs as its ServiceAccount's user name.
	who, err := c.ControllerClient.AuthenticationV1().SelfSubjectReviews().Create(ctx,
		&authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("SelfSubjectReview as the controller: %v", err)
	}
	if who.Status.UserInfo.Username != harness.ControllerUser {
		t.Fatalf("the controller's token authenticates as %q, want %q", who.Status.UserInfo.Username, harness.ControllerUser)
	}

	mustCreate(t, c, plainTemplate, "plain", ns)
	pool := mustCreate(t, c, warmPool, "pool", ns, 1, "plain")
	warm := waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 1, 2*time.Minute)[0]
	assertHardened(t, &warm, "gvisor")
	copied := map[string]string{}
	for _, k := range []string{harness.LabelWarmPoolSandbox, harness.LabelTemplateRefHash, harness.LabelSandboxNameHash} {
		if warm.Labels[k] == "" {
			t.Fatalf("warm pod %s has no %s (labels %v)", warm.Name, k, warm.Labels)
		}
		copied[k] = warm.Labels[k]
	}

	t.Run("PlantedWarmPod", func(t *testing.T) {
		planted := sandboxPodSpec(ns, "planted", nil)
		planted.Labels = copied
		_, err := c.Client.CoreV1().Pods(ns).Create(ctx, planted, metav1.CreateOptions{})
		if err == nil {
			t.Fatalf("a pod carrying warm pod %s's labels %v was created by %s", warm.Name, copied, harness.AdminUser)
		}
		requireContains(t, "create planted pod", err.Error(),
			`admission webhook "pods.validate.sandbox-guard.io" denied the request`,
			"Pod "+ns+"/planted violates the sandbox isolation policy",
			"agents.x-k8s.io/sandbox-name-hash, agents.x-k8s.io/sandbox-template-ref-hash, agents.x-k8s.io/warm-pool-sandbox are reserved for the agent-sandbox controller",
			"'"+harness.AdminUser+"' is not one of agentSandbox.controllerUsers")
		t.Logf("planted pod refused: %v", err)

		// Without the name-hash the pod is no Sandbox pod, yet the extender
		// would count it: the webhook configuration must still send it.
		poolOnly := planted.DeepCopy()
		poolOnly.Name = "planted-pool-only"
		delete(poolOnly.Labels, harness.LabelSandboxNameHash)
		_, err = c.Client.CoreV1().Pods(ns).Create(ctx, poolOnly, metav1.CreateOptions{})
		if err == nil {
			t.Fatalf("a pod carrying a warm pool's labels %v was created", poolOnly.Labels)
		}
		requireContains(t, "create pool-only pod", err.Error(), `"pods.validate.sandbox-guard.io" denied the request`,
			"agents.x-k8s.io/sandbox-template-ref-hash, agents.x-k8s.io/warm-pool-sandbox are reserved")
		pods, err := c.ListPods(ctx, ns, harness.LabelTemplateRefHash)
		if err != nil {
			t.Fatal(err)
		}
		if len(pods) != 1 || pods[0].UID != warm.UID {
			t.Fatalf("pods with the template's label: %d, want only the controller's warm pod %s", len(pods), warm.Name)
		}
	})

	// The controller copies a Sandbox's warm-pool and template labels into
	// its pod when a SandboxWarmPool is the Sandbox's controller owner, an
	// ownerReference anyone may write: refused at the Sandbox.
	t.Run("LaunderedThroughSandbox", func(t *testing.T) {
		_, err := c.Create(ctx, harness.MustObject(t, fmt.Sprintf(`
apiVersion: agents.x-k8s.io/v1beta1
kind: Sandbox
metadata:
  name: laundered
  namespace: %s
  labels:
    %s: "%s"
    %s: "%s"
  ownerReferences:
  - apiVersion: extensions.agents.x-k8s.io/v1beta1
    kind: SandboxWarmPool
    name: pool
    uid: %s
    controller: true
spec:
  podTemplate:
    spec:
      automountServiceAccountToken: false
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
`, ns, harness.LabelWarmPoolSandbox, copied[harness.LabelWarmPoolSandbox],
			harness.LabelTemplateRefHash, copied[harness.LabelTemplateRefHash], pool.GetUID())))
		if err == nil {
			t.Fatalf("a Sandbox owned by pool %s and carrying its labels was created", pool.GetName())
		}
		requireContains(t, "create laundering Sandbox", err.Error(),
			`"agent-sandbox.validate.sandbox-guard.io" denied the request`,
			"are reserved for the agent-sandbox controller", "claim another warm pool or template")
		if _, err := c.Client.CoreV1().Pods(ns).Get(ctx, "laundered", metav1.GetOptions{}); err == nil {
			t.Fatalf("the controller made a pod for the refused Sandbox")
		}
	})

	t.Run("Relabel", func(t *testing.T) {
		out, err := kubectl(c, "-n", ns, "label", "pod", warm.Name, "--overwrite", harness.LabelWarmPoolSandbox+"=00000000")
		if err == nil {
			t.Fatalf("relabelling the controller's warm pod succeeded:\n%s", out)
		}
		requireContains(t, "kubectl label", out, `"pods.validate.sandbox-guard.io" denied the request`,
			harness.LabelWarmPoolSandbox+" was changed from '"+copied[harness.LabelWarmPoolSandbox]+"'")
		out, err = kubectl(c, "-n", ns, "label", "pod", warm.Name, harness.LabelWarmPoolSandbox+"-")
		if err == nil {
			t.Fatalf("removing the warm-pool label of the controller's warm pod succeeded:\n%s", out)
		}
		requireContains(t, "kubectl label -", out, harness.LabelWarmPoolSandbox+"="+copied[harness.LabelWarmPoolSandbox]+" was removed")

		// An ordinary pod given a template's label, through the pod and
		// through pods/status (which takes labels too).
		plain := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "plain", Namespace: ns, Labels: map[string]string{"app": "plain"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
				NodeSelector: map[string]string{generalNodePool: "true"}},
		}
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, plain, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ordinary pod: %v", err)
		}
		hash := copied[harness.LabelTemplateRefHash]
		out, err = kubectl(c, "-n", ns, "label", "pod", "plain", harness.LabelTemplateRefHash+"="+hash)
		if err == nil {
			t.Fatalf("labelling an ordinary pod with a template's hash succeeded:\n%s", out)
		}
		requireContains(t, "kubectl label ordinary", out, `"pods.validate.sandbox-guard.io" denied the request`,
			harness.LabelTemplateRefHash+"="+hash+" was added")
		out, err = kubectl(c, "-n", ns, "patch", "pod", "plain", "--subresource=status", "--type=merge",
			"-p", fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, harness.LabelTemplateRefHash, hash))
		if err == nil {
			t.Fatalf("adding a template's hash through pods/status succeeded:\n%s", out)
		}
		requireContains(t, "kubectl patch --subresource=status", out,
			`admission webhook "pods-status.validate.sandbox-guard.io" denied the request`,
			harness.LabelTemplateRefHash+"="+hash+" was added")
		// Ordinary labels and status writes still pass.
		if out, err := kubectl(c, "-n", ns, "label", "pod", warm.Name, "sandbox.users.io/note=ok"); err != nil {
			t.Fatalf("an ordinary label on the warm pod was refused: %v\n%s", err, out)
		}
		if out, err := kubectl(c, "-n", ns, "patch", "pod", "plain", "--subresource=status", "--type=merge",
			"-p", `{"status":{"message":"fine"}}`); err != nil {
			t.Fatalf("a status patch without label changes failed: %v\n%s", err, out)
		}
	})

	// The controller still does its own work: a claim takes the warm pod,
	// the controller relabels it (warm-pool label removed) and the pool
	// refills, all through the webhook.
	t.Run("ControllerAdoptsAndRefills", func(t *testing.T) {
		sandbox := claimFromPool(t, c, ns, "claim", "pool")
		pod := sandboxPod(ctx, t, c, ns, sandbox)
		if pod.UID != warm.UID {
			t.Fatalf("claim got pod %s, not the warm pod %s", pod.Name, warm.Name)
		}
		c.WaitFor(t, time.Minute, "the controller relabels the adopted pod", func(ctx context.Context) (bool, error) {
			p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			_, still := p.Labels[harness.LabelWarmPoolSandbox]
			return !still, fmt.Errorf("labels %v", p.Labels)
		})
		refill := waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 1, 2*time.Minute)[0]
		if refill.UID == warm.UID {
			t.Fatalf("no new warm pod after the claim")
		}
		assertHardened(t, &refill, "gvisor")
	})
}
