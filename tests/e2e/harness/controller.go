package harness

import (
	"context"
	"fmt"
	"path/filepath"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// The agent-sandbox controller runs as the identity its upstream manifests
// give it, not as the harness's admin: a ServiceAccount's user name and
// groups, authenticated by a static token (the API server's
// --token-auth-file), with the RBAC of the module's own manifests. So the
// suite proves that the controller works with its real permissions, and
// that Sandbox Guard tells it apart from tenants by that identity (the
// policy's agentSandbox.controllerUsers) rather than by system:masters.
const (
	ControllerNamespace      = "agent-sandbox-system"
	ControllerServiceAccount = "agent-sandbox-controller"
	// ControllerUser is the user name the API server gives that ServiceAccount.
	ControllerUser = "system:serviceaccount:" + ControllerNamespace + ":" + ControllerServiceAccount
)

// controllerGroups are the groups the API server gives a ServiceAccount of
// that namespace.
var controllerGroups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ControllerNamespace, "system:authenticated"}

// controllerManifests are the files of the module's k8s/ directory that
// hold the controller's namespace, ServiceAccount, roles and bindings (the
// same files also hold its Deployment and Services, which are skipped).
var controllerManifests = []string{"controller.yaml", "rbac.generated.yaml", "extensions.yaml", "extensions-rbac.generated.yaml"}

// controllerRBACKinds are the kinds taken from controllerManifests.
var controllerRBACKinds = map[string]bool{
	"Namespace": true, "ServiceAccount": true, "ClusterRole": true, "ClusterRoleBinding": true,
	"Role": true, "RoleBinding": true,
}

// LoadControllerRBAC reads the agent-sandbox controller's namespace,
// ServiceAccount, roles and bindings from the module cache (never copied
// into this repository), in file order: namespaces and accounts before the
// bindings that name them.
func LoadControllerRBAC() ([]*unstructured.Unstructured, error) {
	dir, err := sandboxModuleDir()
	if err != nil {
		return nil, err
	}
	var out []*unstructured.Unstructured
	for _, f := range controllerManifests {
		objs, err := ParseYAMLFile(filepath.Join(dir, "k8s", f))
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if controllerRBACKinds[o.GetKind()] {
				out = append(out, o)
			}
		}
	}
	var bindings int
	for _, o := range out {
		if o.GetKind() == "ClusterRoleBinding" {
			bindings++
		}
	}
	if bindings < 2 {
		return nil, fmt.Errorf("%s: %d ClusterRoleBindings for the controller, want its core and extensions bindings", dir, bindings)
	}
	return out, nil
}

// installControllerRBAC creates what LoadControllerRBAC reads (objects that
// exist already are left as they are).
func (c *Cluster) installControllerRBAC(ctx context.Context) error {
	objs, err := LoadControllerRBAC()
	if err != nil {
		return err
	}
	for _, o := range objs {
		if _, err := c.Create(ctx, o); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("agent-sandbox controller RBAC: %s %s: %w", o.GetKind(), o.GetName(), err)
		}
	}
	return nil
}
