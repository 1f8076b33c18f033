package e2e

// Pod hardening through the real API server, where its own behaviour
// matters: defaulting that runs again on our patch, its validation that runs
// between the mutating and the validating webhook, and what it stores.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"sandbox-guard/tests/e2e/harness"
)

// requireQuantity fails unless list[name] is present and equals want.
func requireQuantity(t *testing.T, what string, list corev1.ResourceList, name corev1.ResourceName, want string) {
	t.Helper()
	got, ok := list[name]
	if !ok {
		t.Fatalf("%s: no %s (have %v)", what, name, list)
	}
	if w := resource.MustParse(want); got.Cmp(w) != 0 {
		t.Fatalf("%s: %s is %s, want %s", what, name, got.String(), want)
	}
}

// TestResourceLimits: the built-in policy's default limits and emptyDir
// sizeLimits, patched into a sandbox pod created through the real API
// server, give a valid pod (no 422) that is stored as patched and runs; the
// zero requests written beside them survive the API server's defaulting.
func TestResourceLimits(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "limits")

	pod := sandboxPodSpec(ns, "limits", nil)
	pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "registry.k8s.io/pause:3.10"}}
	pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{
		Name: "big", Image: "registry.k8s.io/pause:3.10",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceMemory: resource.MustParse("3Gi"), corev1.ResourceCPU: resource.MustParse("100m")}},
	})
	pod.Spec.Volumes = []corev1.Volume{
		{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		{Name: "cache", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{SizeLimit: ptr(resource.MustParse("10Gi"))}}},
	}
	got, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create sandbox pod without limits: %v", err)
	}
	for _, ctr := range []corev1.Container{got.Spec.InitContainers[0], got.Spec.Containers[0]} {
		what := "container " + ctr.Name
		requireQuantity(t, what+" limits", ctr.Resources.Limits, corev1.ResourceMemory, "2Gi")
		requireQuantity(t, what+" limits", ctr.Resources.Limits, corev1.ResourceEphemeralStorage, "4Gi")
		// Without the explicit zero, defaulting would have copied the limit here.
		requireQuantity(t, what+" requests", ctr.Resources.Requests, corev1.ResourceMemory, "0")
		requireQuantity(t, what+" requests", ctr.Resources.Requests, corev1.ResourceEphemeralStorage, "0")
		if _, ok := ctr.Resources.Limits[corev1.ResourceCPU]; ok {
			t.Fatalf("%s: a CPU limit was defaulted: %v", what, ctr.Resources.Limits)
		}
	}
	big := got.Spec.Containers[1]
	// Above the default, the request is the limit (a smaller limit would be a 422).
	requireQuantity(t, "container big limits", big.Resources.Limits, corev1.ResourceMemory, "3Gi")
	requireQuantity(t, "container big requests", big.Resources.Requests, corev1.ResourceMemory, "3Gi")
	requireQuantity(t, "container big requests", big.Resources.Requests, corev1.ResourceCPU, "100m")
	for i, want := range []string{"2Gi", "10Gi"} {
		v := got.Spec.Volumes[i]
		if v.EmptyDir == nil || v.EmptyDir.SizeLimit == nil || v.EmptyDir.SizeLimit.Cmp(resource.MustParse(want)) != 0 {
			t.Fatalf("volume %s: emptyDir %+v, want sizeLimit %s", v.Name, v.EmptyDir, want)
		}
	}
	c.WaitFor(t, time.Minute, "limited sandbox pod running", func(ctx context.Context) (bool, error) {
		p, err := c.Client.CoreV1().Pods(ns).Get(ctx, "limits", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		return harness.PodRunningReady(p), fmt.Errorf("phase %s", p.Status.Phase)
	})
}

func hostProcessPod(ns, name string, podLevel, container, hostNetwork bool, os string) *corev1.Pod {
	p := sandboxPodSpec(ns, name, nil)
	if podLevel {
		p.Spec.SecurityContext = &corev1.PodSecurityContext{
			WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}}
	}
	if container {
		p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
			WindowsOptions: &corev1.WindowsSecurityContextOptions{HostProcess: ptr(true)}}
	}
	p.Spec.HostNetwork = hostNetwork
	if os != "" {
		p.Spec.OS = &corev1.PodOS{Name: corev1.OSName(os)}
	}
	return p
}

