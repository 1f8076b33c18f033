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

// proberScript probes every address in $TARGETS over HTTP (port 80) once a
// second and prints one line per probe and a ROUND line after each round.
// nc, not wget: Debian's static busybox wget crashes in its name lookup.
const proberScript = `while true; do for t in $TARGETS; do ` +
	`if printf 'GET / HTTP/1.0\r\n\r\n' | nc -w 2 "$t" 80 2>/dev/null | grep -q '200 OK'; ` +
	`then echo "PROBE $t OK"; else echo "PROBE $t FAIL"; fi; ` +
	`done; echo ROUND; sleep 1; done`

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

	// The pod the probers try to reach inside the cluster.
	server := ordinaryProbePod(ns, "server", node.Name)
	server.Spec.Containers[0].Command = []string{"sh", "-c",
		"mkdir -p /tmp/www && echo pod >/tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www"}
	if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, server, metav1.CreateOptions{}); err != nil {
		t.Fatalf("create server pod: %v", err)
	}
	serverIP := waitPodRunningReady(t, c, ns, "server", 2*time.Minute).Status.PodIP
	targets := harness.MetadataIP + " " + harness.InternetIP + " " + serverIP

	sandbox := sandboxPodSpec(ns, "sandbox-prober", nil)
	sandbox.Spec.NodeSelector = map[string]string{corev1.LabelHostname: node.Name}
	sandbox.Spec.TerminationGracePeriodSeconds = ptr(int64(1))
	sandbox.Spec.Containers[0].Image = harness.BusyboxImage
	sandbox.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	sandbox.Spec.Containers[0].Command = []string{"sh", "-c", proberScript}
	sandbox.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "TARGETS", Value: targets}}
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
	// The sandbox pod carries agent-sandbox's labels: the controller's to write.
	for _, p := range []*corev1.Pod{sandbox, ordinary, plainGVisor} {
		if _, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create %s: %v", p.Name, err)
		}
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
	od := waitPodRunningReady(t, c, ns, "ordinary-prober", 2*time.Minute)
	assertRuntime(t, node, od, "runc")
	gv := waitPodRunningReady(t, c, ns, "gvisor-prober", 2*time.Minute)
	assertRuntime(t, node, gv, "runsc")
	if _, ok := gv.Labels[profileLabel]; ok {
		t.Fatalf("gvisor-prober got the profile label %v: it must not be a sandbox pod", gv.Labels)
	}

	want := map[string]map[string]string{
		"sandbox-prober":  {harness.MetadataIP: "FAIL", harness.InternetIP: "OK", serverIP: "FAIL"},
		"ordinary-prober": {harness.MetadataIP: "OK", harness.InternetIP: "OK", serverIP: "OK"},
		"gvisor-prober":   {harness.MetadataIP: "OK", harness.InternetIP: "OK", serverIP: "OK"},
	}
	names := map[string]string{harness.MetadataIP: "metadata " + harness.MetadataIP,
		harness.InternetIP: "internet " + harness.InternetIP, serverIP: "pod " + serverIP}
	for _, pod := range []string{"sandbox-prober", "ordinary-prober", "gvisor-prober"} {
		t.Run(pod, func(t *testing.T) {
			// The enforcer applies policies to a new pod within a few
			// seconds; the answer must then hold for 3 rounds in a row.
			var rounds []map[string]string
			deadline := time.Now().Add(90 * time.Second)
			for {
				out, err := kubectl(c, "logs", "-n", ns, pod, "-c", "main")
				if err != nil {
					t.Fatalf("kubectl logs %s: %v: %s", pod, err, out)
				}
				rounds = probeRounds(out)
				if n := len(rounds); n >= 3 && roundsMatch(rounds[n-3:], want[pod]) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: probes never settled on %v for 3 rounds; last rounds %v\nkube-router log ends:\n%s",
						pod, want[pod], lastRounds(rounds, 5), tailOf(c.LogPath("kube-router"), 20))
				}
				time.Sleep(time.Second)
			}
			last := rounds[len(rounds)-1]
			for ip, res := range last {
				t.Logf("%s -> %s: %s", pod, names[ip], res)
			}
		})
	}
	if err := node.CheckFence(); err != nil {
		t.Fatalf("pod network not fenced after the probes: %v", err)
	}
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
