package harness

// The real node's network beyond the pod bridge: a NetworkPolicy enforcer
// (kube-router's firewall, the only part of it run) and the test's
// "outside", a network namespace serving the metadata and internet
// addresses, so that a probe that gets through a policy still never leaves
// the machine (docs/e2e.md, "Network isolation on the real node").

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

const (
	// MetadataIP and InternetIP are served (HTTP on port 80, body
	// OutsideBody) from the test's outside namespace.
	MetadataIP  = "169.254.169.254"
	InternetIP  = "198.51.100.10"
	OutsideBody = "sg-e2e-outside"

	outsideHostIP = "10.244.129.1"
	outsideNSIP   = "10.244.129.2"
)

// NetworkPolicyMissing returns "" when the enforcer can run here, or what
// is missing.
func NetworkPolicyMissing() string {
	var missing []string
	if _, err := os.Stat(filepath.Join(NodeBinDir(), "kube-router")); err != nil {
		missing = append(missing, filepath.Join(NodeBinDir(), "kube-router")+" (tests/e2e/node/build.sh)")
	}
	if _, err := exec.LookPath("ipset"); err != nil {
		missing = append(missing, "ipset")
	}
	return strings.Join(missing, ", ")
}

// StartOutside creates the outside namespace: a veth from the host
// (realNodeOutside, 10.244.129.1/30) to its eth0 (10.244.129.2/30) holding
// MetadataIP and InternetIP, an HTTP server answering OutsideBody there,
// and a routing table that sends only traffic arriving from the pod bridge
// to those two addresses into the veth (the host's own traffic to them is
// left alone). The fence lets the bridge and this veth talk, nothing else.
func (n *RealNode) StartOutside() error {
	ns := realNodeOutsideNS
	www := filepath.Join(realNodeBase, "outside", "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte(OutsideBody+"\n"), 0o644); err != nil {
		return err
	}
	steps := [][]string{
		{"ip", "netns", "add", ns},
		{"ip", "link", "add", realNodeOutside, "type", "veth", "peer", "name", "eth0", "netns", ns},
		{"ip", "addr", "add", outsideHostIP + "/30", "dev", realNodeOutside},
		{"ip", "link", "set", realNodeOutside, "up"},
		{"ip", "-n", ns, "link", "set", "lo", "up"},
		{"ip", "-n", ns, "addr", "add", outsideNSIP + "/30", "dev", "eth0"},
		{"ip", "-n", ns, "addr", "add", MetadataIP + "/32", "dev", "eth0"},
		{"ip", "-n", ns, "addr", "add", InternetIP + "/32", "dev", "eth0"},
		{"ip", "-n", ns, "link", "set", "eth0", "up"},
		{"ip", "-n", ns, "route", "add", RealNodeSubnet, "via", outsideHostIP},
		{"ip", "route", "add", MetadataIP + "/32", "via", outsideNSIP, "dev", realNodeOutside, "table", realNodeTable},
		{"ip", "route", "add", InternetIP + "/32", "via", outsideNSIP, "dev", realNodeOutside, "table", realNodeTable},
		{"ip", "rule", "add", "iif", realNodeBridge, "lookup", realNodeTable, "priority", realNodeTable},
	}
	for _, table := range fenceTables {
		steps = append(steps,
			[]string{"iptables", "-w", "5", "-t", table, "-I", realNodeChain, "1", "-i", realNodeBridge, "-o", realNodeOutside, "-j", "RETURN"},
			[]string{"iptables", "-w", "5", "-t", table, "-I", realNodeChain, "1", "-i", realNodeOutside, "-o", realNodeBridge, "-j", "RETURN"})
	}
	for _, st := range steps {
		if err := run(st[0], st[1:]...); err != nil {
			return err
		}
	}
	p, err := n.c.StartProcess("outside-httpd", "ip", []string{"netns", "exec", ns, "/bin/busybox", "httpd", "-f", "-p", "80", "-h", www}, nil)
	if err != nil {
		return err
	}
	n.outside = p
	return p.WaitReady(20*time.Second, func(ctx context.Context) error {
		// nc, not wget: Debian's static busybox wget crashes in its name lookup.
		cmd := exec.CommandContext(ctx, "ip", "netns", "exec", ns, "/bin/busybox", "nc", "-w", "2", InternetIP, "80")
		cmd.Stdin = strings.NewReader("GET / HTTP/1.0\r\n\r\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), OutsideBody) {
			return fmt.Errorf("outside httpd: %v: %s", err, out)
		}
		return nil
	})
}