// TestHostProcess: Windows HostProcess at pod and container level is
// refused on the real API server path. Kubernetes accepts a HostProcess pod
// only with hostNetwork: true, so without it the API server's own validation
// (after our mutation, before our validation) refuses the pod with a 422;
// with it, the pod reaches our validating webhook, which refuses both.
func TestHostProcess(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "hostprocess")
	pods := c.ControllerClient.CoreV1().Pods(ns)

	t.Run("PodLevelWithoutHostNetwork", func(t *testing.T) {
		_, err := pods.Create(ctx, hostProcessPod(ns, "hp-plain", true, false, false, ""), metav1.CreateOptions{})
		if err == nil {
			t.Fatal("a sandbox pod with pod-level hostProcess was created")
		}
		if !apierrors.IsInvalid(err) {
			t.Fatalf("want the API server's 422 (hostProcess needs hostNetwork), got: %v", err)
		}
		requireContains(t, "create", err.Error(), "hostNetwork")
		t.Logf("refused by the API server itself: %v", err)
	})

	cases := []struct {
		name          string
		podLevel, ctr bool
		os            string
		want          string
	}{
		{"PodLevel", true, false, "", "spec.securityContext.windowsOptions.hostProcess is true"},
		{"PodLevelWindows", true, false, "windows", "spec.securityContext.windowsOptions.hostProcess is true"},
		{"ContainerLevel", false, true, "", "spec.containers[0] (main).securityContext.windowsOptions.hostProcess is true"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("hp-%d", i)
			_, err := pods.Create(ctx, hostProcessPod(ns, name, tc.podLevel, tc.ctr, true, tc.os), metav1.CreateOptions{})
			if err == nil {
				t.Fatal("a HostProcess sandbox pod was created")
			}
			if !apierrors.IsForbidden(err) {
				t.Fatalf("want our webhook's 403, got: %v", err)
			}
			requireContains(t, "create", err.Error(), `admission webhook "pods.validate.sandbox-guard.io" denied the request`,
				tc.want, "spec.hostNetwork is true")
			t.Logf("refused: %v", err)
		})
	}

	t.Run("Sandbox", func(t *testing.T) {
		_, err := c.Create(ctx, harness.MustObject(t, fmt.Sprintf(`
apiVersion: agents.x-k8s.io/v1beta1
kind: Sandbox
metadata:
  name: host-process
  namespace: %s
spec:
  podTemplate:
    spec:
      automountServiceAccountToken: false
      securityContext:
        windowsOptions:
          hostProcess: true
      containers:
      - name: main
        image: registry.k8s.io/pause:3.10
`, ns)))
		if err == nil {
			t.Fatal("a Sandbox with pod-level hostProcess was created")
		}
		requireContains(t, "create Sandbox", err.Error(), "denied the request",
			"spec.podTemplate.spec.securityContext.windowsOptions.hostProcess is true")
	})
}

// TestUserNamespaces: with hardening.userNamespaces on for one namespace
// (a policy file, the webhook restarted with it), the API server stores the
// hostUsers: false we write, refuses hostUsers: true through our webhook,
// and other namespaces are left alone.
func TestUserNamespaces(t *testing.T) {
	e := shared(t)
	c := e.c
	ctx := context.Background()
	ns := freshNamespace(t, c, "userns")
	other := freshNamespace(t, c, "userns-off")

	policy := filepath.Join(c.Dir, "policy-userns.json")
	if err := os.WriteFile(policy, []byte(fmt.Sprintf(
		`{"namespaces": {%q: {"hardening": {"userNamespaces": true}}}}`, ns)), 0o644); err != nil {
		t.Fatal(err)
	}
	defer e.restartWebhookWithPolicy(ctx, t, policy)()

	got, err := c.ControllerClient.CoreV1().Pods(ns).Create(ctx, sandboxPodSpec(ns, "userns", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create sandbox pod: %v", err)
	}
	if got.Spec.HostUsers == nil || *got.Spec.HostUsers {
		t.Fatalf("stored hostUsers is %v, want false", got.Spec.HostUsers)
	}

	explicit := sandboxPodSpec(ns, "host-users", nil)
	explicit.Spec.HostUsers = ptr(true)
	_, err = c.ControllerClient.CoreV1().Pods(ns).Create(ctx, explicit, metav1.CreateOptions{})
	if err == nil {
		t.Fatal("a sandbox pod with hostUsers: true was created")
	}
	requireContains(t, "create", err.Error(), `admission webhook "pods.validate.sandbox-guard.io" denied the request`,
		"spec.hostUsers is true; set it to false")

	plain, err := c.ControllerClient.CoreV1().Pods(other).Create(ctx, sandboxPodSpec(other, "plain", nil), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create sandbox pod in %s: %v", other, err)
	}
	if plain.Spec.HostUsers != nil {
		t.Fatalf("%s: hostUsers set to %v where the policy leaves it alone", other, *plain.Spec.HostUsers)
	}
}
