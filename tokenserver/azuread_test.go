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

	st := store.New()
	srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()))
	t.Cleanup(srv.Close)
	ft := tokentest.NewTenant(t, "uid-entra", "team-e", "entra", srv.URL+"/team-e/entra/", "", bcrypt.MinCost,
		tokentest.NewKey(t, "entra-current", "RS256", "current"))
	ft.Snapshot.Connections = append(ft.Snapshot.Connections, snapshot.Connection{Name: entraConnection, Strategy: snapshot.StrategyAzureAD,
		AzureAD: &snapshot.AzureAD{AuthorityHost: aad.URL, Tenant: aad.Domain, ClientID: aad.ClientID,
			Scopes: []string{"openid", "profile", "email"}, CAPEM: aad.CAPEM, Timeout: 2 * time.Second}})
	ft.Snapshot.DefaultDirectory = entraConnection
	view := ft.View(t)
	t.Cleanup(func() { _ = view.Connectors[entraConnection].Close() })
	st.Publish([]*store.Tenant{view})

	ctx := context.Background()
	issuer := ft.Snapshot.Issuer
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: tokentest.Public, Endpoint: oauth2.Endpoint{TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"openid", "profile", "email"}}

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
