package tokenserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

const testDomain = "login.acme.test"

// testServer serves three tenants over real HTTP: acme (RS256) and beta (ES256) routed
// by path, and dom routed by Host, which has neither default directory nor audience.
type testServer struct {
	url       string
	store     *store.Store
	metrics   *Metrics
	acme      *tokentest.Tenant
	beta      *tokentest.Tenant
	dom       *tokentest.Tenant
	clockSkew atomic.Int64
}

func (ts *testServer) now() time.Time {
	return time.Now().Add(time.Duration(ts.clockSkew.Load()))
}

var (
	fixtures     struct{ acme, beta, dom *tokentest.Tenant }
	fixturesOnce sync.Once
)

// newTestServer starts a server with fresh state (attempt limits, metrics) over the
// package's tenants, whose keys are generated once.
func newTestServer(t *testing.T, opts ...Option) *testServer {
	t.Helper()
	return newLoggingTestServer(t, slog.New(slog.DiscardHandler), opts...)
}

// newLoggingTestServer is newTestServer logging to log.
func newLoggingTestServer(t *testing.T, log *slog.Logger, opts ...Option) *testServer {
	t.Helper()
	ts := &testServer{metrics: NewMetrics()}
	st := store.New()
	srv := httptest.NewServer(NewServer(st, log, ts.metrics, append(opts, WithClock(ts.now))...))
	t.Cleanup(srv.Close)
	ts.url, ts.store = srv.URL, st
	loadFixtures(t)
	// Path-routed issuers depend on the server's address, so each server gets copies.
	ts.acme = withIssuer(fixtures.acme, srv.URL+"/team-a/acme/")
	ts.beta = withIssuer(fixtures.beta, srv.URL+"/team-b/beta/")
	ts.dom = fixtures.dom
	st.Publish([]*store.Tenant{ts.acme.View(t), ts.beta.View(t), ts.dom.View(t)})
	return ts
}

// loadFixtures generates the package's tenants once.
func loadFixtures(t *testing.T) {
	t.Helper()
	fixturesOnce.Do(func() {
		fixtures.acme = tokentest.NewTenant(t, "uid-acme", "team-a", "acme", "", "", bcrypt.MinCost,
			tokentest.NewKey(t, "acme-next", "RS256", "next"),
			tokentest.NewKey(t, "acme-current", "RS256", "current"),
			tokentest.NewKey(t, "acme-previous", "RS256", "previous"))
		fixtures.beta = tokentest.NewTenant(t, "uid-beta", "team-b", "beta", "", "", bcrypt.MinCost,
			tokentest.NewKey(t, "beta-current", "ES256", "current"))
		fixtures.dom = tokentest.NewTenant(t, "uid-dom", "team-c", "dom", "https://"+testDomain+"/", testDomain, bcrypt.MinCost,
			tokentest.NewKey(t, "dom-current", "PS256", "current"))
		fixtures.dom.Snapshot.DefaultDirectory = ""
		fixtures.dom.Snapshot.DefaultAudience = ""
	})
}

func withIssuer(ft *tokentest.Tenant, issuer string) *tokentest.Tenant {
	c := *ft
	snap := *ft.Snapshot
	snap.Issuer = issuer
	c.Snapshot = &snap
	return &c
}

