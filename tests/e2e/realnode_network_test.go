package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// proberScript probes every ip:port in $TARGETS once a second (an HTTP GET
// over nc, answered by busybox httpd) and prints one line per probe and a
// ROUND line after each round (the API server, which speaks only TLS,
// answers the plain GET with "Client sent an HTTP request to an HTTPS
// server", which counts as reached). It also serves $SERVE_PORT (when set) with
// httpd, so that the prober pods are each other's ingress targets.
// nc, not wget: Debian's static busybox wget crashes in its name lookup.
const proberScript = `if [ -n "$SERVE_PORT" ]; then mkdir -p /tmp/www && echo pod >/tmp/www/index.html && ` +
	`httpd -p "$SERVE_PORT" -h /tmp/www; fi; ` +
	`while true; do for t in $TARGETS; do case $t in ` +
	`dns/*) if timeout 3 nslookup ` + dnsProbeName + ` "${t#dns/}" 2>/dev/null | grep -q ` + dnsProbeAddr + `; ` +
	`then echo "PROBE $t OK"; else echo "PROBE $t FAIL"; fi ;; ` +
	`*) if printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 "${t%:*}" "${t##*:}" 2>/dev/null | grep -qE '200 OK|HTTPS server'; ` +
	`then echo "PROBE $t OK"; else echo "PROBE $t FAIL"; fi ;; ` +
	`esac; done; echo ROUND; sleep 1; done`

// A target "dns/IP" is a name resolution over UDP with the pod's own
// resolver (busybox nslookup) against the DNS server at IP: OK when the
// answer carries dnsProbeAddr. The kube-dns stand-in (sg-dns,
// tests/e2e/node/dns) answers names under dnsProbeZone with it.
const (
	dnsProbeZone = "e2e.test"
	dnsProbeName = "probe." + dnsProbeZone
	dnsProbeAddr = "192.0.2.53"
)

// ingressPort is the port the sandbox and ordinary probers serve.
const ingressPort = "8080"

// enforcedRealNode skips (with one loud line) where the real node or its
// NetworkPolicy enforcer cannot run; otherwise it starts the real node with
// the "outside" namespace and the enforcer, for the scenario tests below.
func enforcedRealNode(t *testing.T) (*env, *harness.RealNode) {
	t.Helper()
	harness.SkipWithoutRealNode(t)
	if miss := harness.NetworkPolicyMissing(); miss != "" {
		fmt.Fprintf(os.Stderr, "e2e: REAL NODE SKIPPED (%s): this machine lacks %s\n", t.Name(), miss)
		t.Skipf("REAL NODE SKIPPED: this machine lacks %s", miss)
	}
	e := shared(t)
	node := e.c.StartRealNode(t, harness.RealNodeOptions{Name: "real-1"})
	if err := node.StartOutside(); err != nil {
		t.Fatalf("outside namespace: %v", err)
	}
	if err := node.StartNetworkPolicy(); err != nil {
		t.Fatalf("NetworkPolicy enforcer: %v", err)
	}
	return e, node
}

