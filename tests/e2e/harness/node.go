package harness

// A real node for the end-to-end suite: kubelet + containerd + runc + runsc
// (gVisor) + a CNI bridge on this machine, joined to the harness's control
// plane. docs/e2e.md ("The real node") says what it takes and why.
//
// Everything it creates on the host has a fixed name (so a later run can
// sweep what a crashed run left) and is owned by one run at a time (a lock
// file): the directories realNodeBase and realNodeRun, the cgroup
// realNodeCgroup in every hierarchy, the bridge realNodeBridge and the
// iptables/ip6tables chain realNodeChain jumped to from FORWARD.
//
// Network safety: before the pod network exists, the chain drops every
// packet forwarded between the bridge and any other interface, for IPv4 and
// IPv6, and the bridge plugin runs without masquerade. Pods reach only each
// other and the host's own addresses; nothing they send can leave through
// the machine's uplink.

import (
	"bufio"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// LabelRealNode marks a Node run by a real kubelet: the kubelet
	// stand-in leaves its pods alone.
	LabelRealNode = "e2e.sandbox-guard.dev/real-node"
	// BusyboxImage and PauseImage are imported into the real node's
	// containerd; pods use them with imagePullPolicy: Never.
	BusyboxImage = "localhost/sg-e2e/busybox:1"
	PauseImage   = "localhost/sg-e2e/pause:1"
	// RealNodeSubnet is the real node's pod network (host-local IPAM);
	// RealNodeIP, the bridge's address, is also the kubelet's node IP.
	RealNodeSubnet = "10.244.128.0/24"
	RealNodeIP     = "10.244.128.1"

	realNodeBase   = "/var/lib/sg-e2e-node"
	realNodeRun    = "/run/sg-e2e-node"
	realNodeLock   = "/run/sg-e2e-node.lock"
	realNodeSaved  = "/run/sg-e2e-node.sysctl" // host settings to restore
	realNodeBridge = "sg-e2e-br0"
	realNodeChain  = "SG-E2E-NODE"
	realNodeCgroup = "sg-e2e-node"
	// The test's "outside": a network namespace, the host end of its veth,
	// and the routing table pod traffic uses to get there.
	realNodeOutside   = "sg-e2e-out0"
	realNodeOutsideNS = "sg-e2e-out"
	realNodeTable     = "4242"
	cniBinDir         = "/usr/lib/cni"
)

// realNodeSysctls are the host settings the real node changes: the kubelet
// sets the first six to its expected values (protectKernelDefaults false),
// the CNI bridge plugin turns on IPv4 forwarding. They are saved before and
// restored after every run (also after a crashed one, from realNodeSaved).
var realNodeSysctls = []string{
	"vm/overcommit_memory", "vm/panic_on_oom", "kernel/panic", "kernel/panic_on_oops",
	"kernel/keys/root_maxkeys", "kernel/keys/root_maxbytes", "net/ipv4/ip_forward",
}

// NodeBinDir is where tests/e2e/node/build.sh puts the node's binaries:
// $SG_E2E_NODE_BIN or ~/.cache/sandbox-guard/e2e/node-bin.
func NodeBinDir() string {
	if d := os.Getenv("SG_E2E_NODE_BIN"); d != "" {
		return d
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "sandbox-guard", "e2e", "node-bin")
}

// RealNodeMissing returns "" when this machine can run a real node, or
// what is missing, in one line.
func RealNodeMissing() string {
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	bin := NodeBinDir()
	for _, b := range []string{"kubelet", "containerd", "containerd-shim-runc-v2", "ctr", "runsc", "sg-pause", "sg-dns"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			missing = append(missing, filepath.Join(bin, b)+" (tests/e2e/node/build.sh)")
		}
	}
	for _, b := range []string{"runc", "iptables", "ip6tables", "ip"} {
		if _, err := exec.LookPath(b); err != nil {
			missing = append(missing, b)
		}
	}
	for _, b := range []string{"bridge", "host-local", "loopback"} {
		if _, err := os.Stat(filepath.Join(cniBinDir, b)); err != nil {
			missing = append(missing, "CNI plugin "+filepath.Join(cniBinDir, b)+" (containernetworking-plugins)")
		}
	}
	if f, err := elf.Open("/bin/busybox"); err != nil {
		missing = append(missing, "/bin/busybox (busybox-static)")
	} else {
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				missing = append(missing, "a static /bin/busybox (busybox-static)")
				break
			}
		}
		f.Close()
	}
	if _, err := os.Stat("/proc/self/ns/net"); err != nil {
		missing = append(missing, "network namespaces")
	}
	if _, err := os.Stat("/sys/fs/cgroup/memory"); err != nil {
		if _, err2 := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err2 != nil {
			missing = append(missing, "cgroups (no memory controller)")
		}
	}
	return strings.Join(missing, ", ")
}