func TestPasswordGrantWithRealClients(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		tenant       *tokentest.Tenant
		clientID     string
		clientSecret string
		authStyle    oauth2.AuthStyle
	}{
		{"RS256 client_secret_basic", ts.acme, tokentest.Confidential, ts.acme.ConfidentialSecret, oauth2.AuthStyleInHeader},
		{"RS256 client_secret_post", ts.acme, tokentest.Confidential, ts.acme.ConfidentialSecret, oauth2.AuthStyleInParams},
		{"RS256 public client", ts.acme, tokentest.Public, "", oauth2.AuthStyleInParams},
		{"ES256 client_secret_basic", ts.beta, tokentest.Confidential, ts.beta.ConfidentialSecret, oauth2.AuthStyleInHeader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issuer := tc.tenant.Snapshot.Issuer
			provider, err := oidc.NewProvider(ctx, issuer)
			if err != nil {
				t.Fatalf("discovering %s: %v", issuer, err)
			}
			cfg := oauth2.Config{
				ClientID: tc.clientID, ClientSecret: tc.clientSecret,
				Endpoint: oauth2.Endpoint{TokenURL: provider.Endpoint().TokenURL, AuthStyle: tc.authStyle},
				Scopes:   []string{"openid", "profile", "email", "read:sample", "undefined:scope"},
			}
			tok, err := cfg.PasswordCredentialsToken(ctx, tokentest.AliceEmail, tc.tenant.AlicePassword)
			if err != nil {
				t.Fatalf("password grant: %v", err)
			}
			if got := tok.Extra("scope"); got != "openid profile email read:sample" {
				t.Errorf("scope = %q, want the OIDC scopes and read:sample only", got)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
				t.Errorf("token type %q, expiry %v", tok.TokenType, tok.Expiry)
			}

			rawID, _ := tok.Extra("id_token").(string)
			idToken, err := provider.Verifier(&oidc.Config{ClientID: tc.clientID}).Verify(ctx, rawID)
			if err != nil {
				t.Fatalf("verifying id_token: %v", err)
			}
			var idClaims map[string]any
			if err := idToken.Claims(&idClaims); err != nil {
				t.Fatal(err)
			}
			wantSub := tokentest.Connection + "|" + tokentest.AliceID
			for name, want := range map[string]any{"sub": wantSub, "email": tokentest.AliceEmail, "email_verified": true,
				"name": "Alice Example", "department": "sales", "iss": issuer} {
				if idClaims[name] != want {
					t.Errorf("id_token %s = %v, want %v", name, idClaims[name], want)
				}
			}

			// The access token verifies through the JWKS, for the API and for userinfo.
			keySet := oidc.NewRemoteKeySet(ctx, issuer+".well-known/jwks.json")
			for _, aud := range []string{tokentest.APIIdentifier, issuer + "userinfo"} {
				at, err := oidc.NewVerifier(issuer, keySet, &oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{tc.tenant.Keys[0].Entry.Algorithm}}).Verify(ctx, tok.AccessToken)
				if err != nil {
					t.Fatalf("verifying the access token for %s: %v", aud, err)
				}
				if at.Subject != wantSub {
					t.Errorf("access token sub = %q, want %q", at.Subject, wantSub)
				}
			}
			assertAccessTokenHeader(t, tok.AccessToken, currentKID(tc.tenant))

			info, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
			if err != nil {
				t.Fatalf("userinfo: %v", err)
			}
			var infoClaims map[string]any
			if err := info.Claims(&infoClaims); err != nil {
				t.Fatal(err)
			}
			if info.Subject != wantSub || info.Email != tokentest.AliceEmail || infoClaims["department"] != "sales" || infoClaims["name"] != "Alice Example" {
				t.Errorf("userinfo = %v", infoClaims)
			}
		})
	}
}

func currentKID(ft *tokentest.Tenant) string {
	for _, k := range ft.Keys {
		if k.Entry.State == "current" {
			return k.Entry.KID
		}
	}
	return ""
}

func assertAccessTokenHeader(t *testing.T, token, kid string) {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, append(jwt.AsymmetricAlgorithms, jose.HS256))
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Header
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" || h.KeyID != kid {
		t.Errorf("access token header typ=%v kid=%q, want at+jwt and %q", h.ExtraHeaders[jose.HeaderType], h.KeyID, kid)
	}
}

// reply is what a test keeps of an answer once its body is read and closed.
type reply struct {
	StatusCode int
	Header     http.Header
}

