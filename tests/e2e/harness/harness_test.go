package harness

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	extenderv1 "k8s.io/kube-scheduler/extender/v1"
)

// TestHarness checks the harness's own plumbing with small in-test servers
// (no Sandbox Guard component): a webhook registered through
// RegisterMutatingWebhooks is called by the API server over TLS on
// 127.0.0.1, and a scheduler extender configured through RestartScheduler
// steers binding.
func TestHarness(t *testing.T) {
	c := Start(t, Options{NoSandboxController: true})
	ctx := context.Background()
	c.CreateNamespace(t, "harness", map[string]string{"e2e.sandbox-guard.dev/webhook": "on"})
	for i := 1; i <= 3; i++ {
		c.CreateNode(t, NodeSpec{Name: fmt.Sprintf("h-node-%d", i)})
	}

	t.Run("webhook", func(t *testing.T) {
		var calls atomic.Int32
		base := serveTLS(t, c.CA, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/mutate" {
				http.NotFound(w, r)
				return
			}
			calls.Add(1)
			body, _ := io.ReadAll(r.Body)
			review := admissionv1.AdmissionReview{}
			if err := json.Unmarshal(body, &review); err != nil || review.Request == nil {
				http.Error(w, "bad review", http.StatusBadRequest)
				return
			}
			patch := `[{"op":"add","path":"/metadata/labels/e2e.sandbox-guard.dev~1mutated","value":"yes"}]`
			pt := admissionv1.PatchTypeJSONPatch
			review.Response = &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true, Patch: []byte(patch), PatchType: &pt}
			review.Request = nil
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(&review)
		}))

		path := "/mutate"
		none := admissionregistrationv1.SideEffectClassNone
		fail := admissionregistrationv1.Fail
		cfg := &admissionregistrationv1.MutatingWebhookConfiguration{
			ObjectMeta: metav1.ObjectMeta{Name: "harness-test"},
			Webhooks: []admissionregistrationv1.MutatingWebhook{{
				Name: "pods.harness.e2e.sandbox-guard.dev",
				// As in a manifest: a Service reference, rewritten to a URL.
				ClientConfig: admissionregistrationv1.WebhookClientConfig{
					Service: &admissionregistrationv1.ServiceReference{Namespace: "sandbox-guard", Name: "webhook", Path: &path},
				},
				Rules: []admissionregistrationv1.RuleWithOperations{{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
				}},
				NamespaceSelector:       &metav1.LabelSelector{MatchLabels: map[string]string{"e2e.sandbox-guard.dev/webhook": "on"}},
				SideEffects:             &none,
				FailurePolicy:           &fail,
				AdmissionReviewVersions: []string{"v1"},
			}},
		}
		if _, err := c.RegisterMutatingWebhooks(ctx, cfg, WebhookTarget{BaseURL: base, CABundle: c.CA.CertPEM}); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = c.UnregisterWebhooks(ctx, cfg.Name) }()

		pod := testPod("webhooked", "")
		pod.Labels = map[string]string{"app": "x"}
		var got *corev1.Pod
		// The API server learns about the configuration through an informer.
		c.WaitFor(t, 30*time.Second, "mutated pod", func(ctx context.Context) (bool, error) {
			_ = c.DeletePod(ctx, "harness", pod.Name)
			p, err := c.Client.CoreV1().Pods("harness").Create(ctx, pod, metav1.CreateOptions{})
			if err != nil {
				return false, err
			}
			got = p
			return p.Labels["e2e.sandbox-guard.dev/mutated"] == "yes", fmt.Errorf("labels %v", p.Labels)
		})
		if calls.Load() == 0 {
			t.Fatal("webhook never called")
		}
		c.WaitFor(t, time.Minute, "webhooked pod running", func(ctx context.Context) (bool, error) {
			p, err := c.Client.CoreV1().Pods("harness").Get(ctx, got.Name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return PodRunningReady(p), nil
		})
	})

	t.Run("extender", func(t *testing.T) {
		const want = "h-node-2"
		var mu sync.Mutex
		verbs := map[string]int{}
		base := serveHTTP(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var args extenderv1.ExtenderArgs
			if err := json.NewDecoder(r.Body).Decode(&args); err != nil || args.NodeNames == nil {
				http.Error(w, "want NodeNames", http.StatusBadRequest)
				return
			}
			mu.Lock()
			verbs[r.URL.Path]++
			mu.Unlock()
			w.Header().Set("Content-Type", "application/json")
			switch r.URL.Path {
			case "/sched/filter":
				res := extenderv1.ExtenderFilterResult{FailedNodes: extenderv1.FailedNodesMap{}}
				var keep []string
				for _, n := range *args.NodeNames {
					if n == want {
						keep = append(keep, n)
					} else {
						res.FailedNodes[n] = "not the chosen one"
					}
				}
				res.NodeNames = &keep
				_ = json.NewEncoder(w).Encode(&res)
			case "/sched/prioritize":
				var list extenderv1.HostPriorityList
				for _, n := range *args.NodeNames {
					list = append(list, extenderv1.HostPriority{Host: n, Score: 5})
				}
				_ = json.NewEncoder(w).Encode(&list)
			default:
				http.NotFound(w, r)
			}
		}))
		err := c.RestartScheduler([]Extender{{
			URLPrefix: base + "/sched", FilterVerb: "filter", PrioritizeVerb: "prioritize",
			Weight: 1, NodeCacheCapable: true, HTTPTimeout: 3 * time.Second,
		}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			p := testPod(fmt.Sprintf("steered-%d", i), "")
			if _, err := c.Client.CoreV1().Pods("harness").Create(ctx, p, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			c.WaitFor(t, time.Minute, p.Name+" bound and running", func(ctx context.Context) (bool, error) {
				got, err := c.Client.CoreV1().Pods("harness").Get(ctx, p.Name, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				if got.Spec.NodeName != "" && got.Spec.NodeName != want {
					return false, fmt.Errorf("bound to %s", got.Spec.NodeName)
				}
				return PodRunningReady(got), fmt.Errorf("node %q phase %s", got.Spec.NodeName, got.Status.Phase)
			})
		}
		mu.Lock()
		defer mu.Unlock()
		if verbs["/sched/filter"] < 3 {
			t.Fatalf("extender calls %v, want >= 3 filter calls", verbs)
		}
		t.Logf("extender calls: %v", verbs)
	})

	t.Run("delete bound pod", func(t *testing.T) {
		// A graceful delete of a bound pod completes through the kubelet stand-in.
		p := testPod("graceful", "h-node-1")
		if _, err := c.Client.CoreV1().Pods("harness").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := c.Client.CoreV1().Pods("harness").Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		c.WaitFor(t, 30*time.Second, "pod gone", func(ctx context.Context) (bool, error) {
			_, err := c.Client.CoreV1().Pods("harness").Get(ctx, p.Name, metav1.GetOptions{})
			return err != nil && client404(err) == nil, err
		})
	})
}

func testPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "main", Image: "registry.k8s.io/pause:3.10"}},
		},
	}
}

// serveTLS serves h on 127.0.0.1 with a certificate from ca and returns
// https://127.0.0.1:<port>.
func serveTLS(t *testing.T, ca *CA, h http.Handler) string {
	t.Helper()
	sc, err := ca.Issue("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := sc.TLSCertificate()
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return "https://" + l.Addr().String()
}

func serveHTTP(t *testing.T, h http.Handler) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return "http://" + l.Addr().String()
}
