package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"sandbox-guard/tests/e2e/harness"
)

// The command every real-node test container runs: it prints the kernel it
// sees (/proc/version; under gVisor that is gVisor's, not the host's) and
// the kernel log (gVisor's begins with "Starting gVisor..."; the host's is
// not readable without CAP_SYSLOG), then sleeps.
const kernelProbe = `echo "SG-VERSION: $(cat /proc/version)"; ` +
	`echo "SG-DMESG-BEGIN"; dmesg 2>&1 | head -n 5; echo "SG-DMESG-END"; exec sleep 3600`

// realNodeTemplate has no runtime class and no security context: the
// webhook supplies both, as for any sandbox.
const realNodeTemplate = `
apiVersion: extensions.agents.x-k8s.io/v1beta1
kind: SandboxTemplate
metadata:
  name: %s
  namespace: %s
spec:
  podTemplate:
    metadata:
      labels:
        app: agent
    spec:
      nodeSelector:
        e2e.sandbox-guard.dev/real-node: "true"
      containers:
      - name: main
        image: %s
        imagePullPolicy: Never
        command: ["sh", "-c", %q]
        resources:
          requests:
            cpu: 10m
            memory: 16Mi
`

// TestRealNodeIsolation is issue 9's scenario 1 on a real node: kubelet,
// containerd, runc and gVisor's runsc on this machine, joined to the
// shared control plane with our webhook registered. Warm sandbox pods made
// from a template without runtimeClassName run under gVisor (their kernel
// is not the host's), an ordinary runc pod beside them runs on the host
// kernel, and a claim adopts a running warm pod.
func TestRealNodeIsolation(t *testing.T) {
	harness.SkipWithoutRealNode(t)
	e := shared(t)
	c := e.c
	ctx := context.Background()
	begin := time.Now()
	node := c.StartRealNode(t, harness.RealNodeOptions{Name: "real-1"})
	t.Logf("real node %s Ready in %s (kubelet log %s)", node.Name, time.Since(begin).Round(time.Millisecond), node.KubeletLog())

	hostVersion := readHostVersion(t)
	// Nothing from the pod network may leave the machine.
	if err := node.CheckFence(); err != nil {
		t.Fatalf("pod network not fenced: %v", err)
	}

	for name, handler := range map[string]string{"gvisor": "runsc", "runc": "runc"} {
		rc, err := c.Client.NodeV1().RuntimeClasses().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("RuntimeClass %s: %v", name, err)
		}
		if rc.Handler != handler {
			t.Fatalf("RuntimeClass %s: handler %q, want %q", name, rc.Handler, handler)
		}
	}

	ns := freshNamespace(t, c, "realnode")
	mustCreate(t, c, realNodeTemplate, "agent", ns, harness.BusyboxImage, kernelProbe)
	poolBegin := time.Now()
	mustCreate(t, c, warmPool, "pool", ns, 2, "agent")
	// Before the node goes: no controller may keep making pods for it.
	t.Cleanup(func() { deleteAgentSandboxObjects(c, ns) })

	var warm []corev1.Pod
	t.Run("WarmPodsUnderGVisor", func(t *testing.T) {
		warm = waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 2, 3*time.Minute)
		t.Logf("warm pool of 2 Running/Ready on the real node in %s", time.Since(poolBegin).Round(time.Millisecond))
		for i := range warm {
			p := &warm[i]
			if p.Spec.NodeName != node.Name {
				t.Fatalf("warm pod %s on node %q, want %s", p.Name, p.Spec.NodeName, node.Name)
			}
			assertHardened(t, p, "gvisor")
			assertRuntime(t, node, p, "runsc")
			version, dmesg := kernelSeen(t, c, p)
			if version == hostVersion {
				t.Fatalf("sandbox pod %s sees the host's kernel %q: not isolated by gVisor", p.Name, version)
			}
			if !strings.Contains(dmesg, "Starting gVisor") {
				t.Fatalf("sandbox pod %s: kernel log %q has no \"Starting gVisor\" (/proc/version %q, host %q)", p.Name, dmesg, version, hostVersion)
			}
			t.Logf("sandbox pod %s (runtimeClass %s, podIP %s): /proc/version %q; kernel log %q", p.Name,
				*p.Spec.RuntimeClassName, p.Status.PodIP, version, firstLine(dmesg))
		}
	})
	if t.Failed() {
		return
	}

	t.Run("OrdinaryPodOnHostKernel", func(t *testing.T) {
		p := ordinaryProbePod(ns, "ordinary", node.Name)
		if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatalf("create ordinary pod: %v", err)
		}
		got := waitPodRunningReady(t, c, ns, "ordinary", 2*time.Minute)
		if got.Spec.RuntimeClassName == nil || *got.Spec.RuntimeClassName != "runc" {
			t.Fatalf("ordinary pod: runtimeClassName %v, want runc (the webhook must leave it alone)", got.Spec.RuntimeClassName)
		}
		assertRuntime(t, node, got, "runc")
		version, dmesg := kernelSeen(t, c, got)
		if version != hostVersion {
			t.Fatalf("ordinary runc pod sees kernel %q, want the host's %q", version, hostVersion)
		}
		if strings.Contains(dmesg, "gVisor") {
			t.Fatalf("ordinary runc pod's kernel log mentions gVisor: %q", dmesg)
		}
		t.Logf("ordinary pod (runc, podIP %s): /proc/version %q = host's", got.Status.PodIP, version)
	})

	t.Run("ClaimAdoptsRunningWarmPod", func(t *testing.T) {
		uids := map[types.UID]string{}
		for _, p := range warm {
			uids[p.UID] = p.Name
		}
		claimBegin := time.Now()
		sandbox := claimFromPool(t, c, ns, "claim", "pool")
		t.Logf("claim Ready in %s", time.Since(claimBegin).Round(time.Millisecond))
		pod := sandboxPod(ctx, t, c, ns, sandbox)
		if _, ok := uids[pod.UID]; !ok {
			t.Fatalf("claim got pod %s (uid %s), not one of the warm pods %v", pod.Name, pod.UID, uids)
		}
		if !harness.PodRunningReady(pod) || pod.Spec.NodeName != node.Name {
			t.Fatalf("adopted pod %s: phase %s, node %q, want Running/Ready on %s", pod.Name, pod.Status.Phase, pod.Spec.NodeName, node.Name)
		}
		// Still the same gVisor sandbox: no restart, same kernel.
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.RestartCount != 0 {
				t.Fatalf("adopted pod %s: container %s restarted %d times", pod.Name, cs.Name, cs.RestartCount)
			}
		}
		assertRuntime(t, node, pod, "runsc")
		version, _ := kernelSeen(t, c, pod)
		if version == hostVersion {
			t.Fatalf("adopted pod %s sees the host's kernel %q", pod.Name, version)
		}
		t.Logf("claim adopted warm pod %s (uid %s), still under gVisor: %q", pod.Name, pod.UID, version)
	})

	// The fence held while the pods ran.
	if err := node.CheckFence(); err != nil {
		t.Fatalf("pod network not fenced: %v", err)
	}

	t.Run("StartLatency", func(t *testing.T) {
		// Pod start to Ready on the real node, runc vs runsc: a plain pod
		// (no sandbox labels, so the webhook leaves it as written) created,
		// then polled every 50 ms until Ready. Sequential, 3 of each.
		const n = 3
		figures := map[string][]time.Duration{}
		memory := map[string][]int64{}
		for _, rc := range []string{"runc", "gvisor"} {
			for i := 0; i < n; i++ {
				name := fmt.Sprintf("lat-%s-%d", rc, i)
				p := ordinaryProbePod(ns, name, node.Name)
				p.Spec.RuntimeClassName = ptr(rc)
				p.Spec.Containers[0].Command = []string{"sleep", "3600"}
				start := time.Now()
				if _, err := c.Client.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					t.Fatalf("create %s: %v", name, err)
				}
				got := waitPodRunningReadyPoll(t, c, ns, name, 2*time.Minute, 50*time.Millisecond)
				figures[rc] = append(figures[rc], time.Since(start))
				if m, err := podCgroupMemory(got); err == nil {
					memory[rc] = append(memory[rc], m)
				} else {
					t.Logf("memory of %s: %v", name, err)
				}
			}
		}
		for _, rc := range []string{"runc", "gvisor"} {
			d := figures[rc]
			sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
			t.Logf("FIGURE start-to-Ready %s: median %s, all %v; pod cgroup memory %v bytes", rc,
				d[len(d)/2].Round(time.Millisecond), roundAll(d), memory[rc])
		}
	})
}

