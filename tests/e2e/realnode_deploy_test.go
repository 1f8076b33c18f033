package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// deployedSandbox is a Sandbox whose pod can never be scheduled (no node
// has the label): the burst needs the admission of the Sandbox and of its
// pod, not a hundred running sandboxes.
const deployedSandbox = `
apiVersion: agents.x-k8s.io/v1beta1
kind: Sandbox
metadata:
  name: %s
  namespace: %s
spec:
  podTemplate:
    spec:
      automountServiceAccountToken: false
      nodeSelector:
        e2e.sandbox-guard.dev/nowhere: "true"
      containers:
      - name: main
        image: %s
        imagePullPolicy: Never
        command: ["sleep", "3600"]
`

// TestRealNodeDeployed is issue 9's scenario 3: Sandbox Guard deployed as
// users deploy it. Its own control plane (with kube-controller-manager for
// Deployments, EndpointSlices and PodDisruptionBudgets, and the API server
// routing to Service endpoints, as no kube-proxy runs here) and a real node;
// the image built by manifests/image/build.sh imported into the node's
// containerd; `kubectl apply -k` of manifests/overlays/self-signed and
// manifests/extender, unmodified. Then scenario 1's warm pool runs under
// gVisor, mutated by the in-cluster webhook reached through its Service,
// and evicting one of the two webhook replicas in the middle of a burst of
// Sandbox creations loses none of them.
func TestRealNodeDeployed(t *testing.T) {
	harness.SkipWithoutRealNode(t)
	webhookBin := harness.Daemon(t, "sandbox-guard-webhook")
	binDir := filepath.Dir(webhookBin)
	if _, err := os.Stat(filepath.Join(harness.DefaultBinDir(), "kube-controller-manager")); err != nil {
		t.Fatalf("kube-controller-manager missing in %s: run tests/e2e/build.sh", harness.DefaultBinDir())
	}
	ctx := context.Background()
	begin := time.Now()
	c := harness.Start(t, harness.Options{
		ControllerManager: true,
		// Only the real node runs pods here.
		NoKubelet: true,
		// Webhook Services resolve to their ready endpoints (pod IPs on
		// the node's bridge, which the host reaches directly).
		APIServerArgs: []string{"--enable-aggregator-routing=true"},
	})
	node := c.StartRealNode(t, harness.RealNodeOptions{Name: "real-deploy"})
	node.RouteKubernetesService(t)
	for name, handler := range map[string]string{"gvisor": "runsc", "runc": "runc"} {
		rc := &nodev1.RuntimeClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Handler: handler}
		if _, err := c.Client.NodeV1().RuntimeClasses().Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("RuntimeClass %s: %v", name, err)
		}
	}
	t.Logf("control plane and real node up in %s", time.Since(begin).Round(time.Millisecond))

	work := t.TempDir()
	t.Run("ImageBuiltWithoutDocker", func(t *testing.T) {
		archive := filepath.Join(work, "sandbox-guard.oci.tar")
		step := time.Now()
		out, err := exec.Command(filepath.Join(repoRoot(), "manifests", "image", "build.sh"),
			"--from", binDir, "--out", archive).CombinedOutput()
		if err != nil {
			t.Fatalf("manifests/image/build.sh: %v\n%s", err, out)
		}
		st, err := os.Stat(archive)
		if err != nil {
			t.Fatal(err)
		}
		ictx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if out, err := node.Ctr(ictx, "images", "import", "--platform", "linux/amd64", archive); err != nil {
			t.Fatalf("ctr images import: %v\n%s", err, out)
		}
		list, err := node.Ctr(ictx, "images", "ls", "-q")
		if err != nil || !strings.Contains(list, "ghcr.io/sandbox-guard/sandbox-guard:0.1.0") {
			t.Fatalf("image not in the node's containerd after import (%v):\n%s", err, list)
		}
		t.Logf("image built and imported in %s (archive %d KiB)", time.Since(step).Round(time.Millisecond), st.Size()/1024)
	})
	if t.Failed() {
		return
	}

	t.Run("ApplyManifests", func(t *testing.T) {
		tree := filepath.Join(work, "manifests")
		if err := copyDir(manifest(), tree); err != nil {
			t.Fatal(err)
		}
		certDir := filepath.Join(tree, "overlays", "self-signed", "certs")
		if out, err := exec.Command(filepath.Join(repoRoot(), "certs", "gen-dev-certs.sh"), "--out", certDir).CombinedOutput(); err != nil {
			t.Fatalf("certs/gen-dev-certs.sh: %v\n%s", err, out)
		}
		step := time.Now()
		for _, dir := range []string{"overlays/self-signed", "extender"} {
			out, err := kubectl(c, "apply", "-k", filepath.Join(tree, dir))
			if err != nil {
				t.Fatalf("kubectl apply -k manifests/%s: %v\n%s", dir, err, out)
			}
			t.Logf("kubectl apply -k manifests/%s:\n%s", dir, strings.TrimSpace(out))
		}
		for _, d := range []string{"sandbox-guard-webhook", "sandbox-guard-extender"} {
			out, err := kubectl(c, "rollout", "status", "-n", systemNS, "deployment/"+d, "--timeout=3m")
			if err != nil {
				pods, _ := kubectl(c, "get", "pods", "-n", systemNS, "-o", "wide")
				events, _ := kubectl(c, "get", "events", "-n", systemNS)
				t.Fatalf("deployment %s not rolled out: %v\n%s\npods:\n%s\nevents:\n%s", d, err, out, pods, events)
			}
		}
		t.Logf("both Deployments available in %s", time.Since(step).Round(time.Millisecond))
		pods := deployedPods(t, c, "sandbox-guard-webhook")
		if len(pods) != 2 {
			t.Fatalf("%d webhook pods Running/Ready, want 2 (manifests/base/deployment.yaml)", len(pods))
		}
		for _, p := range pods {
			if p.Spec.NodeName != node.Name {
				t.Fatalf("webhook pod %s on %q, want the real node", p.Name, p.Spec.NodeName)
			}
			assertRuntime(t, node, &p, "runc")
		}
	})
	if t.Failed() {
		return
	}

	hostVersion := readHostVersion(t)
	ns := freshNamespace(t, c, "deployed")
	t.Cleanup(func() { deleteAgentSandboxObjects(c, ns) })
	t.Run("InClusterWebhookMutatesWarmPool", func(t *testing.T) {
		mustCreate(t, c, realNodeTemplate, "agent", ns, harness.BusyboxImage, kernelProbe)
		mustCreate(t, c, warmPool, "pool", ns, 2, "agent")
		warm := waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 2, 3*time.Minute)
		for i := range warm {
			p := &warm[i]
			assertHardened(t, p, "gvisor")
			assertRuntime(t, node, p, "runsc")
			version, dmesg := kernelSeen(t, c, p)
			if version == hostVersion || !strings.Contains(dmesg, "Starting gVisor") {
				t.Fatalf("warm pod %s is not under gVisor: /proc/version %q (host %q), kernel log %q", p.Name, version, hostVersion, dmesg)
			}
		}
		// No webhook runs outside the cluster here: the mutation came
		// through the Service. The API server's own counters say so.
		calls := webhookCalls(t, c)
		if calls["pods.mutate.sandbox-guard.io"] == 0 || calls["pods.validate.sandbox-guard.io"] == 0 {
			t.Fatalf("the API server records no calls to the pod webhooks: %v", calls)
		}
		sandbox := claimFromPool(t, c, ns, "claim", "pool")
		pod := sandboxPod(ctx, t, c, ns, sandbox)
		assertRuntime(t, node, pod, "runsc")
		t.Logf("claim adopted %s, running under gVisor; API server webhook calls so far: %v", pod.Name, calls)
	})
	if t.Failed() {
		return
	}

	t.Run("ExtenderInventory", func(t *testing.T) {
		// The extender's inventory, read from its metrics port on the pod
		// network: it lists and watches pods with its manifest's RBAC.
		pods := deployedPods(t, c, "sandbox-guard-extender")
		if len(pods) == 0 {
			t.Fatal("no extender pod Running/Ready")
		}
		url := fmt.Sprintf("http://%s:8081/metrics", pods[0].Status.PodIP)
		var last string
		c.WaitFor(t, time.Minute, "extender inventory of the warm pool", func(ctx context.Context) (bool, error) {
			text, err := getText(ctx, url)
			if err != nil {
				return false, err
			}
			lists, inv := metric(text, "sandbox_guard_inventory_lists_total"), metric(text, "sandbox_guard_inventory_pods")
			last = fmt.Sprintf("lists %v, inventory pods %v", lists, inv)
			return lists >= 1 && inv >= 1, fmt.Errorf("%s", last)
		})
		t.Logf("extender %s: %s", pods[0].Name, last)
	})

	t.Run("ReplicaEvictedDuringBurst", func(t *testing.T) {
		before := webhookErrors(t, c)
		quiet := readWebhookLatency(t, c)
		quiet.logSince(t, "warm pool and claim, one at a time", webhookLatency{})
		pods := deployedPods(t, c, "sandbox-guard-webhook")
		if len(pods) != 2 {
			t.Fatalf("%d webhook pods ready before the burst, want 2", len(pods))
		}
		victim := pods[0]
		const total, rate = 200, 40 // Sandboxes, per second: 5 s of creations
		var failed atomic.Int32
		var failures sync.Map
		var wg sync.WaitGroup
		start := time.Now()
		evicted := make(chan time.Duration, 1)
		go func() {
			time.Sleep(time.Second)
			ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: victim.Name, Namespace: systemNS}}
			if err := c.Client.CoreV1().Pods(systemNS).EvictV1(ctx, ev); err != nil {
				t.Errorf("evict webhook pod %s: %v", victim.Name, err)
			}
			evicted <- time.Since(start)
		}()
		tick := time.NewTicker(time.Second / rate)
		for i := 0; i < total; i++ {
			<-tick.C
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				name := fmt.Sprintf("burst-%03d", i)
				obj := harness.MustObject(t, fmt.Sprintf(deployedSandbox, name, ns, harness.BusyboxImage))
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				defer cancel()
				if _, err := c.Dynamic.Resource(harness.SandboxGVR).Namespace(ns).Create(cctx, obj, metav1.CreateOptions{}); err != nil {
					failed.Add(1)
					failures.Store(name, fmt.Sprintf("after %s: %v", time.Since(start).Round(time.Millisecond), err))
				}
			}(i)
		}
		tick.Stop()
		wg.Wait()
		at := <-evicted
		failures.Range(func(k, v any) bool { t.Errorf("create Sandbox %s failed %s", k, v); return true })
		if n := failed.Load(); n != 0 {
			t.Fatalf("%d of %d Sandbox creations failed while webhook pod %s was evicted at %s", n, total, victim.Name, at.Round(time.Millisecond))
		}
		// Every Sandbox's pod was admitted through the webhook too:
		// created by the controller and mutated (gVisor).
		c.WaitFor(t, 2*time.Minute, "a mutated pod for every Sandbox of the burst", func(ctx context.Context) (bool, error) {
			list, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err
			}
			n := 0
			for _, p := range list.Items {
				if strings.HasPrefix(p.Name, "burst-") && p.Spec.RuntimeClassName != nil && *p.Spec.RuntimeClassName == "gvisor" {
					n++
				}
			}
			return n == total, fmt.Errorf("%d of %d burst pods exist with runtimeClassName gvisor", n, total)
		})
		after := webhookErrors(t, c)
		if after > before {
			t.Fatalf("the API server counted %v failed calls to the webhooks during the burst (before %v, after %v)", after-before, before, after)
		}
		// The Deployment replaced the evicted replica.
		c.WaitFor(t, 2*time.Minute, "two webhook replicas ready again", func(ctx context.Context) (bool, error) {
			ready := deployedPods(t, c, "sandbox-guard-webhook")
			for _, p := range ready {
				if p.UID == victim.UID {
					return false, fmt.Errorf("evicted pod %s still ready", p.Name)
				}
			}
			return len(ready) == 2, fmt.Errorf("%d ready", len(ready))
		})
		t.Logf("%d Sandboxes created at %d/s in %s, webhook pod %s evicted at %s: 0 failures; API server webhook errors %v -> %v",
			total, rate, time.Since(start).Round(time.Millisecond), victim.Name, at.Round(time.Millisecond), before, after)
		readWebhookLatency(t, c).logSince(t, "burst of 40 Sandboxes/s, one replica evicted", quiet)
	})
}

