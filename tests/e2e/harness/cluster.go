// Package harness runs a real Kubernetes control plane on 127.0.0.1 for the
// Sandbox Guard end-to-end tests: etcd, kube-apiserver, kube-scheduler and
// the agent-sandbox controller as child processes, plus two in-process
// stand-ins for the parts of a cluster that are not run (a kubelet that
// marks bound pods Running/Ready, and the controller-manager's creation of
// each namespace's "default" ServiceAccount).
//
// Typical use:
//
//	c := harness.Start(t, harness.Options{})
//	c.CreateNamespace(t, "demo")
//	c.CreateNode(t, harness.NodeSpec{Name: "n1"})
//	... c.Client / c.Dynamic ...
//
// Everything a run produces (component logs, certificates, configuration,
// kubeconfig) lives in one directory, kept and printed when the test fails
// (or when SG_E2E_KEEP=1) and removed otherwise.
package harness

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	apiextensionsclient "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// AdminUser is the user name bound to Cluster.Token (group system:masters).
const AdminUser = "sg-e2e-admin"

// Cluster is a running control plane.
type Cluster struct {
	// Dir is the per-run directory; LogDir (= Dir/logs) holds one
	// <component>.log per process.
	Dir    string
	LogDir string
	// Kubeconfig is a kubeconfig file for kubectl (admin token).
	Kubeconfig string
	// Server is the API server URL, https://127.0.0.1:<port>.
	Server string
	// Token is a bearer token for a system:masters user.
	Token string
	// ControllerToken authenticates as the agent-sandbox controller
	// (ControllerUser, with a ServiceAccount's groups); the controller runs
	// with it (ControllerKubeconfig), and ControllerClient lets a test act as
	// the controller does (creating sandbox pods itself, say).
	ControllerToken      string
	ControllerKubeconfig string
	ControllerClient     kubernetes.Interface
	// CA signed the API server's serving certificate. Tests may issue
	// webhook/extender serving certificates from it too.
	CA *CA

	RESTConfig    *rest.Config
	Client        kubernetes.Interface
	Dynamic       dynamic.Interface
	APIExtensions apiextensionsclient.Interface
	// Mapper maps kinds to resources via discovery (reset on a miss).
	Mapper meta.ResettableRESTMapper

	opts    Options
	bin     string
	dataDir string

	etcdPort      int
	apiPort       int
	schedulerPort int

	caFile    string // the CA that signed the API server's certificate
	saKeyFile string // the ServiceAccount token signing key

	mu         sync.Mutex
	etcd       *Process
	apiserver  *Process
	scheduler  *Process
	controller *Process
	extra      []*Process
	schedGen   int
	nodeCount  int

	standIns     context.CancelFunc
	standInsDone sync.WaitGroup
	kubelet      *kubeletStandIn

	stopOnce sync.Once
}

// Start starts a cluster for one test (or a test and its subtests) and
// registers its shutdown with t.Cleanup. It calls t.Fatal when the cluster
// cannot start.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Logf == nil {
		opts.Logf = t.Logf
	}
	c, err := New(opts)
	if c != nil {
		// A panicking test is not yet marked failed when cleanups run.
		t.Cleanup(func() { c.Stop(t.Failed() || panicking()) })
	}
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	return c
}

// New starts a cluster. The caller must call Stop (for example from
// TestMain); a partially started cluster is returned together with the
// error so that Stop can clean it up and keep its logs.
func New(opts Options) (*Cluster, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, bin: filepath.Join(opts.BinDir, "sg-controlplane")}
	if err := c.start(); err != nil {
		return c, err
	}
	return c, nil
}

func (c *Cluster) logf(format string, args ...any) { c.opts.Logf(format, args...) }