// TestRealNodeNetworkPolicy is issue 9's scenario 2 (egress part) on the
// real node with a real NetworkPolicy enforcer: from a sandbox pod (under
// gVisor, selected by the webhook's sandbox-guard-default policy) the
// metadata address and another pod are unreachable and the "internet"
// address is reachable; the same probes from an ordinary runc pod and from
// a gVisor pod that is not a sandbox (no policy selects either) all
// succeed, so each block comes from policy, not from the test network or
// gVisor's network stack. Both
// outside addresses are served from a network namespace the test creates.
func TestRealNodeNetworkPolicy(t *testing.T) {
	e, node := enforcedRealNode(t)
	c := e.c
	ctx := context.Background()
	if err := node.CheckFence(); err != nil {
		t.Fatalf("pod network not fenced with the enforcer running: %v", err)
	}

	ns := freshNamespace(t, c, "realnet")

	// The pod the probers try to reach inside the cluster; an ordinary
	// pod, so its ingress is open to every prober.
	server := ordinaryProbePod(ns, "server", node.Name)
	server.Spec.Containers[0].Command = []string{"sh", "-c",
		"mkdir -p /tmp/www && echo pod >/tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, server, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create server pod: %v", err)
	}
	// A stand-in for cluster DNS: an ordinary pod with kube-dns's label in
	// kube-system, which the envelope's DNS rule selects. It resolves
	// names under dnsProbeZone over UDP 53 (sg-dns), and serves HTTP on
	// TCP 53 and on 80 (port probes: TCP 53 is in the DNS rule, 80 not).
	dns := ordinaryProbePod(metav1.NamespaceSystem, "sg-e2e-dns-"+ns, node.Name)
	dns.Labels = map[string]string{"k8s-app": "kube-dns"}
	dns.Spec.Containers[0].Command = []string{"sh", "-c",
		"mkdir -p /tmp/www && echo dns >/tmp/www/index.html && httpd -p 53 -h /tmp/www && " +
			"(sg-dns " + dnsProbeZone + " " + dnsProbeAddr + " &) && exec httpd -f -p 80 -h /tmp/www"}
	createOutsideNS(t, c, dns)
	serverIP := waitPodRunningReady(t, c, ns, "server", 2*time.Minute).Status.PodIP
	dnsIP := waitPodRunningReady(t, c, dns.Namespace, dns.Name, 2*time.Minute).Status.PodIP

	metadata, internet, pod := harness.MetadataIP+":80", harness.InternetIP+":80", serverIP+":80"
	dns53, dns80, resolve := dnsIP+":53", dnsIP+":80", "dns/"+dnsIP
	// The API server listens on 127.0.0.1 only; the forwarder makes it
	// reachable on the bridge's host address, which the envelope's egress
	// (public addresses only) leaves out.
	api := node.ForwardAPIServer(t)
	egressTargets := strings.Join([]string{metadata, internet, pod, dns53, dns80, resolve, api}, " ")
	sandbox := sandboxPodSpec(ns, "sandbox-prober", nil)
	sandbox.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node.Name}
	sandbox.Spec.TerminationGracePeriodSeconds = ptr(int64(1))
	sandbox.Spec.Containers[0].Image = harness.BusyboxImage
	sandbox.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	sandbox.Spec.Containers[0].Command = []string{"sh", "-c", proberScript}
	sandbox.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGETS", Value: egressTargets},
		{Name: "SERVE_PORT", Value: ingressPort}}
	// The sandbox labels are the controller's to write (issue 11).
	if _, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, sandbox, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", sandbox.Name, err)
	}
	// The webhook's reconciler writes its policy once a sandbox pod is in
	// the namespace.
	c.WaitFor(t, time.Minute, "sandbox-guard-default NetworkPolicy in "+ns, func(ctx context.Context) (bool, error) {
		_, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, netpolName, metav1.GetOptions{})
		return err == nil, err
	})
	sb := waitPodRunningReady(t, c, ns, "sandbox-prober", 2*time.Minute)
	assertHardened(t, sb, "gvisor")
	assertRuntime(t, node, sb, "runsc")
	sandboxIn := sb.Status.PodIP + ":" + ingressPort
	targets := egressTargets + " " + sandboxIn

	ordinary := ordinaryProbePod(ns, "ordinary-prober", node.Name)
	ordinary.Spec.Containers[0].Command = []string{"sh", "-c", proberScript}
	ordinary.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGETS", Value: targets}}
	// Not a sandbox pod either (no policy selects it), but under gVisor:
	// shows that what the sandbox pod cannot reach is refused by policy,
	// not by gVisor's network stack.
	plainGVisor := ordinaryProbePod(ns, "gvisor-prober", node.Name)
	plainGVisor.Spec.RuntimeClassName = ptr("gvisor")
	plainGVisor.Spec.Containers[0].Command = []string{"sh", "-c", proberScript}
	plainGVisor.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGETS", Value: targets}}
	for _, p := range []*corev1.Pod{ordinary, plainGVisor} {
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", p.Name, err)
		}
	}
	// Ingress: the envelope admits only agent-sandbox's router (app:
	// sandbox-router in agent-sandbox-system). A pod with those labels,
	// one with the router's label in another namespace, and one in the
	// router's namespace with another label all probe the sandbox pod's
	// port and, for comparison, the ordinary server pod.
	ingressTargets := sandboxIn + " " + pod
	router := ordinaryProbePod(harness.ControllerNamespace, "sg-e2e-router-"+ns, node.Name)
	router.Labels = map[string]string{"app": "sandbox-router"}
	lookalike := ordinaryProbePod(ns, "router-lookalike", node.Name)
	lookalike.Labels = map[string]string{"app": "sandbox-router"}
	neighbour := ordinaryProbePod(harness.ControllerNamespace, "sg-e2e-neighbour-"+ns, node.Name)
	neighbour.Labels = map[string]string{"app": "not-the-router"}
	for _, p := range []*corev1.Pod{router, lookalike, neighbour} {
		p.Spec.Containers[0].Command = []string{"sh", "-c", proberScript}
		p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGETS", Value: ingressTargets}}
	}
	createOutsideNS(t, c, router)
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, lookalike, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", lookalike.Name, err)
	}
	createOutsideNS(t, c, neighbour)

	od := waitPodRunningReady(t, c, ns, "ordinary-prober", 2*time.Minute)
	assertRuntime(t, node, od, "runc")
	gv := waitPodRunningReady(t, c, ns, "gvisor-prober", 2*time.Minute)
	assertRuntime(t, node, gv, "runsc")
	if _, ok := gv.Labels[profileLabel]; ok {
		t.Fatalf("gvisor-prober got the profile label %v: it must not be a sandbox pod", gv.Labels)
	}

	type prober struct {
		ns, name string
		want     map[string]string
	}
	probers := []prober{
		{ns, "sandbox-prober", map[string]string{metadata: "FAIL", internet: "OK", pod: "FAIL", dns53: "OK", dns80: "FAIL", resolve: "OK", api: "FAIL"}},
		{ns, "ordinary-prober", map[string]string{metadata: "OK", internet: "OK", pod: "OK", dns53: "OK", dns80: "OK", resolve: "OK", api: "OK", sandboxIn: "FAIL"}},
		{ns, "gvisor-prober", map[string]string{metadata: "OK", internet: "OK", pod: "OK", dns53: "OK", dns80: "OK", resolve: "OK", api: "OK", sandboxIn: "FAIL"}},
		{router.Namespace, router.Name, map[string]string{sandboxIn: "OK", pod: "OK"}},
		{ns, "router-lookalike", map[string]string{sandboxIn: "FAIL", pod: "OK"}},
		{neighbour.Namespace, neighbour.Name, map[string]string{sandboxIn: "FAIL", pod: "OK"}},
	}
	names := map[string]string{metadata: "metadata " + metadata, internet: "internet " + internet,
		pod: "ordinary pod " + pod, dns53: "kube-dns stand-in " + dns53, dns80: "kube-dns stand-in " + dns80,
		resolve: "name resolution (UDP) of " + dnsProbeName + " at the kube-dns stand-in " + dnsIP,
		api:     "API server (forwarded) " + api, sandboxIn: "sandbox pod " + sandboxIn}
	for _, pr := range probers {
		t.Run(strings.TrimSuffix(pr.name, "-"+ns), func(t *testing.T) {
			waitPodRunningReady(t, c, pr.ns, pr.name, 2*time.Minute)
			// The enforcer applies policies to a new pod within a few
			// seconds; the answer must then hold for 3 rounds in a row.
			var rounds []map[string]string
			deadline := time.Now().Add(90 * time.Second)
			for {
				out, err := kubectl(c, "logs", "-n", pr.ns, pr.name, "-c", "main")
				if err != nil {
					t.Fatalf("kubectl logs %s/%s: %v: %s", pr.ns, pr.name, err, out)
				}
				rounds = probeRounds(out)
				if n := len(rounds); n >= 3 && roundsMatch(rounds[n-3:], pr.want) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: probes never settled on %v for 3 rounds; last rounds %v\nkube-router log ends:\n%s",
						pr.name, pr.want, lastRounds(rounds, 5), tailOf(c.LogPath("kube-router"), 20))
				}
				time.Sleep(time.Second)
			}
			last := rounds[len(rounds)-1]
			for target, res := range last {
				t.Logf("%s -> %s: %s", pr.name, names[target], res)
			}
		})
	}
	if err := node.CheckFence(); err != nil {
		t.Fatalf("pod network not fenced after the probes: %v", err)
	}
}

