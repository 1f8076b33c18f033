package e2e

// The shared environment of the scenario tests: one control plane (etcd,
// kube-apiserver, kube-scheduler, agent-sandbox controller, stand-ins) with
// both Sandbox Guard daemons running next to it, configured from the
// repository's manifests:
//
//   - RuntimeClasses gvisor (with overhead), kata and runc;
//   - namespace sandbox-guard-system, the webhook's and the extender's
//     ServiceAccounts and ClusterRoles (manifests/base/rbac.yaml,
//     manifests/extender/rbac.yaml), each daemon talking to the API server
//     with a token of its own ServiceAccount (TokenRequest API), so the
//     RBAC in the manifests is proven exactly enough;
//   - sandbox-guard-webhook with the default policy (plus the harness
//     controller's identity in agentSandbox.controllerUsers) and
//     --network-reconciler,
//     registered with manifests/base/{mutating,validating}-webhook.yaml
//     (clientConfig pointed at 127.0.0.1);
//   - sandbox-guard-extender, with kube-scheduler configured from the
//     extender entry of manifests/scheduler/kube-scheduler-config.yaml
//     (urlPrefix replaced).
//
// It starts on first use (tests that need none of it, such as TestSmoke,
// never pay for it) and stops in TestMain. Tests share it one after another
// (go test runs them sequentially here), each in fresh namespaces; tests that
// stop a daemon start it again before they return.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	nodev1 "k8s.io/api/node/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"sandbox-guard/tests/e2e/harness"
)

const (
	systemNS        = "sandbox-guard-system"
	profileLabel    = "sandbox-guard.io/network-profile"
	sandboxesLabel  = "sandbox-guard.io/sandboxes"
	webhookSA       = "sandbox-guard-webhook"
	extenderSA      = "sandbox-guard-extender"
	netpolName      = "sandbox-guard-default"
	generalNodePool = "e2e.sandbox-guard.dev/general"
)

// repoRoot is the Sandbox Guard repository (this file is tests/e2e/env_test.go).
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

func manifest(parts ...string) string {
	return filepath.Join(append([]string{repoRoot(), "manifests"}, parts...)...)
}

// daemon is a Sandbox Guard process run next to the control plane.
type daemon struct {
	name       string
	bin        string
	args       []string // without --listen/--health-listen
	port       int
	healthPort int
	tls        bool
	caPEM      []byte
	proc       *harness.Process
}

type env struct {
	c *harness.Cluster

	webhook  *daemon
	extender *daemon

	certFile, keyFile string
	// schedExtender is the extender entry from the manifests, urlPrefix
	// pointed at the running extender.
	schedExtender harness.Extender
	// registered configurations as the API server stored them.
	mutating   []*admissionregistrationv1.MutatingWebhookConfiguration
	validating []*admissionregistrationv1.ValidatingWebhookConfiguration
	target     harness.WebhookTarget
	// generalNodes are where scenarios' pods go unless they select others.
	generalNodes []string
}

var (
	sharedOnce sync.Once
	sharedEnv  *env
	sharedErr  error
	sharedSkip string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedEnv != nil && sharedEnv.c != nil {
		sharedEnv.c.Stop(code != 0)
	}
	os.Exit(code)
}

// shared returns the shared environment, starting it on first use. It skips
// the test when the Sandbox Guard daemons are not built.
func shared(t *testing.T) *env {
	t.Helper()
	webhookBin := harness.Daemon(t, "sandbox-guard-webhook")
	extenderBin := harness.Daemon(t, "sandbox-guard-extender")
	sharedOnce.Do(func() {
		begin := time.Now()
		sharedEnv, sharedErr = startEnv(webhookBin, extenderBin)
		if sharedErr == nil {
			fmt.Fprintf(os.Stderr, "e2e: shared environment up in %s (run directory %s)\n",
				time.Since(begin).Round(time.Millisecond), sharedEnv.c.Dir)
		}
	})
	if sharedErr != nil {
		t.Fatalf("shared environment: %v", sharedErr)
	}
	if err := sharedEnv.c.CheckAlive(); err != nil {
		t.Fatalf("shared environment: %v", err)
	}
	return sharedEnv
}