// post sends a token request with a raw body and returns the answer and its JSON.
func post(t *testing.T, target, host, contentType, body string, header http.Header) (reply, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	req.Header.Set("Content-Type", contentType)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			t.Fatalf("answer is not JSON: %q", raw)
		}
	}
	return reply{resp.StatusCode, resp.Header}, out
}

func form(kv ...string) string {
	v := url.Values{}
	for i := 0; i < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v.Encode()
}

func basic(id, secret string) http.Header {
	r, _ := http.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	return http.Header{"Authorization": r.Header["Authorization"]}
}

const formType = "application/x-www-form-urlencoded"

func TestTokenErrors(t *testing.T) {
	ts := newTestServer(t)
	acme := ts.acme
	tokenURL := acme.Snapshot.Issuer + "oauth/token"
	alice := []string{"username", tokentest.Alice, "password", acme.AlicePassword}
	public := []string{"grant_type", "password", "client_id", tokentest.Public}
	withAlice := func(kv ...string) string { return form(append(append(kv, public...), alice...)...) }
	realmGrant := "http://auth0.com/oauth/grant-type/password-realm"

	for _, tc := range []struct {
		name        string
		host        string
		contentType string
		body        string
		header      http.Header
		status      int
		error       string
		basicRealm  bool
	}{
		{name: "unsupported content type", contentType: "text/plain", body: withAlice(), status: 400, error: "invalid_request"},
		{name: "body over 64 KiB", contentType: formType, body: withAlice("pad", strings.Repeat("x", 64<<10)), status: 400, error: "invalid_request"},
		{name: "repeated form parameter", contentType: formType, body: withAlice("scope", "openid", "scope", "profile"), status: 400, error: "invalid_request"},
		{name: "repeated JSON key", contentType: "application/json", body: `{"grant_type":"password","grant_type":"password","client_id":"public-client","username":"alice","password":"x"}`, status: 400, error: "invalid_request"},
		{name: "JSON value not a string", contentType: "application/json", body: `{"grant_type":"password","client_id":"public-client","username":"alice","password":["x"]}`, status: 400, error: "invalid_request"},
		{name: "malformed JSON", contentType: "application/json", body: `{"grant_type":`, status: 400, error: "invalid_request"},
		{name: "missing grant_type", contentType: formType, body: form("client_id", tokentest.Public, "username", tokentest.Alice, "password", acme.AlicePassword), status: 400, error: "invalid_request"},
		{name: "missing password", contentType: formType, body: form(append(public, "username", tokentest.Alice)...), status: 400, error: "invalid_request"},
		{name: "client secret in Basic and body", contentType: formType, body: form(append(alice, "grant_type", "password", "client_secret", acme.ConfidentialSecret)...),
			header: basic(tokentest.Confidential, acme.ConfidentialSecret), status: 400, error: "invalid_request"},
		{name: "unknown client", contentType: formType, body: form(append(alice, "grant_type", "password", "client_id", "nobody")...), status: 401, error: "invalid_client"},
		{name: "no client at all", contentType: formType, body: form(append(alice, "grant_type", "password")...), status: 401, error: "invalid_client"},
		{name: "unknown client with Basic", contentType: formType, body: form(append(alice, "grant_type", "password")...),
			header: basic("nobody", "secret"), status: 401, error: "invalid_client", basicRealm: true},
		{name: "wrong secret with Basic", contentType: formType, body: form(append(alice, "grant_type", "password")...),
			header: basic(tokentest.Confidential, "wrong"), status: 401, error: "invalid_client", basicRealm: true},
		{name: "wrong secret in body", contentType: formType, body: form(append(alice, "grant_type", "password", "client_id", tokentest.Confidential, "client_secret", "wrong")...), status: 401, error: "invalid_client"},
		{name: "missing secret of confidential client", contentType: formType, body: form(append(alice, "grant_type", "password", "client_id", tokentest.Confidential)...), status: 401, error: "invalid_client"},
		{name: "secret for a public client", contentType: formType, body: withAlice("client_secret", "anything"), status: 401, error: "invalid_client"},
		{name: "grant type not enabled on the client", contentType: formType, body: form(append(alice, "grant_type", "password")...),
			header: basic(tokentest.RealmOnly, acme.RealmOnlySecret), status: 400, error: "unauthorized_client"},
		{name: "unknown grant type", contentType: formType, body: form("grant_type", "authorization_code", "client_id", tokentest.Public), status: 400, error: "unsupported_grant_type"},
		{name: "wrong password", contentType: formType, body: form(append(public, "username", tokentest.Alice, "password", "wrong")...), status: 400, error: "invalid_grant"},
		{name: "unknown user", contentType: formType, body: form(append(public, "username", "nobody", "password", "wrong")...), status: 400, error: "invalid_grant"},
		{name: "blocked user with the right password", contentType: formType, body: form(append(public, "username", tokentest.Bob, "password", acme.BobPassword)...), status: 400, error: "invalid_grant"},
		{name: "audience not an API of the tenant", contentType: formType, body: withAlice("audience", "https://other.example/api"), status: 400, error: "invalid_target"},
		{name: "plain password grant without default directory", host: testDomain, contentType: formType,
			body: form("grant_type", "password", "client_id", tokentest.Public, "username", tokentest.Alice, "password", ts.dom.AlicePassword), status: 400, error: "invalid_request"},
		{name: "realm missing", contentType: formType, body: form(append(alice, "grant_type", realmGrant, "client_id", tokentest.Public)...), status: 400, error: "invalid_request"},
		{name: "realm not a connection of the tenant", contentType: formType, body: form(append(alice, "grant_type", realmGrant, "client_id", tokentest.Public, "realm", "elsewhere")...), status: 400, error: "invalid_request"},
		{name: "directory unavailable", contentType: formType, body: form(append(alice, "grant_type", realmGrant, "client_id", tokentest.Public, "realm", tokentest.LDAPConnection)...), status: 503, error: "temporarily_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := tokenURL
			if tc.host != "" {
				target = ts.url + "/oauth/token"
			}
			resp, body := post(t, target, tc.host, tc.contentType, tc.body, tc.header)
			assertOAuthError(t, resp, body, tc.status, tc.error)
			if got := resp.Header.Get("WWW-Authenticate"); tc.basicRealm != strings.HasPrefix(got, "Basic realm=") {
				t.Errorf("WWW-Authenticate = %q, want a Basic challenge: %v", got, tc.basicRealm)
			}
		})
	}
}

