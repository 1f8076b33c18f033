package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

const benchCommand = `SG_E2E_BENCH=1 GOTEST_FLAGS="-v -run TestBench" tests/e2e/run.sh`

// TestBench prints figures, asserts nothing (gated by SG_E2E_BENCH=1):
// pod CREATE latency through the real API server without any webhook and
// with both of ours, and how fast kube-scheduler binds a backlog of sandbox
// pods across 10 nodes without and with the extender. It runs on a control
// plane of its own.
func TestBench(t *testing.T) {
	if os.Getenv("SG_E2E_BENCH") != "1" {
		t.Skip("set SG_E2E_BENCH=1 for the figures")
	}
	webhookBin := harness.Daemon(t, "sandbox-guard-webhook")
	extenderBin := harness.Daemon(t, "sandbox-guard-extender")
	c := harness.Start(t, harness.Options{})
	ctx := context.Background()
	if err := createRuntimeClasses(ctx, c); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 10; i++ {
		c.CreateNode(t, harness.NodeSpec{Name: fmt.Sprintf("bench-%d", i), CPU: "32", Memory: "128Gi", Pods: 110})
	}
	const ns = "bench"
	c.CreateNamespace(t, ns, nil)

	// Webhook (no reconciler: admission only) and extender.
	certFile, keyFile, err := c.CA.IssueFiles(filepath.Join(c.Dir, "pki"), "webhook", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	wh := &daemon{name: "sandbox-guard-webhook", bin: webhookBin, args: []string{"--tls-cert=" + certFile, "--tls-key=" + keyFile}}
	if err := wh.start(c); err != nil {
		t.Fatal(err)
	}
	ex := &daemon{name: "sandbox-guard-extender", bin: extenderBin, args: []string{"--kubeconfig=" + c.Kubeconfig}}
	if err := ex.start(c); err != nil {
		t.Fatal(err)
	}
	ext, err := manifestExtender(manifest("scheduler", "kube-scheduler-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ext.URLPrefix = fmt.Sprintf("http://127.0.0.1:%d", ex.port)

	pod := func(name, scheduler string) *corev1.Pod {
		p := sandboxPodSpec(ns, name, map[string]string{harness.LabelTemplateRefHash: fnvHex("bench-template"), "bench": "1"})
		p.Spec.SchedulerName = scheduler
		p.Spec.Containers[0].Resources.Requests = corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")}
		return p
	}
	clean := func() {
		zero := int64(0)
		if err := c.Client.CoreV1().Pods(ns).DeleteCollection(ctx, metav1.DeleteOptions{GracePeriodSeconds: &zero},
			metav1.ListOptions{LabelSelector: "bench=1"}); err != nil {
			t.Fatal(err)
		}
		c.WaitFor(t, time.Minute, "bench pods gone", func(ctx context.Context) (bool, error) {
			l, err := c.ListPods(ctx, ns, "bench=1")
			return err == nil && len(l) == 0, err
		})
	}
	// 1. CREATE latency: 300 sequential creates (never scheduled: the
	// scheduler name is not served, so nothing else loads the API server).
	const creates = 300
	latency := func(label string) (p50, p99 time.Duration) {
		var d []time.Duration
		for i := 0; i < creates+20; i++ {
			p := pod(fmt.Sprintf("lat-%s-%d", label, i), "not-scheduled")
			begin := time.Now()
			// Sandbox pods are the agent-sandbox controller's to create.
			if _, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create %s: %v", p.Name, err)
			}
			if i >= 20 { // the first 20 warm up connections and caches
				d = append(d, time.Since(begin))
			}
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		clean()
		return d[len(d)/2], d[len(d)*99/100]
	}
	p50None, p99None := latency("none")
	e := &env{c: c, target: harness.WebhookTarget{BaseURL: fmt.Sprintf("https://127.0.0.1:%d", wh.port), CABundle: c.CA.CertPEM}}
	if err := e.register(ctx); err != nil {
		t.Fatal(err)
	}
	p50Ours, p99Ours := latency("ours")

	// 2. Scheduling throughput: 200 sandbox pods created while the
	// scheduler is down, then the time from its restart to the last binding.
	const backlog = 200
	throughput := func(exts []harness.Extender) time.Duration {
		c.StopScheduler()
		for i := 0; i < backlog; i++ {
			if _, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("sched-%d", i), ""), metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		l, err := c.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "bench=1"})
		if err != nil {
			t.Fatal(err)
		}
		w, err := c.Client.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{LabelSelector: "bench=1", ResourceVersion: l.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		if err := c.RestartScheduler(exts); err != nil {
			t.Fatal(err)
		}
		// Bindings start before /readyz answers: time from the first
		// binding the watch reports to the last.
		bound := map[string]bool{}
		timeout := time.After(5 * time.Minute)
		var first, last time.Time
		for len(bound) < backlog {
			select {
			case ev := <-w.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok && p.Spec.NodeName != "" && !bound[p.Name] {
					bound[p.Name] = true
					last = time.Now()
					if first.IsZero() {
						first = last
					}
				}
			case <-timeout:
				t.Fatalf("%d of %d pods bound after 5 minutes", len(bound), backlog)
			}
		}
		clean()
		return last.Sub(first)
	}
	mark := countLines(c.LogPath("sandbox-guard-extender"))
	var none, with []time.Duration
	for round := 0; round < 3; round++ {
		none = append(none, throughput(nil))
		with = append(with, throughput([]harness.Extender{ext}))
	}
	median := func(d []time.Duration) time.Duration {
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return d[len(d)/2]
	}
	tNone, tExt := median(none), median(with)
	rNone, rExt := float64(backlog-1)/tNone.Seconds(), float64(backlog-1)/tExt.Seconds()
	calls := len(logLines(c.LogPath("sandbox-guard-extender"), mark, `"msg":"prioritize"`, `"class":"cold-start"`))
	if calls == 0 {
		t.Fatal("the extender was not called during the extender run")
	}

	var b strings.Builder
	fmt.Fprintf(&b, "\nSandbox Guard e2e figures (kube-apiserver/kube-scheduler v1.36.3 on 127.0.0.1, %s)\n", hostInfo())
	fmt.Fprintf(&b, "command: %s\n\n", benchCommand)
	fmt.Fprintf(&b, "| pod CREATE, %d sequential sandbox pods | p50 | p99 |\n|---|---|---|\n", creates)
	fmt.Fprintf(&b, "| no webhook registered | %s | %s |\n", ms(p50None), ms(p99None))
	fmt.Fprintf(&b, "| sandbox-guard mutating + validating | %s | %s |\n\n", ms(p50Ours), ms(p99Ours))
	fmt.Fprintf(&b, "| scheduling %d pending sandbox pods, 10 nodes (median of 3) | first to last binding | pods bound/s |\n|---|---|---|\n", backlog)
	fmt.Fprintf(&b, "| kube-scheduler alone | %s | %.0f |\n", ms(tNone), rNone)
	fmt.Fprintf(&b, "| with sandbox-guard-extender (weight %d, filter + prioritize) | %s | %.0f |\n", ext.Weight, ms(tExt), rExt)
	fmt.Fprintf(&b, "(runs without: %v; with: %v; extender prioritize calls: %d)\n", none, with, calls)
	fmt.Print(b.String())
	t.Log(b.String())
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func hostInfo() string {
	data, _ := os.ReadFile("/proc/cpuinfo")
	n := strings.Count(string(data), "\nprocessor") + 1
	return fmt.Sprintf("%d CPUs", n)
}
