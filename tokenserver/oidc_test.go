package tokenserver

import (
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/test/dextest"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// oidcConfig is a connection to dex as its password-grant client, asking for groups too.
func oidcConfig(dex *dextest.Server) snapshot.OIDC {
	return snapshot.OIDC{
		Issuer: dex.Issuer, ClientID: dex.Client.ID, ClientSecret: dex.Client.Secret,
		Scopes: []string{"openid", "email", "profile", "groups"},
		Claims: snapshot.OIDCClaims{Subject: "sub", Email: "email", Name: "name", Groups: "groups"},
		CAPEM:  dex.CAPEM, Timeout: 5 * time.Second,
	}
}

// publishOIDCTenant serves a tenant whose default directory is the oidc connection cfg,
// with at most maxAttempts failed logins of one user, and returns it.
func publishOIDCTenant(t *testing.T, st *store.Store, base, name string, cfg snapshot.OIDC, maxAttempts int) *tokentest.Tenant {
	t.Helper()
	ft := tokentest.NewTenant(t, "uid-"+name, "team-"+name, name, base+"/team-"+name+"/"+name+"/", "", bcrypt.MinCost,
		tokentest.NewKey(t, name+"-current", "ES256", "current"))
	ft.UseOIDC(cfg)
	protection := snapshot.DefaultAttackProtection()
	protection.BruteForce.MaxAttempts = maxAttempts
	ft.Snapshot.AttackProtection = &protection
	view := ft.View(t)
	t.Cleanup(func() {
		for _, c := range view.Connectors {
			_ = c.Close()
		}
	})
	st.Publish(append(st.Tenants(), view))
	return ft
}

// TestOIDCPasswordGrantWithRealClients logs a Dex user in through the token server with
// golang.org/x/oauth2, verifies its tokens with go-oidc against the tenant's issuer, and
// reads its claims from userinfo, which needs no Dex; wrong passwords count towards
// attack protection like any other directory's, and Dex down answers
// temporarily_unavailable.
func TestOIDCPasswordGrantWithRealClients(t *testing.T) {
	dex := dextest.Start(t, dextest.Options{})
	alice := dex.Users["alice"]
	st := store.New()
	srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()))
	t.Cleanup(srv.Close)
	ft := publishOIDCTenant(t, st, srv.URL, "sso", oidcConfig(dex), 3)

	ctx := context.Background()
	issuer := ft.Snapshot.Issuer
	provider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := oauth2.Config{ClientID: tokentest.Public, Endpoint: oauth2.Endpoint{TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes: []string{"openid", "profile", "email"}}
	tok, err := cfg.PasswordCredentialsToken(ctx, alice.Email, alice.Password)
	if err != nil {
		t.Fatalf("password grant of a Dex user: %v\n%s", err, dex.Output())
	}
	rawID, _ := tok.Extra("id_token").(string)
	idToken, err := provider.Verifier(&oidc.Config{ClientID: tokentest.Public}).Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("verifying the id_token against %s: %v", issuer, err)
	}
	var claims struct {
		Sub, Email, Name string
		Groups           []string
	}
	if err := idToken.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(claims.Sub, tokentest.OIDCConnection+"|") || claims.Email != alice.Email || claims.Name != alice.Name ||
		!slices.Equal(claims.Groups, alice.Groups) {
		t.Errorf("id_token claims = %+v", claims)
	}
	keySet := oidc.NewRemoteKeySet(ctx, issuer+".well-known/jwks.json")
	at, err := oidc.NewVerifier(issuer, keySet, &oidc.Config{ClientID: tokentest.APIIdentifier, SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, tok.AccessToken)
	if err != nil || at.Subject != claims.Sub {
		t.Fatalf("access token: sub %v, %v; want %s", at, err, claims.Sub)
	}

	// Wrong passwords are invalid_grant, and count: the fourth attempt is blocked even
	// with the right password.
	for range 3 {
		_, err := cfg.PasswordCredentialsToken(ctx, alice.Email, "wrong-"+alice.Password)
		if code := oauthErrorCode(err); code != "invalid_grant" {
			t.Fatalf("a wrong password: %v, want invalid_grant", err)
		}
	}
	if _, err := cfg.PasswordCredentialsToken(ctx, alice.Email, alice.Password); oauthErrorCode(err) != "too_many_attempts" {
		t.Errorf("after three failures: %v, want too_many_attempts", err)
	}

	dex.Stop()
	// Userinfo answers the claims of the login without asking Dex, which is down.
	info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var infoClaims map[string]any
	if err := info.Claims(&infoClaims); err != nil {
		t.Fatal(err)
	}
	if info.Subject != claims.Sub || info.Email != alice.Email || infoClaims["name"] != alice.Name {
		t.Errorf("userinfo = %v", infoClaims)
	}

	_, err = cfg.PasswordCredentialsToken(ctx, dex.Users["bob"].Email, dex.Users["bob"].Password)
	var retrieve *oauth2.RetrieveError
	if !errors.As(err, &retrieve) || retrieve.Response.StatusCode != http.StatusServiceUnavailable || retrieve.ErrorCode != "temporarily_unavailable" {
		t.Errorf("with Dex down: %v, want 503 temporarily_unavailable", err)
	}
}

