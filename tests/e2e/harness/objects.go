package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"
)

var everything = labels.Everything()

// FieldManager is the server-side apply field manager used by Apply.
const FieldManager = "sandbox-guard-e2e"

// ---------------------------------------------------------------- nodes

// NodeSpec describes a fake node. Zero values get defaults: 8 CPUs, 32Gi
// memory, 110 pods, 100Gi ephemeral storage, Ready.
type NodeSpec struct {
	Name   string
	CPU    string // quantity, e.g. "8" or "3500m"
	Memory string // quantity, e.g. "32Gi"
	Pods   int
	// EphemeralStorage is a quantity; default "100Gi".
	EphemeralStorage string
	// ExtendedResources adds allocatable extended resources
	// (e.g. {"example.com/slots": "10"}).
	ExtendedResources map[string]string
	// Labels are added to the well-known kubernetes.io/hostname, os and arch.
	Labels        map[string]string
	Annotations   map[string]string
	Taints        []corev1.Taint
	Unschedulable bool
	// NotReady sets the Ready condition to False (the scheduler does not
	// look at it; controllers and webhooks might).
	NotReady bool
}

// CreateNode creates a Node with the given capacity (capacity =
// allocatable), a pod CIDR and a loopback InternalIP. Node number i (in
// creation order, from 0) gets pod CIDR 10.(244+i/256).(i%256).0/24 (pods
// get addresses from it through the kubelet stand-in) and InternalIP
// 127.1.(i/256).(i%256+1 capped).
func (c *Cluster) CreateNode(t testing.TB, spec NodeSpec) *corev1.Node {
	t.Helper()
	n, err := c.CreateNodeE(context.Background(), spec)
	if err != nil {
		t.Fatalf("create node %s: %v", spec.Name, err)
	}
	return n
}

// CreateNodeE is CreateNode returning an error.
func (c *Cluster) CreateNodeE(ctx context.Context, spec NodeSpec) (*corev1.Node, error) {
	if spec.Name == "" {
		return nil, errors.New("node name is empty")
	}
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&spec.CPU, "8")
	def(&spec.Memory, "32Gi")
	def(&spec.EphemeralStorage, "100Gi")
	if spec.Pods == 0 {
		spec.Pods = 110
	}
	res := corev1.ResourceList{}
	for name, q := range map[corev1.ResourceName]string{
		corev1.ResourceCPU:              spec.CPU,
		corev1.ResourceMemory:           spec.Memory,
		corev1.ResourceEphemeralStorage: spec.EphemeralStorage,
		corev1.ResourcePods:             fmt.Sprint(spec.Pods),
	} {
		qty, err := resource.ParseQuantity(q)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s %q: %w", spec.Name, name, q, err)
		}
		res[name] = qty
	}
	for name, q := range spec.ExtendedResources {
		qty, err := resource.ParseQuantity(q)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s %q: %w", spec.Name, name, q, err)
		}
		res[corev1.ResourceName(name)] = qty
	}

	c.mu.Lock()
	i := c.nodeCount
	c.nodeCount++
	c.mu.Unlock()
	podCIDR := fmt.Sprintf("10.%d.%d.0/24", 244+(i/256)%12, i%256)
	internalIP := net.IPv4(127, 1, byte(i/256), byte(i%255+1)).String()

	lbls := map[string]string{
		"kubernetes.io/hostname": spec.Name,
		"kubernetes.io/os":       "linux",
		"kubernetes.io/arch":     "amd64",
	}
	for k, v := range spec.Labels {
		lbls[k] = v
	}
	ready := corev1.ConditionTrue
	if spec.NotReady {
		ready = corev1.ConditionFalse
	}
	now := metav1.Now()
	cond := func(t corev1.NodeConditionType, s corev1.ConditionStatus, reason string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: t, Status: s, Reason: reason, LastHeartbeatTime: now, LastTransitionTime: now}
	}
	node := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: spec.Name, Labels: lbls, Annotations: spec.Annotations},
		Spec: corev1.NodeSpec{
			PodCIDR:       podCIDR,
			PodCIDRs:      []string{podCIDR},
			Taints:        spec.Taints,
			Unschedulable: spec.Unschedulable,
		},
		Status: corev1.NodeStatus{
			Capacity:    res,
			Allocatable: res.DeepCopy(),
			Phase:       corev1.NodeRunning,
			Conditions: []corev1.NodeCondition{
				cond(corev1.NodeReady, ready, "KubeletReady"),
				cond(corev1.NodeMemoryPressure, corev1.ConditionFalse, "KubeletHasSufficientMemory"),
				cond(corev1.NodeDiskPressure, corev1.ConditionFalse, "KubeletHasNoDiskPressure"),
				cond(corev1.NodePIDPressure, corev1.ConditionFalse, "KubeletHasSufficientPID"),
			},
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: internalIP},
				{Type: corev1.NodeHostName, Address: spec.Name},
			},
			NodeInfo: corev1.NodeSystemInfo{
				KubeletVersion:          "v1.36.3",
				ContainerRuntimeVersion: "containerd://2.0.0",
				OperatingSystem:         "linux",
				Architecture:            "amd64",
				OSImage:                 "sandbox-guard e2e",
				KernelVersion:           "6.1.0",
			},
		},
	}
	created, err := c.Client.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		return nil, err
	}
	// Status is kept on create today; make sure anyway.
	if len(created.Status.Allocatable) == 0 {
		created.Status = node.Status
		if created, err = c.Client.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return nil, err
		}
	}
	return created, nil
}