func readHostVersion(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/version")
	if err != nil {
		t.Fatalf("host /proc/version: %v", err)
	}
	return strings.TrimSpace(string(b))
}

// ordinaryProbePod is a pod that is not a sandbox (no agent-sandbox
// labels): runc, on the given node, running kernelProbe.
func ordinaryProbePod(ns, name, nodeName string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{corev1.LabelHostname: nodeName},
			RuntimeClassName:              ptr("runc"),
			AutomountServiceAccountToken:  ptr(false),
			TerminationGracePeriodSeconds: ptr(int64(1)),
			Containers: []corev1.Container{{
				Name: "main", Image: harness.BusyboxImage, ImagePullPolicy: corev1.PullNever,
				Command: []string{"sh", "-c", kernelProbe},
			}},
		},
	}
}

func waitPodRunningReady(t *testing.T, c *harness.Cluster, ns, name string, timeout time.Duration) *corev1.Pod {
	t.Helper()
	return waitPodRunningReadyPoll(t, c, ns, name, timeout, 0)
}

// waitPodRunningReadyPoll polls every interval (the harness's default when
// zero) and fails with the pod's state and events when it does not become
// Running/Ready in time.
func waitPodRunningReadyPoll(t *testing.T, c *harness.Cluster, ns, name string, timeout, interval time.Duration) *corev1.Pod {
	t.Helper()
	var pod *corev1.Pod
	var last error
	deadline := time.Now().Add(timeout)
	if interval == 0 {
		interval = 200 * time.Millisecond
	}
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		cancel()
		if err == nil && harness.PodRunningReady(p) {
			return p
		}
		pod, last = p, err
		time.Sleep(interval)
	}
	events, _ := kubectl(c, "get", "events", "-n", ns, "--field-selector", "involvedObject.name="+name)
	if pod != nil {
		t.Fatalf("pod %s/%s not Running/Ready after %s (last error %v): phase %s, conditions %+v, containers %+v\nevents:\n%s",
			ns, name, timeout, last, pod.Status.Phase, pod.Status.Conditions, pod.Status.ContainerStatuses, events)
	}
	t.Fatalf("pod %s/%s not Running/Ready after %s: %v\nevents:\n%s", ns, name, timeout, last, events)
	return nil
}

