package tokenserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/test/proctest"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// rotating are the refresh tokens of most tests: rotation without reuse interval.
var rotating = snapshot.RefreshTokens{Rotation: true, AbsoluteLifetime: 24 * time.Hour, IdleLifetime: time.Hour}

// failingStore is a refresh.Store that fails every call while down is set: a store
// that cannot be reached.
type failingStore struct {
	refresh.Store
	down atomic.Bool
	// stuck, when set, holds the Gets of its tenant until it is closed: a store slow
	// for that tenant's requests.
	stuck atomic.Pointer[stuckTenant]
}

type stuckTenant struct {
	uid     string
	release chan struct{}
}

var errStoreDown = errors.New("store down")

func (f *failingStore) Create(ctx context.Context, fam *refresh.Family, l refresh.Limits) (int, error) {
	if f.down.Load() {
		return 0, errStoreDown
	}
	return f.Store.Create(ctx, fam, l)
}

func (f *failingStore) Get(ctx context.Context, tenantUID, id string) (*refresh.Family, error) {
	if f.down.Load() {
		return nil, errStoreDown
	}
	if stuck := f.stuck.Load(); stuck != nil && stuck.uid == tenantUID {
		<-stuck.release
	}
	return f.Store.Get(ctx, tenantUID, id)
}

func (f *failingStore) RevokeSubject(ctx context.Context, tenantUID, subject, reason string, now time.Time) (refresh.Revoked, error) {
	if f.down.Load() {
		return refresh.Revoked{}, errStoreDown
	}
	return f.Store.RevokeSubject(ctx, tenantUID, subject, reason, now)
}

func (f *failingStore) RevokeTenant(ctx context.Context, tenantUID, reason string, now time.Time) (refresh.Revoked, error) {
	if f.down.Load() {
		return refresh.Revoked{}, errStoreDown
	}
	return f.Store.RevokeTenant(ctx, tenantUID, reason, now)
}

// refreshServer is a test server whose acme and beta tenants give refresh tokens with
// rt, kept in a Memory store behind the returned failingStore.
func refreshServer(t *testing.T, rt snapshot.RefreshTokens) (*testServer, *failingStore, *refresh.Tokens) {
	t.Helper()
	return loggingRefreshServer(t, slog.New(slog.DiscardHandler), rt)
}

// loggingRefreshServer is refreshServer, the server and its refresh tokens logging to log.
func loggingRefreshServer(t *testing.T, log *slog.Logger, rt snapshot.RefreshTokens) (*testServer, *failingStore, *refresh.Tokens) {
	t.Helper()
	st := &failingStore{Store: refreshtest.NewMemory()}
	var ts *testServer
	tokens := refresh.New(st, refresh.Options{Now: func() time.Time { return ts.now() }, Log: log})
	ts = newLoggingTestServer(t, log, WithRefreshTokens(tokens))
	ts.acme.UseRefreshTokens(rt)
	ts.beta.UseRefreshTokens(rt)
	ts.store.Publish([]*store.Tenant{ts.acme.View(t), ts.beta.View(t), ts.dom.View(t)})
	return ts, st, tokens
}

// offlineLogin is alice's password grant through the confidential client of ft, asking
// for scope.
func offlineLogin(t *testing.T, ft *tokentest.Tenant, scope string) (reply, map[string]any) {
	t.Helper()
	return post(t, ft.Snapshot.Issuer+"oauth/token", "", formType, form("grant_type", "password",
		"username", tokentest.AliceEmail, "password", ft.AlicePassword, "scope", scope),
		basic(tokentest.Confidential, ft.ConfidentialSecret))
}

// refreshWith posts grant_type=refresh_token with extra parameters and header.
func refreshWith(t *testing.T, ft *tokentest.Tenant, header http.Header, kv ...string) (reply, map[string]any) {
	t.Helper()
	return post(t, ft.Snapshot.Issuer+"oauth/token", "", formType, form(append([]string{"grant_type", "refresh_token"}, kv...)...), header)
}