// createOutsideNS creates a prober pod in a namespace the test shares with
// others (kube-system, agent-sandbox-system) and deletes it at the end.
func createOutsideNS(t *testing.T, c *harness.Cluster, p *corev1.Pod) {
	t.Helper()
	if _, err := c.Client.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s/%s: %v", p.Namespace, p.Name, err)
	}
	t.Cleanup(func() { _ = c.DeletePod(context.Background(), p.Namespace, p.Name) })
}

// probeRounds parses proberScript's output into complete rounds.
func probeRounds(out string) []map[string]string {
	var rounds []map[string]string
	cur := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 3 && f[0] == "PROBE":
			cur[f[1]] = f[2]
		case len(f) == 1 && f[0] == "ROUND":
			rounds = append(rounds, cur)
			cur = map[string]string{}
		}
	}
	return rounds
}

func roundsMatch(rounds []map[string]string, want map[string]string) bool {
	for _, r := range rounds {
		for ip, res := range want {
			if r[ip] != res {
				return false
			}
		}
	}
	return true
}

func lastRounds(rounds []map[string]string, n int) []map[string]string {
	if len(rounds) > n {
		return rounds[len(rounds)-n:]
	}
	return rounds
}

func tailOf(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// settleProbes waits (90 s at most) until the prober's last 3 rounds, among
// those after the first skip, all give want, and returns every round. It
// fails with the last rounds and kube-router's log otherwise.
func settleProbes(t *testing.T, c *harness.Cluster, ns, pod string, want map[string]string, skip int) []map[string]string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		out, err := kubectl(c, "logs", "-n", ns, pod, "-c", "main")
		if err != nil {
			t.Fatalf("kubectl logs %s/%s: %v: %s", ns, pod, err, out)
		}
		rounds := probeRounds(out)
		if n := len(rounds); n-skip >= 3 && roundsMatch(rounds[n-3:], want) {
			return rounds
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: probes never settled on %v for 3 rounds (after round %d); last rounds %v\nkube-router log ends:\n%s",
				pod, want, skip, lastRounds(rounds, 5), tailOf(c.LogPath("kube-router"), 20))
		}
		time.Sleep(time.Second)
	}
}

