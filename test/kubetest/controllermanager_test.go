package kubetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestControllerManager starts the control plane with kube-controller-manager and checks
// two of its controllers at work: a ClusterRole labelled aggregate-to-view reaches the
// built-in view and edit roles, and deleting an owner deletes what it owns.
func TestControllerManager(t *testing.T) {
	start := time.Now()
	env, err := Start(WithControllerManager())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Error(err)
		}
	})
	t.Logf("the control plane with kube-controller-manager was ready after %v", time.Since(start).Round(time.Millisecond))
	ctx := context.Background()

	probe := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: "probe-view", Labels: map[string]string{"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
		Rules:      []rbacv1.PolicyRule{{APIGroups: []string{"probe.example"}, Resources: []string{"probes"}, Verbs: []string{"get"}}},
	}
	if err := env.Client.Create(ctx, probe); err != nil {
		t.Fatal(err)
	}
	for _, role := range []string{"view", "edit", "admin"} {
		Eventually(t, 30*time.Second, 50*time.Millisecond, "the probe's rule is aggregated into "+role, func() error {
			var r rbacv1.ClusterRole
			if err := env.Client.Get(ctx, client.ObjectKey{Name: role}, &r); err != nil {
				return err
			}
			for _, rule := range r.Rules {
				if len(rule.APIGroups) == 1 && rule.APIGroups[0] == "probe.example" {
					return nil
				}
			}
			return fmt.Errorf("%d rules, none for probe.example", len(r.Rules))
		})
	}

	owner := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "owner"}}
	if err := env.Client.Create(ctx, owner); err != nil {
		t.Fatal(err)
	}
	owned := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "owned", OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, Controller: ptr.To(true),
	}}}}
	if err := env.Client.Create(ctx, owned); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Delete(ctx, owner); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 30*time.Second, 50*time.Millisecond, "the owned ConfigMap is garbage-collected", func() error {
		err := env.Client.Get(ctx, client.ObjectKeyFromObject(owned), owned)
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("still there (%w)", err)
	})
}
