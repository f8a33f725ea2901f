package e2e_test

import (
	"crypto/rand"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/dextest"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

const (
	userNamespace = "team-a"
	audience      = "https://someapi.com/api"
)

var sys *systemtest.System

func TestMain(m *testing.M) {
	systemtest.Main(m, &sys, kubetest.WithControllerManager())
}

// TestEndToEnd runs the controller and the token server as they run in a cluster: as
// separate processes, each with the credentials of its own ServiceAccount and the RBAC
// the project ships, against a real API server. It applies the samples and gets tokens
// with real OAuth 2.0 and OpenID Connect clients.
func TestEndToEnd(t *testing.T) {
	ctx := t.Context()
	_, tokenServer := sys.StartGatehouse(t)
	sys.CreateNamespace(t, userNamespace)

	password := rand.Text()
	sys.ApplySamples(t, userNamespace, password)
	client := &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "reporting-job"}}
	sys.WaitReady(t, client)
	creds := sys.Credentials(t, client)
	issuer := creds["issuer"]
	if want := tokenServer.URL + "/" + userNamespace + "/acme/"; issuer != want {
		t.Fatalf("issuer %q, want %q", issuer, want)
	}

	var accessToken string
	t.Run("password grant with golang.org/x/oauth2 and go-oidc", func(t *testing.T) {
		var tok *oauth2.Token
		systemtest.Eventually(t, "the token server serves the sample tenant", func() (err error) {
			tok, err = creds.PasswordToken("user@example.com", password)
			return err
		})
		accessToken = tok.AccessToken
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idToken, err := provider.Verifier(&oidc.Config{ClientID: creds["client_id"]}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("id_token: %v", err)
		}
		if idToken.Subject != "users|4d1b6c0e-sample-user" {
			t.Errorf("sub %q, want users|4d1b6c0e-sample-user", idToken.Subject)
		}
		if _, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, tok.AccessToken); err != nil {
			t.Errorf("access token does not verify through the JWKS for audience %s: %v", audience, err)
		}
		info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		if info.Email != "user@example.com" || info.Subject != idToken.Subject {
			t.Errorf("userinfo: sub %q email %q", info.Subject, info.Email)
		}
	})

	t.Run("a new Client is accepted", func(t *testing.T) {
		second := &identityv1alpha1.Client{
			ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "second"},
			Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: "acme"}},
		}
		start := time.Now()
		sys.Create(t, second)
		sys.WaitReady(t, second)
		secondCreds := sys.Credentials(t, second)
		systemtest.Eventually(t, "the token server accepts the new Client", func() error {
			_, err := secondCreds.PasswordToken("user@example.com", password)
			return err
		})
		t.Logf("a new Client was accepted %v after it was applied", time.Since(start).Round(time.Millisecond))
	})

	t.Run("tokens issued before a key rotation still verify", func(t *testing.T) {
		if accessToken == "" {
			t.Fatal("no token from the first subtest")
		}
		tenant := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "acme"}}
		sys.Get(t, tenant)
		oldKID := systemtest.CurrentKID(tenant)
		sys.RotateKeys(t, tenant, time.Now().Format(time.RFC3339Nano), func() (*oauth2.Token, error) {
			return creds.PasswordToken("user@example.com", password)
		})
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, accessToken); err != nil {
			t.Errorf("a token signed before the rotation (kid %s) no longer verifies: %v", oldKID, err)
		}
	})

	t.Run("an LDAP default directory", testLDAPDirectory)
	t.Run("an OpenID Connect provider as default directory", testOIDCDirectory)
}

// testOIDCDirectory serves a third Tenant whose default directory is a real Dex, which
// checks passwords with its LDAP connector against a real slapd: the controller reads
// the client secret and CA from a Secret and Dex's discovery document, the token server
// asks Dex, and the tokens verify against the Tenant's issuer.
func testOIDCDirectory(t *testing.T) {
	directory, passwords := ldaptest.StartSample(t)
	dex := dextest.Start(t, dextest.Options{LDAP: directory, LDAPServicePassword: passwords["gatehouse"]})
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "sso-dex", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"client-secret": []byte(dex.Client.Secret), "ca.crt": []byte(dex.CAPEM)},
	}
	conn := &identityv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "sso-dex"},
		Spec: identityv1alpha1.ConnectionSpec{TenantRef: identityv1alpha1.TenantReference{Name: "sso"}, OIDC: &identityv1alpha1.OIDCConnection{
			Issuer: dex.Issuer, ClientID: dex.Client.ID, Scopes: []string{"openid", "email", "profile", "groups"},
			ClientSecretRef: &identityv1alpha1.SecretKeySelector{Name: secret.Name, Key: "client-secret"},
			CASecretRef:     &identityv1alpha1.SecretKeySelector{Name: secret.Name, Key: "ca.crt"},
		}},
	}
	tenant := &identityv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "sso"},
		Spec:       identityv1alpha1.TenantSpec{DefaultDirectory: conn.Name, SigningKeys: identityv1alpha1.SigningKeysSpec{Algorithm: identityv1alpha1.ES256}},
	}
	app := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "sso-app"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: "sso"}},
	}
	sys.Create(t, secret, tenant, conn, app)
	sys.WaitReady(t, conn, app)
	sys.WaitCondition(t, conn, identityv1alpha1.ConditionDirectoryReachable, metav1.ConditionTrue)

	creds := sys.Credentials(t, app)
	provider, tok, idToken := verifiedLogin(t, creds, "alice", passwords["alice"])
	var claims struct {
		Email  string   `json:"email"`
		Groups []string `json:"groups"`
	}
	if err := idToken.Claims(&claims); err != nil || !strings.HasPrefix(idToken.Subject, conn.Name+"|") || claims.Email != "alice@example.org" ||
		!slices.Equal(claims.Groups, []string{"admins", "developers"}) {
		t.Errorf("id_token of a Dex user: sub %q, claims %+v (%v)", idToken.Subject, claims, err)
	}
	info, err := provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil || info.Subject != idToken.Subject || info.Email != "alice@example.org" {
		t.Errorf("userinfo of a Dex user: %+v, %v", info, err)
	}
	if _, err := creds.PasswordToken("alice", passwords["alice"]+"x"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("a wrong password at Dex: %v, want invalid_grant", err)
	}
}