func (c *Cluster) start() error {
	begin := time.Now()
	var err error
	if err = os.MkdirAll(c.opts.WorkDir, 0o755); err != nil {
		return err
	}
	if c.Dir, err = os.MkdirTemp(c.opts.WorkDir, "sg-e2e-"); err != nil {
		return err
	}
	c.LogDir = filepath.Join(c.Dir, "logs")
	for _, d := range []string{c.LogDir, filepath.Join(c.Dir, "pki"), filepath.Join(c.Dir, "config")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	c.dataDir = tmpfsDir()
	if c.dataDir == "" {
		c.dataDir = filepath.Join(c.Dir, "data")
		if err := os.MkdirAll(c.dataDir, 0o700); err != nil {
			return err
		}
	}
	c.logf("control plane run directory: %s (etcd data: %s)", c.Dir, c.dataDir)
	// <WorkDir>/sg-e2e-latest points at the newest run, for a look at the
	// logs of a run that was aborted (go test -timeout runs no cleanup).
	latest := filepath.Join(c.opts.WorkDir, "sg-e2e-latest")
	_ = os.Remove(latest)
	_ = os.Symlink(c.Dir, latest)

	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	c.etcdPort, c.apiPort, c.schedulerPort = ports[0], ports[2], ports[3]
	etcdPeerPort := ports[1]

	if err := c.startEtcd(etcdPeerPort); err != nil {
		return err
	}
	if err := c.startAPIServer(); err != nil {
		return err
	}
	c.startServiceAccountStandIn()
	if c.opts.ControllerManager {
		if err := c.startControllerManager(); err != nil {
			return err
		}
	}
	if !c.opts.NoScheduler {
		if err := c.startScheduler(c.opts.Extenders); err != nil {
			return err
		}
	}
	if !c.opts.NoSandboxCRDs {
		if err := c.InstallSandboxCRDs(context.Background()); err != nil {
			return err
		}
	}
	if !c.opts.NoSandboxController {
		if err := c.startController(); err != nil {
			return err
		}
	}
	if !c.opts.NoKubelet {
		if err := c.startKubeletStandIn(); err != nil {
			return err
		}
	}
	c.logf("control plane up in %s: %s (kubeconfig %s)", time.Since(begin).Round(time.Millisecond), c.Server, c.Kubeconfig)
	return nil
}

// panicking reports whether the calling goroutine is unwinding a panic
// (cleanups of a panicking test run inside the testing package's deferred
// handler, below the runtime's panic frame).
func panicking() bool {
	return strings.Contains(string(debug.Stack()), "\npanic(")
}

const tmpfsPrefix = "sg-e2e-etcd-"

// tmpfsDir makes etcd's data directory on /dev/shm, after removing those
// left by earlier runs whose test process has died without cleaning up (a
// go test -timeout abort runs no cleanup).
func tmpfsDir() string {
	st, err := os.Stat("/dev/shm")
	if err != nil || !st.IsDir() {
		return ""
	}
	old, _ := filepath.Glob(filepath.Join("/dev/shm", tmpfsPrefix+"*"))
	for _, d := range old {
		data, err := os.ReadFile(filepath.Join(d, "owner.pid"))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			os.RemoveAll(d)
		}
	}
	d, err := os.MkdirTemp("/dev/shm", tmpfsPrefix)
	if err != nil {
		return ""
	}
	_ = os.WriteFile(filepath.Join(d, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644)
	return d
}

func (c *Cluster) startEtcd(peerPort int) error {
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", c.etcdPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	args := []string{
		"etcd",
		"--name=e2e",
		"--data-dir=" + filepath.Join(c.dataDir, "etcd"),
		"--listen-client-urls=" + clientURL,
		"--advertise-client-urls=" + clientURL,
		"--listen-peer-urls=" + peerURL,
		"--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=e2e=" + peerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true",
		"--quota-backend-bytes=4294967296",
		"--log-level=warn",
	}
	args = append(args, c.opts.EtcdArgs...)
	p, err := startProcess(c.LogDir, "etcd", c.bin, args, nil)
	if err != nil {
		return err
	}
	c.etcd = p
	hc := &http.Client{Timeout: 2 * time.Second}
	return c.waitProcess(p, func(ctx context.Context) error {
		resp, err := hc.Get(clientURL + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		var h struct{ Health string }
		if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
			return err
		}
		if h.Health != "true" {
			return fmt.Errorf("etcd health %q", h.Health)
		}
		return nil
	})
}