// refreshAs refreshes token as ft's confidential client.
func refreshAs(t *testing.T, ft *tokentest.Tenant, token string, kv ...string) (reply, map[string]any) {
	t.Helper()
	return refreshWith(t, ft, basic(tokentest.Confidential, ft.ConfidentialSecret), append([]string{"refresh_token", token}, kv...)...)
}

// refreshTokenIn returns a function that fails t unless an answer is 200 with a
// refresh_token, and returns the token: refreshTokenIn(t)(offlineLogin(...)).
func refreshTokenIn(t *testing.T) func(reply, map[string]any) string {
	return func(resp reply, body map[string]any) string {
		t.Helper()
		token, _ := body["refresh_token"].(string)
		if resp.StatusCode != http.StatusOK || token == "" {
			t.Fatalf("answer %d %v, want 200 with a refresh_token", resp.StatusCode, body)
		}
		return token
	}
}

// TestRefreshTokensWithRealClient logs in with offline_access and lets an oauth2
// TokenSource refresh through rotations; then the first token, rotated out, revokes the
// family, and the newest stops working too.
func TestRefreshTokensWithRealClient(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	ctx := context.Background()
	cfg := oauth2.Config{
		ClientID: tokentest.Confidential, ClientSecret: ts.acme.ConfidentialSecret,
		Endpoint: oauth2.Endpoint{TokenURL: snapshot.TokenURL(ts.acme.Snapshot.Issuer), AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "email", "read:sample", "offline_access"},
	}
	first, err := cfg.PasswordCredentialsToken(ctx, tokentest.AliceEmail, ts.acme.AlicePassword)
	if err != nil {
		t.Fatal(err)
	}
	if first.RefreshToken == "" || first.Extra("scope") != "openid email read:sample offline_access" {
		t.Fatalf("login: refresh_token %t, scope %q; want a refresh token and offline_access granted", first.RefreshToken != "", first.Extra("scope"))
	}
	previous := first
	for i := range 3 {
		expired := *previous
		expired.Expiry = time.Now().Add(-time.Minute)
		next, err := cfg.TokenSource(ctx, &expired).Token()
		if err != nil {
			t.Fatalf("refresh %d: %v", i, err)
		}
		if next.RefreshToken == "" || next.RefreshToken == previous.RefreshToken || next.AccessToken == previous.AccessToken {
			t.Fatalf("refresh %d answered no new refresh and access tokens", i)
		}
		if next.Extra("id_token") == nil || next.Extra("scope") != "openid email read:sample offline_access" {
			t.Errorf("refresh %d: id_token %v, scope %q; want an id_token and the login's scopes", i, next.Extra("id_token") != nil, next.Extra("scope"))
		}
		previous = next
	}

	resp, body := refreshAs(t, ts.acme, first.RefreshToken)
	assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
	resp, body = refreshAs(t, ts.acme, previous.RefreshToken)
	assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
}

// TestReuseIntervalResendsTheSuccessor: a client that lost the answer of a refresh and
// retries within the reuse interval gets the same successor again.
func TestReuseIntervalResendsTheSuccessor(t *testing.T) {
	withLeeway := rotating
	withLeeway.ReuseInterval = time.Minute
	ts, _, _ := refreshServer(t, withLeeway)
	login := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	lost := refreshTokenIn(t)(refreshAs(t, ts.acme, login))
	again := refreshTokenIn(t)(refreshAs(t, ts.acme, login))
	if again != lost {
		t.Fatal("a retry within the reuse interval got another successor")
	}
	ts.clockSkew.Store(int64(2 * time.Minute))
	resp, body := refreshAs(t, ts.acme, login)
	assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
	resp, body = refreshAs(t, ts.acme, lost)
	assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
}