func assertOAuthError(t *testing.T, resp reply, body map[string]any, status int, code string) {
	t.Helper()
	if resp.StatusCode != status || body["error"] != code {
		t.Errorf("got %d %v, want %d %s", resp.StatusCode, body, status, code)
	}
	if d, _ := body["error_description"].(string); d == "" {
		t.Errorf("error_description is missing")
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" || resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v, want no-store, no-cache and JSON", resp.Header)
	}
}

// TestInvalidGrantRevealsNothing checks that an unknown user, a wrong password and a
// blocked user get byte-identical answers.
func TestInvalidGrantRevealsNothing(t *testing.T) {
	ts := newTestServer(t)
	var answers []map[string]any
	for _, cred := range [][2]string{{"nobody", "x"}, {tokentest.Alice, "wrong"}, {tokentest.Bob, ts.acme.BobPassword}} {
		_, body := post(t, ts.acme.Snapshot.Issuer+"oauth/token", "", formType,
			form("grant_type", "password", "client_id", tokentest.Public, "username", cred[0], "password", cred[1]), nil)
		answers = append(answers, body)
	}
	for _, a := range answers[1:] {
		if a["error"] != answers[0]["error"] || a["error_description"] != answers[0]["error_description"] {
			t.Errorf("answers differ: %v", answers)
		}
	}
}