// SkipWithoutRealNode skips the test, with one line on stderr (seen
// without -v too) naming what is missing, when the machine cannot run a
// real node.
func SkipWithoutRealNode(t testing.TB) {
	t.Helper()
	if miss := RealNodeMissing(); miss != "" {
		fmt.Fprintf(os.Stderr, "e2e: REAL NODE SKIPPED (%s): this machine lacks %s\n", t.Name(), miss)
		t.Skipf("REAL NODE SKIPPED: this machine lacks %s", miss)
	}
}

// RealNodeOptions configure StartRealNode.
type RealNodeOptions struct {
	Name   string            // node name, default "real-1"
	Labels map[string]string // extra node labels
	// RunscPlatform is gVisor's platform: $SG_E2E_RUNSC_PLATFORM, else
	// "systrap" (docs/e2e.md says which ones work here).
	RunscPlatform string
}

// RealNode is a running kubelet + containerd joined to a Cluster.
type RealNode struct {
	Name string
	IP   string

	c          *Cluster
	dir        string // <run dir>/node: configs and the images written for import
	sock       string
	bin        string
	lock       *os.File
	containerd *Process
	kubelet    *Process
	enforcer   *Process // kube-router, after StartNetworkPolicy
	outside    *Process // the outside namespace's HTTP server, after StartOutside
	stopped    bool
}

// StartRealNode starts a real node and waits until it is Ready; it skips
// the test (one loud line) when the machine cannot run one, fails it when
// the node does not come up, and tears everything down in t.Cleanup.
func (c *Cluster) StartRealNode(t testing.TB, opts RealNodeOptions) *RealNode {
	t.Helper()
	SkipWithoutRealNode(t)
	n, err := c.StartRealNodeE(opts)
	if n != nil {
		t.Cleanup(n.Stop)
	}
	if err != nil {
		t.Fatalf("real node: %v", err)
	}
	return n
}

// StartRealNodeE is StartRealNode for callers without a testing.TB. On
// error the returned node (if not nil) must still be stopped.
func (c *Cluster) StartRealNodeE(opts RealNodeOptions) (*RealNode, error) {
	if opts.Name == "" {
		opts.Name = "real-1"
	}
	if opts.RunscPlatform == "" {
		opts.RunscPlatform = os.Getenv("SG_E2E_RUNSC_PLATFORM")
	}
	if opts.RunscPlatform == "" {
		opts.RunscPlatform = "systrap"
	}
	n := &RealNode{
		Name: opts.Name, IP: RealNodeIP, c: c, dir: filepath.Join(c.Dir, "node"),
		sock: filepath.Join(realNodeRun, "containerd", "containerd.sock"), bin: NodeBinDir(),
	}
	if err := os.MkdirAll(n.dir, 0o755); err != nil {
		return nil, err
	}
	// One real node per machine at a time: other worktrees' runs wait.
	lock, err := os.OpenFile(realNodeLock, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(15 * time.Minute)
	for syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		if time.Now().After(deadline) {
			lock.Close()
			return nil, fmt.Errorf("%s still locked by another run after 15 minutes", realNodeLock)
		}
		c.logf("real node: waiting for %s (another run holds it)", realNodeLock)
		time.Sleep(5 * time.Second)
	}
	n.lock = lock
	// Whatever a crashed run left, swept before anything new is created.
	sweepRealNode(c.logf)
	if err := saveSysctls(); err != nil {
		return n, err
	}
	steps := []struct {
		what string
		fn   func() error
	}{
		{"fence", fenceForward},
		{"bridge", createBridge},
		{"directories and cgroups", n.prepareDirs},
		{"containerd", func() error { return n.startContainerd(opts.RunscPlatform) }},
		{"images", n.importImages},
		{"kubelet", func() error { return n.startKubelet(opts.Labels) }},
	}
	for _, s := range steps {
		begin := time.Now()
		if err := s.fn(); err != nil {
			return n, fmt.Errorf("%s: %w", s.what, err)
		}
		c.logf("real node: %s ready in %s", s.what, time.Since(begin).Round(time.Millisecond))
	}
	return n, nil
}