// TestNonRotatingRefreshKeepsTheToken answers every refresh with the token presented.
func TestNonRotatingRefreshKeepsTheToken(t *testing.T) {
	ts, _, _ := refreshServer(t, snapshot.RefreshTokens{AbsoluteLifetime: 24 * time.Hour, IdleLifetime: time.Hour})
	login := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	for range 2 {
		if got := refreshTokenIn(t)(refreshAs(t, ts.acme, login)); got != login {
			t.Fatal("a non-rotating refresh answered another refresh token")
		}
	}
}

// TestOfflineAccessIsGrantedOnlyWhereAllowed: without every condition, offline_access is
// dropped from the scope silently and no refresh token is answered.
func TestOfflineAccessIsGrantedOnlyWhereAllowed(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	plain := newTestServer(t) // keeps no refresh tokens
	plain.acme.UseRefreshTokens(rotating)
	plain.store.Publish([]*store.Tenant{plain.acme.View(t)})
	login := func(ft *tokentest.Tenant, kv ...string) string {
		return form(append([]string{"grant_type", "password", "username", tokentest.AliceEmail, "password", ft.AlicePassword}, kv...)...)
	}
	confidential := basic(tokentest.Confidential, ts.acme.ConfidentialSecret)
	for _, tc := range []struct {
		name    string
		tenant  *tokentest.Tenant
		body    string
		header  http.Header
		granted bool
	}{
		{"granted", ts.acme, login(ts.acme, "scope", "offline_access read:sample"), confidential, true},
		{"public client", ts.acme, login(ts.acme, "scope", "read:sample offline_access", "client_id", tokentest.Public), nil, true},
		{"not asked", ts.acme, login(ts.acme, "scope", "read:sample"), confidential, false},
		{"client without the refresh_token grant", ts.acme, form("grant_type", grantPasswordRealm, "realm", tokentest.Connection,
			"username", tokentest.AliceEmail, "password", ts.acme.AlicePassword, "scope", "offline_access read:sample"),
			basic(tokentest.RealmOnly, ts.acme.RealmOnlySecret), false},
		{"API without offline access", ts.acme, login(ts.acme, "scope", "offline_access read:hs", "audience", tokentest.HS256Identifier), confidential, false},
		{"token server without a store", plain.acme, login(plain.acme, "scope", "offline_access read:sample"),
			basic(tokentest.Confidential, plain.acme.ConfidentialSecret), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, answer := post(t, snapshot.TokenURL(tc.tenant.Snapshot.Issuer), "", formType, tc.body, tc.header)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%d %v", resp.StatusCode, answer)
			}
			_, hasRefresh := answer["refresh_token"]
			scope, _ := answer["scope"].(string)
			offline := slices.Contains(strings.Fields(scope), scopeOfflineAccess)
			if hasRefresh != tc.granted || offline != tc.granted {
				t.Errorf("refresh_token %t, scope %q; want a refresh token and offline_access: %t", hasRefresh, scope, tc.granted)
			}
		})
	}
}

