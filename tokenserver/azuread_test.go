package tokenserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs/adfstest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/azuread/aadtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// entraConnection is the azureAD connection of the tenant of TestAzureADLogins.
const entraConnection = "entra"

// TestAzureADLogins logs in end to end, with golang.org/x/oauth2, as users of an Entra ID
// tenant: aadtest's stand-in, not Microsoft.
func TestAzureADLogins(t *testing.T) {
	aad := aadtest.New(t)
	alice := aadtest.User{Username: "alice@" + aad.Domain, Password: tokentest.Random(t), ObjectID: "11111111-2222-3333-4444-555555555555",
		Name: "Alice Entra", Email: "alice@contoso.example", Groups: []string{"sales"}}
	mfa := aadtest.User{Username: "mfa@" + aad.Domain, Password: alice.Password, ObjectID: "66666666-2222-3333-4444-555555555555", Refusal: 50076}
	aad.AddUser(alice)
	aad.AddUser(mfa)

	provider, cfg := entraTenant(t, snapshot.AzureAD{AuthorityHost: aad.URL, Tenant: aad.Domain, ClientID: aad.ClientID,
		Scopes: []string{"openid", "profile", "email"}, CAPEM: aad.CAPEM, Timeout: 2 * time.Second})
	ctx := context.Background()

	t.Run("success", func(t *testing.T) {
		tok, err := cfg.PasswordCredentialsToken(ctx, alice.Username, alice.Password)
		if err != nil {
			t.Fatal(err)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idToken, err := provider.Verifier(&oidc.Config{ClientID: tokentest.Public}).Verify(ctx, rawID)
		if err != nil {
			t.Fatal(err)
		}
		var claims struct{ Groups []string }
		var raw map[string]any
		if err := idToken.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		_ = idToken.Claims(&raw)
		want := entraConnection + "|" + alice.ObjectID
		if idToken.Subject != want || raw["email"] != alice.Email || raw["name"] != alice.Name || raw["preferred_username"] != alice.Username ||
			raw["tid"] != aad.TenantID || raw["oid"] != alice.ObjectID || !slices.Equal(claims.Groups, alice.Groups) {
			t.Errorf("id_token claims = %v, want sub %q and alice's claims", raw, want)
		}

		// Userinfo answers the claims of the login without asking Entra ID, which is down.
		aad.Fail(http.StatusServiceUnavailable)
		t.Cleanup(func() { aad.Fail(0) })
		info := userinfoOf(t, provider, tok)
		groups, _ := info["groups"].([]any)
		if info["sub"] != want || info["email"] != alice.Email || info["name"] != alice.Name || info["preferred_username"] != alice.Username ||
			info["tid"] != aad.TenantID || info["oid"] != alice.ObjectID || len(groups) != 1 || groups[0] != alice.Groups[0] {
			t.Errorf("userinfo = %v, want sub %q and alice's claims", info, want)
		}
	})

	refusals := []struct {
		name, username, password, description string
	}{
		{"wrong password", alice.Username, "wrong", "Wrong username or password."},
		{"unknown user", "nobody@" + aad.Domain, alice.Password, "Wrong username or password."},
		{"MFA required", mfa.Username, mfa.Password, "multi-factor authentication"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cfg.PasswordCredentialsToken(ctx, tt.username, tt.password)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) || re.Response.StatusCode != http.StatusBadRequest || re.ErrorCode != "invalid_grant" ||
				!strings.Contains(re.ErrorDescription, tt.description) {
				t.Fatalf("password grant: %v, want 400 invalid_grant describing %q", err, tt.description)
			}
		})
	}

	t.Run("upstream 5xx", func(t *testing.T) {
		aad.Fail(http.StatusBadGateway)
		t.Cleanup(func() { aad.Fail(0) })
		r, body := post(t, provider.Endpoint().TokenURL, "", "application/x-www-form-urlencoded", url.Values{
			"grant_type": {"password"}, "client_id": {tokentest.Public}, "username": {alice.Username}, "password": {alice.Password}}.Encode(), nil)
		if r.StatusCode != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
			t.Fatalf("token answer %d %v, want 503 temporarily_unavailable", r.StatusCode, body)
		}
	})
}

