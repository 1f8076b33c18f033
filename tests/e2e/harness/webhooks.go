package harness

import (
	"context"
	"fmt"
	"strings"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// WebhookTarget says where the API server should call a webhook that runs
// on this machine.
type WebhookTarget struct {
	// BaseURL is "https://127.0.0.1:<port>". The path of each webhook comes
	// from its clientConfig: service.path, else the path of an existing
	// url, else "/".
	BaseURL string
	// CABundle is the PEM bundle that verifies the webhook's serving
	// certificate (which needs an IP SAN for 127.0.0.1).
	CABundle []byte
}

// PointClientConfig rewrites a webhook clientConfig to call target:
// url = BaseURL + path, caBundle = target.CABundle, service removed.
func PointClientConfig(cc *admissionregistrationv1.WebhookClientConfig, target WebhookTarget) {
	path := "/"
	if cc.Service != nil && cc.Service.Path != nil && *cc.Service.Path != "" {
		path = *cc.Service.Path
	} else if cc.URL != nil {
		if u := *cc.URL; strings.HasPrefix(u, "https://") {
			rest := strings.TrimPrefix(u, "https://")
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				path = rest[i:]
			}
		}
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := strings.TrimRight(target.BaseURL, "/") + path
	cc.URL = &url
	cc.Service = nil
	cc.CABundle = append([]byte(nil), target.CABundle...)
}

// RegisterMutatingWebhooks creates (or replaces) a
// MutatingWebhookConfiguration after pointing every webhook in it at
// target (see PointClientConfig). cfg itself is not modified.
//
// The API server picks up webhook configurations through an informer:
// expect well under a second before the first call reaches the webhook.
func (c *Cluster) RegisterMutatingWebhooks(ctx context.Context, cfg *admissionregistrationv1.MutatingWebhookConfiguration, target WebhookTarget) (*admissionregistrationv1.MutatingWebhookConfiguration, error) {
	cfg = cfg.DeepCopy()
	for i := range cfg.Webhooks {
		PointClientConfig(&cfg.Webhooks[i].ClientConfig, target)
	}
	out, err := createOrReplace(ctx, c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations(), cfg)
	if err != nil {
		return nil, fmt.Errorf("register MutatingWebhookConfiguration %s: %w", cfg.Name, err)
	}
	return out, nil
}

// RegisterValidatingWebhooks is RegisterMutatingWebhooks for a
// ValidatingWebhookConfiguration.
func (c *Cluster) RegisterValidatingWebhooks(ctx context.Context, cfg *admissionregistrationv1.ValidatingWebhookConfiguration, target WebhookTarget) (*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	cfg = cfg.DeepCopy()
	for i := range cfg.Webhooks {
		PointClientConfig(&cfg.Webhooks[i].ClientConfig, target)
	}
	out, err := createOrReplace(ctx, c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations(), cfg)
	if err != nil {
		return nil, fmt.Errorf("register ValidatingWebhookConfiguration %s: %w", cfg.Name, err)
	}
	return out, nil
}

// createOrReplace creates obj, or replaces the object of its name if one
// exists.
func createOrReplace[T metav1.Object](ctx context.Context, api interface {
	Create(context.Context, T, metav1.CreateOptions) (T, error)
	Get(context.Context, string, metav1.GetOptions) (T, error)
	Update(context.Context, T, metav1.UpdateOptions) (T, error)
}, obj T) (T, error) {
	obj.SetResourceVersion("")
	out, err := api.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		cur, gerr := api.Get(ctx, obj.GetName(), metav1.GetOptions{})
		if gerr != nil {
			return out, gerr
		}
		obj.SetResourceVersion(cur.GetResourceVersion())
		out, err = api.Update(ctx, obj, metav1.UpdateOptions{})
	}
	return out, err
}

// UnregisterWebhooks deletes the mutating and validating webhook
// configurations of that name (missing ones are ignored).
func (c *Cluster) UnregisterWebhooks(ctx context.Context, name string) error {
	err := c.Client.AdmissionregistrationV1().MutatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	err = c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// LoadWebhookConfigurations reads the Mutating/ValidatingWebhookConfiguration
// objects of a YAML file (other kinds in the file are ignored).
func LoadWebhookConfigurations(path string) ([]*admissionregistrationv1.MutatingWebhookConfiguration, []*admissionregistrationv1.ValidatingWebhookConfiguration, error) {
	objs, err := ParseYAMLFile(path)
	if err != nil {
		return nil, nil, err
	}
	var muts []*admissionregistrationv1.MutatingWebhookConfiguration
	var vals []*admissionregistrationv1.ValidatingWebhookConfiguration
	for _, o := range objs {
		if o.GroupVersionKind().Group != admissionregistrationv1.GroupName {
			continue
		}
		switch o.GetKind() {
		case "MutatingWebhookConfiguration":
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, m, true); err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %w", path, o.GetName(), err)
			}
			muts = append(muts, m)
		case "ValidatingWebhookConfiguration":
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, v, true); err != nil {
				return nil, nil, fmt.Errorf("%s: %s: %w", path, o.GetName(), err)
			}
			vals = append(vals, v)
		}
	}
	return muts, vals, nil
}
