package faults_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// TestAPIServerDown stops the API server while the token server serves: tokens keep
// being issued from the snapshots it holds; once the API server is back, the token
// server watches again and serves a Client created after the restart, and
// kube-controller-manager collects garbage again.
func TestAPIServerDown(t *testing.T) {
	sys.StartGatehouse(t)
	acme := applySample(t, "apiserver-down")

	if err := sys.Env.StopAPIServer(); err != nil {
		t.Fatalf("stopping the API server: %v", err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = sys.Env.StartAPIServer() // for the tests that follow
		}
	})
	acme.keepIssuing(t, "while the API server is down", 10, 300*time.Millisecond)
	if err := sys.Env.StartAPIServer(); err != nil {
		t.Fatalf("starting the API server again: %v", err)
	}
	restarted = true

	// Only a token server that watches again learns of this Client.
	late := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: acme.client.Namespace, Name: "after-restart"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: acme.tenant.Name}},
	}
	sys.Create(t, late)
	sys.WaitReady(t, late)
	creds := sys.Credentials(t, late)
	systemtest.Eventually(t, "the token server accepts a Client created after the restart", func() error {
		_, err := creds.PasswordToken(sampleUser, acme.password)
		return err
	})
	acme.mustToken(t, "after the restart")

	// kube-controller-manager waited out the API server too: its garbage collector still
	// deletes a deleted Client's credentials Secret.
	sys.DeleteAndWait(t, late, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: late.Namespace, Name: late.Status.CredentialsSecretName}})
}
