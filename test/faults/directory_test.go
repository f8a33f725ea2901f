package faults_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// directoryTimeout is the LDAP Connection's spec.timeout: it bounds connecting to the
// directory and each request to it.
const directoryTimeout = time.Second

// clientTimeout is how long the test's OAuth client waits for an answer while the
// directory is down: a password grant makes two directory requests (the user search and
// the user's bind), each bounded by directoryTimeout, plus a margin for a loaded machine.
const clientTimeout = 2*directoryTimeout + 3*time.Second

// TestDirectoryDown stops the slapd behind a Tenant's default directory, then puts in its
// place a server that accepts connections and never answers: token requests get 503
// temporarily_unavailable within the client's timeout, and tokens again once slapd is
// back on the same port, with the same token server.
func TestDirectoryDown(t *testing.T) {
	const namespace = "directory-down"
	directory, passwords := ldaptest.StartSample(t)
	sys.StartGatehouse(t)
	sys.CreateNamespace(t, namespace)
	conn := systemtest.LDAPConnection(namespace, "corp-directory", "corp", "corp-ldap", directory.LDAPSURL)
	conn.Spec.LDAP.Timeout = metav1.Duration{Duration: directoryTimeout}
	tenant := &identityv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "corp"},
		Spec:       identityv1alpha1.TenantSpec{DefaultDirectory: conn.Name, SigningKeys: identityv1alpha1.SigningKeysSpec{Algorithm: identityv1alpha1.ES256}},
	}
	app := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "corp-app"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: tenant.Name}},
	}
	sys.Create(t, systemtest.LDAPBindSecret(namespace, "corp-ldap", directory, passwords["gatehouse"]), tenant, conn, app)
	sys.WaitReady(t, conn, app)
	creds := sys.Credentials(t, app)
	login := func() error {
		ctx := systemtest.WithHTTPClient(context.Background(), &http.Client{Timeout: clientTimeout})
		_, err := creds.PasswordTokenWith(ctx, "alice", passwords["alice"])
		return err
	}
	systemtest.Eventually(t, "the token server serves the LDAP tenant", login)

	if err := directory.Stop(); err != nil {
		t.Fatal(err)
	}
	unavailable := func(when string) {
		t.Helper()
		// The first request may find pooled connections that slapd closed; every
		// request must get the same answer.
		for range 3 {
			err := login()
			if status, code := oauthError(err); status != http.StatusServiceUnavailable || code != "temporarily_unavailable" {
				t.Fatalf("%s: %v, want 503 temporarily_unavailable within %v", when, err, clientTimeout)
			}
		}
	}
	unavailable("with slapd stopped")
	silent := ldaptest.StartSilent(t, strings.TrimPrefix(directory.LDAPSURL, "ldaps://"))
	unavailable("with a directory that does not answer")
	if accepted := silent.Stop(); accepted == 0 {
		t.Fatal("the token server never connected to the directory that does not answer")
	}

	if err := directory.Start(); err != nil {
		t.Fatal(err)
	}
	systemtest.Eventually(t, "the token server logs in to the directory again", login)
}
