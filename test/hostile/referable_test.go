package hostile_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// TestSecretsOptIn: mallory's Connections reference Secrets of her namespace that do not
// say they may be referenced: a users Secret, and an LDAP bind password that the
// controller would send to a directory of her choosing. Both Connections are refused
// with a message that says how to allow it, the password never reaches the directory,
// and once the Secrets carry the label both work.
func TestSecretsOptIn(t *testing.T) {
	victim, mallory := newTeams(t, "referable")
	g := startGatehouse(t, "referable")
	b := newIssuer(t, victim.namespace, "bravo")
	victim.serve(t, g, b)

	t.Run("a users Secret", func(t *testing.T) {
		m := newIssuer(t, mallory.namespace, "unlabelled")
		m.users.Labels = nil
		mallory.create(t, m)
		expectNotReferable(t, mallory, m.connection)

		allowReference(t, mallory, m.users)
		mallory.waitServed(t, g, m)
	})

	t.Run("an LDAP bind password", func(t *testing.T) {
		directory, passwords := ldaptest.StartSample(t)
		// The directory mallory names first keeps what it is sent, in clear over ldap://.
		recorder := ldaptest.StartSilent(t, "127.0.0.1:0")
		bindSecret := systemtest.LDAPBindSecret(mallory.namespace, "corp-bind", directory, passwords["gatehouse"])
		bindSecret.Labels = nil
		conn := systemtest.LDAPConnection(mallory.namespace, "corp-directory", "corp", bindSecret.Name, "ldap://"+recorder.Addr)
		conn.Spec.LDAP.CASecretRef = nil
		conn.Spec.LDAP.InsecureNoTLS = true
		conn.Spec.LDAP.Timeout = metav1.Duration{Duration: time.Second}
		m := newIssuer(t, mallory.namespace, "corp")
		m.tenant.Spec.DefaultDirectory = conn.Name
		mallory.Create(t, bindSecret, m.tenant, conn, m.client)
		expectNotReferable(t, mallory, conn)
		bindPassword := []byte(passwords["gatehouse"])
		if bytes.Contains(recorder.Received(), bindPassword) {
			t.Errorf("the controller sent the bind password of an unlabelled Secret to %s", conn.Spec.LDAP.URLs[0])
		}

		allowReference(t, mallory, bindSecret)
		// Now the controller binds with it, to the directory named: the recorder sees the
		// password, which shows it would have seen it before.
		systemtest.Eventually(t, "the controller binds to the recording directory", func() error {
			if !bytes.Contains(recorder.Received(), bindPassword) {
				return errors.New("no bind with the password received")
			}
			return nil
		})
		mallory.Update(t, conn, func() {
			conn.Spec.LDAP.URLs = []string{directory.LDAPSURL}
			conn.Spec.LDAP.InsecureNoTLS = false
			conn.Spec.LDAP.CASecretRef = &identityv1alpha1.SecretKeySelector{Name: bindSecret.Name, Key: "ca.crt"}
		})
		mallory.WaitCondition(t, conn, identityv1alpha1.ConditionDirectoryReachable, metav1.ConditionTrue)
		m.connection, m.username, m.password = conn, "alice", passwords["alice"]
		mallory.waitServed(t, g, m)
	})

	b.expectLogin(t, g, "after the unlabelled Secrets")
}

// expectNotReferable waits until conn is refused for referencing a Secret without the
// label, and checks that the message names the label that allows it.
func expectNotReferable(t *testing.T, tm *team, conn *identityv1alpha1.Connection) {
	t.Helper()
	refused := tm.WaitRefused(t, conn, identityv1alpha1.ReasonSecretNotReferable)
	if !strings.Contains(refused.Message, identityv1alpha1.LabelReferable) {
		t.Errorf("the condition %q does not say how to allow the reference (label %s)", refused.Message, identityv1alpha1.LabelReferable)
	}
}

// allowReference labels secret referable, as its owner does to opt in.
func allowReference(t *testing.T, tm *team, secret *corev1.Secret) {
	t.Helper()
	tm.Update(t, secret, func() { metav1.SetMetaDataLabel(&secret.ObjectMeta, identityv1alpha1.LabelReferable, "true") })
}