// TestRefreshGrantErrors plays clients that get refreshes wrong, and hostile ones: other
// clients, of the tenant or another one, presenting a token they were not issued.
func TestRefreshGrantErrors(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	confidential := basic(tokentest.Confidential, ts.acme.ConfidentialSecret)
	// Each case gets a token of its own, since refusals may revoke.
	login := func() string {
		return refreshTokenIn(t)(offlineLogin(t, ts.acme, "openid read:sample offline_access"))
	}
	for _, tc := range []struct {
		name   string
		tenant *tokentest.Tenant
		header http.Header
		params func(token string) []string
		status int
		code   string
	}{
		{"no refresh_token", ts.acme, confidential, func(string) []string { return nil }, http.StatusBadRequest, "invalid_request"},
		{"malformed token", ts.acme, confidential, func(string) []string { return []string{"refresh_token", "not-a-token"} }, http.StatusBadRequest, "invalid_grant"},
		{"unknown family", ts.acme, confidential, func(token string) []string {
			return []string{"refresh_token", strings.Repeat("0", 32) + token[32:]}
		}, http.StatusBadRequest, "invalid_grant"},
		{"wrong secret of a family", ts.acme, confidential, func(token string) []string {
			return []string{"refresh_token", token[:33] + strings.Repeat("A", len(token)-33)}
		}, http.StatusBadRequest, "invalid_grant"},
		{"widened scope", ts.acme, confidential, func(token string) []string {
			return []string{"refresh_token", token, "scope", "read:sample write:sample"}
		}, http.StatusBadRequest, "invalid_scope"},
		{"no client authentication", ts.acme, nil, func(token string) []string { return []string{"refresh_token", token} }, http.StatusUnauthorized, "invalid_client"},
		{"wrong client secret", ts.acme, basic(tokentest.Confidential, "wrong"), func(token string) []string { return []string{"refresh_token", token} }, http.StatusUnauthorized, "invalid_client"},
		{"hostile: client without the refresh_token grant", ts.acme, basic(tokentest.RealmOnly, ts.acme.RealmOnlySecret),
			func(token string) []string { return []string{"refresh_token", token} }, http.StatusBadRequest, "unauthorized_client"},
		{"hostile: public client of the same tenant", ts.acme, nil,
			func(token string) []string { return []string{"refresh_token", token, "client_id", tokentest.Public} }, http.StatusBadRequest, "invalid_grant"},
		{"hostile: the same client of another tenant", ts.beta, basic(tokentest.Confidential, ts.beta.ConfidentialSecret),
			func(token string) []string { return []string{"refresh_token", token} }, http.StatusBadRequest, "invalid_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := login()
			resp, body := refreshWith(t, tc.tenant, tc.header, tc.params(token)...)
			assertOAuthError(t, resp, body, tc.status, tc.code)
			if strings.HasPrefix(tc.name, "hostile") || tc.code == "invalid_client" {
				// What another client tried left the token to its holder.
				refreshTokenIn(t)(refreshAs(t, ts.acme, token))
			}
		})
	}
}

// TestRefreshNarrowsScope: a refresh may ask for part of the login's scopes; without
// openid it gets no id_token.
func TestRefreshNarrowsScope(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	token := refreshTokenIn(t)(offlineLogin(t, ts.acme, "openid read:sample write:sample offline_access"))
	resp, body := refreshAs(t, ts.acme, token, "scope", "read:sample")
	refreshTokenIn(t)(resp, body)
	if body["scope"] != "read:sample offline_access" || body["id_token"] != nil {
		t.Errorf("scope %v, id_token %v; want read:sample offline_access and no id_token", body["scope"], body["id_token"] != nil)
	}
}

// TestRefreshedIDTokenKeepsTheLoginsAuthTime: an id_token from a refresh says when the
// user gave the password, not when it was refreshed (OpenID Connect Core §12.2).
func TestRefreshedIDTokenKeepsTheLoginsAuthTime(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	resp, login := offlineLogin(t, ts.acme, "openid offline_access")
	token := refreshTokenIn(t)(resp, login)
	authTime := unverifiedClaims(t, login["id_token"].(string))["auth_time"]
	ts.clockSkew.Store(int64(10 * time.Minute))
	resp, body := refreshAs(t, ts.acme, token)
	refreshTokenIn(t)(resp, body)
	claims := unverifiedClaims(t, body["id_token"].(string))
	if claims["auth_time"] != authTime || claims["iat"] == authTime {
		t.Errorf("refreshed id_token: auth_time %v, iat %v; want the login's auth_time %v and a later iat", claims["auth_time"], claims["iat"], authTime)
	}
}

