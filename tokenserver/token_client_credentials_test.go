package tokenserver

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

func TestClientCredentialsWithRealClients(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		tenant    *tokentest.Tenant
		authStyle oauth2.AuthStyle
	}{
		{"RS256 client_secret_basic", ts.acme, oauth2.AuthStyleInHeader},
		{"RS256 client_secret_post", ts.acme, oauth2.AuthStyleInParams},
		{"ES256 client_secret_basic", ts.beta, oauth2.AuthStyleInHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issuer := tc.tenant.Snapshot.Issuer
			provider, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				t.Fatalf("discovering %s: %v", issuer, err)
			}
			cfg := clientcredentials.Config{
				ClientID: tokentest.Machine, ClientSecret: tc.tenant.MachineSecret,
				TokenURL: provider.Endpoint().TokenURL, AuthStyle: tc.authStyle,
				EndpointParams: url.Values{"audience": {tokentest.APIIdentifier}},
			}
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatalf("client_credentials: %v", err)
			}
			if tok.RefreshToken != "" || tok.Extra("id_token") != nil {
				t.Errorf("a machine token came with a refresh token %q or an id_token %v", tok.RefreshToken, tok.Extra("id_token"))
			}
			if got := tok.Extra("scope"); got != "read:sample" {
				t.Errorf("scope = %v, want every scope of the grant, read:sample", got)
			}
			if left := time.Until(tok.Expiry); left < 23*time.Hour || left > 24*time.Hour {
				t.Errorf("expires in %v, want the tenant's 24h", left)
			}

			keySet := oidc.NewRemoteKeySet(ctx, issuer+".well-known/jwks.json")
			at, err := oidc.NewVerifier(issuer, keySet, &oidc.Config{ClientID: tokentest.APIIdentifier,
				SupportedSigningAlgs: []string{tc.tenant.Keys[0].Entry.Algorithm}}).Verify(ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("verifying the machine token: %v", err)
			}
			var claims map[string]any
			if err := at.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			for name, want := range map[string]any{
				"sub": tokentest.Machine + "@clients", "gty": "client-credentials", "azp": tokentest.Machine,
				"client_id": tokentest.Machine, "scope": "read:sample", "aud": tokentest.APIIdentifier, "iss": issuer,
			} {
				if claims[name] != want {
					t.Errorf("%s = %v, want %v", name, claims[name], want)
				}
			}
			if jti, _ := claims["jti"].(string); jti == "" {
				t.Error("no jti")
			}
			assertAccessTokenHeader(t, tok.AccessToken, currentKID(tc.tenant))
		})
	}
}

func TestClientCredentialsKeepsToTheGrants(t *testing.T) {
	ts := newTestServer(t)
	const ungranted, public = "ungranted-machine", "public-machine"
	ungrantedSecret := tokentest.Random(t)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.Clients = append(s.Clients,
			// The grant type, but no grants: every API is refused.
			snapshot.Client{ClientID: ungranted, Name: "ungranted", Type: "confidential", GrantTypes: []string{"client_credentials"},
				SecretHash: snapshot.HashClientSecret(ungrantedSecret)},
			// A public client the CRD would refuse this grant.
			snapshot.Client{ClientID: public, Name: "public-machine", Type: "public", GrantTypes: []string{"client_credentials"},
				APIs: []snapshot.ClientGrant{{Identifier: tokentest.APIIdentifier}}})
	})
	machine := basic(tokentest.Machine, ts.acme.MachineSecret)
	for _, tc := range []struct {
		name   string
		tenant *tokentest.Tenant
		header http.Header
		body   []string
		status int
		want   string // the granted scope, or the error
	}{
		{"a narrower scope", ts.acme, machine, []string{"scope", "read:sample"}, http.StatusOK, "read:sample"},
		{"the default audience", ts.acme, machine, nil, http.StatusOK, "read:sample"},
		{"OpenID Connect scopes are dropped", ts.acme, machine, []string{"scope", "openid profile read:sample"}, http.StatusOK, "read:sample"},
		{"a scope not granted", ts.acme, machine, []string{"scope", "read:sample write:sample"}, http.StatusBadRequest, "invalid_scope"},
		{"an API not granted", ts.acme, machine, []string{"audience", tokentest.HS256Identifier}, http.StatusForbidden, "access_denied"},
		{"an audience that is no API", ts.acme, machine, []string{"audience", "https://nothing.example/"}, http.StatusBadRequest, "invalid_target"},
		{"no audience and no default", ts.dom, basic(tokentest.Machine, ts.dom.MachineSecret), nil, http.StatusBadRequest, "invalid_target"},
		{"a wrong secret", ts.acme, basic(tokentest.Machine, "guess"), nil, http.StatusUnauthorized, "invalid_client"},
		{"another tenant's secret", ts.acme, basic(tokentest.Machine, ts.beta.MachineSecret), nil, http.StatusUnauthorized, "invalid_client"},
		{"a client without the grant type", ts.acme, basic(tokentest.Confidential, ts.acme.ConfidentialSecret), nil, http.StatusBadRequest, "unauthorized_client"},
		{"a client without grants", ts.acme, basic(ungranted, ungrantedSecret), nil, http.StatusForbidden, "access_denied"},
		{"a public client", ts.acme, nil, []string{"client_id", public}, http.StatusBadRequest, "unauthorized_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := ""
			if tc.tenant.Snapshot.Domain != "" {
				host = tc.tenant.Snapshot.Domain
			}
			target := tc.tenant.Snapshot.Issuer + "oauth/token"
			if host != "" {
				target = ts.url + "/oauth/token"
			}
			resp, body := post(t, target, host, formType, form(append([]string{"grant_type", "client_credentials"}, tc.body...)...), tc.header)
			if tc.status != http.StatusOK {
				assertOAuthError(t, resp, body, tc.status, tc.want)
				return
			}
			if resp.StatusCode != http.StatusOK || body["scope"] != tc.want {
				t.Errorf("got %d %v, want scope %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}

// TestClientCredentialsTakeTheAPIsLifetime: a machine token lives as long as its API says.
func TestClientCredentialsTakeTheAPIsLifetime(t *testing.T) {
	ts := newTestServer(t)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.APIs = append([]snapshot.API(nil), s.APIs...)
		s.APIs[0].AccessTokenLifetime = 5 * time.Minute
	})
	resp, body := post(t, ts.acme.Snapshot.Issuer+"oauth/token", "", formType, form("grant_type", "client_credentials"),
		basic(tokentest.Machine, ts.acme.MachineSecret))
	if resp.StatusCode != http.StatusOK || body["expires_in"] != float64(300) {
		t.Errorf("got %d %v, want expires_in 300, the API's lifetime", resp.StatusCode, body)
	}
}
