package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"sandbox-guard/tests/e2e/harness"
)

// execServer is the sandbox container's command: a server for the SDK's
// command protocol (POST /execute {"command": "..."} answered with
// {"stdout", "stderr", "exit_code"}, what agent-sandbox's python runtime
// image serves), written in busybox sh and nc because that image cannot
// be pulled here. Each connection runs this script once: it reads the
// headers and the body, takes the command out of the JSON, runs it with
// sh -c inside the sandbox and answers with its output, JSON-escaped.
const execServer = `len=0
while IFS= read -r line; do
  line=${line%$(printf '\r')}
  [ -z "$line" ] && break
  case $line in [Cc]ontent-[Ll]ength:*) len=${line#*:}; len=${len# } ;; esac
done
body=$(head -c "$len")
cmd=$(printf '%s' "$body" | sed -e 's/^.*"command"[[:space:]]*:[[:space:]]*"//' -e 's/"[[:space:]]*[,}][^"]*$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g')
out=$(sh -c "$cmd" 2>&1); code=$?
esc=$(printf '%s' "$out" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/\t/\\t/g' | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n/\\n/g')
resp=$(printf '{"stdout":"%s","stderr":"","exit_code":%d}' "$esc" "$code")
printf 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s' "${#resp}" "$resp"`

// sdkExecTemplate: no runtime class, no security context (the webhook
// writes both); the container serves execServer on 8888.
const sdkExecTemplate = `
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
        command: ["nc", "-ll", "-p", "8888", "-e", "sh", "-c", %q]
        ports:
        - containerPort: 8888
        readinessProbe:
          tcpSocket:
            port: 8888
          periodSeconds: 1
        resources:
          requests:
            cpu: 10m
            memory: 16Mi
`

// The SDK end to end: create_sandbox claims a warm pod, then
// commands.run reaches the pod at the IP the Sandbox's status reports
// (SandboxInClusterConnectionConfig: this process is on the node's host
// network, which reaches the pod network as a client in the cluster
// would) and runs a command inside the sandbox.
const sdkExecScript = `
import json, sys
from k8s_agent_sandbox import SandboxClient
from k8s_agent_sandbox.models import SandboxInClusterConnectionConfig

ns, pool = sys.argv[1], sys.argv[2]
client = SandboxClient(connection_config=SandboxInClusterConnectionConfig(server_port=8888))
sb = client.create_sandbox(warmpool=pool, namespace=ns, sandbox_ready_timeout=90, claim_name="sdk-exec")
r = sb.commands.run("cat /proc/version; dmesg | head -n 3", timeout=60)
print(json.dumps({"sandbox": sb.sandbox_id, "stdout": r.stdout, "exit_code": r.exit_code}))
`

// TestRealNodePythonSDK is issue 9's scenario 4: the Python SDK from PyPI
// creates a claim on the real node and runs a command in the sandbox it
// gets, and the command's output shows gVisor's kernel, not the host's.
func TestRealNodePythonSDK(t *testing.T) {
	harness.SkipWithoutRealNode(t)
	e := shared(t)
	c := e.c
	vpy := sdkVenv(t, c)
	node := c.StartRealNode(t, harness.RealNodeOptions{Name: "real-1"})
	hostVersion := readHostVersion(t)

	ns := freshNamespace(t, c, "realsdk")
	mustCreate(t, c, sdkExecTemplate, "exec", ns, harness.BusyboxImage, execServer)
	mustCreate(t, c, warmPool, "pool", ns, 1, "exec")
	t.Cleanup(func() { deleteAgentSandboxObjects(c, ns) })
	warm := waitWarmPods(t, c, ns, harness.LabelWarmPoolSandbox, 1, 3*time.Minute)
	waitPoolReady(t, c, ns, "pool", 1)
	assertHardened(t, &warm[0], "gvisor")
	assertRuntime(t, node, &warm[0], "runsc")

	begin := time.Now()
	var res struct {
		Sandbox  string
		Stdout   string
		ExitCode int `json:"exit_code"`
	}
	runSDKScript(t, c, vpy, "sdk_exec.py", sdkExecScript, &res, ns, "pool")
	ctx := context.Background()
	pod := sandboxPod(ctx, t, c, ns, res.Sandbox)
	if pod.UID != warm[0].UID {
		t.Fatalf("SDK claim got pod %s, not the warm pod %s", pod.Name, warm[0].Name)
	}
	version := firstLine(res.Stdout)
	if res.ExitCode != 0 || version == hostVersion || !strings.Contains(res.Stdout, "Starting gVisor") {
		t.Fatalf("SDK command in sandbox %s: exit %d, output %q; want gVisor's kernel (host %q)", res.Sandbox, res.ExitCode, res.Stdout, hostVersion)
	}
	t.Logf("SDK: claim Ready and command run in %s; the sandbox (pod %s, runsc) answered %q", time.Since(begin).Round(time.Millisecond), pod.Name, res.Stdout)
}