// verifiedLogin logs username in through creds once the token server serves their
// tenant, and returns the tenant's provider, the token, and its id_token verified
// against the tenant's published keys.
func verifiedLogin(t *testing.T, creds systemtest.Credentials, username, password string) (*oidc.Provider, *oauth2.Token, *oidc.IDToken) {
	t.Helper()
	var tok *oauth2.Token
	systemtest.Eventually(t, "the token server serves the tenant", func() (err error) {
		tok, err = creds.PasswordToken(username, password)
		return err
	})
	provider, err := oidc.NewProvider(t.Context(), creds["issuer"])
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idToken, err := provider.Verifier(&oidc.Config{ClientID: creds["client_id"]}).Verify(t.Context(), rawID)
	if err != nil {
		t.Fatalf("id_token of %s: %v", username, err)
	}
	return provider, tok, idToken
}

// testLDAPDirectory serves a second Tenant whose default directory is a real slapd.
func testLDAPDirectory(t *testing.T) {
	directory, passwords := ldaptest.StartSample(t)

	live := systemtest.LDAPConnection(userNamespace, "corp-directory", "corp", "corp-ldap", directory.LDAPSURL)
	dead := systemtest.LDAPConnection(userNamespace, "corp-dead", "corp", "corp-ldap", "ldaps://"+proctest.MustFreeAddress(t))
	tenant := &identityv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "corp"},
		Spec:       identityv1alpha1.TenantSpec{DefaultDirectory: live.Name, SigningKeys: identityv1alpha1.SigningKeysSpec{Algorithm: identityv1alpha1.ES256}},
	}
	app := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: userNamespace, Name: "corp-app"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: "corp"}},
	}
	sys.Create(t, systemtest.LDAPBindSecret(userNamespace, "corp-ldap", directory, passwords["gatehouse"]), tenant, live, dead, app)
	sys.WaitReady(t, live, app)
	sys.WaitCondition(t, live, identityv1alpha1.ConditionDirectoryReachable, metav1.ConditionTrue)
	sys.WaitCondition(t, dead, identityv1alpha1.ConditionDirectoryReachable, metav1.ConditionFalse)
	// Switched to a database, the Connection has no directory condition left behind.
	sys.Update(t, dead, func() {
		dead.Spec.LDAP = nil
		dead.Spec.Database = &identityv1alpha1.DatabaseConnection{
			UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: "corp-users", Key: "users.yaml"},
		}
	})
	systemtest.Eventually(t, "the directory condition to go", func() error {
		sys.Get(t, dead)
		if c := meta.FindStatusCondition(dead.Status.Conditions, identityv1alpha1.ConditionDirectoryReachable); c != nil || dead.Status.ObservedGeneration != dead.Generation {
			return fmt.Errorf("generation %d observed %d, DirectoryReachable %+v", dead.Generation, dead.Status.ObservedGeneration, c)
		}
		return nil
	})

	creds := sys.Credentials(t, app)
	provider, tok, idToken := verifiedLogin(t, creds, "alice", passwords["alice"])
	if !strings.HasPrefix(idToken.Subject, "corp-directory|") || len(idToken.Subject) < len("corp-directory|")+32 {
		t.Errorf("sub %q, want corp-directory|<entryUUID>", idToken.Subject)
	}
	// userinfo reads the profile from the directory, as for database users.
	info, err := provider.UserInfo(t.Context(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo of an LDAP user: %v", err)
	}
	var profile struct {
		Name string `json:"name"`
	}
	if err := info.Claims(&profile); err != nil || info.Subject != idToken.Subject || info.Email != "alice@example.org" || profile.Name != "Alice Liddell" {
		t.Errorf("userinfo of an LDAP user: sub %q email %q name %q (%v)", info.Subject, info.Email, profile.Name, err)
	}
	if _, err := creds.PasswordToken("alice", passwords["alice"]+"x"); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Errorf("a wrong LDAP password: %v, want invalid_grant", err)
	}
}
