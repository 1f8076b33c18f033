package harness

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/yaml"
)

// GVR names a resource for the dynamic client.
type GVR = schema.GroupVersionResource

// Resources of the agent-sandbox API (served version v1beta1).
var (
	SandboxGVR         = schema.GroupVersionResource{Group: "agents.x-k8s.io", Version: "v1beta1", Resource: "sandboxes"}
	SandboxTemplateGVR = schema.GroupVersionResource{Group: "extensions.agents.x-k8s.io", Version: "v1beta1", Resource: "sandboxtemplates"}
	SandboxClaimGVR    = schema.GroupVersionResource{Group: "extensions.agents.x-k8s.io", Version: "v1beta1", Resource: "sandboxclaims"}
	SandboxWarmPoolGVR = schema.GroupVersionResource{Group: "extensions.agents.x-k8s.io", Version: "v1beta1", Resource: "sandboxwarmpools"}
)

// Labels the agent-sandbox controller puts on the pods it creates.
const (
	LabelSandboxNameHash  = "agents.x-k8s.io/sandbox-name-hash"
	LabelWarmPoolSandbox  = "agents.x-k8s.io/warm-pool-sandbox"
	LabelTemplateRefHash  = "agents.x-k8s.io/sandbox-template-ref-hash"
	sandboxModulePath     = "sigs.k8s.io/agent-sandbox"
	sandboxCRDsSubdir     = "k8s/crds"
	crdsDirEnv            = "SG_E2E_SANDBOX_CRDS"
	crdEstablishedTimeout = time.Minute
)

// SandboxCRDsDir returns the directory holding the agent-sandbox CRDs: $SG_E2E_SANDBOX_CRDS,
// else k8s/crds inside the sigs.k8s.io/agent-sandbox module that this test
// module requires (found with `go list -m`, read from the module cache).
func SandboxCRDsDir() (string, error) {
	if d := os.Getenv(crdsDirEnv); d != "" {
		return d, nil
	}
	dir, err := sandboxModuleDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, sandboxCRDsSubdir), nil
}

// sandboxModuleDir is the sigs.k8s.io/agent-sandbox module this test module
// requires, in the module cache.
func sandboxModuleDir() (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", sandboxModulePath)
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %v: %s", sandboxModulePath, err, stderr.String())
	}
	dir := strings.TrimSpace(string(out))
	if dir == "" {
		return "", fmt.Errorf("go list -m %s: module not downloaded (run tests/e2e/build.sh)", sandboxModulePath)
	}
	return dir, nil
}

// LoadSandboxCRDs reads the agent-sandbox CRDs and adapts them to a cluster
// without the controller's webhook server: conversion strategy None, and
// only the storage version (v1beta1) served.
func LoadSandboxCRDs() ([]*apiextensionsv1.CustomResourceDefinition, error) {
	dir, err := SandboxCRDsDir()
	if err != nil {
		return nil, err
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no CRDs in %s", dir)
	}
	sort.Strings(files)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.Unmarshal(data, crd); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
		for i := range crd.Spec.Versions {
			crd.Spec.Versions[i].Served = crd.Spec.Versions[i].Storage
		}
		crds = append(crds, crd)
	}
	return crds, nil
}

// InstallSandboxCRDs creates (or updates) the agent-sandbox CRDs and waits
// until they are established and discoverable.
func (c *Cluster) InstallSandboxCRDs(ctx context.Context) error {
	crds, err := LoadSandboxCRDs()
	if err != nil {
		return err
	}
	for _, crd := range crds {
		if err := c.InstallCRD(ctx, crd); err != nil {
			return err
		}
	}
	c.Mapper.Reset()
	return nil
}

// InstallCRD creates or updates one CRD and waits until it is established
// and its served versions show up in discovery.
func (c *Cluster) InstallCRD(ctx context.Context, crd *apiextensionsv1.CustomResourceDefinition) error {
	api := c.APIExtensions.ApiextensionsV1().CustomResourceDefinitions()
	_, err := api.Create(ctx, crd, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, gerr := api.Get(ctx, crd.Name, metav1.GetOptions{})
		if gerr != nil {
			return gerr
		}
		crd = crd.DeepCopy()
		crd.ResourceVersion = cur.ResourceVersion
		_, err = api.Update(ctx, crd, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("install CRD %s: %w", crd.Name, err)
	}
	return wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, crdEstablishedTimeout, true, func(ctx context.Context) (bool, error) {
		cur, err := api.Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		established := false
		for _, cond := range cur.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				established = true
			}
		}
		if !established {
			return false, nil
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			rl, err := c.Client.Discovery().ServerResourcesForGroupVersion(crd.Spec.Group + "/" + v.Name)
			if err != nil {
				return false, nil
			}
			found := false
			for _, r := range rl.APIResources {
				if r.Name == crd.Spec.Names.Plural {
					found = true
				}
			}
			if !found {
				return false, nil
			}
		}
		return true, nil
	})
}