// narrowProfilePolicy is the webhook's built-in policy (as it prints it)
// plus a profile "no-internet" (the default's ingress and DNS, no other
// egress) that is the default and only profile of namespace ns. The
// envelope stays the built-in one, so the profile is narrower than it.
func narrowProfilePolicy(t *testing.T, bin, ns string) []byte {
	t.Helper()
	out, err := exec.Command(bin, "--print-default-policy").Output()
	if err != nil {
		t.Fatalf("%s --print-default-policy: %v", bin, err)
	}
	var pol map[string]any
	if err := json.Unmarshal(out, &pol); err != nil {
		t.Fatalf("built-in policy: %v", err)
	}
	net, _ := pol["network"].(map[string]any)
	profiles, _ := net["profiles"].(map[string]any)
	def, _ := profiles["default"].(map[string]any)
	if def == nil || def["ingress"] == nil {
		t.Fatalf("built-in policy has no network.profiles.default.ingress: %s", out)
	}
	profiles["no-internet"] = map[string]any{"ingress": def["ingress"], "egress": []any{}, "dns": true}
	pol["namespaces"] = map[string]any{ns: map[string]any{"network": map[string]any{
		"defaultProfile": "no-internet", "allowedProfiles": []string{"no-internet"}}}}
	b, err := json.MarshalIndent(pol, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRealNodeNetworkProfile is issue 9's scenario 2, "a NetworkPolicy
// inside the envelope takes effect", on the real node: in a namespace whose
// profile allows no egress but DNS (narrower than the envelope), a sandbox
// pod cannot reach the "internet" address; a tenant NetworkPolicy for the
// sandbox pods allowing it (inside the envelope) is admitted and the probe
// then succeeds; one for the sandbox pods allowing the metadata address
// (beyond the envelope) is refused; one for every pod in the namespace
// allowing the metadata address is scoped away from sandbox pods by the
// mutating webhook, takes effect for an ordinary pod there (which loses the
// internet), and the sandbox pod still cannot reach the metadata address.
func TestRealNodeNetworkProfile(t *testing.T) {
	e, node := enforcedRealNode(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "realprofile")

	// manifests/base/rbac.yaml lets the reconciler write only
	// sandbox-guard-default and says to add sandbox-guard-<name> for each
	// further profile; here that is granted in the test's namespace only.
	mustCreate(t, c, `
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: sandbox-guard-no-internet, namespace: %[1]s}
rules:
  - apiGroups: ["networking.k8s.io"]
    resources: ["networkpolicies"]
    resourceNames: ["sandbox-guard-no-internet"]
    verbs: ["create", "patch", "delete"]
`, ns)
	mustCreate(t, c, `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: sandbox-guard-no-internet, namespace: %[1]s}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: sandbox-guard-no-internet}
subjects:
  - {kind: ServiceAccount, name: sandbox-guard-webhook, namespace: sandbox-guard-system}
`, ns)

	policy := filepath.Join(c.Dir, "policy-no-internet.json")
	if err := os.WriteFile(policy, narrowProfilePolicy(t, e.webhook.bin, ns), 0o644); err != nil {
		t.Fatal(err)
	}
	defer e.restartWebhookWithPolicy(ctx, t, policy)()

	metadata, internet := harness.MetadataIP+":80", harness.InternetIP+":80"
	targets := metadata + " " + internet
	sandbox := sandboxPodSpec(ns, "sandbox-prober", nil)
	sandbox.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node.Name}
	sandbox.Spec.TerminationGracePeriodSeconds = ptr(int64(1))
	sandbox.Spec.Containers[0].Image = harness.BusyboxImage
	sandbox.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	sandbox.Spec.Containers[0].Command = []string{"sh", "-c", proberScript}
	sandbox.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGETS", Value: targets}}
	// The sandbox labels are the controller's to write (issue 11).
	if _, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, sandbox, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", sandbox.Name, err)
	}
	ordinary := ordinaryProbePod(ns, "ordinary-prober", node.Name)
	ordinary.Spec.Containers[0].Command = []string{"sh", "-c", proberScript}
	ordinary.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGETS", Value: targets}}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, ordinary, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create %s: %v", ordinary.Name, err)
	}
	// Delete the pods before the webhook goes back to the built-in
	// policy, under which their profile is not allowed.
	defer func() {
		for _, name := range []string{sandbox.Name, ordinary.Name} {
			_ = c.DeletePod(context.Background(), ns, name)
		}
	}()
	c.WaitFor(t, time.Minute, "sandbox-guard-no-internet NetworkPolicy in "+ns, func(ctx context.Context) (bool, error) {
		_, err := c.Client.NetworkingV1().NetworkPolicies(ns).Get(ctx, "sandbox-guard-no-internet", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
	sb := waitPodRunningReady(t, c, ns, sandbox.Name, 2*time.Minute)
	assertRuntime(t, node, sb, "runsc")
	if got := sb.Labels[profileLabel]; got != "no-internet" {
		t.Fatalf("sandbox pod's %s is %q, want no-internet", profileLabel, got)
	}
	waitPodRunningReady(t, c, ns, ordinary.Name, 2*time.Minute)

	settleProbes(t, c, ns, ordinary.Name, map[string]string{metadata: "OK", internet: "OK"}, 0)
	rounds := settleProbes(t, c, ns, sandbox.Name, map[string]string{metadata: "FAIL", internet: "FAIL"}, 0)
	t.Logf("profile no-internet: sandbox pod -> internet %s FAIL, metadata %s FAIL", internet, metadata)

	egressTo := func(name string, selector metav1.LabelSelector, cidr string) *networkingv1.NetworkPolicy {
		return &networkingv1.NetworkPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: selector,
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeEgress},
				Egress: []networkingv1.NetworkPolicyEgressRule{{
					To: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: cidr}}},
				}},
			},
		}
	}
	sandboxesOnly := metav1.LabelSelector{MatchLabels: map[string]string{profileLabel: "no-internet"}}

	// Inside the envelope: admitted, and it takes effect.
	if _, err := c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx,
		egressTo("tenant-internet", sandboxesOnly, harness.InternetIP+"/32"), metav1.CreateOptions{}); err != nil {
		t.Fatalf("a tenant NetworkPolicy inside the envelope was refused: %v", err)
	}
	rounds = settleProbes(t, c, ns, sandbox.Name, map[string]string{metadata: "FAIL", internet: "OK"}, len(rounds))
	t.Logf("with tenant-internet (%s/32): sandbox pod -> internet OK, metadata FAIL", harness.InternetIP)

	// Beyond the envelope, for sandbox pods only: refused.
	_, err := c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx,
		egressTo("tenant-metadata", sandboxesOnly, harness.MetadataIP+"/32"), metav1.CreateOptions{})
	if err == nil {
		t.Fatalf("a tenant NetworkPolicy opening %s/32 to the sandbox pods was admitted", harness.MetadataIP)
	}
	requireContains(t, "create tenant-metadata", err.Error(), "denied the request")
	t.Logf("tenant-metadata refused: %v", err)

	// Beyond the envelope, for every pod: scoped away from sandbox pods.
	got, err := c.Client.NetworkingV1().NetworkPolicies(ns).Create(ctx,
		egressTo("tenant-metadata-all", metav1.LabelSelector{}, harness.MetadataIP+"/32"), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("a NetworkPolicy for every pod opening %s/32 was refused, want it scoped: %v", harness.MetadataIP, err)
	}
	scoped := false
	for _, r := range got.Spec.PodSelector.MatchExpressions {
		if r.Key == profileLabel && r.Operator == metav1.LabelSelectorOpDoesNotExist {
			scoped = true
		}
	}
	if !scoped {
		t.Fatalf("tenant-metadata-all stored with podSelector %+v, want %s DoesNotExist added", got.Spec.PodSelector, profileLabel)
	}
	// The enforcer has applied it once the ordinary pod, now selected by
	// an egress policy allowing only the metadata address, loses the
	// internet; the sandbox pod must still not reach the metadata address.
	ordRounds, _ := kubectl(c, "logs", "-n", ns, ordinary.Name, "-c", "main")
	settleProbes(t, c, ns, ordinary.Name, map[string]string{metadata: "OK", internet: "FAIL"}, len(probeRounds(ordRounds)))
	settleProbes(t, c, ns, sandbox.Name, map[string]string{metadata: "FAIL", internet: "OK"}, len(rounds))
	t.Logf("tenant-metadata-all scoped away: ordinary pod -> metadata OK, internet FAIL; sandbox pod -> metadata FAIL, internet OK")
	if err := node.CheckFence(); err != nil {
		t.Fatalf("pod network not fenced after the probes: %v", err)
	}
}