// ---------------------------------------------------------------- namespaces

// CreateNamespace creates a namespace and waits for its "default"
// ServiceAccount (created by the service-account stand-in), so pods can be
// created in it right away. There is no namespace controller: deleting a
// namespace leaves it Terminating forever, so use a fresh name per test.
func (c *Cluster) CreateNamespace(t testing.TB, name string, lbls map[string]string) *corev1.Namespace {
	t.Helper()
	ctx := context.Background()
	ns, err := c.Client.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbls}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	c.WaitFor(t, 30*time.Second, "default ServiceAccount in "+name, func(ctx context.Context) (bool, error) {
		_, err := c.Client.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, client404(err)
	})
	return ns
}

// ---------------------------------------------------------------- pods

// DeletePod deletes a pod immediately (grace period 0). NotFound is not an
// error.
func (c *Cluster) DeletePod(ctx context.Context, namespace, name string) error {
	zero := int64(0)
	err := c.Client.CoreV1().Pods(namespace).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// ListPods lists pods in a namespace by label selector ("" for all).
func (c *Cluster) ListPods(ctx context.Context, namespace, selector string) ([]corev1.Pod, error) {
	l, err := c.Client.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	return l.Items, nil
}

// PodRunningReady reports whether a pod is bound, Running, Ready and has an IP.
func PodRunningReady(p *corev1.Pod) bool {
	return p.Spec.NodeName != "" && isRunningReady(p)
}

// ---------------------------------------------------------------- waiting

// WaitFor polls cond every 100ms until it returns true, or fails the test
// after timeout with the last error cond returned and the state of the
// components. A cond error does not stop the polling, and true wins over an
// error: cond may always return an explanation of what it saw.
func (c *Cluster) WaitFor(t testing.TB, timeout time.Duration, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := c.WaitForE(context.Background(), timeout, cond); err != nil {
		alive := c.CheckAlive()
		if alive == nil {
			alive = errors.New("all components running")
		}
		t.Fatalf("waiting for %s: %v (%v)", what, err, alive)
	}
}

// WaitForE is WaitFor returning an error instead of failing a test.
func (c *Cluster) WaitForE(ctx context.Context, timeout time.Duration, cond func(ctx context.Context) (bool, error)) error {
	var last error
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		ok, err := cond(ctx)
		if ok {
			return true, nil
		}
		if err != nil {
			if ctx.Err() == nil {
				last = err // not the poll's own deadline surfacing through a client
			}
			return false, nil
		}
		return ok, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("%w (last error: %v)", err, last)
	}
	return err
}