func (c *Cluster) startAPIServer() error {
	pki := filepath.Join(c.Dir, "pki")
	var err error
	if c.CA, err = NewCA("sandbox-guard-e2e-ca"); err != nil {
		return err
	}
	caFile := filepath.Join(pki, "ca.crt")
	if err := os.WriteFile(caFile, c.CA.CertPEM, 0o644); err != nil {
		return err
	}
	certFile, keyFile, err := c.CA.IssueFiles(pki, "apiserver", "127.0.0.1", "localhost",
		"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "10.0.0.1")
	if err != nil {
		return err
	}
	saKey, saPub, err := writeServiceAccountKeys(pki)
	if err != nil {
		return err
	}
	c.caFile, c.saKeyFile = caFile, saKey
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	c.Token = hex.EncodeToString(tok)
	if _, err := rand.Read(tok); err != nil {
		return err
	}
	c.ControllerToken = hex.EncodeToString(tok)
	tokenFile := filepath.Join(pki, "tokens.csv")
	tokens := fmt.Sprintf("%s,%s,%s,\"system:masters\"\n", c.Token, AdminUser, AdminUser) +
		fmt.Sprintf("%s,%s,%s,\"%s\"\n", c.ControllerToken, ControllerUser, ControllerUser, strings.Join(controllerGroups, ","))
	if err := os.WriteFile(tokenFile, []byte(tokens), 0o600); err != nil {
		return err
	}

	c.Server = fmt.Sprintf("https://127.0.0.1:%d", c.apiPort)
	args := []string{
		"kube-apiserver",
		fmt.Sprintf("--etcd-servers=http://127.0.0.1:%d", c.etcdPort),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.apiPort),
		"--cert-dir=" + filepath.Join(c.Dir, "apiserver-certs"),
		"--tls-cert-file=" + certFile,
		"--tls-private-key-file=" + keyFile,
		"--client-ca-file=" + caFile,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + saPub,
		"--service-account-signing-key-file=" + saKey,
		"--token-auth-file=" + tokenFile,
		"--authorization-mode=RBAC",
		"--endpoint-reconciler-type=none",
		// No node lifecycle controller runs: a not-ready taint added at
		// registration would never be lifted.
		"--disable-admission-plugins=TaintNodesByCondition",
		// On by default; named so that nobody drops it by accident.
		"--enable-admission-plugins=RuntimeClass",
		"--allow-privileged=true",
		// The API server dials a kubelet (logs, exec) at the node's
		// InternalIP only: the default tries the Hostname address first,
		// which means a DNS query off the machine for a test node's name.
		"--kubelet-preferred-address-types=InternalIP",
		"--profiling=false",
		"--v=1",
	}
	args = append(args, c.opts.APIServerArgs...)
	p, err := startProcess(c.LogDir, "kube-apiserver", c.bin, args, nil)
	if err != nil {
		return err
	}
	c.apiserver = p

	c.RESTConfig = &rest.Config{
		Host:            c.Server,
		BearerToken:     c.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: c.CA.CertPEM},
		QPS:             200,
		Burst:           400,
		UserAgent:       "sandbox-guard-e2e",
	}
	if c.Client, err = kubernetes.NewForConfig(c.RESTConfig); err != nil {
		return err
	}
	if c.Dynamic, err = dynamic.NewForConfig(c.RESTConfig); err != nil {
		return err
	}
	if c.APIExtensions, err = apiextensionsclient.NewForConfig(c.RESTConfig); err != nil {
		return err
	}
	ctlConfig := rest.CopyConfig(c.RESTConfig)
	ctlConfig.BearerToken = c.ControllerToken
	ctlConfig.UserAgent = "sandbox-guard-e2e-as-controller"
	if c.ControllerClient, err = kubernetes.NewForConfig(ctlConfig); err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig)
	if err != nil {
		return err
	}
	c.Mapper = restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))

	if err := c.writeKubeconfig(); err != nil {
		return err
	}
	return c.waitProcess(p, func(ctx context.Context) error {
		body, err := c.Client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err != nil {
			return fmt.Errorf("%v: %s", err, body)
		}
		return nil
	})
}