// StartNetworkPolicy runs kube-router with only its firewall (NetworkPolicy
// enforcement with iptables and ipsets) for this node, and waits for its
// FORWARD chain.
func (n *RealNode) StartNetworkPolicy() error {
	args := []string{
		"--kubeconfig=" + n.c.Kubeconfig,
		"--hostname-override=" + n.Name,
		"--run-firewall=true", "--run-router=false", "--run-service-proxy=false", "--run-loadbalancer=false",
		"--enable-cni=false", "--enable-ipv6=false",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--health-port=0", "--metrics-port=0",
		"--v=2",
	}
	p, err := n.c.StartProcess("kube-router", filepath.Join(n.bin, "kube-router"), args, nil)
	if err != nil {
		return err
	}
	n.enforcer = p
	return p.WaitReady(60*time.Second, func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "iptables", "-w", "5", "-S", "KUBE-ROUTER-FORWARD").CombinedOutput()
		if err != nil {
			return fmt.Errorf("no KUBE-ROUTER-FORWARD chain yet: %s", strings.TrimSpace(string(out)))
		}
		return nil
	})
}

// sweepOutside removes the outside namespace, its veth, routes and rule,
// and whatever kube-router left in iptables and ipset.
func sweepOutside(logf func(string, ...any)) {
	for run("ip", "rule", "del", "priority", realNodeTable) == nil {
	}
	_ = run("ip", "route", "flush", "table", realNodeTable)
	if _, err := os.Stat(filepath.Join("/run/netns", realNodeOutsideNS)); err == nil {
		if err := run("ip", "netns", "del", realNodeOutsideNS); err != nil {
			logf("real node: %v", err)
		}
	}
	_ = run("ip", "link", "del", realNodeOutside)
	sweepIPTables(logf)
	// kube-router's ipsets (its --cleanup-config panics in v2.1.0 when no
	// service proxy ran, so the sweep does it).
	if out, err := exec.Command("ipset", "list", "-n").Output(); err == nil {
		for _, name := range strings.Fields(string(out)) {
			if strings.HasPrefix(name, "KUBE-") || strings.HasPrefix(name, "kube-router") || strings.HasPrefix(name, "inet6:KUBE-") {
				if err := run("ipset", "destroy", name); err != nil {
					logf("real node: %v", err)
				}
			}
		}
	}
}

