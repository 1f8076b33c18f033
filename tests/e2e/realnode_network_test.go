package e2e

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// proberScript probes every ip:port in $TARGETS once a second (an HTTP GET
// over nc, answered by busybox httpd) and prints one line per probe and a
// ROUND line after each round. It also serves $SERVE_PORT (when set) with
// httpd, so that the prober pods are each other's ingress targets.
// nc, not wget: Debian's static busybox wget crashes in its name lookup.
const proberScript = `if [ -n "$SERVE_PORT" ]; then mkdir -p /tmp/www && echo pod >/tmp/www/index.html && ` +
	`httpd -p "$SERVE_PORT" -h /tmp/www; fi; ` +
	`while true; do for t in $TARGETS; do ` +
	`if printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 "${t%:*}" "${t##*:}" 2>/dev/null | grep -q '200 OK'; ` +
	`then echo "PROBE $t OK"; else echo "PROBE $t FAIL"; fi; ` +
	`done; echo ROUND; sleep 1; done`

// ingressPort is the port the sandbox and ordinary probers serve.
const ingressPort = "8080"

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
	harness.SkipWithoutRealNode(t)
	if miss := harness.NetworkPolicyMissing(); miss != "" {
		fmt.Fprintf(os.Stderr, "e2e: REAL NODE SKIPPED (%s): this machine lacks %s\n", t.Name(), miss)
		t.Skipf("REAL NODE SKIPPED: this machine lacks %s", miss)
	}
	e := shared(t)
	c := e.c
	ctx := context.Background()
	node := c.StartRealNode(t, harness.RealNodeOptions{Name: "real-1"})
	if err := node.StartOutside(); err != nil {
		t.Fatalf("outside namespace: %v", err)
	}
	if err := node.StartNetworkPolicy(); err != nil {
		t.Fatalf("NetworkPolicy enforcer: %v", err)
	}
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
	// A stand-in for cluster DNS (no DNS server runs): an ordinary pod
	// with kube-dns's label in kube-system, which the envelope's DNS rule
	// selects, serving HTTP on TCP 53 and on 80. A probe of it is a port
	// reachability probe, not name resolution.
	dns := ordinaryProbePod(metav1.NamespaceSystem, "sg-e2e-dns-"+ns, node.Name)
	dns.Labels = map[string]string{"k8s-app": "kube-dns"}
	dns.Spec.Containers[0].Command = []string{"sh", "-c",
		"mkdir -p /tmp/www && echo dns >/tmp/www/index.html && httpd -p 53 -h /tmp/www && exec httpd -f -p 80 -h /tmp/www"}
	createOutsideNS(t, c, dns)
	serverIP := waitPodRunningReady(t, c, ns, "server", 2*time.Minute).Status.PodIP
	dnsIP := waitPodRunningReady(t, c, dns.Namespace, dns.Name, 2*time.Minute).Status.PodIP

	metadata, internet, pod := harness.MetadataIP+":80", harness.InternetIP+":80", serverIP+":80"
	dns53, dns80 := dnsIP+":53", dnsIP+":80"
	egressTargets := strings.Join([]string{metadata, internet, pod, dns53, dns80}, " ")
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
		{ns, "sandbox-prober", map[string]string{metadata: "FAIL", internet: "OK", pod: "FAIL", dns53: "OK", dns80: "FAIL"}},
		{ns, "ordinary-prober", map[string]string{metadata: "OK", internet: "OK", pod: "OK", dns53: "OK", dns80: "OK", sandboxIn: "FAIL"}},
		{ns, "gvisor-prober", map[string]string{metadata: "OK", internet: "OK", pod: "OK", dns53: "OK", dns80: "OK", sandboxIn: "FAIL"}},
		{router.Namespace, router.Name, map[string]string{sandboxIn: "OK", pod: "OK"}},
		{ns, "router-lookalike", map[string]string{sandboxIn: "FAIL", pod: "OK"}},
		{neighbour.Namespace, neighbour.Name, map[string]string{sandboxIn: "FAIL", pod: "OK"}},
	}
	names := map[string]string{metadata: "metadata " + metadata, internet: "internet " + internet,
		pod: "ordinary pod " + pod, dns53: "kube-dns stand-in " + dns53, dns80: "kube-dns stand-in " + dns80,
		sandboxIn: "sandbox pod " + sandboxIn}
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