func (c *Cluster) writeKubeconfig() error {
	c.Kubeconfig = filepath.Join(c.Dir, "kubeconfig")
	if err := c.writeKubeconfigFor(c.Kubeconfig, "admin", c.Token); err != nil {
		return err
	}
	c.ControllerKubeconfig = filepath.Join(c.Dir, "agent-sandbox-controller.kubeconfig")
	return c.writeKubeconfigFor(c.ControllerKubeconfig, ControllerServiceAccount, c.ControllerToken)
}

func (c *Cluster) writeKubeconfigFor(path, user, token string) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.CA.CertPEM}
	cfg.AuthInfos[user] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: user, Namespace: "default"}
	cfg.CurrentContext = "e2e"
	return clientcmd.WriteToFile(*cfg, path)
}

// schedulerConfig renders the KubeSchedulerConfiguration as JSON (valid YAML).
func (c *Cluster) schedulerConfig(extenders []Extender) ([]byte, error) {
	cfg := map[string]any{
		"apiVersion":       "kubescheduler.config.k8s.io/v1",
		"kind":             "KubeSchedulerConfiguration",
		"clientConnection": map[string]any{"kubeconfig": c.Kubeconfig, "qps": 200, "burst": 400},
		"leaderElection":   map[string]any{"leaderElect": false},
	}
	var exts []map[string]any
	for i, e := range extenders {
		if e.URLPrefix == "" {
			return nil, fmt.Errorf("extender %d: URLPrefix is empty", i)
		}
		m := map[string]any{"urlPrefix": e.URLPrefix}
		setStr := func(k, v string) {
			if v != "" {
				m[k] = v
			}
		}
		setStr("filterVerb", e.FilterVerb)
		setStr("prioritizeVerb", e.PrioritizeVerb)
		setStr("preemptVerb", e.PreemptVerb)
		setStr("bindVerb", e.BindVerb)
		if e.Weight != 0 {
			m["weight"] = e.Weight
		}
		if e.NodeCacheCapable {
			m["nodeCacheCapable"] = true
		}
		if e.Ignorable {
			m["ignorable"] = true
		}
		if e.HTTPTimeout > 0 {
			m["httpTimeout"] = e.HTTPTimeout.String()
		}
		if len(e.ManagedResources) > 0 {
			var mr []map[string]any
			for _, r := range e.ManagedResources {
				mr = append(mr, map[string]any{"name": r.Name, "ignoredByScheduler": r.IgnoredByScheduler})
			}
			m["managedResources"] = mr
		}
		if e.EnableHTTPS || strings.HasPrefix(e.URLPrefix, "https://") {
			m["enableHTTPS"] = true
			tlsCfg := map[string]any{}
			if len(e.CAData) > 0 {
				tlsCfg["caData"] = e.CAData // []byte marshals as base64, as the API expects
			}
			if e.ServerName != "" {
				tlsCfg["serverName"] = e.ServerName
			}
			if e.Insecure {
				tlsCfg["insecure"] = true
			}
			if len(tlsCfg) > 0 {
				m["tlsConfig"] = tlsCfg
			}
		}
		exts = append(exts, m)
	}
	if len(exts) > 0 {
		cfg["extenders"] = exts
	}
	for k, v := range c.opts.SchedulerConfigExtra {
		cfg[k] = v
	}
	return json.MarshalIndent(cfg, "", "  ")
}