func startEnv(webhookBin, extenderBin string) (*env, error) {
	ctx := context.Background()
	c, err := harness.New(harness.Options{})
	e := &env{c: c}
	if err != nil {
		return e, err
	}
	if err := createRuntimeClasses(ctx, c); err != nil {
		return e, err
	}
	for i := 1; i <= 2; i++ {
		n, err := c.CreateNodeE(ctx, harness.NodeSpec{
			Name: fmt.Sprintf("general-%d", i), CPU: "16", Memory: "64Gi", Pods: 250,
			Labels: map[string]string{generalNodePool: "true"},
		})
		if err != nil {
			return e, err
		}
		e.generalNodes = append(e.generalNodes, n.Name)
	}

	// The webhook's namespace, ServiceAccounts and RBAC, from the manifests,
	// with kubectl as a person would (TestManifests applies the whole
	// kustomizations over them later).
	for _, args := range [][]string{
		{"apply", "-f", manifest("base", "namespace.yaml")},
		{"apply", "-n", systemNS, "-f", manifest("base", "serviceaccount.yaml"), "-f", manifest("base", "rbac.yaml"),
			"-f", manifest("extender", "serviceaccount.yaml"), "-f", manifest("extender", "rbac.yaml")},
	} {
		kctx, cancel := context.WithTimeout(ctx, time.Minute)
		out, err := c.Kubectl(kctx, args...)
		cancel()
		if err != nil {
			return e, fmt.Errorf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	webhookKC, err := serviceAccountKubeconfig(ctx, c, systemNS, webhookSA)
	if err != nil {
		return e, err
	}
	extenderKC, err := serviceAccountKubeconfig(ctx, c, systemNS, extenderSA)
	if err != nil {
		return e, err
	}

	// The webhook: default policy, network reconciler as in the Deployment.
	e.certFile, e.keyFile, err = c.CA.IssueFiles(filepath.Join(c.Dir, "pki"), "sandbox-guard-webhook", "127.0.0.1")
	if err != nil {
		return e, err
	}
	e.webhook = &daemon{
		name: "sandbox-guard-webhook", bin: webhookBin, tls: true, caPEM: c.CA.CertPEM,
		args: []string{"--tls-cert=" + e.certFile, "--tls-key=" + e.keyFile, "--reload-interval=200ms",
			"--network-reconciler", "--kubeconfig=" + webhookKC},
	}
	if err := e.webhook.start(c); err != nil {
		return e, err
	}
	e.target = harness.WebhookTarget{BaseURL: fmt.Sprintf("https://127.0.0.1:%d", e.webhook.port), CABundle: c.CA.CertPEM}
	if err := e.register(ctx); err != nil {
		return e, err
	}

	// The extender, and kube-scheduler configured from the manifest.
	e.extender = &daemon{name: "sandbox-guard-extender", bin: extenderBin, args: []string{"--kubeconfig=" + extenderKC}}
	if err := e.extender.start(c); err != nil {
		return e, err
	}
	ext, err := manifestExtender(manifest("scheduler", "kube-scheduler-config.yaml"))
	if err != nil {
		return e, err
	}
	ext.URLPrefix = fmt.Sprintf("http://127.0.0.1:%d", e.extender.port)
	e.schedExtender = ext
	if err := c.RestartScheduler([]harness.Extender{ext}); err != nil {
		return e, err
	}
	return e, nil
}

// register registers the manifests' webhook configurations, pointed at the
// running webhook, and waits until the API server calls it.
func (e *env) register(ctx context.Context) error {
	muts, vals, err := loadManifestWebhooks()
	if err != nil {
		return err
	}
	e.mutating, e.validating = nil, nil
	for _, m := range muts {
		out, err := e.c.RegisterMutatingWebhooks(ctx, m, e.target)
		if err != nil {
			return err
		}
		e.mutating = append(e.mutating, out)
	}
	for _, v := range vals {
		out, err := e.c.RegisterValidatingWebhooks(ctx, v, e.target)
		if err != nil {
			return err
		}
		e.validating = append(e.validating, out)
	}
	return e.waitWebhookActive(ctx)
}

func loadManifestWebhooks() ([]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	muts, _, err := harness.LoadWebhookConfigurations(manifest("base", "mutating-webhook.yaml"))
	if err != nil {
		return nil, nil, err
	}
	_, vals, err := harness.LoadWebhookConfigurations(manifest("base", "validating-webhook.yaml"))
	if err != nil {
		return nil, nil, err
	}
	if len(muts) != 1 || len(vals) != 1 {
		return nil, nil, fmt.Errorf("manifests/base: %d mutating and %d validating webhook configurations, want 1 and 1", len(muts), len(vals))
	}
	return muts, vals, nil
}

// waitWebhookActive creates dry-run sandbox pods until one comes back
// mutated (the API server learns configurations through an informer).
// restartWebhookWithPolicy restarts the shared webhook with --policy=path
// added to its arguments and waits until the API server calls it again. It
// returns the function that restores the usual arguments the same way
// (defer it).
func (e *env) restartWebhookWithPolicy(ctx context.Context, t *testing.T, path string) func() {
	t.Helper()
	restart := func(args []string) {
		e.webhook.stop()
		e.webhook.args = args
		if err := e.webhook.start(e.c); err != nil {
			t.Fatalf("restart webhook: %v", err)
		}
		if err := e.waitWebhookActive(ctx); err != nil {
			t.Fatalf("webhook not called after restart: %v", err)
		}
	}
	defaults := append([]string(nil), e.webhook.args...)
	restart(append(append([]string(nil), defaults...), "--policy="+path))
	return func() { restart(defaults) }
}

func (e *env) waitWebhookActive(ctx context.Context) error {
	probe := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Namespace: "default",
			Labels: map[string]string{harness.LabelSandboxNameHash: "00000000"}},
		// Without false here the ServiceAccount plugin mounts a token
		// before any webhook runs, and validation refuses the pod.
		Spec: corev1.PodSpec{AutomountServiceAccountToken: ptr(false),
			Containers: []corev1.Container{{Name: "c", Image: "registry.k8s.io/pause:3.10"}}},
	}
	return e.c.WaitForE(ctx, 30*time.Second, func(ctx context.Context) (bool, error) {
		// As the agent-sandbox controller: its agents.x-k8s.io/ labels are its own.
		out, err := e.c.ControllerClient.CoreV1().Pods("default").Create(ctx, probe, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return false, err
		}
		return out.Labels[profileLabel] == "default", fmt.Errorf("probe pod not mutated yet: labels %v", out.Labels)
	})
}

