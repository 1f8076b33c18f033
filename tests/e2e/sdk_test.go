package e2e

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// sdkVersion is the k8s-agent-sandbox release the test installs from PyPI.
// 1.0.8 talks v1beta1 of both API groups (constants.py: CLAIM_API_VERSION,
// SANDBOX_API_VERSION), which is what agent-sandbox v0.5.6 serves.
const sdkVersion = "1.0.8"

// The SDK's public entry point: SandboxClient.create_sandbox creates a
// SandboxClaim for a warm pool, watches it until it is bound and Ready and
// returns a handle (no connection is opened until a command runs).
const sdkScript = `
import json, sys
from k8s_agent_sandbox import SandboxClient

ns, pool = sys.argv[1], sys.argv[2]
client = SandboxClient()
sb = client.create_sandbox(warmpool=pool, namespace=ns, sandbox_ready_timeout=60,
                           claim_name="sdk-claim", pod_labels={"sandbox.users.io/via": "sdk"})
print(json.dumps({"claim": sb.claim_name, "sandbox": sb.sandbox_id}))
`

// sdkVenv installs the SDK from PyPI into a throwaway venv in the run
// directory (pip's cache makes later runs fast) and returns its python.
// It skips the test when the machine has no python3.
func sdkVenv(t *testing.T, c *harness.Cluster) string {
	t.Helper()
	python := os.Getenv("SG_PYTHON")
	if python == "" {
		var err error
		if python, err = exec.LookPath("python3"); err != nil {
			t.Skip("no python3 (set SG_PYTHON)")
		}
	}
	// A throwaway venv in the run directory; pip's cache makes later runs fast.
	venv := filepath.Join(c.Dir, "sdk-venv")
	begin := time.Now()
	if out, err := exec.Command(python, "-m", "venv", venv).CombinedOutput(); err != nil {
		t.Fatalf("%s -m venv: %v\n%s", python, err, out)
	}
	vpy := filepath.Join(venv, "bin", "python")
	pip := exec.Command(vpy, "-m", "pip", "install", "-q", "--disable-pip-version-check", "k8s-agent-sandbox=="+sdkVersion)
	if out, err := pip.CombinedOutput(); err != nil {
		t.Fatalf("pip install k8s-agent-sandbox==%s: %v\n%s", sdkVersion, err, out)
	}
	ver, _ := exec.Command(vpy, "-c", "import importlib.metadata as m; print(m.version('k8s-agent-sandbox'), m.version('kubernetes'))").Output()
	t.Logf("k8s-agent-sandbox and kubernetes client %s installed in %s", strings.TrimSpace(string(ver)), time.Since(begin).Round(time.Millisecond))

	return vpy
}

// runSDKScript runs a Python script with the SDK's venv against the
// cluster (admin kubeconfig; KUBERNETES_SERVICE_HOST emptied so the client
// does not take itself for a pod) and decodes the JSON of its last line of
// output into result.
func runSDKScript(t *testing.T, c *harness.Cluster, vpy, name, script string, result any, args ...string) {
	t.Helper()
	path := filepath.Join(c.Dir, name)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, vpy, append([]string{path}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+c.Kubeconfig, "KUBERNETES_SERVICE_HOST=")
	out, err := cmd.Output()
	if err != nil {
		stderr := ""
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("SDK script %s failed: %v\nstdout: %s\nstderr: %s", name, err, out, stderr)
	}
	last := strings.TrimSpace(string(out))
	if err := json.Unmarshal([]byte(last[strings.LastIndexByte(last, '\n')+1:]), result); err != nil {
		t.Fatalf("SDK script %s output %q: %v", name, out, err)
	}
}

// TestPythonSDK is scenario 7: the Python SDK from PyPI creates a
// SandboxClaim against this control plane and sees it Ready.
func TestPythonSDK(t *testing.T) {
	e := shared(t)
	c := e.c
	vpy := sdkVenv(t, c)

	ns := freshNamespace(t, c, "sdk")
	mustCreate(t, c, plainTemplate, "sdk-tpl", ns)
	mustCreate(t, c, warmPool, "sdk-pool", ns, 1, "sdk-tpl")
	warm := waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 1, 2*time.Minute)
	waitPoolReady(t, c, ns, "sdk-pool", 1)

	begin := time.Now()
	var res struct{ Claim, Sandbox string }
	runSDKScript(t, c, vpy, "sdk_claim.py", sdkScript, &res, ns, "sdk-pool")
	t.Logf("SDK: claim %s Ready with sandbox %s in %s", res.Claim, res.Sandbox, time.Since(begin).Round(time.Millisecond))

	// Cross-check with the Go client: Ready, made by the SDK, warm pod adopted, hardened.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	claim, err := c.GetUnstructured(ctx, harness.SandboxClaimGVR, ns, "sdk-claim")
	if err != nil {
		t.Fatal(err)
	}
	if st, reason := condition(claim, "Ready"); st != "True" {
		t.Fatalf("claim Ready=%s (%s)", st, reason)
	}
	if by := claim.GetLabels()["agents.x-k8s.io/created-by"]; by != "python-client" {
		t.Fatalf("claim created-by label %q, want python-client", by)
	}
	pod := sandboxPod(ctx, t, c, ns, res.Sandbox)
	if pod.UID != warm[0].UID {
		t.Fatalf("SDK claim got pod %s, not the warm pod %s", pod.Name, warm[0].Name)
	}
	c.WaitFor(t, 30*time.Second, "SDK pod label", func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		pod = p
		return p.Labels["sandbox.users.io/via"] == "sdk", nil
	})
	assertHardened(t, pod, "gvisor")
}
