package tokenserver

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs/adfstest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestPasswordGrantThroughADFS logs in end to end through the token server with
// golang.org/x/oauth2, the password checked by adfstest's stand-in (not a real ADFS) in
// each mode: the token names the ADFS user, a wrong password is invalid_grant and an
// ADFS that is down is 503 temporarily_unavailable.
func TestPasswordGrantThroughADFS(t *testing.T) {
	const connection, relyingParty, clientID, upn = "corp-adfs", "urn:gatehouse:e2e", "gatehouse-e2e", "alice@corp.example"
	for _, mode := range []string{snapshot.ADFSModeWSTrust, snapshot.ADFSModeOAuth2} {
		t.Run(mode, func(t *testing.T) {
			ctx := context.Background()
			idp := adfstest.Start(t, relyingParty, clientID, "")
			password := tokentest.Random(t)
			idp.AddUser(upn, adfstest.User{Password: password, Claims: map[string][]string{
				adfstest.ClaimUPN: {upn}, adfstest.ClaimEmail: {"alice@example.com"}, adfstest.ClaimName: {"Alice Example"},
			}})

			st := store.New()
			srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()))
			t.Cleanup(srv.Close)
			ft := tokentest.NewTenant(t, "uid-adfs", "team-e", "adfs", srv.URL+"/team-e/adfs/", "", bcrypt.MinCost,
				tokentest.NewKey(t, "adfs-current", "RS256", "current"))
			ft.Snapshot.Connections = append(ft.Snapshot.Connections, snapshot.Connection{Name: connection, Strategy: snapshot.StrategyADFS, ADFS: &snapshot.ADFS{
				URL: idp.URL(), RelyingParty: relyingParty, Mode: mode, ClientID: clientID, CAPEM: idp.CAPEM(),
				Timeout: time.Second, Claims: snapshot.DefaultADFSClaims(mode),
			}})
			ft.Snapshot.DefaultDirectory = connection
			view := ft.View(t)
			t.Cleanup(func() { _ = view.Connectors[connection].Close() })
			st.Publish([]*store.Tenant{view})

			issuer := ft.Snapshot.Issuer
			provider, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				t.Fatal(err)
			}
			cfg := oauth2.Config{ClientID: tokentest.Public, Endpoint: oauth2.Endpoint{TokenURL: provider.Endpoint().TokenURL, AuthStyle: oauth2.AuthStyleInParams},
				Scopes: []string{"openid", "profile", "email"}}
			tok, err := cfg.PasswordCredentialsToken(ctx, upn, password)
			if err != nil {
				t.Fatalf("password grant: %v", err)
			}
			rawID, _ := tok.Extra("id_token").(string)
			idToken, err := provider.Verifier(&oidc.Config{ClientID: tokentest.Public}).Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("verifying the id_token: %v", err)
			}
			var claims struct{ Email, Name string }
			if err := idToken.Claims(&claims); err != nil {
				t.Fatal(err)
			}
			if mode == snapshot.ADFSModeWSTrust && idToken.Subject != connection+"|"+upn {
				t.Errorf("sub = %q, want %q", idToken.Subject, connection+"|"+upn)
			}
			if claims.Email != "alice@example.com" || claims.Name != "Alice Example" {
				t.Errorf("id_token claims = %+v", claims)
			}
			// Userinfo answers the claims of the login without asking ADFS, which is down.
			idp.SetAnswers(adfstest.Answers{Status: http.StatusServiceUnavailable})
			if info := userinfoOf(t, provider, tok); info["sub"] != idToken.Subject || info["email"] != "alice@example.com" ||
				info["name"] != "Alice Example" || info["preferred_username"] != upn {
				t.Errorf("userinfo = %v, want sub %q and alice's claims", info, idToken.Subject)
			}
			idp.SetAnswers(adfstest.Answers{})

			_, err = cfg.PasswordCredentialsToken(ctx, upn, password+"x")
			assertRetrieveError(t, err, http.StatusBadRequest, "invalid_grant")

			idp.SetAnswers(adfstest.Answers{Status: http.StatusServiceUnavailable})
			_, err = cfg.PasswordCredentialsToken(ctx, upn, password)
			assertRetrieveError(t, err, http.StatusServiceUnavailable, "temporarily_unavailable")
		})
	}
}

func assertRetrieveError(t *testing.T, err error, status int, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.Response.StatusCode != status || re.ErrorCode != code {
		t.Errorf("error = %v, want HTTP %d %s", err, status, code)
	}
}