func ptr[T any](v T) *T { return &v }

// sharedRuntimeClasses are the RuntimeClasses every scenario runs with: the
// webhook defaults sandbox pods only to classes that exist (gvisor first)
// and refuses classes whose handler is not a sandbox, so these must be
// there.
func sharedRuntimeClasses() []*nodev1.RuntimeClass {
	return []*nodev1.RuntimeClass{
		{ObjectMeta: metav1.ObjectMeta{Name: "gvisor"}, Handler: "runsc", Overhead: &nodev1.Overhead{PodFixed: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("16Mi")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "kata"}, Handler: "kata"},
		{ObjectMeta: metav1.ObjectMeta{Name: "runc"}, Handler: "runc"},
	}
}

// createRuntimeClasses makes sure the shared RuntimeClasses exist as
// specified: missing ones are created, ones with another handler (which
// is immutable) are replaced. A test that changes them calls it again.
func createRuntimeClasses(ctx context.Context, c *harness.Cluster) error {
	rcs := c.Client.NodeV1().RuntimeClasses()
	for _, rc := range sharedRuntimeClasses() {
		cur, err := rcs.Get(ctx, rc.Name, metav1.GetOptions{})
		if err == nil && cur.Handler == rc.Handler {
			continue
		}
		if err == nil {
			if err := rcs.Delete(ctx, rc.Name, metav1.DeleteOptions{}); err != nil {
				return fmt.Errorf("delete RuntimeClass %s: %w", rc.Name, err)
			}
		} else if !apierrors.IsNotFound(err) {
			return fmt.Errorf("get RuntimeClass %s: %w", rc.Name, err)
		}
		if _, err := rcs.Create(ctx, rc, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create RuntimeClass %s: %w", rc.Name, err)
		}
	}
	return nil
}

// serviceAccountKubeconfig mints a token for a ServiceAccount (TokenRequest
// API) and writes a kubeconfig that uses it.
func serviceAccountKubeconfig(ctx context.Context, c *harness.Cluster, ns, sa string) (string, error) {
	exp := int64(6 * 3600)
	tr, err := c.Client.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for %s/%s: %w", ns, sa, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["e2e"] = &clientcmdapi.Cluster{Server: c.Server, CertificateAuthorityData: c.CA.CertPEM}
	cfg.AuthInfos[sa] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	cfg.Contexts["e2e"] = &clientcmdapi.Context{Cluster: "e2e", AuthInfo: sa}
	cfg.CurrentContext = "e2e"
	path := filepath.Join(c.Dir, "kubeconfig-"+sa)
	return path, clientcmd.WriteToFile(*cfg, path)
}