// entraTenant serves a tenant whose default directory is the azureAD connection of
// entra, and returns its provider and a public client's password grant configuration.
func entraTenant(t *testing.T, entra snapshot.AzureAD) (*oidc.Provider, oauth2.Config) {
	t.Helper()
	st := store.New()
	srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()))
	t.Cleanup(srv.Close)
	ft := tokentest.NewTenant(t, "uid-entra", "team-e", "entra", srv.URL+"/team-e/entra/", "", bcrypt.MinCost,
		tokentest.NewKey(t, "entra-current", "RS256", "current"))
	ft.Snapshot.Connections = append(ft.Snapshot.Connections, snapshot.Connection{Name: entraConnection, Strategy: snapshot.StrategyAzureAD, AzureAD: &entra})
	ft.Snapshot.DefaultDirectory = entraConnection
	view := ft.View(t)
	t.Cleanup(func() { _ = view.Connectors[entraConnection].Close() })
	st.Publish([]*store.Tenant{view})

	provider, err := oidc.NewProvider(context.Background(), ft.Snapshot.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	return provider, oauth2.Config{ClientID: tokentest.Public, Endpoint: oauth2.Endpoint{TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"openid", "profile", "email"}}
}

// TestAzureADFederatedLogins logs in end to end as a user of a domain of the Entra ID
// tenant federated to AD FS: aadtest's and adfstest's stand-ins, not Microsoft's.
func TestAzureADFederatedLogins(t *testing.T) {
	aad := aadtest.New(t)
	fs := adfstest.Start(t, "urn:federation:MicrosoftOnline", "unused-oauth-client", "")
	aad.Federate(aadtest.Federation{Domain: "fabrikam.example", MexURL: fs.MexURL(), Issuer: fs.EntityID(), Certificates: fs.SigningCertificates})
	bob := aadtest.User{Username: "bob@fabrikam.example", ObjectID: "99999999-2222-3333-4444-555555555555",
		Name: "Bob Federated", Email: "bob@fabrikam.example", Groups: []string{"engineering"}}
	aad.AddUser(bob)
	password := tokentest.Random(t)
	fs.AddUser(bob.Username, adfstest.User{Password: password, Claims: map[string][]string{adfstest.ClaimUPN: {bob.Username}}})
	provider, cfg := entraTenant(t, snapshot.AzureAD{AuthorityHost: aad.URL, Tenant: aad.TenantID, ClientID: aad.ClientID,
		Scopes: []string{"openid", "profile", "email"}, CAPEM: aad.CAPEM + fs.CAPEM(), Timeout: 2 * time.Second})
	ctx := context.Background()

	tok, err := cfg.PasswordCredentialsToken(ctx, bob.Username, password)
	if err != nil {
		t.Fatalf("password grant: %v", err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idToken, err := provider.Verifier(&oidc.Config{ClientID: tokentest.Public}).Verify(ctx, rawID)
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		Email, Name string
		Groups      []string
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	want := entraConnection + "|" + bob.ObjectID
	if idToken.Subject != want || claims.Email != bob.Email || claims.Name != bob.Name || !slices.Equal(claims.Groups, bob.Groups) {
		t.Errorf("id_token: sub %q, claims %+v; want sub %q and bob's claims", idToken.Subject, claims, want)
	}
	if info := userinfoOf(t, provider, tok); info["sub"] != want || info["email"] != bob.Email || info["name"] != bob.Name {
		t.Errorf("userinfo = %v, want sub %q and bob's claims", info, want)
	}

	_, err = cfg.PasswordCredentialsToken(ctx, bob.Username, "wrong-"+password)
	assertRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")

	fs.SetAnswers(adfstest.Answers{Status: http.StatusServiceUnavailable})
	_, err = cfg.PasswordCredentialsToken(ctx, bob.Username, password)
	assertRetrieveError(t, err, http.StatusServiceUnavailable, "temporarily_unavailable")
}