// TestRefreshLooksTheUserUpAgain: a user blocked or removed since the login, or whose
// password hash was replaced, refreshes no more, and the new claims of one still there
// are in the refreshed id_token. This server runs no Revocations, so it plays a replica
// that did not see the users change: the refresh itself finds it.
func TestRefreshLooksTheUserUpAgain(t *testing.T) {
	newHash := tokentest.Hash(t, "a new password", 4)
	for _, tc := range []struct {
		name   string
		change func(u *snapshot.User)
		ok     bool
	}{
		{"renamed", func(u *snapshot.User) { u.Name = "Alice Renamed" }, true},
		{"blocked", func(u *snapshot.User) { u.Blocked = true }, false},
		{"removed", func(u *snapshot.User) { u.ID = "someone-else" }, false},
		{"password changed", func(u *snapshot.User) { u.PasswordHash = newHash }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts, _, _ := refreshServer(t, rotating)
			token := refreshTokenIn(t)(offlineLogin(t, ts.acme, "openid profile offline_access"))
			ts.republish(t, func(s *snapshot.Snapshot) {
				s.Connections = slices.Clone(s.Connections)
				s.Connections[0].Users = slices.Clone(s.Connections[0].Users)
				tc.change(&s.Connections[0].Users[0])
			})
			resp, body := refreshAs(t, ts.acme, token)
			if !tc.ok {
				assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
				return
			}
			refreshTokenIn(t)(resp, body)
			claims := unverifiedClaims(t, body["id_token"].(string))
			if claims["name"] != "Alice Renamed" {
				t.Errorf("refreshed id_token name %v, want the user's new name", claims["name"])
			}
		})
	}
}

// TestRefreshStoreDown: while the store cannot be reached, password logins are answered
// without a refresh token, refreshes and revocations 503; afterwards refreshes work.
func TestRefreshStoreDown(t *testing.T) {
	ts, st, _ := refreshServer(t, rotating)
	token := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	st.down.Store(true)
	resp, body := offlineLogin(t, ts.acme, "offline_access read:sample")
	if resp.StatusCode != http.StatusOK || body["refresh_token"] != nil || body["scope"] != "read:sample" {
		t.Errorf("login with the store down: %d %v; want 200 without refresh token nor offline_access", resp.StatusCode, body)
	}
	resp, body = refreshAs(t, ts.acme, token)
	assertOAuthError(t, resp, body, http.StatusServiceUnavailable, "temporarily_unavailable")
	resp, body = revokeAs(t, ts.acme, token)
	assertOAuthError(t, resp, body, http.StatusServiceUnavailable, "temporarily_unavailable")
	st.down.Store(false)
	refreshTokenIn(t)(refreshAs(t, ts.acme, token))
}

// revokeAs posts token to the revocation endpoint as ft's confidential client.
func revokeAs(t *testing.T, ft *tokentest.Tenant, token string, kv ...string) (reply, map[string]any) {
	t.Helper()
	return post(t, snapshot.RevokeURL(ft.Snapshot.Issuer), "", formType, form(append([]string{"token", token}, kv...)...),
		basic(tokentest.Confidential, ft.ConfidentialSecret))
}