func (c *Cluster) startScheduler(extenders []Extender) error {
	data, err := c.schedulerConfig(extenders)
	if err != nil {
		return err
	}
	c.schedGen++
	cfgFile := filepath.Join(c.Dir, "config", fmt.Sprintf("kube-scheduler-%d.yaml", c.schedGen))
	if err := os.WriteFile(cfgFile, data, 0o644); err != nil {
		return err
	}
	args := []string{
		"kube-scheduler",
		"--config=" + cfgFile,
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", c.schedulerPort),
		"--cert-dir=" + filepath.Join(c.Dir, "scheduler-certs"),
		"--v=2",
	}
	args = append(args, c.opts.SchedulerArgs...)
	p, err := startProcess(c.LogDir, "kube-scheduler", c.bin, args, nil)
	if err != nil {
		return err
	}
	c.scheduler = p
	return c.waitProcess(p, HTTPSReady(fmt.Sprintf("https://127.0.0.1:%d/readyz", c.schedulerPort), nil))
}

// StopScheduler stops kube-scheduler: new pods stay pending until
// RestartScheduler starts it again (for measuring how fast it drains a
// backlog).
func (c *Cluster) StopScheduler() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scheduler.Stop(10 * time.Second)
}

// RestartScheduler stops kube-scheduler and starts it again with a new
// extender list (for example once a test has started its extender and knows
// its port). Pods keep their bindings.
func (c *Cluster) RestartScheduler(extenders []Extender) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.scheduler.Stop(10 * time.Second)
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	c.schedulerPort = ports[0]
	c.opts.Extenders = extenders
	return c.startScheduler(extenders)
}

// ControllerManagerControllers are the kube-controller-manager controllers
// Options.ControllerManager runs: what a Deployment with a Service and a
// PodDisruptionBudget needs, and nothing that would fight the harness
// (no node lifecycle controller: nodes here have no cloud and stand-in
// nodes no heartbeat; no namespace controller: tests delete their own).
var ControllerManagerControllers = []string{
	"deployment-controller", "replicaset-controller", "endpointslice-controller",
	"endpoints-controller", "disruption-controller", "garbage-collector-controller",
	"root-ca-certificate-publisher-controller", "serviceaccount-controller",
}

func (c *Cluster) startControllerManager() error {
	ports, err := freePorts(1)
	if err != nil {
		return err
	}
	args := []string{
		"kube-controller-manager",
		"--kubeconfig=" + c.Kubeconfig,
		"--controllers=" + strings.Join(ControllerManagerControllers, ","),
		"--root-ca-file=" + c.caFile,
		"--service-account-private-key-file=" + c.saKeyFile,
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--bind-address=127.0.0.1",
		fmt.Sprintf("--secure-port=%d", ports[0]),
		"--cert-dir=" + filepath.Join(c.Dir, "controller-manager-certs"),
		"--profiling=false",
		"--v=1",
	}
	args = append(args, c.opts.ControllerManagerArgs...)
	p, err := startProcess(c.LogDir, "kube-controller-manager", c.bin, args, nil)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.extra = append(c.extra, p)
	c.mu.Unlock()
	return c.waitProcess(p, HTTPSReady(fmt.Sprintf("https://127.0.0.1:%d/healthz", ports[0]), nil))
}

func (c *Cluster) startController() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	err := c.installControllerRBAC(ctx)
	cancel()
	if err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	healthAddr := fmt.Sprintf("127.0.0.1:%d", ports[1])
	args := []string{
		// Its own identity and RBAC, as in a cluster (see controller.go).
		"--kubeconfig=" + c.ControllerKubeconfig,
		"--extensions=true",
		// Its webhook server only converts v1alpha1 <-> v1beta1 and
		// validates; the harness installs the CRDs with conversion None and
		// v1beta1 served only, so the controller runs without it.
		"--enable-webhook=false",
		"--leader-elect=false",
		"--metrics-bind-address=127.0.0.1:" + strconv.Itoa(ports[0]),
		"--health-probe-bind-address=" + healthAddr,
	}
	args = append(args, c.opts.ControllerArgs...)
	p, err := startProcess(c.LogDir, "agent-sandbox-controller", filepath.Join(c.opts.BinDir, "agent-sandbox-controller"), args, nil)
	if err != nil {
		return err
	}
	c.controller = p
	hc := &http.Client{Timeout: 2 * time.Second}
	return c.waitProcess(p, func(ctx context.Context) error {
		resp, err := hc.Get("http://" + healthAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz: %s", resp.Status)
		}
		return nil
	})
}