// Stop stops the kubelet and containerd, kills every process left in the
// node's cgroups or naming its directories (shims, sandboxes, containers),
// unmounts, removes the fence, bridge, cgroups and directories, restores
// the host settings, and deletes the Node and the pods bound to it.
// Stopping twice is harmless.
func (n *RealNode) Stop() {
	if n == nil || n.stopped {
		return
	}
	n.stopped = true
	n.enforcer.Stop(5 * time.Second)
	n.outside.Stop(5 * time.Second)
	n.kubelet.Stop(10 * time.Second)
	n.containerd.Stop(10 * time.Second)
	sweepRealNode(n.c.logf)
	if n.lock != nil {
		_ = syscall.Flock(int(n.lock.Fd()), syscall.LOCK_UN)
		n.lock.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods, err := n.c.Client.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=" + n.Name})
	if err == nil {
		zero := int64(0)
		for _, p := range pods.Items {
			_ = n.c.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
		}
	}
	if err := n.c.Client.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		n.c.logf("real node: delete Node %s: %v", n.Name, err)
	}
}

// ContainerdLog and KubeletLog are the components' log files.
func (n *RealNode) ContainerdLog() string { return n.containerd.LogPath() }
func (n *RealNode) KubeletLog() string    { return n.kubelet.LogPath() }

// Ctr runs ctr against the node's containerd in the k8s.io namespace.
func (n *RealNode) Ctr(ctx context.Context, args ...string) (string, error) {
	full := append([]string{"--address", n.sock, "--namespace", "k8s.io"}, args...)
	out, err := exec.CommandContext(ctx, filepath.Join(n.bin, "ctr"), full...).CombinedOutput()
	return string(out), err
}

// RuntimeOf says which OCI runtime runs a container ("containerd://<id>"
// as in a pod's status, or the bare id): "runsc" or "runc", by asking
// each runtime's state directory for it.
func (n *RealNode) RuntimeOf(ctx context.Context, containerID string) (string, error) {
	id := strings.TrimPrefix(containerID, "containerd://")
	if id == "" || strings.ContainsAny(id, "/ ") {
		return "", fmt.Errorf("bad container id %q", containerID)
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return "", err
	}
	var found []string
	var outs []string
	for _, rt := range []struct{ name, bin, root string }{
		{"runsc", filepath.Join(n.bin, "runsc"), filepath.Join(realNodeRun, "containerd", "runsc", "k8s.io")},
		{"runc", runc, filepath.Join(realNodeRun, "containerd", "runc", "k8s.io")},
	} {
		out, err := exec.CommandContext(ctx, rt.bin, "--root", rt.root, "state", id).CombinedOutput()
		if err == nil {
			found = append(found, rt.name)
		}
		outs = append(outs, fmt.Sprintf("%s state: %v %s", rt.name, err, strings.TrimSpace(string(out))))
	}
	if len(found) != 1 {
		return "", fmt.Errorf("container %s known to %d runtimes %v: %s", id, len(found), found, strings.Join(outs, "; "))
	}
	return found[0], nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// fenceTables are where the fence lives: mangle's FORWARD runs before
// filter's, so an enforcer that ACCEPTs in filter's FORWARD (kube-router
// puts its jump first there) cannot bypass it; filter has it too.
var fenceTables = []string{"mangle", "filter"}

// fenceForward puts the FORWARD fence in place for IPv4 and IPv6, in
// mangle and filter: the chain realNodeChain, first in FORWARD, drops
// everything forwarded from the bridge to another interface and from
// another interface to the bridge. Bridged pod-to-pod traffic (in and out
// of the bridge) passes; StartOutside adds RETURNs for its veth before
// the drops.
func fenceForward() error {
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range fenceTables {
			if err := run(ipt, "-w", "5", "-t", table, "-N", realNodeChain); err != nil {
				return err
			}
			for _, rule := range [][]string{
				{"-i", realNodeBridge, "!", "-o", realNodeBridge, "-j", "DROP"},
				{"!", "-i", realNodeBridge, "-o", realNodeBridge, "-j", "DROP"},
			} {
				if err := run(ipt, append([]string{"-w", "5", "-t", table, "-A", realNodeChain}, rule...)...); err != nil {
					return err
				}
			}
			if err := run(ipt, "-w", "5", "-t", table, "-I", "FORWARD", "1", "-j", realNodeChain); err != nil {
				return err
			}
		}
	}
	return nil
}