// TestRevocationEndpoint revokes a family through RFC 7009, and refuses what it should.
func TestRevocationEndpoint(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	revokeURL := snapshot.RevokeURL(ts.acme.Snapshot.Issuer)
	loginBody := func() map[string]any {
		resp, body := offlineLogin(t, ts.acme, "openid offline_access")
		refreshTokenIn(t)(resp, body)
		return body
	}

	t.Run("revokes the family", func(t *testing.T) {
		login := loginBody()["refresh_token"].(string)
		successor := refreshTokenIn(t)(refreshAs(t, ts.acme, login))
		resp, body := revokeAs(t, ts.acme, successor, "token_type_hint", "refresh_token")
		if resp.StatusCode != http.StatusOK || body != nil || resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("revocation: %d %v %v, want 200, no body, no-store", resp.StatusCode, body, resp.Header)
		}
		resp, body = refreshAs(t, ts.acme, successor)
		assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
		if resp, _ := revokeAs(t, ts.acme, successor); resp.StatusCode != http.StatusOK {
			t.Errorf("revoking again: %d, want 200", resp.StatusCode)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		if resp, body := revokeAs(t, ts.acme, "unknown"); resp.StatusCode != http.StatusOK {
			t.Errorf("%d %v, want 200 (RFC 7009 section 2.2)", resp.StatusCode, body)
		}
	})
	t.Run("access token", func(t *testing.T) {
		access := loginBody()["access_token"].(string)
		resp, body := revokeAs(t, ts.acme, access, "token_type_hint", "access_token")
		assertOAuthError(t, resp, body, http.StatusBadRequest, "unsupported_token_type")
	})
	t.Run("no token", func(t *testing.T) {
		resp, body := revokeAs(t, ts.acme, "")
		assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_request")
	})
	t.Run("no client authentication", func(t *testing.T) {
		token := loginBody()["refresh_token"].(string)
		resp, body := post(t, revokeURL, "", formType, form("token", token), nil)
		assertOAuthError(t, resp, body, http.StatusUnauthorized, "invalid_client")
	})
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(revokeURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("GET: %d, want 405", resp.StatusCode)
		}
	})
	t.Run("hostile: another client of the tenant", func(t *testing.T) {
		token := loginBody()["refresh_token"].(string)
		resp, body := post(t, revokeURL, "", formType, form("token", token, "client_id", tokentest.Public), nil)
		assertOAuthError(t, resp, body, http.StatusBadRequest, "unauthorized_client")
		refreshTokenIn(t)(refreshAs(t, ts.acme, token))
	})
	t.Run("hostile: the same client of another tenant", func(t *testing.T) {
		token := loginBody()["refresh_token"].(string)
		if resp, _ := revokeAs(t, ts.beta, token); resp.StatusCode != http.StatusOK {
			t.Errorf("another tenant's revocation: %d, want 200 as for any unknown token", resp.StatusCode)
		}
		refreshTokenIn(t)(refreshAs(t, ts.acme, token))
	})
}

// TestDiscoveryNamesRevocation: discovery publishes the revocation endpoint, the
// refresh_token grant and offline_access where an API allows it.
func TestDiscoveryNamesRevocation(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	doc := discoveryOf(ts.store.ByUID("uid-acme"))
	if doc.Endpoint != ts.acme.Snapshot.Issuer+"oauth/revoke" {
		t.Errorf("revocation_endpoint %q", doc.Endpoint)
	}
	if !slices.Contains(doc.GrantTypesSupported, grantRefreshToken) || !slices.Contains(doc.ScopesSupported, scopeOfflineAccess) {
		t.Errorf("grant types %v, scopes %v; want refresh_token and offline_access", doc.GrantTypesSupported, doc.ScopesSupported)
	}
}

// TestRefreshLogsAndMetrics: refreshes, reuse detection and revocations are counted by
// grant and endpoint, and logged without a token.
func TestRefreshLogsAndMetrics(t *testing.T) {
	var logs proctest.Buffer
	ts, _, _ := loggingRefreshServer(t, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), rotating)
	first := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	second := refreshTokenIn(t)(refreshAs(t, ts.acme, first))
	refreshAs(t, ts.acme, first) // reuse: the family is revoked
	other := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	revokeAs(t, ts.acme, other)

	for _, tc := range []struct {
		endpoint, grant, outcome string
		want                     float64
	}{
		{"token", "refresh_token", "success", 1},
		{"token", "refresh_token", "invalid_grant", 1},
		{"revoke", "", "success", 1},
	} {
		var m dto.Metric
		if err := ts.metrics.requests.WithLabelValues("team-a/acme", tc.endpoint, tc.grant, tc.outcome).Write(&m); err != nil {
			t.Fatal(err)
		}
		if got := m.GetCounter().GetValue(); got != tc.want {
			t.Errorf("requests of %s %q %s: %v, want %v", tc.endpoint, tc.grant, tc.outcome, got, tc.want)
		}
	}
	var reuse bool
	for _, line := range logLines(t, &logs) {
		raw, _ := json.Marshal(line)
		for _, token := range []string{first, second, other} {
			if _, secret, _ := strings.Cut(token, "."); strings.Contains(string(raw), secret) {
				t.Errorf("a log line holds a refresh token's secret: %s", raw)
			}
		}
		reuse = reuse || strings.Contains(fmt.Sprint(line["msg"]), "reuse")
	}
	if !reuse {
		t.Error("reuse detection was not logged")
	}
}

