package dextest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/test/dextest"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
)

// TestDexServesThePasswordGrant checks the harness itself: both of its kinds of Dex
// answer a password grant with an id_token for the client, signed by their keys.
func TestDexServesThePasswordGrant(t *testing.T) {
	directory, passwords := ldaptest.StartSample(t)
	local := dextest.Start(t, dextest.Options{})
	ldap := dextest.Start(t, dextest.Options{LDAP: directory, LDAPServicePassword: passwords["gatehouse"]})
	for _, tc := range []struct {
		name               string
		dex                *dextest.Server
		username, password string
		wantEmail          string
	}{
		{"static users", local, local.Users["alice"].Email, local.Users["alice"].Password, "alice@example.com"},
		{"the LDAP connector", ldap, "alice", passwords["alice"], "alice@example.org"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			roots := x509.NewCertPool()
			roots.AppendCertsFromPEM([]byte(tc.dex.CAPEM))
			ctx := oidc.ClientContext(context.Background(), &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}})
			provider, err := oidc.NewProvider(ctx, tc.dex.Issuer)
			if err != nil {
				t.Fatal(err)
			}
			cfg := oauth2.Config{ClientID: tc.dex.Client.ID, ClientSecret: tc.dex.Client.Secret, Endpoint: provider.Endpoint(), Scopes: []string{"openid", "email"}}
			tok, err := cfg.PasswordCredentialsToken(ctx, tc.username, tc.password)
			if err != nil {
				t.Fatalf("password grant: %v\n%s", err, tc.dex.Output())
			}
			raw, _ := tok.Extra("id_token").(string)
			idToken, err := provider.Verifier(&oidc.Config{ClientID: tc.dex.Client.ID}).Verify(ctx, raw)
			if err != nil {
				t.Fatal(err)
			}
			var claims struct{ Email string }
			if err := idToken.Claims(&claims); err != nil || claims.Email != tc.wantEmail {
				t.Errorf("email = %q (%v), want %q", claims.Email, err, tc.wantEmail)
			}
			if _, err := cfg.PasswordCredentialsToken(ctx, tc.username, "wrong"); err == nil {
				t.Error("a wrong password got tokens")
			}
		})
	}
}