// CheckFence returns an error unless, for IPv4 and IPv6, mangle's FORWARD
// starts with the fence, filter's FORWARD jumps to it, and both chains
// drop what is forwarded between the pod bridge and any other interface
// (but the test's outside veth, when there is one).
func (n *RealNode) CheckFence() error {
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range fenceTables {
			fwd, err := exec.Command(ipt, "-w", "5", "-t", table, "-S", "FORWARD").CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s -t %s -S FORWARD: %v: %s", ipt, table, err, fwd)
			}
			lines := strings.Split(strings.TrimSpace(string(fwd)), "\n")
			jump := "-A FORWARD -j " + realNodeChain
			if table == "mangle" && (len(lines) < 2 || lines[1] != jump) {
				return fmt.Errorf("%s: mangle FORWARD does not start with the fence:\n%s", ipt, fwd)
			}
			if !strings.Contains(string(fwd), jump+"\n") && !strings.HasSuffix(strings.TrimSpace(string(fwd)), jump) {
				return fmt.Errorf("%s: %s FORWARD does not jump to the fence:\n%s", ipt, table, fwd)
			}
			chain, err := exec.Command(ipt, "-w", "5", "-t", table, "-S", realNodeChain).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s -t %s -S %s: %v: %s", ipt, table, realNodeChain, err, chain)
			}
			for _, want := range []string{
				"-A " + realNodeChain + " -i " + realNodeBridge + " ! -o " + realNodeBridge + " -j DROP",
				"-A " + realNodeChain + " ! -i " + realNodeBridge + " -o " + realNodeBridge + " -j DROP",
			} {
				if !strings.Contains(string(chain), want) {
					return fmt.Errorf("%s: %s fence chain lacks %q:\n%s", ipt, table, want, chain)
				}
			}
			// Only RETURNs for the outside veth may come before the drops.
			for _, l := range strings.Split(strings.TrimSpace(string(chain)), "\n")[1:] {
				if strings.HasSuffix(l, "-j DROP") {
					break
				}
				if !strings.HasSuffix(l, "-j RETURN") || !strings.Contains(l, realNodeOutside) {
					return fmt.Errorf("%s: %s fence chain has %q before its drops", ipt, table, l)
				}
			}
		}
	}
	return nil
}

// createBridge makes the pod bridge with the gateway address the bridge
// plugin expects, so the kubelet has a non-loopback node IP of our own
// (it refuses loopback ones) that the API server reaches without any
// packet leaving the machine.
func createBridge() error {
	if err := run("ip", "link", "add", realNodeBridge, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", RealNodeIP+"/24", "dev", realNodeBridge); err != nil {
		return err
	}
	return run("ip", "link", "set", realNodeBridge, "up")
}

func (n *RealNode) prepareDirs() error {
	for _, d := range []string{realNodeBase, realNodeRun, filepath.Join(realNodeBase, "cni", "net.d")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	// The kubelet's cgroup root must exist in every v1 hierarchy it uses.
	// A new cpuset cgroup starts with no CPUs and no memory nodes: copy the
	// parent's, or nothing can join it.
	ents, err := os.ReadDir("/sys/fs/cgroup")
	if err != nil {
		return err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join("/sys/fs/cgroup", e.Name(), realNodeCgroup)
		if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
			return err
		}
		if e.Name() == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				v, err := os.ReadFile(filepath.Join("/sys/fs/cgroup/cpuset", f))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f), v, 0o644); err != nil {
					return fmt.Errorf("%s: %w", filepath.Join(dir, f), err)
				}
			}
		}
	}
	return nil
}