func TestJSONBodyAndAudiences(t *testing.T) {
	ts := newTestServer(t)
	acme := ts.acme
	jsonBody := func(kv map[string]string) string {
		b, _ := json.Marshal(kv)
		return string(b)
	}
	t.Run("seed request with HS256 audience", func(t *testing.T) {
		resp, body := post(t, acme.Snapshot.Issuer+"oauth/token", "", "application/json", jsonBody(map[string]string{
			"grant_type": "password", "username": tokentest.AliceEmail, "password": acme.AlicePassword,
			"audience": tokentest.HS256Identifier, "scope": "openid read:hs read:sample", "client_id": tokentest.Public,
		}), nil)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
			t.Fatalf("%d %v %v", resp.StatusCode, resp.Header, body)
		}
		if body["scope"] != "openid read:hs" || body["expires_in"] != float64(3600) || body["id_token"] == nil {
			t.Errorf("answer %v", body)
		}
		jws, err := jose.ParseSignedCompact(body["access_token"].(string), []jose.SignatureAlgorithm{jose.HS256})
		if err != nil {
			t.Fatal(err)
		}
		payload, err := jws.Verify(acme.HS256Secret())
		if err != nil {
			t.Fatalf("HS256 signature: %v", err)
		}
		var claims map[string]any
		_ = json.Unmarshal(payload, &claims)
		// An HS256 token cannot be checked through the JWKS, so it is not for userinfo.
		if claims["aud"] != tokentest.HS256Identifier || claims["client_id"] != tokentest.Public || claims["jti"] == nil {
			t.Errorf("claims %v", claims)
		}
	})
	t.Run("no audience and no default: a token for userinfo only", func(t *testing.T) {
		resp, body := post(t, ts.url+"/oauth/token", testDomain, formType, form(
			"grant_type", "http://auth0.com/oauth/grant-type/password-realm", "realm", tokentest.Connection,
			"username", tokentest.Alice, "password", ts.dom.AlicePassword, "client_id", tokentest.Public, "scope", "openid email read:sample"), nil)
		if resp.StatusCode != http.StatusOK || body["scope"] != "openid email" {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		claims := unverifiedClaims(t, body["access_token"].(string))
		if claims["aud"] != "https://"+testDomain+"/userinfo" || claims["iss"] != "https://"+testDomain+"/" {
			t.Errorf("claims %v", claims)
		}
	})
}

func unverifiedClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, append(jwt.AsymmetricAlgorithms, jose.HS256))
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