func oauthErrorCode(err error) string {
	var retrieve *oauth2.RetrieveError
	if errors.As(err, &retrieve) {
		return retrieve.ErrorCode
	}
	return ""
}

// TestOIDCIssuerThatLoopsBack plays a namespace user whose oidc Connection names her own
// tenant's Gatehouse issuer, with her tenant's public client, as its provider, and her
// tenant's default directory is that Connection, without attack protection: each login
// asks the token server for a login of the same kind. The loop ends quickly with
// temporarily_unavailable, holds nothing afterwards, and another tenant's users log in
// throughout.
func TestOIDCIssuerThatLoopsBack(t *testing.T) {
	st := store.New()
	srv := httptest.NewTLSServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()))
	t.Cleanup(srv.Close)
	victim := tokentest.NewTenant(t, "uid-victim", "team-v", "victim", srv.URL+"/team-v/victim/", "", bcrypt.MinCost,
		tokentest.NewKey(t, "victim-current", "ES256", "current"))
	victimView := victim.View(t)
	st.Publish([]*store.Tenant{victimView})

	loopIssuer := srv.URL + "/team-loop/loop/"
	cfg := snapshot.OIDC{
		Issuer: loopIssuer, ClientID: tokentest.Public, Scopes: []string{"openid"}, Claims: snapshot.OIDCClaims{Subject: "sub"},
		CAPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})),
		Timeout: 10 * time.Second,
	}
	ft := publishOIDCTenant(t, st, srv.URL, "loop", cfg, 10)
	ft.Snapshot.AttackProtection.BruteForce.Enabled = false
	ft.Snapshot.AttackProtection.SuspiciousIPThrottling.Enabled = false
	st.Publish([]*store.Tenant{victimView, ft.View(t)})

	client := srv.Client()
	login := func(tokenURL, username, password string) (int, string) {
		resp, err := client.PostForm(tokenURL, url.Values{"grant_type": {"password"}, "client_id": {tokentest.Public},
			"username": {username}, "password": {password}, "audience": {tokentest.APIIdentifier}})
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		var body struct{ Error string }
		_ = jsonDecode(resp.Body, &body)
		return resp.StatusCode, body.Error
	}
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	start := time.Now()
	for range 4 {
		wg.Go(func() {
			if status, code := login(loopIssuer+"oauth/token", "mallory", "x"); status != http.StatusServiceUnavailable || code != "temporarily_unavailable" {
				t.Errorf("a looping login answered %d %s, want 503 temporarily_unavailable", status, code)
			}
		})
	}
	if status, code := login(victim.Snapshot.Issuer+"oauth/token", tokentest.Alice, victim.AlicePassword); status != http.StatusOK {
		t.Errorf("the other tenant's login during the loops answered %d %s", status, code)
	}
	wg.Wait()
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("the looping logins took %v; they must end well before the connection's timeout (%v)", took, cfg.Timeout)
	}
	client.CloseIdleConnections()
	srv.CloseClientConnections()
	kubetest.Eventually(t, 10*time.Second, 50*time.Millisecond, "the loops' goroutines end", func() error {
		if n := runtime.NumGoroutine(); n > before+16 {
			return fmt.Errorf("%d goroutines, %d before the loops", n, before)
		}
		return nil
	})
}