func (n *RealNode) startContainerd(platform string) error {
	// gVisor's own shim (containerd-shim-runsc-v1) cannot start here: it
	// sets its OOM score to -999, which needs CAP_SYS_RESOURCE, and this
	// machine's root has no CAP_SYS_RESOURCE (docs/e2e.md). runsc is an
	// OCI runtime with runc's command line and joins the containers of a
	// pod into one sandbox from the CRI annotations itself, so containerd's
	// runc shim drives it, through this wrapper that adds runsc's flags.
	runscWrapper := filepath.Join(n.dir, "runsc-oci")
	// SG_E2E_RUNSC_DEBUG=1 writes runsc's debug logs to <run dir>/node/runsc-debug/.
	debug := ""
	if os.Getenv("SG_E2E_RUNSC_DEBUG") == "1" {
		debug = fmt.Sprintf(" --debug --debug-log=%s/", filepath.Join(n.dir, "runsc-debug"))
	}
	// Container output: runsc hands a pod's second container the stdio of
	// `runsc start`, while the runc shim gives the container's pipes to
	// `runsc create` and reads `runsc start`'s output itself (to the end:
	// it would also wait for the gofer that start spawns). So at create
	// the wrapper leaves a holder process (sg-pause, named after the
	// container) keeping the container's pipes open, and start writes to
	// them through /proc/<holder>/fd; then the holder goes.
	script := fmt.Sprintf(`#!/bin/bash
# runsc as containerd's runc shim drives it (written by the e2e harness).
runsc=(%[1]q --platform=%[2]s%[3]s)
held=%[4]q
id="${!#}"
sub=
for a in "$@"; do
  case "$a" in create|start) sub=$a; break ;; esac
done
if [ "$sub" = create ] && [[ "$id" =~ ^[0-9a-f]{64}$ ]]; then
  mkdir -p "$held"
  (exec -a "$held/$id" %[5]q) &
  echo $! >"$held/$id.pid"
fi
if [ "$sub" = start ] && [ -f "$held/$id.pid" ]; then
  pid=$(cat "$held/$id.pid")
  rm -f "$held/$id.pid"
  "${runsc[@]}" "$@" </dev/null >"/proc/$pid/fd/1" 2>"/proc/$pid/fd/2"
  rc=$?
  kill "$pid" 2>/dev/null
  exit $rc
fi
exec "${runsc[@]}" "$@"
`, filepath.Join(n.bin, "runsc"), platform, debug, filepath.Join(realNodeRun, "runsc-io"), filepath.Join(n.bin, "sg-pause"))
	if err := os.WriteFile(runscWrapper, []byte(script), 0o755); err != nil {
		return err
	}
	runc, err := exec.LookPath("runc")
	if err != nil {
		return err
	}
	cni := fmt.Sprintf(`{
  "cniVersion": "1.0.0",
  "name": "sg-e2e",
  "plugins": [{
    "type": "bridge",
    "bridge": %q,
    "isGateway": true,
    "ipMasq": false,
    "hairpinMode": true,
    "ipam": {
      "type": "host-local",
      "dataDir": %q,
      "ranges": [[{"subnet": %q, "gateway": %q}]],
      "routes": [{"dst": "0.0.0.0/0"}]
    }
  }]
}
`, realNodeBridge, filepath.Join(realNodeBase, "cni", "networks"), RealNodeSubnet, RealNodeIP)
	if err := os.WriteFile(filepath.Join(realNodeBase, "cni", "net.d", "10-sg-e2e.conflist"), []byte(cni), 0o644); err != nil {
		return err
	}
	config := fmt.Sprintf(`# containerd 2.4 configuration (version 4): every path under the node's
# directories, nothing listening but the two sockets and the CRI streaming
# server on 127.0.0.1.
version = 4
root = %[1]q
state = %[2]q
imports = []
# Plugins that would create sockets or directories outside root/state, or
# that cannot work in a CGO_ENABLED=0 build.
disabled_plugins = ["io.containerd.nri.v1.nri", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.blockfile", "io.containerd.snapshotter.v1.erofs",
  "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[plugins.'io.containerd.server.v1.grpc']
  address = %[3]q
[plugins.'io.containerd.server.v1.ttrpc']
  address = "%[3]s.ttrpc"
[plugins.'io.containerd.server.v1.debug']
  address = ""
[plugins.'io.containerd.server.v1.metrics']
  address = ""

[plugins.'io.containerd.internal.v1.opt']
  path = "%[1]s/opt"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = %[4]q

[plugins.'io.containerd.cri.v1.runtime']
  netns_mounts_under_state_dir = true
  # No OOM score below containerd's own: lowering one needs
  # CAP_SYS_RESOURCE, which root lacks on this machine.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = %[5]q
        Root = "%[2]s/runc"
        SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc.options]
        BinaryName = %[6]q
        Root = "%[2]s/runsc"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [%[7]q]
    conf_dir = %[8]q
    max_conf_num = 1

[plugins.'io.containerd.grpc.v1.cri']
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`, filepath.Join(realNodeBase, "containerd"), filepath.Join(realNodeRun, "containerd"), n.sock,
		PauseImage, runc, runscWrapper, cniBinDir, filepath.Join(realNodeBase, "cni", "net.d"))
	configPath := filepath.Join(n.dir, "containerd.toml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	// The shims are found on PATH: ours first.
	env := []string{"PATH=" + n.bin + ":" + os.Getenv("PATH")}
	p, err := n.c.StartProcess("containerd", filepath.Join(n.bin, "containerd"), []string{"--config", configPath}, env)
	if err != nil {
		return err
	}
	n.containerd = p
	return p.WaitReady(60*time.Second, func(ctx context.Context) error {
		_, err := n.Ctr(ctx, "version")
		return err
	})
}

// importImages writes the pause and busybox images (docs/e2e.md) and
// imports them into containerd's k8s.io namespace.
func (n *RealNode) importImages() error {
	pause, err := os.ReadFile(filepath.Join(n.bin, "sg-pause"))
	if err != nil {
		return err
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	dns, err := os.ReadFile(filepath.Join(n.bin, "sg-dns"))
	if err != nil {
		return err
	}
	out, err := exec.Command("/bin/busybox", "--list").Output()
	if err != nil {
		return fmt.Errorf("busybox --list: %w", err)
	}
	files := []OCIFile{
		{Name: "bin/busybox", Mode: 0o755, Body: busybox},
		{Name: "bin/sg-dns", Mode: 0o755, Body: dns},
		{Name: "etc/passwd", Mode: 0o644, Body: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")},
		{Name: "etc/group", Mode: 0o644, Body: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Name: "tmp", Mode: 0o1777, Dir: true},
		{Name: "root", Mode: 0o700, Dir: true},
		{Name: "proc", Mode: 0o555, Dir: true},
		{Name: "sys", Mode: 0o555, Dir: true},
		{Name: "dev", Mode: 0o755, Dir: true},
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet != "busybox" && !strings.Contains(applet, "/") {
			files = append(files, OCIFile{Name: "bin/" + applet, Mode: 0o777, Link: "busybox"})
		}
	}
	images := []OCIImage{
		{Ref: PauseImage, Files: []OCIFile{{Name: "pause", Mode: 0o755, Body: pause}}, Entrypoint: []string{"/pause"}},
		{Ref: BusyboxImage, Files: files, Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}},
	}
	for i, img := range images {
		archive := filepath.Join(n.dir, fmt.Sprintf("image-%d.tar", i))
		if err := WriteOCIArchive(archive, img); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		out, err := n.Ctr(ctx, "images", "import", "--platform", "linux/amd64", archive)
		cancel()
		if err != nil {
			return fmt.Errorf("ctr images import %s: %v: %s", img.Ref, err, out)
		}
	}
	return nil
}

func (n *RealNode) startKubelet(labels map[string]string) error {
	port, err := freePortOn(RealNodeIP)
	if err != nil {
		return err
	}
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	healthPort := ports[0]
	root := filepath.Join(realNodeBase, "kubelet")
	config := fmt.Sprintf(`apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: %q
port: %d
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: %d
# This machine mounts cgroup v1 hierarchies (cgroup2 only beside them, as
# "unified"): kubelet 1.35+ refuses v1 unless told otherwise.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /%s
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://%s
imageServiceEndpoint: unix://%s
podLogsDir: %s
staticPodPath: ""
# The API server reaches this kubelet on %s only (a test node): anonymous
# requests are allowed, as the API server has no kubelet client
# certificate in the harness.
authentication:
  anonymous:
    enabled: true
  webhook:
    enabled: false
authorization:
  mode: AlwaysAllow
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%%
  imagefs.available: 1%%
  nodefs.inodesFree: 1%%
syncFrequency: 5s
nodeStatusUpdateFrequency: 2s
fileCheckFrequency: 5s
resolvConf: ""
clusterDomain: cluster.local
maxPods: 50
`, RealNodeIP, port, healthPort, realNodeCgroup, n.sock, n.sock,
		filepath.Join(realNodeBase, "pod-logs"), RealNodeIP)
	configPath := filepath.Join(n.dir, "kubelet.yaml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		return err
	}
	all := map[string]string{LabelRealNode: "true"}
	for k, v := range labels {
		all[k] = v
	}
	keys := make([]string, 0, len(all))
	for k := range all {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var lbls []string
	for _, k := range keys {
		lbls = append(lbls, k+"="+all[k])
	}
	args := []string{
		"--config=" + configPath,
		"--kubeconfig=" + n.c.Kubeconfig,
		"--root-dir=" + root,
		"--cert-dir=" + filepath.Join(root, "pki"),
		"--hostname-override=" + n.Name,
		"--node-ip=" + RealNodeIP,
		"--node-labels=" + strings.Join(lbls, ","),
		"--v=2",
	}
	p, err := n.c.StartProcess("kubelet", filepath.Join(n.bin, "kubelet"), args, nil)
	if err != nil {
		return err
	}
	n.kubelet = p
	hc := &http.Client{Timeout: 3 * time.Second}
	if err := p.WaitReady(90*time.Second, func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/healthz", healthPort), nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("kubelet healthz: %s", resp.Status)
		}
		node, err := n.c.Client.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady {
				if cond.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node %s Ready=%s: %s", n.Name, cond.Status, cond.Message)
			}
		}
		return fmt.Errorf("node %s has no Ready condition yet", n.Name)
	}); err != nil {
		return err
	}
	return nil
}