// manifestExtender reads the first extender entry of a
// KubeSchedulerConfiguration file.
func manifestExtender(path string) (harness.Extender, error) {
	objs, err := harness.ParseYAMLFile(path)
	if err != nil {
		return harness.Extender{}, err
	}
	if len(objs) != 1 || objs[0].GetKind() != "KubeSchedulerConfiguration" {
		return harness.Extender{}, fmt.Errorf("%s: want one KubeSchedulerConfiguration", path)
	}
	exts, _, _ := unstructured.NestedSlice(objs[0].Object, "extenders")
	if len(exts) != 1 {
		return harness.Extender{}, fmt.Errorf("%s: %d extenders, want 1", path, len(exts))
	}
	m := exts[0].(map[string]any)
	var x harness.Extender
	known := map[string]bool{}
	str := func(k string) string { known[k] = true; s, _ := m[k].(string); return s }
	x.URLPrefix = str("urlPrefix")
	x.FilterVerb = str("filterVerb")
	x.PrioritizeVerb = str("prioritizeVerb")
	x.PreemptVerb = str("preemptVerb")
	x.BindVerb = str("bindVerb")
	known["weight"], known["nodeCacheCapable"], known["ignorable"] = true, true, true
	if w, ok := m["weight"].(int64); ok {
		x.Weight = w
	} else if w, ok := m["weight"].(float64); ok {
		x.Weight = int64(w)
	}
	x.NodeCacheCapable, _ = m["nodeCacheCapable"].(bool)
	x.Ignorable, _ = m["ignorable"].(bool)
	if s := str("httpTimeout"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			return x, fmt.Errorf("%s: httpTimeout %q: %w", path, s, err)
		}
		x.HTTPTimeout = d
	}
	for k := range m {
		if !known[k] {
			return x, fmt.Errorf("%s: extender field %q is not carried over by the tests", path, k)
		}
	}
	return x, nil
}

// ---------------------------------------------------------------- daemons

// start runs the daemon; the first start listens on free ports (":0",
// read back from its "listening" log line), later starts on the same ports
// (a restart behind a Service).
func (d *daemon) start(c *harness.Cluster) error {
	args := append([]string{
		fmt.Sprintf("--listen=127.0.0.1:%d", d.port),
		fmt.Sprintf("--health-listen=127.0.0.1:%d", d.healthPort),
	}, d.args...)
	before := countLines(c.LogPath(d.name))
	p, err := c.StartProcess(d.name, d.bin, args, nil)
	if err != nil {
		return err
	}
	d.proc = p
	var line map[string]any
	err = p.WaitReady(30*time.Second, func(ctx context.Context) error {
		line = findLogLine(p.LogPath(), before, `"msg":"listening"`)
		if line == nil {
			return errors.New(`no "listening" log line yet`)
		}
		return nil
	})
	if err != nil {
		return err
	}
	port, _ := line["port"].(float64)
	hport, _ := line["health_port"].(float64)
	if port == 0 || hport == 0 {
		return fmt.Errorf("%s: listening line without ports: %v", d.name, line)
	}
	d.port, d.healthPort = int(port), int(hport)
	return p.WaitReady(60*time.Second, httpOK(d.healthURL("/readyz")))
}

func (d *daemon) stop() {
	if d.proc != nil {
		d.proc.Stop(10 * time.Second)
		d.proc = nil
	}
}

func (d *daemon) healthURL(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", d.healthPort, path)
}

// metrics returns the daemon's /metrics text.
func (d *daemon) metrics() (string, error) {
	resp, err := http.Get(d.healthURL("/metrics"))
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// metric sums the samples of a metric whose label text contains every
// given fragment (e.g. `verb="prioritize"`).
func metric(text, name string, fragments ...string) float64 {
	var sum float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		ok := true
		for _, f := range fragments {
			if !strings.Contains(rest, f) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		var v float64
		if i := strings.LastIndexByte(rest, ' '); i >= 0 {
			fmt.Sscan(rest[i+1:], &v)
		}
		sum += v
	}
	return sum
}

func httpOK(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
}

func countLines(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		n++
	}
	return n
}

// logLines returns the JSON log lines of a file after line skip that
// contain every fragment.
func logLines(path string, skip int, fragments ...string) []map[string]any {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for i := 0; sc.Scan(); i++ {
		if i < skip {
			continue
		}
		line := sc.Text()
		ok := true
		for _, fr := range fragments {
			if !strings.Contains(line, fr) {
				ok = false
				break
			}
		}
		if !ok {
			continue
		}
		m := map[string]any{}
		if json.Unmarshal([]byte(line), &m) == nil {
			out = append(out, m)
		}
	}
	return out
}

func findLogLine(path string, skip int, fragments ...string) map[string]any {
	l := logLines(path, skip, fragments...)
	if len(l) == 0 {
		return nil
	}
	return l[0]
}

// logLinesRaw returns every line of a log file.
func logLinesRaw(path string) []string {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimRight(string(data), "\n"), "\n")
}