func TestUserinfoRefusals(t *testing.T) {
	ts := newTestServer(t)
	acme := ts.acme
	issue := func(scope string) string {
		_, body := post(t, acme.Snapshot.Issuer+"oauth/token", "", formType, form("grant_type", "password", "client_id", tokentest.Public,
			"username", tokentest.Alice, "password", acme.AlicePassword, "scope", scope), nil)
		return body["access_token"].(string)
	}
	withOpenID, apiOnly := issue("openid profile"), issue("read:sample")
	betaToken := func() string {
		_, body := post(t, ts.beta.Snapshot.Issuer+"oauth/token", "", formType, form("grant_type", "password", "client_id", tokentest.Public,
			"username", tokentest.Alice, "password", ts.beta.AlicePassword, "scope", "openid"), nil)
		return body["access_token"].(string)
	}()

	userinfo := func(header, query string) reply {
		req, _ := http.NewRequest(http.MethodGet, acme.Snapshot.Issuer+"userinfo"+query, nil)
		if header != "" {
			req.Header.Set("Authorization", header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return reply{resp.StatusCode, resp.Header}
	}
	if resp := userinfo("Bearer "+withOpenID, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("valid token: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name, header, query, wantError string
	}{
		{"no token", "", "", ""},
		{"token in the query string", "", "?access_token=" + withOpenID, ""},
		{"garbage", "Bearer not-a-token", "", "invalid_token"},
		{"token without the userinfo audience", "Bearer " + apiOnly, "", "invalid_token"},
		{"token of another tenant", "Bearer " + betaToken, "", "invalid_token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := userinfo(tc.header, tc.query)
			challenge := resp.Header.Get("WWW-Authenticate")
			if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(challenge, "Bearer") ||
				strings.Contains(challenge, "error=") != (tc.wantError != "") || !strings.Contains(challenge, tc.wantError) {
				t.Errorf("%d %q, want 401 with error %q", resp.StatusCode, challenge, tc.wantError)
			}
		})
	}
	t.Run("expired token", func(t *testing.T) {
		ts.clockSkew.Store(int64(25 * time.Hour))
		defer ts.clockSkew.Store(0)
		if resp := userinfo("Bearer "+withOpenID, ""); !strings.Contains(resp.Header.Get("WWW-Authenticate"), "invalid_token") {
			t.Errorf("expired token: %d %v", resp.StatusCode, resp.Header)
		}
	})
}

// TestDiscoveryIsEncodedOncePerView checks that the discovery document a view serves,
// encoded once, is the bytes the handler encoded on every request before, and that a new
// view of the Tenant serves its own.
func TestDiscoveryIsEncodedOncePerView(t *testing.T) {
	ts := newTestServer(t)
	discovery := func(view *store.Tenant) (served, encodedPerRequest []byte) {
		req, _ := http.NewRequest(http.MethodGet, ts.url+"/"+snapshot.PathOpenIDConfiguration, nil)
		if view.Snapshot.Domain != "" {
			req.Host = view.Snapshot.Domain
		} else {
			req.URL.Path = "/" + view.Name + "/" + snapshot.PathOpenIDConfiguration
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		served, _ = io.ReadAll(resp.Body)
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusOK, discoveryOf(view))
		if got, want := resp.Header.Get("Content-Type"), rec.Header().Get("Content-Type"); got != want {
			t.Errorf("%s: Content-Type %q, want %q", view.Name, got, want)
		}
		return served, rec.Body.Bytes()
	}
	for _, uid := range []string{"uid-acme", "uid-beta", "uid-dom"} {
		view := ts.store.ByUID(uid)
		for range 2 {
			if served, want := discovery(view); !bytes.Equal(served, want) {
				t.Errorf("%s: discovery\n%s\nwant\n%s", view.Name, served, want)
			}
		}
	}

	changed := withIssuer(ts.acme, ts.acme.Snapshot.Issuer)
	changed.Snapshot.DisplayName = "Acme, renamed"
	changed.Snapshot.APIs = append(slices.Clone(changed.Snapshot.APIs), snapshot.API{Name: "new", Identifier: "https://new.example/",
		Algorithm: "RS256", Scopes: []string{"new:scope"}})
	ts.store.Publish([]*store.Tenant{changed.View(t), ts.beta.View(t), ts.dom.View(t)})
	served, want := discovery(ts.store.ByUID("uid-acme"))
	if !bytes.Equal(served, want) || !bytes.Contains(served, []byte("new:scope")) || !bytes.Contains(served, []byte("Acme, renamed")) {
		t.Errorf("discovery of the new view\n%s\nwant\n%s", served, want)
	}
}

func TestDiscoveryAndJWKS(t *testing.T) {
	ts := newTestServer(t)
	get := func(target, host string) (reply, map[string]any) {
		req, _ := http.NewRequest(http.MethodGet, target, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatal(err)
		}
		return reply{resp.StatusCode, resp.Header}, out
	}
	for _, tc := range []struct{ target, host, issuer string }{
		{ts.acme.Snapshot.Issuer + ".well-known/openid-configuration", "", ts.acme.Snapshot.Issuer},
		{ts.acme.Snapshot.Issuer + ".well-known/oauth-authorization-server", "", ts.acme.Snapshot.Issuer},
		{ts.url + "/.well-known/openid-configuration", testDomain, "https://" + testDomain + "/"},
	} {
		resp, doc := get(tc.target, tc.host)
		if resp.StatusCode != http.StatusOK || doc["issuer"] != tc.issuer || doc["token_endpoint"] != tc.issuer+"oauth/token" ||
			doc["jwks_uri"] != tc.issuer+".well-known/jwks.json" || doc["userinfo_endpoint"] != tc.issuer+"userinfo" {
			t.Errorf("%s: %d %v", tc.target, resp.StatusCode, doc)
		}
		for _, field := range []string{"grant_types_supported", "token_endpoint_auth_methods_supported", "scopes_supported",
			"subject_types_supported", "id_token_signing_alg_values_supported", "claims_supported"} {
			if doc[field] == nil {
				t.Errorf("%s: %s missing", tc.target, field)
			}
		}
	}

	resp, set := get(ts.acme.Snapshot.Issuer+".well-known/jwks.json", "")
	if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "max-age=") {
		t.Errorf("JWKS Cache-Control = %q, want a short max-age", cc)
	}
	keys := set["keys"].([]any)
	kids := map[string]bool{}
	for _, k := range keys {
		key := k.(map[string]any)
		kids[key["kid"].(string)] = true
		if key["use"] != "sig" || key["alg"] != "RS256" || key["d"] != nil || key["p"] != nil {
			t.Errorf("published key %v", key)
		}
	}
	if len(kids) != 3 || !kids["acme-next"] || !kids["acme-current"] || !kids["acme-previous"] {
		t.Errorf("published kids %v, want next, current and previous", kids)
	}

	unknown, err := http.Get(ts.url + "/team-a/nosuch/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	unknown.Body.Close()
	if unknown.StatusCode != http.StatusNotFound {
		t.Errorf("unknown tenant: %d, want 404", unknown.StatusCode)
	}
}

// TestTokensOutliveKeyRotation rotates acme's keys (next becomes current, current
// becomes previous) and checks that a token signed before still verifies through the
// JWKS and at userinfo, while new tokens are signed with the new current key.
func TestTokensOutliveKeyRotation(t *testing.T) {
	ts := newTestServer(t)
	ctx := context.Background()
	issuer := ts.acme.Snapshot.Issuer
	login := func() string {
		_, body := post(t, issuer+"oauth/token", "", formType, form("grant_type", "password", "client_id", tokentest.Public,
			"username", tokentest.Alice, "password", ts.acme.AlicePassword, "scope", "openid"), nil)
		tok, _ := body["access_token"].(string)
		return tok
	}
	before := login()

	rotated := withIssuer(ts.acme, issuer)
	rotated.Snapshot.Keys = nil
	for _, k := range ts.acme.Keys {
		switch k.Entry.State {
		case "next":
			k.Entry.State = "current"
		case "current":
			k.Entry.State = "previous"
		default:
			continue // expired: every token it signed has expired too
		}
		rotated.Snapshot.Keys = append(rotated.Snapshot.Keys, k.Entry)
	}
	ts.store.Publish([]*store.Tenant{rotated.View(t), ts.beta.View(t), ts.dom.View(t)})

	after := login()
	assertAccessTokenHeader(t, after, "acme-next")
	verifier := oidc.NewVerifier(issuer, oidc.NewRemoteKeySet(ctx, issuer+".well-known/jwks.json"), &oidc.Config{ClientID: tokentest.APIIdentifier})
	for name, tok := range map[string]string{"before the rotation": before, "after the rotation": after} {
		if _, err := verifier.Verify(ctx, tok); err != nil {
			t.Errorf("token issued %s does not verify through the JWKS: %v", name, err)
		}
		req, _ := http.NewRequest(http.MethodGet, issuer+"userinfo", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("userinfo with a token issued %s: %d", name, resp.StatusCode)
		}
	}
}