func freePortOn(ip string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// saveSysctls records the host settings the node will change, unless a
// crashed run's record is still there (sweepRealNode restored from it).
func saveSysctls() error {
	var b strings.Builder
	for _, s := range realNodeSysctls {
		v, err := os.ReadFile(filepath.Join("/proc/sys", s))
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s=%s\n", s, strings.TrimSpace(string(v)))
	}
	return os.WriteFile(realNodeSaved, []byte(b.String()), 0o600)
}

func restoreSysctls(logf func(string, ...any)) {
	data, err := os.ReadFile(realNodeSaved)
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok || strings.Contains(k, "..") {
			continue
		}
		if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
			logf("real node: restore %s=%s: %v", k, v, err)
		}
	}
	os.Remove(realNodeSaved)
}

// sweepRealNode removes everything a real node creates on the host. It is
// run at start (a crashed run's leftovers) and at stop, always by the
// holder of realNodeLock.
func sweepRealNode(logf func(string, ...any)) {
	killRealNodeProcesses(logf)
	unmountUnder(logf, realNodeBase, realNodeRun)
	removeOutsideLeftovers(logf)
	removeCgroups(logf)
	if _, err := net.InterfaceByName(realNodeBridge); err == nil {
		if err := run("ip", "link", "del", realNodeBridge); err != nil {
			logf("real node: %v", err)
		}
	}
	sweepOutside(logf)
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range fenceTables {
			for run(ipt, "-w", "5", "-t", table, "-D", "FORWARD", "-j", realNodeChain) == nil {
			}
			_ = run(ipt, "-w", "5", "-t", table, "-F", realNodeChain)
			_ = run(ipt, "-w", "5", "-t", table, "-X", realNodeChain)
		}
	}
	for _, d := range []string{realNodeBase, realNodeRun} {
		if err := os.RemoveAll(d); err != nil {
			logf("real node: remove %s: %v", d, err)
		}
	}
	restoreSysctls(logf)
}

