package systemtest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
)

// Cluster is a client of the API server with the helpers the tests create, read and
// wait on objects with, failing the test at the first error.
type Cluster struct {
	Client client.Client
}

// waitTimeout bounds every Eventually: generous for a loaded CI machine, yet a test that
// waits for something that never happens still fails.
const waitTimeout = 60 * time.Second

// Create creates objects, failing the test on the first error.
func (cl Cluster) Create(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := cl.Client.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

// Get reads o again from the API server.
func (cl Cluster) Get(t testing.TB, o client.Object) {
	t.Helper()
	if err := cl.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
		t.Fatal(err)
	}
}

// Update reads o, applies change to it and writes it, again on a conflict.
func (cl Cluster) Update(t testing.TB, o client.Object, change func()) {
	t.Helper()
	Eventually(t, "an update of "+o.GetName()+" goes through", func() error {
		if err := cl.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		change()
		return cl.Client.Update(context.Background(), o)
	})
}

// WaitCondition waits until o has the condition with status.
func (cl Cluster) WaitCondition(t testing.TB, o client.Object, conditionType string, status metav1.ConditionStatus) {
	t.Helper()
	Eventually(t, fmt.Sprintf("%s %s=%s", o.GetName(), conditionType, status), func() error {
		if err := cl.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		c := meta.FindStatusCondition(commonStatus(t, o).Conditions, conditionType)
		if c == nil || c.Status != status {
			return fmt.Errorf("condition is %+v", c)
		}
		return nil
	})
}

// WaitRefused waits until o is Ready=False with reason, and returns that condition. It
// fails the test at once when o is Ready instead: an object the controller must refuse
// is never served, not even for a moment.
func (cl Cluster) WaitRefused(t testing.TB, o client.Object, reason string) metav1.Condition {
	t.Helper()
	var ready metav1.Condition
	Eventually(t, fmt.Sprintf("%s Ready=False reason %s", o.GetName(), reason), func() error {
		if err := cl.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		c := meta.FindStatusCondition(commonStatus(t, o).Conditions, identityv1alpha1.ConditionReady)
		switch {
		case c == nil:
			return errors.New("no Ready condition yet")
		case c.Status == metav1.ConditionTrue:
			t.Fatalf("%T %s/%s is Ready (%s: %s); want Ready=False reason %s", o, o.GetNamespace(), o.GetName(), c.Reason, c.Message, reason)
		case c.Reason != reason:
			return fmt.Errorf("the condition is Ready=%s reason %s: %s", c.Status, c.Reason, c.Message)
		}
		ready = *c
		return nil
	})
	return ready
}

// WaitReady waits until every object is Ready.
func (cl Cluster) WaitReady(t testing.TB, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		cl.WaitCondition(t, o, identityv1alpha1.ConditionReady, metav1.ConditionTrue)
	}
}

func commonStatus(t testing.TB, o client.Object) *identityv1alpha1.CommonStatus {
	switch o := o.(type) {
	case *identityv1alpha1.Tenant:
		return &o.Status.CommonStatus
	case *identityv1alpha1.Connection:
		return &o.Status.CommonStatus
	case *identityv1alpha1.API:
		return &o.Status.CommonStatus
	case *identityv1alpha1.Client:
		return &o.Status.CommonStatus
	}
	t.Fatalf("no conditions for %T", o)
	return nil
}

// Credentials reads the credentials Secret the controller wrote for a Client.
func (cl Cluster) Credentials(t testing.TB, c *identityv1alpha1.Client) Credentials {
	t.Helper()
	cl.Get(t, c)
	var secret corev1.Secret
	Eventually(t, "the credentials Secret of "+c.Name+" exists", func() error {
		return cl.Client.Get(context.Background(), client.ObjectKey{Namespace: c.Namespace, Name: c.Status.CredentialsSecretName}, &secret)
	})
	out := Credentials{}
	for k, v := range secret.Data {
		out[k] = string(v)
	}
	return out
}

// CreateNamespace creates a namespace for a test's objects.
func (cl Cluster) CreateNamespace(t testing.TB, name string) {
	t.Helper()
	cl.Create(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}})
}

// LDAPBindSecret holds the service account's password and the CA of directory.
func LDAPBindSecret(namespace, name string, directory *ldaptest.Server, bindPassword string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"password": []byte(bindPassword), "ca.crt": []byte(directory.CAPEM)},
	}
}

// LDAPConnection is a Connection of tenant to the sample directory of testldap at url,
// bound as its gatehouse service account with the LDAPBindSecret named bindSecret.
func LDAPConnection(namespace, name, tenant, bindSecret, url string) *identityv1alpha1.Connection {
	return &identityv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
		Spec: identityv1alpha1.ConnectionSpec{TenantRef: identityv1alpha1.TenantReference{Name: tenant}, LDAP: &identityv1alpha1.LDAPConnection{
			DirectoryTransport: identityv1alpha1.DirectoryTransport{
				URLs:                  []string{url},
				CASecretRef:           &identityv1alpha1.SecretKeySelector{Name: bindSecret, Key: "ca.crt"},
				BindPasswordSecretRef: identityv1alpha1.SecretKeySelector{Name: bindSecret, Key: "password"},
			},
			BindDN:     "cn=gatehouse,ou=svc," + ldaptest.BaseDN,
			UserSearch: identityv1alpha1.LDAPUserSearch{BaseDN: "ou=people," + ldaptest.BaseDN, UsernameAttributes: []string{"uid", "mail"}},
		}},
	}
}

// Eventually retries check every 100ms until it succeeds, and fails the test when it
// has not within a minute.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	kubetest.Eventually(t, waitTimeout, 100*time.Millisecond, what, check)
}
