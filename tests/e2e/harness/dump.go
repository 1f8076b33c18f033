package harness

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

// dumpResources are written to <Dir>/state/ when a test fails.
var dumpResources = []GVR{
	{Version: "v1", Resource: "nodes"},
	{Version: "v1", Resource: "pods"},
	{Version: "v1", Resource: "events"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	{Group: "node.k8s.io", Version: "v1", Resource: "runtimeclasses"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "mutatingwebhookconfigurations"},
	{Group: "admissionregistration.k8s.io", Version: "v1", Resource: "validatingwebhookconfigurations"},
	SandboxGVR, SandboxTemplateGVR, SandboxClaimGVR, SandboxWarmPoolGVR,
}

// DumpState writes the cluster's nodes, pods, events, webhook
// configurations and agent-sandbox objects as YAML into <Dir>/state/ and
// returns that directory. Stop calls it when a test failed.
func (c *Cluster) DumpState(ctx context.Context) (string, error) {
	dir := filepath.Join(c.Dir, "state")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	var errs []string
	for _, gvr := range dumpResources {
		l, err := c.Dynamic.Resource(gvr).List(ctx, metav1.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", gvr.Resource, err))
			continue
		}
		for i := range l.Items {
			unstructured.RemoveNestedField(l.Items[i].Object, "metadata", "managedFields")
		}
		data, err := yaml.Marshal(l.UnstructuredContent())
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", gvr.Resource, err))
			continue
		}
		name := gvr.Resource
		if gvr.Group != "" {
			name += "." + gvr.Group
		}
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), data, 0o644); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return dir, fmt.Errorf("dump state: %s", strings.Join(errs, "; "))
	}
	return dir, nil
}

func (c *Cluster) dumpOnFailure() {
	if c.Dynamic == nil || c.apiserver == nil {
		return
	}
	if done, _ := c.apiserver.Exited(); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if dir, err := c.DumpState(ctx); err != nil {
		c.logf("%v", err)
	} else {
		c.logf("cluster state dumped to %s", dir)
	}
}