// kernelSeen reads the pod's log through the API server (which asks the
// real kubelet) until kernelProbe's output is complete, and returns the
// /proc/version line and the kernel log lines.
func kernelSeen(t *testing.T, c *harness.Cluster, p *corev1.Pod) (version, dmesg string) {
	t.Helper()
	var out string
	var err error
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		out, err = kubectl(c, "logs", "-n", p.Namespace, p.Name, "-c", "main")
		if err == nil && strings.Contains(out, "SG-DMESG-END") {
			break
		}
	}
	if err != nil || !strings.Contains(out, "SG-DMESG-END") {
		t.Fatalf("kubectl logs %s/%s: %v; output so far:\n%s", p.Namespace, p.Name, err, out)
	}
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, "SG-VERSION: "); ok {
			version = strings.TrimSpace(v)
		}
	}
	_, rest, _ := strings.Cut(out, "SG-DMESG-BEGIN\n")
	dmesg, _, _ = strings.Cut(rest, "SG-DMESG-END")
	if version == "" {
		t.Fatalf("pod %s/%s printed no /proc/version; log:\n%s", p.Namespace, p.Name, out)
	}
	return version, strings.TrimSpace(dmesg)
}

// assertRuntime checks which OCI runtime runs each of the pod's containers
// on the node (runsc is gVisor), by the container IDs in the pod's status.
func assertRuntime(t *testing.T, node *harness.RealNode, p *corev1.Pod, want string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if len(p.Status.ContainerStatuses) == 0 {
		t.Fatalf("pod %s: no container statuses", p.Name)
	}
	for _, cs := range p.Status.ContainerStatuses {
		got, err := node.RuntimeOf(ctx, cs.ContainerID)
		if err != nil {
			t.Fatalf("pod %s container %s: %v", p.Name, cs.Name, err)
		}
		if got != want {
			t.Fatalf("pod %s container %s (%s) runs under %s, want %s", p.Name, cs.Name, cs.ContainerID, got, want)
		}
	}
}

// podCgroupMemory is memory.usage_in_bytes of the pod's cgroup (cgroup v1,
// cgroupfs driver): for a gVisor pod it holds the sentry, the gofer and the
// guest's memory.
func podCgroupMemory(p *corev1.Pod) (int64, error) {
	qos := strings.ToLower(string(p.Status.QOSClass))
	dir := "/sys/fs/cgroup/memory/sg-e2e-node/kubepods"
	if qos != "guaranteed" {
		dir = filepath.Join(dir, qos)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pod"+string(p.UID), "memory.usage_in_bytes"))
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}

func deleteAgentSandboxObjects(c *harness.Cluster, ns string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, gvr := range []harness.GVR{harness.SandboxClaimGVR, harness.SandboxWarmPoolGVR, harness.SandboxGVR, harness.SandboxTemplateGVR} {
		_ = c.Dynamic.Resource(gvr).Namespace(ns).DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{})
	}
}

func firstLine(s string) string {
	first, _, _ := strings.Cut(s, "\n")
	return first
}

func roundAll(d []time.Duration) []string {
	out := make([]string, len(d))
	for i, x := range d {
		out[i] = x.Round(time.Millisecond).String()
	}
	return out
}