// deployedPods are the Running/Ready pods of a Deployment of manifests/
// (by its app.kubernetes.io/name label), sorted by name.
func deployedPods(t *testing.T, c *harness.Cluster, app string) []corev1.Pod {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	list, err := c.Client.CoreV1().Pods(systemNS).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=" + app})
	if err != nil {
		t.Fatalf("list %s pods: %v", app, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && harness.PodRunningReady(&p) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// apiserverMetrics is the API server's /metrics text (read with metric).
func apiserverMetrics(t *testing.T, c *harness.Cluster) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, err := c.Client.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("API server /metrics: %v", err)
	}
	return string(body)
}

// sandboxGuardWebhooks are the webhook names of manifests/base.
var sandboxGuardWebhooks = []string{
	"pods.mutate.sandbox-guard.io", "networkpolicies.mutate.sandbox-guard.io",
	"pods.validate.sandbox-guard.io", "pods-status.validate.sandbox-guard.io",
	"agent-sandbox.validate.sandbox-guard.io", "networkpolicies.validate.sandbox-guard.io",
}

// webhookCalls counts the API server's calls per sandbox-guard webhook
// (apiserver_admission_webhook_request_total, any code).
func webhookCalls(t *testing.T, c *harness.Cluster) map[string]float64 {
	t.Helper()
	text := apiserverMetrics(t, c)
	out := map[string]float64{}
	for _, name := range sandboxGuardWebhooks {
		if n := metric(text, "apiserver_admission_webhook_request_total", `name="`+name+`"`); n > 0 {
			out[name] = n
		}
	}
	return out
}

// webhookErrors is the API server's count of failed calls to the
// sandbox-guard webhooks (no answer, TLS or connection errors, timeouts:
// apiserver_admission_webhook_rejection_count with an error_type other
// than no_error).
func webhookErrors(t *testing.T, c *harness.Cluster) float64 {
	t.Helper()
	text := apiserverMetrics(t, c)
	var n float64
	for _, name := range sandboxGuardWebhooks {
		for _, typ := range []string{"calling_webhook_error", "apiserver_internal_error"} {
			n += metric(text, "apiserver_admission_webhook_rejection_count", `name="`+name+`"`, `error_type="`+typ+`"`)
		}
	}
	return n
}

// webhookLatency is what the API server measured per sandbox-guard
// webhook (apiserver_admission_webhook_admission_duration_seconds: TLS,
// the hop to the pod and the review): the sum of seconds and the count of
// calls.
type webhookLatency struct{ sum, count map[string]float64 }

func readWebhookLatency(t *testing.T, c *harness.Cluster) webhookLatency {
	t.Helper()
	text := apiserverMetrics(t, c)
	l := webhookLatency{sum: map[string]float64{}, count: map[string]float64{}}
	for _, name := range sandboxGuardWebhooks {
		l.sum[name] = metric(text, "apiserver_admission_webhook_admission_duration_seconds_sum", `name="`+name+`"`)
		l.count[name] = metric(text, "apiserver_admission_webhook_admission_duration_seconds_count", `name="`+name+`"`)
	}
	return l
}

// logSince logs the mean latency per webhook of the calls made since
// before (all calls when before is empty).
func (l webhookLatency) logSince(t *testing.T, what string, before webhookLatency) {
	t.Helper()
	names := make([]string, 0, len(l.count))
	for n := range l.count {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		calls := l.count[n] - before.count[n]
		if calls > 0 {
			t.Logf("FIGURE in-cluster webhook latency (%s) %s: mean %.2f ms over %.0f calls",
				what, n, 1000*(l.sum[n]-before.sum[n])/calls, calls)
		}
	}
}

// getText GETs a URL (a daemon's /metrics on the pod network) as text.
func getText(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}
