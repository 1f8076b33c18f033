package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// Options configures a Cluster. The zero value starts etcd, kube-apiserver,
// kube-scheduler (no extender), the agent-sandbox controller with its CRDs,
// the kubelet stand-in and the service-account stand-in.
type Options struct {
	// BinDir holds sg-controlplane and agent-sandbox-controller (built by
	// tests/e2e/build.sh). Default: $SG_E2E_BIN, else
	// $HOME/.cache/sandbox-guard/e2e/bin.
	BinDir string

	// WorkDir is where the per-run directory (logs, certificates,
	// configuration, kubeconfig) is created. Default: $SG_E2E_WORKDIR, else
	// the system temp directory. etcd's data always goes to a tmpfs
	// (/dev/shm) when one is writable.
	WorkDir string

	// Extenders are written into the scheduler's KubeSchedulerConfiguration.
	Extenders []Extender

	// SchedulerConfigExtra is merged into the top level of the generated
	// KubeSchedulerConfiguration (e.g. "percentageOfNodesToScore",
	// "profiles"). Keys set here win over the harness's own.
	SchedulerConfigExtra map[string]any

	// NoScheduler skips kube-scheduler (pods stay unbound unless the test
	// binds them).
	NoScheduler bool
	// NoSandboxController skips the agent-sandbox controller; its CRDs are
	// still installed unless NoSandboxCRDs is set too.
	NoSandboxController bool
	// NoSandboxCRDs skips installing the agent-sandbox CRDs (and implies
	// NoSandboxController).
	NoSandboxCRDs bool
	// NoKubelet skips the kubelet stand-in: bound pods then stay Pending.
	NoKubelet bool
	// ControllerManager starts kube-controller-manager with the controllers
	// a deployment from manifests/ needs (ControllerManagerControllers):
	// Deployments make pods, EndpointSlices follow their readiness,
	// PodDisruptionBudgets guard evictions, namespaces get kube-root-ca.crt.
	// Off by default: the stand-ins cover the other scenarios, faster.
	ControllerManager bool

	// Extra command-line flags, appended after the harness's own (for
	// single-valued flags the last one wins; list flags such as
	// --disable-admission-plugins accumulate).
	EtcdArgs       []string
	APIServerArgs  []string
	SchedulerArgs  []string
	ControllerArgs []string
	// ControllerManagerArgs are appended to kube-controller-manager's.
	ControllerManagerArgs []string

	// StartTimeout bounds the start of each component. Default 2 minutes.
	StartTimeout time.Duration

	// Logf receives progress messages. Start(t, ...) uses t.Logf; New
	// defaults to standard error.
	Logf func(format string, args ...any)
}

// Extender is one scheduler extender entry (kubescheduler.config.k8s.io/v1
// Extender). URLPrefix is e.g. "http://127.0.0.1:12345" or
// "https://127.0.0.1:12345/scheduler"; the scheduler POSTs to
// URLPrefix + "/" + verb.
type Extender struct {
	URLPrefix        string
	FilterVerb       string
	PrioritizeVerb   string
	PreemptVerb      string
	BindVerb         string
	Weight           int64
	NodeCacheCapable bool
	Ignorable        bool
	ManagedResources []ExtenderManagedResource
	// HTTPTimeout defaults to the scheduler's own default (5s) when zero.
	HTTPTimeout time.Duration

	// EnableHTTPS and the TLS fields configure an https URLPrefix. CAData
	// is the PEM bundle that signs the extender's certificate.
	EnableHTTPS bool
	CAData      []byte
	ServerName  string
	Insecure    bool
}

// ExtenderManagedResource restricts extender calls to pods requesting the
// named extended resource.
type ExtenderManagedResource struct {
	Name               string
	IgnoredByScheduler bool
}

func (o *Options) setDefaults() error {
	if o.BinDir == "" {
		o.BinDir = DefaultBinDir()
	}
	if o.WorkDir == "" {
		o.WorkDir = os.Getenv("SG_E2E_WORKDIR")
	}
	if o.WorkDir == "" {
		o.WorkDir = os.TempDir()
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 2 * time.Minute
	}
	if o.NoSandboxCRDs {
		o.NoSandboxController = true
	}
	if o.Logf == nil {
		o.Logf = func(format string, args ...any) {
			fmt.Fprintf(os.Stderr, "e2e: "+format+"\n", args...)
		}
	}
	for _, name := range []string{"sg-controlplane", "agent-sandbox-controller"} {
		if name == "agent-sandbox-controller" && o.NoSandboxController {
			continue
		}
		if _, err := os.Stat(filepath.Join(o.BinDir, name)); err != nil {
			return fmt.Errorf("%s not found in %s: run tests/e2e/build.sh first (or set SG_E2E_BIN)", name, o.BinDir)
		}
	}
	return nil
}

// DefaultBinDir is where tests/e2e/build.sh puts the binaries.
func DefaultBinDir() string {
	if d := os.Getenv("SG_E2E_BIN"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "sandbox-guard", "e2e", "bin")
}

// keepRunDir reports whether SG_E2E_KEEP asks to keep the per-run directory
// even after success.
func keepRunDir() bool {
	v := os.Getenv("SG_E2E_KEEP")
	return v != "" && v != "0" && v != "false"
}