// nodeChain says whether an iptables chain is one the real node's kubelet
// (always, in 1.36) or kube-router creates. Nothing else on the test
// machines makes chains with these names.
func nodeChain(name string) bool {
	switch name {
	case "KUBE-IPTABLES-HINT", "KUBE-KUBELET-CANARY", "KUBE-FIREWALL", realNodeServiceChain:
		return true
	}
	for _, p := range []string{"KUBE-ROUTER-", "KUBE-NWPLCY-", "KUBE-POD-FW-"} {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// sweepIPTables removes the kubelet's and kube-router's chains (nodeChain)
// from mangle, nat and filter, IPv4 and IPv6: first every rule elsewhere
// that jumps to one (by number, highest first), then the chains.
func sweepIPTables(logf func(string, ...any)) {
	for _, ipt := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"mangle", "nat", "filter"} {
			out, err := exec.Command(ipt, "-w", "5", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			var chains []string
			rules := map[string][]string{} // chain -> its rules in order
			var order []string
			for _, line := range strings.Split(string(out), "\n") {
				f := strings.Fields(line)
				switch {
				case len(f) >= 2 && f[0] == "-N" && nodeChain(f[1]):
					chains = append(chains, f[1])
				case len(f) >= 2 && f[0] == "-A":
					if _, seen := rules[f[1]]; !seen {
						order = append(order, f[1])
					}
					rules[f[1]] = append(rules[f[1]], line)
				}
			}
			for _, chain := range order {
				if nodeChain(chain) {
					continue
				}
				for i := len(rules[chain]) - 1; i >= 0; i-- {
					f := strings.Fields(rules[chain][i])
					for j := 0; j+1 < len(f); j++ {
						if (f[j] == "-j" || f[j] == "-g") && nodeChain(f[j+1]) {
							if err := run(ipt, "-w", "5", "-t", table, "-D", chain, fmt.Sprint(i+1)); err != nil {
								logf("real node: %v", err)
							}
							break
						}
					}
				}
			}
			for _, chain := range chains {
				_ = run(ipt, "-w", "5", "-t", table, "-F", chain)
			}
			for _, chain := range chains {
				if err := run(ipt, "-w", "5", "-t", table, "-X", chain); err != nil {
					logf("real node: %v", err)
				}
			}
		}
	}
}

// ForwardAPIServer makes the API server (which listens on 127.0.0.1 only)
// reachable from pods for the rest of the test: a TCP forwarder listening
// on the pod bridge's host address RealNodeIP (a port of the kernel's
// choosing) that copies each connection to and from the API server's
// loopback port. It returns the address pods can connect to. The fence is
// untouched: a pod reaches the host's own address through INPUT, not
// FORWARD, and the forwarder's own connection goes to 127.0.0.1.
func (n *RealNode) ForwardAPIServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp4", net.JoinHostPort(RealNodeIP, "0"))
	if err != nil {
		t.Fatalf("API server forwarder: %v", err)
	}
	target := fmt.Sprintf("127.0.0.1:%d", n.c.apiPort)
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	track := func(c net.Conn, on bool) {
		mu.Lock()
		defer mu.Unlock()
		if on {
			conns[c] = true
		} else {
			delete(conns, c)
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer in.Close()
				out, err := net.DialTimeout("tcp4", target, 5*time.Second)
				if err != nil {
					return
				}
				defer out.Close()
				track(in, true)
				track(out, true)
				defer track(in, false)
				defer track(out, false)
				// Each direction half-closes when its source ends, so an
				// answer still on its way back after the client's FIN
				// (nc sends one when its input ends) is delivered.
				done := make(chan struct{}, 2)
				pipe := func(dst, src net.Conn) {
					_, _ = io.Copy(dst, src)
					_ = dst.(*net.TCPConn).CloseWrite()
					done <- struct{}{}
				}
				go pipe(out, in)
				go pipe(in, out)
				<-done
				<-done
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// realNodeServiceChain holds RouteKubernetesService's rule (nat table).
const realNodeServiceChain = "SG-E2E-SVC"

// RouteKubernetesService lets pods on the node reach the API server at the
// address the kubelet gives them in KUBERNETES_SERVICE_HOST/_PORT (the
// default/kubernetes Service's ClusterIP), as kube-proxy would for that one
// Service: a DNAT rule for traffic entering from the pod bridge, to
// ForwardAPIServer's address on the bridge. No kube-proxy runs here, so no
// other ClusterIP routes; the API server reaches webhook Services by their
// endpoints (kube-apiserver --enable-aggregator-routing). The rule stays
// on the host side of the bridge (nat PREROUTING, local delivery), so the
// fence is untouched; the sweep removes the chain with the node's others.
func (n *RealNode) RouteKubernetesService(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	svc, err := n.c.Client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("Service default/kubernetes: %v", err)
	}
	if svc.Spec.ClusterIP == "" || len(svc.Spec.Ports) == 0 {
		t.Fatalf("Service default/kubernetes has no ClusterIP or port: %+v", svc.Spec)
	}
	to := n.ForwardAPIServer(t)
	for _, args := range [][]string{
		{"-t", "nat", "-N", realNodeServiceChain},
		{"-t", "nat", "-A", realNodeServiceChain, "-d", svc.Spec.ClusterIP + "/32", "-p", "tcp",
			"--dport", fmt.Sprint(svc.Spec.Ports[0].Port), "-j", "DNAT", "--to-destination", to},
		{"-t", "nat", "-I", "PREROUTING", "-i", realNodeBridge, "-j", realNodeServiceChain},
	} {
		if err := run("iptables", append([]string{"-w", "5"}, args...)...); err != nil {
			t.Fatalf("route the kubernetes Service: %v", err)
		}
	}
	n.c.logf("real node: pods reach the API server at %s:%d (-> %s)", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port, to)
}