// TestRefreshFloodHoldsOnlyItsTenant plays a client that floods refreshes of made-up
// tokens, which a public client_id is enough for, while the store is slow to answer
// them: its tenant holds at most its share of the store's calls, the rest of its flood
// waits or is refused with 503, and another tenant's refresh is answered meanwhile.
func TestRefreshFloodHoldsOnlyItsTenant(t *testing.T) {
	ts, st, _ := refreshServer(t, rotating)
	acmeToken := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	stuck := &stuckTenant{uid: ts.beta.Snapshot.Tenant.UID, release: make(chan struct{})}
	st.stuck.Store(stuck)
	release := sync.OnceFunc(func() { close(stuck.release) })
	t.Cleanup(release) // before the server closes, which waits for the flood's answers
	madeUp := strings.Repeat("0", 32) + "." + strings.Repeat("A", 43)
	flood := 2 * maxRefreshesInFlight
	answers := make(chan int, flood)
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: flood, MaxIdleConnsPerHost: flood}}
	t.Cleanup(client.CloseIdleConnections)
	for range flood {
		go func() {
			resp, err := client.Post(snapshot.TokenURL(ts.beta.Snapshot.Issuer), formType, strings.NewReader(form(
				"grant_type", "refresh_token", "client_id", tokentest.Public, "refresh_token", madeUp)))
			if err != nil {
				answers <- 0
				return
			}
			resp.Body.Close()
			answers <- resp.StatusCode
		}()
	}
	// The flood fills beta's share and queue: some of it is refused at once.
	select {
	case status := <-answers:
		if status != http.StatusServiceUnavailable {
			t.Fatalf("a request of the flood answered %d while the store holds them, want 503", status)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request of the flood was refused")
	}
	start := time.Now()
	refreshTokenIn(t)(refreshAs(t, ts.acme, acmeToken))
	if took := time.Since(start); took > time.Second {
		t.Errorf("acme's refresh took %v behind beta's flood", took)
	}
	release()
	for range flood - 1 {
		if status := <-answers; status != http.StatusBadRequest && status != http.StatusServiceUnavailable {
			t.Errorf("a request of the flood answered %d, want 400 or 503", status)
		}
	}
	var m dto.Metric
	if err := ts.metrics.refreshesRefused.WithLabelValues("team-b/beta", "queue_full").Write(&m); err != nil || m.GetCounter().GetValue() == 0 {
		t.Errorf("refused refreshes of beta counted %v (%v), want some", m.GetCounter().GetValue(), err)
	}
}

// TestRefreshKeepsToTheClientsGrants: a Client limited to some scopes of an API gets
// refresh tokens (offline_access is no scope of the API to grant), and a refresh after
// its grant no longer covers the login's scopes is refused, as the login would be.
func TestRefreshKeepsToTheClientsGrants(t *testing.T) {
	ts, _, _ := refreshServer(t, rotating)
	grant := func(scopes ...string) {
		ts.republish(t, func(s *snapshot.Snapshot) {
			s.Clients = slices.Clone(s.Clients)
			i := slices.IndexFunc(s.Clients, func(c snapshot.Client) bool { return c.ClientID == tokentest.Confidential })
			s.Clients[i].APIs = []snapshot.ClientGrant{{Identifier: tokentest.APIIdentifier, Scopes: scopes}}
		})
	}
	grant("read:sample", "write:sample")
	token := refreshTokenIn(t)(offlineLogin(t, ts.acme, "openid read:sample offline_access"))
	token = refreshTokenIn(t)(refreshAs(t, ts.acme, token))

	grant("write:sample")
	resp, body := refreshAs(t, ts.acme, token)
	assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
}