// removeOutsideLeftovers removes what containerd writes outside the
// node's directories, found from the pod sandboxes its root still lists:
// the shims' sockets (/run/containerd/s/<sha256 of address/namespace/id>,
// a fixed place in containerd 2.x) and the CNI result cache
// (/var/lib/cni/results/<network>-<id>-<interface>). The two directories
// go too when nothing else is left in them.
func removeOutsideLeftovers(logf func(string, ...any)) {
	sock := filepath.Join(realNodeRun, "containerd", "containerd.sock")
	ents, _ := os.ReadDir(filepath.Join(realNodeBase, "containerd", "io.containerd.grpc.v1.cri", "sandboxes"))
	for _, e := range ents {
		id := e.Name()
		sum := sha256.Sum256([]byte(filepath.Join(sock, "k8s.io", id)))
		for _, f := range []string{
			filepath.Join("/run/containerd/s", hex.EncodeToString(sum[:])),
			filepath.Join("/var/lib/cni/results", "sg-e2e-"+id+"-eth0"),
			filepath.Join("/var/lib/cni/results", "cni-loopback-"+id+"-lo"),
		} {
			if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
				logf("real node: %v", err)
			}
		}
	}
	for _, d := range []string{"/run/containerd/s", "/run/containerd", "/var/lib/cni/results", "/var/lib/cni"} {
		_ = os.Remove(d) // only if empty
	}
}