// waitProcess waits for a component with the start timeout.
func (c *Cluster) waitProcess(p *Process, check func(ctx context.Context) error) error {
	return p.WaitReady(c.opts.StartTimeout, check)
}

// CheckAlive returns an error naming any component that has exited.
func (c *Cluster) CheckAlive() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var errs []error
	for _, p := range append([]*Process{c.etcd, c.apiserver, c.scheduler, c.controller}, c.extra...) {
		if p == nil || p.stopped.Load() {
			continue
		}
		if done, err := p.Exited(); done {
			errs = append(errs, fmt.Errorf("%s exited (%v), see %s", p.name, err, p.logPath))
		}
	}
	return errors.Join(errs...)
}

// LogPath returns the log file of a component: "etcd", "kube-apiserver",
// "kube-scheduler", "agent-sandbox-controller" or "kubelet-standin".
func (c *Cluster) LogPath(component string) string {
	return filepath.Join(c.LogDir, component+".log")
}

// Stop shuts everything down (stand-ins, controller, scheduler, API server,
// etcd), removes etcd's data, and removes the run directory unless failed is
// true or SG_E2E_KEEP is set, in which case it prints where it is.
func (c *Cluster) Stop(failed bool) {
	c.stopOnce.Do(func() {
		if failed {
			c.dumpOnFailure()
		}
		if c.standIns != nil {
			c.standIns()
			c.standInsDone.Wait()
		}
		c.mu.Lock()
		var procs []*Process
		for i := len(c.extra) - 1; i >= 0; i-- {
			procs = append(procs, c.extra[i])
		}
		procs = append(procs, c.controller, c.scheduler, c.apiserver, c.etcd)
		c.mu.Unlock()
		for _, p := range procs {
			p.Stop(15 * time.Second)
		}
		if c.dataDir != "" && !strings.HasPrefix(c.dataDir, c.Dir) {
			os.RemoveAll(c.dataDir)
		}
		if c.Dir == "" {
			return
		}
		if failed || keepRunDir() {
			msg := fmt.Sprintf("control plane logs kept in %s", c.Dir)
			c.logf("%s", msg)
			fmt.Fprintf(os.Stderr, "e2e: %s\n", msg)
			return
		}
		os.RemoveAll(c.Dir)
		latest := filepath.Join(c.opts.WorkDir, "sg-e2e-latest")
		if target, err := os.Readlink(latest); err == nil && target == c.Dir {
			os.Remove(latest)
		}
	})
}

// StartProcess runs another program (a Sandbox Guard daemon, say) next to
// the control plane: output to LogDir/<name>.log, stopped by Stop before
// the control plane, killed if the test binary dies. env entries
// ("K=V") are added to the test's environment.
func (c *Cluster) StartProcess(name, bin string, args, env []string) (*Process, error) {
	p, err := startProcess(c.LogDir, name, bin, args, env)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.extra = append(c.extra, p)
	c.mu.Unlock()
	return p, nil
}

// WaitReady polls check (every 200ms, 5s per call) until it succeeds, the
// process exits, or timeout passes; the error then carries the end of the
// process's log.
func (p *Process) WaitReady(timeout time.Duration, check func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	for {
		if done, werr := p.Exited(); done {
			return fmt.Errorf("%s exited during start (%v); log %s ends with:\n%s", p.name, werr, p.logPath, p.Tail(30))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		last := check(ctx)
		cancel()
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v; log %s ends with:\n%s", p.name, timeout, last, p.logPath, p.Tail(30))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// HTTPSReady returns a WaitReady check that GETs url over TLS, trusting
// caPEM (or, when caPEM is empty, any certificate), and wants a 2xx answer.
func HTTPSReady(url string, caPEM []byte) func(ctx context.Context) error {
	tlsCfg := &tls.Config{InsecureSkipVerify: len(caPEM) == 0} // loopback test servers only
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(caPEM)
		tlsCfg.RootCAs = pool
	}
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}
