package systemtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// CheckDeletionConverges deletes as users do in a cluster, where kube-controller-manager
// collects garbage and finishes namespaces, against a running controller and token
// server of OperatorNamespace: it applies the samples in a new namespace, then checks
// that their Client deleted and created again under its name gets new credentials that
// work (its old credentials Secret goes with it, rather than blocking the new Client as
// a SecretConflict), and that the namespace, deleted, goes entirely, with what the
// controller wrote for its Tenant in the operator's namespace. Without the garbage
// collector or the namespace controller it fails.
func (cl Cluster) CheckDeletionConverges(t testing.TB, namespace string) {
	t.Helper()
	cl.CreateNamespace(t, namespace)
	password := rand.Text()
	cl.ApplySamples(t, namespace, password)
	app := &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "reporting-job"}}
	cl.WaitReady(t, app)
	old := cl.Credentials(t, app)
	Eventually(t, "a token before the deletion", func() error {
		_, err := old.PasswordToken("user@example.com", password)
		return err
	})

	again := &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: app.Name}, Spec: app.Spec}
	cl.DeleteAndWait(t, app, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: app.Status.CredentialsSecretName}})
	cl.Create(t, again)
	cl.WaitReady(t, again)
	renewed := cl.Credentials(t, again)
	if renewed["client_id"] == old["client_id"] || renewed["client_secret"] == old["client_secret"] {
		t.Errorf("the Client created again kept the old credentials")
	}
	Eventually(t, "a token with the new credentials", func() error {
		_, err := renewed.PasswordToken("user@example.com", password)
		return err
	})

	tenant := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "acme"}}
	cl.Get(t, tenant)
	cl.DeleteAndWait(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}})
	var left corev1.SecretList
	if err := cl.Client.List(context.Background(), &left, client.InNamespace(OperatorNamespace),
		client.MatchingLabels{snapshot.LabelTenantUID: string(tenant.UID)}); err != nil {
		t.Fatal(err)
	}
	if n := len(left.Items); n != 0 {
		t.Errorf("%d Secrets of the deleted namespace's Tenant are left in the operator's namespace", n)
	}
}

// DeleteAndWait deletes o and waits until it, and each of dependents, is gone.
func (cl Cluster) DeleteAndWait(t testing.TB, o client.Object, dependents ...client.Object) {
	t.Helper()
	if err := cl.Client.Delete(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for _, d := range append([]client.Object{o}, dependents...) {
		Eventually(t, fmt.Sprintf("%T %s to be gone", d, d.GetName()), func() error {
			err := cl.Client.Get(context.Background(), client.ObjectKeyFromObject(d), d)
			if apierrors.IsNotFound(err) {
				return nil
			}
			return errors.Join(err, errors.New("still there"))
		})
	}
}