func client404(err error) error {
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

// ---------------------------------------------------------------- objects

// ParseYAML decodes a multi-document YAML (or JSON) stream into objects.
// Empty documents are skipped.
func ParseYAML(data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		obj := map[string]any{}
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.IsList() {
			l, err := u.ToList()
			if err != nil {
				return out, err
			}
			for i := range l.Items {
				out = append(out, &l.Items[i])
			}
			continue
		}
		out = append(out, u)
	}
}

// ParseYAMLFile is ParseYAML on a file.
func ParseYAMLFile(path string) ([]*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	objs, err := ParseYAML(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return objs, nil
}

// MustObject parses one YAML document (a test literal) and fails the test
// if it is not exactly one object.
func MustObject(t testing.TB, doc string) *unstructured.Unstructured {
	t.Helper()
	objs, err := ParseYAML([]byte(doc))
	if err != nil || len(objs) != 1 {
		t.Fatalf("parse object: %d objects, %v\n%s", len(objs), err, doc)
	}
	return objs[0]
}

// ResourceFor returns the dynamic client for an object's kind, namespaced
// to the object's namespace where the kind is namespaced (default
// "default").
func (c *Cluster) ResourceFor(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		c.Mapper.Reset()
		if m, err = c.Mapper.RESTMapping(gvk.GroupKind(), gvk.Version); err != nil {
			return nil, err
		}
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		ns := obj.GetNamespace()
		if ns == "" {
			ns = "default"
		}
		return c.Dynamic.Resource(m.Resource).Namespace(ns), nil
	}
	return c.Dynamic.Resource(m.Resource), nil
}

// Create creates an object of any kind the API server knows.
func (c *Cluster) Create(ctx context.Context, obj *unstructured.Unstructured) (*unstructured.Unstructured, error) {
	ri, err := c.ResourceFor(obj)
	if err != nil {
		return nil, err
	}
	return ri.Create(ctx, obj, metav1.CreateOptions{FieldManager: FieldManager})
}

// Apply server-side-applies an object (field manager "sandbox-guard-e2e",
// conflicts forced). dryRun sends it with dryRun=All: validation and
// admission run (webhooks included), nothing is stored.
func (c *Cluster) Apply(ctx context.Context, obj *unstructured.Unstructured, dryRun bool) (*unstructured.Unstructured, error) {
	ri, err := c.ResourceFor(obj)
	if err != nil {
		return nil, err
	}
	opts := metav1.ApplyOptions{FieldManager: FieldManager, Force: true}
	if dryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	obj = obj.DeepCopy()
	obj.SetResourceVersion("")
	obj.SetManagedFields(nil)
	return ri.Apply(ctx, obj.GetName(), obj, opts)
}

// ApplyFile applies every object of a YAML file in order (see Apply).
func (c *Cluster) ApplyFile(ctx context.Context, path string, dryRun bool) ([]*unstructured.Unstructured, error) {
	objs, err := ParseYAMLFile(path)
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, o := range objs {
		res, err := c.Apply(ctx, o, dryRun)
		if err != nil {
			return out, fmt.Errorf("%s %s/%s from %s: %w", o.GetKind(), o.GetNamespace(), o.GetName(), path, err)
		}
		out = append(out, res)
	}
	return out, nil
}

// GetUnstructured fetches one object by resource.
func (c *Cluster) GetUnstructured(ctx context.Context, gvr GVR, namespace, name string) (*unstructured.Unstructured, error) {
	return c.Dynamic.Resource(gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Kubectl runs kubectl against the cluster ($KUBECTL, else kubectl on
// PATH) and returns its combined output.
func (c *Cluster) Kubectl(ctx context.Context, args ...string) (string, error) {
	bin := os.Getenv("KUBECTL")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("kubectl"); err != nil {
			return "", err
		}
	}
	cmd := exec.CommandContext(ctx, bin, append([]string{"--kubeconfig=" + c.Kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
