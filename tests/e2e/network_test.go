package e2e

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"sandbox-guard/tests/e2e/harness"
)

// TestNetworkIsolation is scenario 8: the webhook's network reconciler,
// running with a token of the sandbox-guard-webhook ServiceAccount bound to
// the ClusterRole of manifests/base/rbac.yaml and nothing else, keeps
// NetworkPolicy sandbox-guard-default in a namespace with sandbox pods and
// restores it when deleted; agent-sandbox's own per-template policy, which
// goes beyond the envelope, is narrowed into it by the mutating webhook (the
// controller wrote it) and stored without a reconcile error, and the warm
// pool works.
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

	// agent-sandbox's per-template policy (upstream's default: egress to all
	// but RFC 1918 and link-local) goes beyond the envelope. The controller
	// wrote it, so the mutating webhook narrowed it into the envelope: it is
	// stored, with the envelope's missing excepts, and the controller logs
	// no error for it.
	tplNP := "isolated-network-policy"
	var stored *networkingv1.NetworkPolicy
	c.WaitFor(t, 30*time.Second, "controller's NetworkPolicy "+tplNP, func(ctx context.Context) (bool, error) {
		var err error
		stored, err = c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, tplNP, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	if own := metav1.GetControllerOf(stored); own == nil || own.Kind != "SandboxTemplate" || own.Name != "isolated" {
		t.Fatalf("%s is not controlled by SandboxTemplate isolated: %+v", tplNP, stored.OwnerReferences)
	}
	wantExcept := map[string][]string{
		// upstream's, then the ones the webhook added
		"0.0.0.0/0": {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16",
			"0.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8"},
		"::/0": {"fc00::/7", "fe80::/10",
			"::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "2001::/32", "2002::/16"},
	}
	blocks := 0
	for _, r := range stored.Spec.Egress {
		for _, peer := range r.To {
			if peer.IPBlock == nil {
				continue
			}
			blocks++
			if want, ok := wantExcept[peer.IPBlock.CIDR]; !ok || !reflect.DeepEqual(peer.IPBlock.Except, want) {
				t.Fatalf("%s: ipBlock %s except %v, want %v", tplNP, peer.IPBlock.CIDR, peer.IPBlock.Except, want)
			}
		}
	}
	if blocks != 2 {
		t.Fatalf("%s: %d ipBlocks, want 2: %+v", tplNP, blocks, stored.Spec.Egress)
	}
	// Inside the envelope: the stored spec, sent by a tenant (whose policies
	// are never narrowed), passes our validation; upstream's spec as it is
	// does not.
	tenant, _ := tenantClient(t, c)
	probe := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "probe", Namespace: ns}, Spec: *stored.Spec.DeepCopy()}
	if _, err := tenant.NetworkingV1().NetworkPolicies(ns).Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		t.Fatalf("the stored %s, sent by a tenant, is refused (not inside the envelope?): %v", tplNP, err)
	}
	upstream := probe.DeepCopy()
	upstream.Spec.Egress[0].To[0].IPBlock.Except = wantExcept["0.0.0.0/0"][:4]
	upstream.Spec.Egress[0].To[1].IPBlock.Except = wantExcept["::/0"][:2]
	_, err := tenant.NetworkingV1().NetworkPolicies(ns).Create(ctx, upstream, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err == nil {
		t.Fatalf("upstream's default template policy, sent by a tenant, was accepted")
	}
	requireContains(t, "tenant's copy of upstream's policy", err.Error(),
		`admission webhook "networkpolicies.validate.sandbox-guard.io" denied the request`, "reaches 0.0.0.0/8 and 2 more ranges")
	// The controller compares what is stored with what it wants and updates
	// when they differ: give it a resync's worth of events (the pool's pods
	// coming up) and require that no reconcile of the policy failed.
	waitPoolReady(t, c, ns, "pool", 2)
	// Its updates send upstream's spec again; narrowed again, they store
	// nothing new (no write, so no event and no loop).
	again, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, tplNP, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != stored.ResourceVersion || !reflect.DeepEqual(again.Spec, stored.Spec) {
		t.Fatalf("%s was rewritten (resourceVersion %s -> %s): %+v", tplNP, stored.ResourceVersion, again.ResourceVersion, again.Spec.Egress)
	}
	// One error is the controller's own and harmless: under load it may
	// reconcile the template again before its cache holds the policy it
	// just created, and that second Create fails with AlreadyExists (seen
	// once in a run with the machine busy); the next reconcile compares
	// and finds nothing to do. Any other error, and any denial, fails.
	for i, l := range logLinesRaw(c.LogPath("agent-sandbox-controller")) {
		benign := strings.Contains(l, "Failed to create NetworkPolicy") && strings.Contains(l, `\"`+tplNP+`\" already exists`)
		if i >= ctrlMark && strings.Contains(l, tplNP) && !benign && (strings.Contains(l, "denied the request") ||
			strings.Contains(strings.ToLower(l), "error")) {
			t.Fatalf("controller log has an error for %s: %s", tplNP, l)
		}
	}
	t.Logf("%s stored by the controller, narrowed: %v", tplNP, stored.Spec.Egress[0].To)
	waitPoolReady(t, c, ns, "pool", 2)
	// A claim still works.
	claimFromPool(t, c, ns, "isolated-claim", "pool")

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
		// Labelling sandbox namespaces and re-checking their older policies
		// (docs/network.md, "Where NetworkPolicies are checked").
		{[]string{"patch", "networkpolicies/other", "-n", ns}, "yes"},
		{[]string{"update", "networkpolicies/other", "-n", ns}, "no"},
		{[]string{"patch", "namespaces/" + ns}, "yes"},
		{[]string{"get", "namespaces/" + ns}, "yes"},
		{[]string{"update", "namespaces/" + ns}, "no"},
		{[]string{"delete", "namespaces/" + ns}, "no"},
		{[]string{"create", "namespaces"}, "no"},
		{[]string{"create", "networkpolicies/" + netpolName, "-n", ns}, "yes"}, // server-side apply creating it
		{[]string{"create", "networkpolicies", "-n", ns}, "no"},                // a POST has no name
		{[]string{"get", "secrets", "-n", ns}, "no"},
		{[]string{"get", "pods", "-n", ns}, "no"},
	} {
		out, _ := kubectl(c, append([]string{"auth", "can-i", "--as=" + sa}, tc.args...)...)
		// The answer is the last line (for cluster-scoped resources kubectl
		// warns first that they are not namespaced).
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if answer := strings.TrimSpace(lines[len(lines)-1]); answer != tc.want {
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

// warnings collects the API server's Warning headers a client receives.
type warnings struct {
	mu   sync.Mutex
	text []string
}

func (w *warnings) HandleWarningHeader(code int, agent, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.text, "\n")
}

// tenantClient is a client whose requests carry the username "e2e-tenant"
// (impersonated by the admin; group system:masters so that RBAC allows
// everything): neither exempt nor the agent-sandbox controller.
func tenantClient(t *testing.T, c *harness.Cluster) (kubernetes.Interface, *warnings) {
	t.Helper()
	cfg := rest.CopyConfig(c.RESTConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "e2e-tenant", Groups: []string{"system:masters", "system:authenticated"}}
	w := &warnings{}
	cfg.WarningHandler = w
	cl, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cl, w
}

// TestNetworkPolicyUnion: NetworkPolicies add up, so a tenant's policy for
// "app: agent" (a label sandbox templates carry) with open egress would open
// sandbox pods with that label. Through the real API server: the mutating
// webhook stores it scoped away from sandbox pods (read back), with a
// warning, and it keeps that scope through an update that drops it; a
// policy whose selector can match only sandbox pods is refused.
func TestNetworkPolicyUnion(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "union")
	tenant, warns := tenantClient(t, c)
	scope := metav1.LabelSelectorRequirement{Key: profileLabel, Operator: metav1.LabelSelectorOpDoesNotExist}

	open := &networkingv1.NetworkPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: "agent-egress", Namespace: ns},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
			Egress:      []networkingv1.NetworkPolicyEgressRule{{}},
		},
	}
	created, err := tenant.NetworkingV1().NetworkPolicies(ns).Create(ctx, open, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a tenant's app=agent policy with open egress was refused (want scoped): %v", err)
	}
	got, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "agent-egress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent"},
		MatchExpressions: []metav1.LabelSelectorRequirement{scope}}
	if !reflect.DeepEqual(got.Spec.PodSelector, want) {
		t.Fatalf("stored podSelector %+v, want %+v", got.Spec.PodSelector, want)
	}
	if len(got.Spec.Egress) != 1 || len(got.Spec.Egress[0].To) != 0 {
		t.Fatalf("stored egress changed: %+v", got.Spec.Egress)
	}
	requireContains(t, "warnings on create", warns.all(), "so sandbox-guard scoped it away from them",
		"requires sandbox-guard.io/network-profile DoesNotExist")
	t.Logf("stored podSelector: %+v; warning: %s", got.Spec.PodSelector, warns.all())

	// An update that drops the requirement gets it back.
	upd := created.DeepCopy()
	upd.ResourceVersion = got.ResourceVersion
	upd.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"app": "agent", "tier": "x"}}
	if _, err := tenant.NetworkingV1().NetworkPolicies(ns).Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("update: %v", err)
	}
	got, err = c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "agent-egress", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Spec.PodSelector.MatchExpressions, []metav1.LabelSelectorRequirement{scope}) {
		t.Fatalf("after an update dropping it, stored podSelector %+v", got.Spec.PodSelector)
	}

	// Selecting sandbox pods only (by template): refused, not scoped.
	wide := open.DeepCopy()
	wide.Name = "template-egress"
	wide.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{"agents.x-k8s.io/sandbox-template-ref-hash": "49451132"}}
	_, err = tenant.NetworkingV1().NetworkPolicies(ns).Create(ctx, wide, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("a policy opening egress for a template's sandbox pods was accepted")
	}
	requireContains(t, "sandbox-only policy", err.Error(),
		`admission webhook "networkpolicies.validate.sandbox-guard.io" denied the request`,
		"spec.egress[0]: no 'to' peers means every destination")
	if _, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "template-egress", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("template-egress exists (err %v)", err)
	}
	// IPv4 embedded in 6to4: the metadata endpoint is refused in that form too.
	sixToFour := open.DeepCopy()
	sixToFour.Name = "six-to-four"
	sixToFour.Spec.PodSelector = metav1.LabelSelector{MatchLabels: map[string]string{profileLabel: "default"}}
	sixToFour.Spec.Egress = []networkingv1.NetworkPolicyEgressRule{{To: []networkingv1.NetworkPolicyPeer{
		{IPBlock: &networkingv1.IPBlock{CIDR: "2002:a9fe:a9fe::/48"}}}}}
	_, err = tenant.NetworkingV1().NetworkPolicies(ns).Create(ctx, sixToFour, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("egress to 6to4 of 169.254.169.254 was accepted")
	}
	requireContains(t, "6to4 policy", err.Error(), "embeds IPv4 169.254.169.254/32 (the cloud metadata endpoint)")
	t.Logf("refused: %v", err)
}