// killRealNodeProcesses SIGKILLs, by pid, every process in the node's
// cgroups (containers, gVisor sandboxes) and every process whose command
// line names the node's directories (shims, runsc), until none is left.
func killRealNodeProcesses(logf func(string, ...any)) {
	self := os.Getpid()
	for round := 0; round < 50; round++ {
		pids := map[int]bool{}
		_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			rel, _ := filepath.Rel("/sys/fs/cgroup", p)
			parts := strings.Split(rel, string(filepath.Separator))
			if len(parts) == 1 {
				return nil // a hierarchy's root: look inside
			}
			if parts[1] != realNodeCgroup {
				return filepath.SkipDir
			}
			// cgroup.procs lists processes (v1's tasks would list threads).
			if data, err := os.ReadFile(filepath.Join(p, "cgroup.procs")); err == nil {
				for _, s := range strings.Fields(string(data)) {
					if pid, err := strconv.Atoi(s); err == nil {
						pids[pid] = true
					}
				}
			}
			return nil
		})
		procs, _ := os.ReadDir("/proc")
		for _, e := range procs {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil {
				continue
			}
			s := string(cmdline)
			if strings.Contains(s, realNodeRun) || strings.Contains(s, realNodeBase) {
				pids[pid] = true
			}
		}
		delete(pids, self)
		if len(pids) == 0 {
			return
		}
		if round == 0 {
			logf("real node: killing %d processes of the node (shims, sandboxes, containers)", len(pids))
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(100 * time.Millisecond)
	}
	logf("real node: processes still alive after 5 s of SIGKILL")
}

// unmountUnder detaches every mount below the given directories, deepest
// first (volumes, rootfs overlays, shm, network namespace files).
func unmountUnder(logf func(string, ...any), dirs ...string) {
	for round := 0; round < 5; round++ {
		f, err := os.Open("/proc/self/mountinfo")
		if err != nil {
			return
		}
		var mounts []string
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 5 {
				continue
			}
			mp := strings.ReplaceAll(fields[4], `\040`, " ")
			for _, d := range dirs {
				if mp == d || strings.HasPrefix(mp, d+"/") {
					mounts = append(mounts, mp)
				}
			}
		}
		f.Close()
		if len(mounts) == 0 {
			return
		}
		sort.Slice(mounts, func(i, j int) bool { return len(mounts[i]) > len(mounts[j]) })
		for _, m := range mounts {
			if err := syscall.Unmount(m, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOENT) {
				logf("real node: unmount %s: %v", m, err)
			}
		}
	}
}

// removeCgroups removes the node's cgroup tree in every hierarchy,
// children first.
func removeCgroups(logf func(string, ...any)) {
	ents, _ := os.ReadDir("/sys/fs/cgroup")
	for _, e := range ents {
		root := filepath.Join("/sys/fs/cgroup", e.Name(), realNodeCgroup)
		if _, err := os.Stat(root); err != nil {
			continue
		}
		var dirs []string
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
		for _, d := range dirs {
			var err error
			for try := 0; try < 20; try++ {
				if err = syscall.Rmdir(d); err == nil || errors.Is(err, syscall.ENOENT) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err != nil && !errors.Is(err, syscall.ENOENT) {
				logf("real node: rmdir %s: %v", d, err)
			}
		}
	}
}
