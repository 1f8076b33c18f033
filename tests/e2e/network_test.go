package e2e

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNetworkIsolation is scenario 8: the webhook's network reconciler,
// running with a token of the sandbox-guard-webhook ServiceAccount bound to
// the ClusterRole of manifests/base/rbac.yaml and nothing else, keeps
// NetworkPolicy sandbox-guard-default in a namespace with sandbox pods and
// restores it when deleted; agent-sandbox's own per-template policy, which
// goes beyond the envelope, is refused, and the warm pool works regardless.
func TestNetworkIsolation(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "netiso")
	ctrlMark := countLines(c.LogPath("agent-sandbox-controller"))
	whMark := countLines(c.LogPath("sandbox-guard-webhook"))

	mustCreate(t, c, plainTemplate, "isolated", ns)
	mustCreate(t, c, warmPool, "pool", ns, 2, "isolated")
	waitWarmPods(t, c, ns, "agents.x-k8s.io/warm-pool-sandbox", 2, 2*time.Minute)

	var np *networkingv1.NetworkPolicy
	c.WaitFor(t, 30*time.Second, "NetworkPolicy "+netpolName+" in "+ns, func(ctx context.Context) (bool, error) {
		var err error
		np, err = c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, netpolName, metav1.GetOptions{})
		return err == nil, err
	})
	wantSel := metav1.LabelSelector{MatchLabels: map[string]string{profileLabel: "default"}}
	if !reflect.DeepEqual(np.Spec.PodSelector, wantSel) {
		t.Fatalf("%s podSelector %+v, want %+v", netpolName, np.Spec.PodSelector, wantSel)
	}
	if !reflect.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Fatalf("%s policyTypes %v, want [Ingress Egress]", netpolName, np.Spec.PolicyTypes)
	}
	excepts := map[string]bool{}
	for _, r := range np.Spec.Egress {
		for _, peer := range r.To {
			if peer.IPBlock != nil {
				for _, x := range peer.IPBlock.Except {
					excepts[x] = true
				}
			}
		}
	}
	for _, want := range []string{"10.0.0.0/8", "100.64.0.0/10", "169.254.0.0/16", "fc00::/7"} {
		if !excepts[want] {
			t.Fatalf("%s egress does not except %s: %+v", netpolName, want, np.Spec.Egress)
		}
	}
	managers := []string{}
	for _, mf := range np.ManagedFields {
		managers = append(managers, mf.Manager+"/"+string(mf.Operation))
	}
	if len(managers) != 1 || managers[0] != "sandbox-guard/Apply" {
		t.Fatalf("%s managed by %v, want only sandbox-guard (server-side apply)", netpolName, managers)
	}
	t.Logf("%s: podSelector %v, policyTypes %v, %d ingress and %d egress rules, managed by %v",
		netpolName, np.Spec.PodSelector.MatchLabels, np.Spec.PolicyTypes, len(np.Spec.Ingress), len(np.Spec.Egress), managers)

	// Deleted by someone: it comes back.
	oldUID := np.UID
	if err := c.Client.NetworkingV1().NetworkPolicies(ns).Delete(ctx, netpolName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deleted := time.Now()
	c.WaitFor(t, 30*time.Second, netpolName+" restored", func(ctx context.Context) (bool, error) {
		got, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, netpolName, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return got.UID != oldUID, fmt.Errorf("still the old object")
	})
	t.Logf("%s restored %s after its deletion", netpolName, time.Since(deleted).Round(time.Millisecond))
	if findLogLine(c.LogPath("sandbox-guard-webhook"), whMark, "was deleted; restoring it", ns) == nil {
		t.Fatalf("webhook log does not say it restored %s in %s", netpolName, ns)
	}
	if l := logLines(c.LogPath("sandbox-guard-webhook"), whMark, "cannot apply network policy"); len(l) > 0 {
		t.Fatalf("reconciler failed to apply (RBAC too narrow?): %v", l[0])
	}

	// agent-sandbox's per-template policy allows 100.64.0.0/10 (and more)
	// and is refused by the envelope: absent, retried by the controller.
	tplNP := "isolated-network-policy"
	var ctrlLines []string
	c.WaitFor(t, 30*time.Second, "controller's refused NetworkPolicy in its log", func(ctx context.Context) (bool, error) {
		ctrlLines = ctrlLines[:0]
		for i, l := range logLinesRaw(c.LogPath("agent-sandbox-controller")) {
			if i >= ctrlMark && strings.Contains(l, tplNP) && strings.Contains(l, "denied the request") {
				ctrlLines = append(ctrlLines, l)
			}
		}
		return len(ctrlLines) > 0, nil
	})
	if _, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, tplNP, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("agent-sandbox's %s exists (err %v): the envelope should have refused it", tplNP, err)
	}
	t.Logf("controller log (%d refusals so far), first: %s", len(ctrlLines), ctrlLines[0])
	waitPoolReady(t, c, ns, "pool", 2)
	// A claim still works.
	mustCreate(t, c, `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxClaim
metadata:
  name: isolated-claim
  namespace: %s
spec:
  warmPoolRef:
    name: pool
`, ns)
	waitClaimReady(t, c, ns, "isolated-claim")

	// Exactly enough: what the ServiceAccount may and may not do.
	sa := "system:serviceaccount:" + systemNS + ":" + webhookSA
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"list", "pods", "-A"}, "yes"},
		{[]string{"watch", "networkpolicies", "-A"}, "yes"},
		{[]string{"patch", "networkpolicies/" + netpolName, "-n", ns}, "yes"},
		{[]string{"delete", "networkpolicies/" + netpolName, "-n", ns}, "yes"},
		{[]string{"patch", "networkpolicies/other", "-n", ns}, "no"},
		{[]string{"create", "networkpolicies/" + netpolName, "-n", ns}, "yes"}, // server-side apply creating it
		{[]string{"create", "networkpolicies", "-n", ns}, "no"},                // a POST has no name
		{[]string{"get", "secrets", "-n", ns}, "no"},
		{[]string{"get", "pods", "-n", ns}, "no"},
	} {
		out, _ := kubectl(c, append([]string{"auth", "can-i", "--as=" + sa}, tc.args...)...)
		if strings.TrimSpace(out) != tc.want {
			t.Fatalf("kubectl auth can-i %s as %s: %q, want %q", strings.Join(tc.args, " "), sa, strings.TrimSpace(out), tc.want)
		}
	}
	m, err := e.webhook.metrics()
	if err != nil {
		t.Fatal(err)
	}
	if ok := metric(m, "sandbox_guard_network_reconciles_total", `action="apply"`, `result="ok"`); ok < 2 {
		t.Fatalf("sandbox_guard_network_reconciles_total{apply,ok}=%v, want >= 2", ok)
	}
	if failed := metric(m, "sandbox_guard_network_reconciles_total", `result="failed"`); failed != 0 {
		t.Fatalf("sandbox_guard_network_reconciles_total{failed}=%v", failed)
	}
}
