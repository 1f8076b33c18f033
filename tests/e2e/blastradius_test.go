package e2e

import (
	"context"
	"reflect"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestFailureNetworkPolicyBlastRadius: the NetworkPolicy webhooks apply
// only in namespaces labelled sandbox-guard.io/sandboxes=true. Through the
// real API server:
//   - in a namespace without sandboxes a tenant's policies are stored as
//     written (no webhook call);
//   - when the first sandbox pod starts there, the reconciler labels the
//     namespace and sends the policies written before through admission
//     again: an open policy for every pod comes back scoped away from
//     sandbox pods, one opening sandbox pods only is deleted, and new
//     writes are checked;
//   - with the webhook down, NetworkPolicy writes in an ordinary namespace
//     succeed, while in sandbox namespaces (labelled by an admin, or by the
//     reconciler) they fail closed.
func TestFailureNetworkPolicyBlastRadius(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	tenant, _ := tenantClient(t, c)
	sandboxNS := freshNamespace(t, c, "blast-sandbox")
	ordinary := ordinaryNamespace(t, c, "blast-ordinary")
	late := ordinaryNamespace(t, c, "blast-late")
	scope := metav1.LabelSelectorRequirement{Key: profileLabel, Operator: metav1.LabelSelectorOpDoesNotExist}

	openEgress := func(ns, name string, sel metav1.LabelSelector) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: sel,
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
			},
		}
	}
	sandboxOnly := metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
		{Key: "agents.x-k8s.io/sandbox-name-hash", Operator: metav1.LabelSelectorOpExists}}}

	t.Run("PoliciesWrittenBeforeTheFirstSandbox", func(t *testing.T) {
		for _, np := range []*networkingv1.NetworkPolicy{
			openEgress(late, "allow-all-egress", metav1.LabelSelector{}),
			openEgress(late, "sandbox-egress", sandboxOnly),
		} {
			if _, err := tenant.NetworkingV1().NetworkPolicies(late).Create(ctx, np, metav1.CreateOptions{}); err != nil {
				t.Fatalf("%s in a namespace without sandboxes: %v", np.Name, err)
			}
		}
		got, err := c.Client.NetworkingV1().NetworkPolicies(late).Get(ctx, "allow-all-egress", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got.Spec.PodSelector.MatchExpressions) != 0 {
			t.Fatalf("a policy in a namespace without sandboxes was changed: %+v", got.Spec.PodSelector)
		}

		// The first sandbox pod.
		if _, err := c.ControllerClient.CoreV1().Pods(late).Create(ctx, sandboxPodSpec(late, "first", nil), metav1.CreateOptions{}); err != nil {
			t.Fatalf("sandbox pod: %v", err)
		}
		begin := time.Now()
		c.WaitFor(t, 30*time.Second, "namespace "+late+" labelled", func(ctx context.Context) (bool, error) {
			ns, err := c.Client.CoreV1().Namespaces().Get(ctx, late, metav1.GetOptions{})
			return err == nil && ns.Labels[sandboxesLabel] == "true", err
		})
		t.Logf("namespace labelled %s after the first sandbox pod", time.Since(begin).Round(time.Millisecond))
		c.WaitFor(t, 30*time.Second, "allow-all-egress scoped away from sandbox pods", func(ctx context.Context) (bool, error) {
			got, err = c.Client.NetworkingV1().NetworkPolicies(late).Get(ctx, "allow-all-egress", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			m := got.Spec.PodSelector.MatchExpressions
			return len(m) == 1 && reflect.DeepEqual(m[0], scope), nil
		})
		c.WaitFor(t, 30*time.Second, "sandbox-egress deleted", func(ctx context.Context) (bool, error) {
			_, err := c.Client.NetworkingV1().NetworkPolicies(late).Get(ctx, "sandbox-egress", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		if len(got.Spec.Egress) != 1 || len(got.Spec.Egress[0].To) != 0 {
			t.Fatalf("allow-all-egress's rules changed: %+v", got.Spec.Egress)
		}
		t.Logf("checked again %s after the first sandbox pod: allow-all-egress scoped, sandbox-egress deleted",
			time.Since(begin).Round(time.Millisecond))
		if _, err := c.Client.NetworkingV1().NetworkPolicies(late).Get(ctx, netpolName, metav1.GetOptions{}); err != nil {
			t.Fatalf("%s in %s: %v", netpolName, late, err)
		}
		// From now on writes are checked as they come.
		_, err = tenant.NetworkingV1().NetworkPolicies(late).Create(ctx, openEgress(late, "sandbox-egress-2", sandboxOnly), metav1.CreateOptions{})
		if err == nil {
			t.Fatal("a policy opening sandbox pods was accepted in a labelled namespace")
		}
		requireContains(t, "new policy", err.Error(), `admission webhook "networkpolicies.validate.sandbox-guard.io" denied the request`)
	})
	if t.Failed() {
		return
	}

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
		np := openEgress(ordinary, "web-egress", metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}})
		if _, err := tenant.NetworkingV1().NetworkPolicies(ordinary).Create(ctx, np, metav1.CreateOptions{}); err != nil {
			t.Fatalf("a NetworkPolicy write in an ordinary namespace failed while the webhook was down: %v", err)
		}
		np.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{}
		if _, err := tenant.NetworkingV1().NetworkPolicies(ordinary).Update(ctx, np, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("a NetworkPolicy update in an ordinary namespace failed while the webhook was down: %v", err)
		}
		for _, ns := range []string{sandboxNS, late} {
			np := openEgress(ns, "web-egress", metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}})
			_, err := tenant.NetworkingV1().NetworkPolicies(ns).Create(ctx, np, metav1.CreateOptions{})
			if err == nil {
				t.Fatalf("a NetworkPolicy was written in sandbox namespace %s while the webhook was down (want fail closed)", ns)
			}
			requireContains(t, "NetworkPolicy in "+ns, err.Error(), `failed calling webhook "networkpolicies.mutate.sandbox-guard.io"`)
			t.Logf("%s: refused while the webhook is down: %v", ns, err)
		}
	})
}
