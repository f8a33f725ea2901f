package oidc

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/test/dextest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// fakeProvider is an OpenID provider over TLS whose answers a test chooses, for the
// answers Dex never gives: unsigned, malformed or slow ones, and rotated keys. It signs
// with ES256 keys of its own.
type fakeProvider struct {
	srv *httptest.Server
	// token answers the token endpoint; the default signs good claims with the current key.
	token       func(w http.ResponseWriter, r *http.Request)
	keyFetches  atomic.Int32
	tokenPosts  atomic.Int32
	mu          sync.Mutex
	keys        []jose.JSONWebKey // private; the last is current
	published   int               // how many of keys the key set publishes
	lastRequest url.Values
}

const fakeClient = "gatehouse"

func newFakeProvider(t *testing.T) *fakeProvider {
	t.Helper()
	p := &fakeProvider{}
	p.rotate(t)
	p.token = func(w http.ResponseWriter, _ *http.Request) { p.answerIDToken(t, w, p.goodClaims()) }
	p.srv = httptest.NewTLSServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProvider) serve(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": p.srv.URL, "token_endpoint": p.srv.URL + "/token", "jwks_uri": p.srv.URL + "/keys",
			"id_token_signing_alg_values_supported": []string{"ES256"},
		})
	case "/keys":
		p.keyFetches.Add(1)
		p.mu.Lock()
		var set jose.JSONWebKeySet
		for _, k := range p.keys[:p.published] {
			set.Keys = append(set.Keys, k.Public())
		}
		p.mu.Unlock()
		writeJSON(w, http.StatusOK, set)
	case "/token":
		p.tokenPosts.Add(1)
		_ = r.ParseForm()
		p.mu.Lock()
		p.lastRequest = r.PostForm
		p.mu.Unlock()
		p.token(w, r)
	default:
		http.NotFound(w, r)
	}
}

// rotate adds a new current key and publishes it.
func (p *fakeProvider) rotate(t *testing.T) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = append(p.keys, jose.JSONWebKey{Key: key, KeyID: "k" + strconv.Itoa(len(p.keys)), Algorithm: "ES256", Use: "sig"})
	p.published = len(p.keys)
}

func (p *fakeProvider) goodClaims() map[string]any {
	now := time.Now()
	return map[string]any{
		"iss": p.srv.URL, "sub": "user-1", "aud": fakeClient, "iat": now.Unix(), "exp": now.Add(time.Minute).Unix(),
		"email": "user@example.com", "email_verified": true, "name": "A User", "groups": []string{"g1"},
	}
}

func (p *fakeProvider) sign(t *testing.T, claims map[string]any) string {
	t.Helper()
	p.mu.Lock()
	key := p.keys[len(p.keys)-1]
	p.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	token, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func (p *fakeProvider) answerIDToken(t *testing.T, w http.ResponseWriter, claims map[string]any) {
	writeJSON(w, http.StatusOK, map[string]any{"access_token": "upstream-access-token", "token_type": "Bearer", "id_token": p.sign(t, claims)})
}

func (p *fakeProvider) config() snapshot.OIDC {
	return snapshot.OIDC{
		Issuer: p.srv.URL, ClientID: fakeClient, ClientSecret: "s3cret", Scopes: []string{"openid", "email"},
		Claims:  snapshot.OIDCClaims{Subject: "sub", Email: "email", Name: "name", Groups: "groups"},
		CAPEM:   string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})),
		Timeout: 2 * time.Second,
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func newTestConnector(t *testing.T, cfg snapshot.OIDC) *Connector {
	t.Helper()
	c, err := New(cfg, profiles.New().Open("tenant-uid", "upstream"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestAnswersThatAreRefused plays a provider that answers what it should not: each is
// refused as unavailable, never taken as a login and never as a wrong password.
func TestAnswersThatAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		answer  func(p *fakeProvider, t *testing.T, w http.ResponseWriter)
		wantErr string
	}{
		{"an unsigned id_token", func(p *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			payload, _ := json.Marshal(p.goodClaims())
			writeJSON(w, http.StatusOK, map[string]any{"id_token": header + "." + base64.RawURLEncoding.EncodeToString(payload) + "."})
		}, "does not verify"},
		{"an id_token signed by a key the provider does not publish", func(p *fakeProvider, t *testing.T, w http.ResponseWriter) {
			p.rotate(t)
			p.mu.Lock()
			p.published--
			p.mu.Unlock()
			p.answerIDToken(t, w, p.goodClaims())
		}, "does not verify"},
		{"an id_token for another client", func(p *fakeProvider, t *testing.T, w http.ResponseWriter) {
			claims := p.goodClaims()
			claims["aud"] = "another-app"
			p.answerIDToken(t, w, claims)
		}, "audience"},
		{"an id_token of another issuer", func(p *fakeProvider, t *testing.T, w http.ResponseWriter) {
			claims := p.goodClaims()
			claims["iss"] = "https://elsewhere.example"
			p.answerIDToken(t, w, claims)
		}, "different provider"},
		{"an expired id_token", func(p *fakeProvider, t *testing.T, w http.ResponseWriter) {
			claims := p.goodClaims()
			claims["exp"] = time.Now().Add(-time.Hour).Unix()
			p.answerIDToken(t, w, claims)
		}, "expired"},
		{"an id_token without the subject claim", func(p *fakeProvider, t *testing.T, w http.ResponseWriter) {
			claims := p.goodClaims()
			delete(claims, "sub")
			p.answerIDToken(t, w, claims)
		}, `no "sub" claim`},
		{"a token answer without an id_token", func(_ *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			writeJSON(w, http.StatusOK, map[string]any{"access_token": "upstream-access-token"})
		}, "no id_token"},
		{"a token answer that is not JSON", func(_ *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			_, _ = w.Write([]byte("<html>hello</html>"))
		}, "no JSON"},
		{"a malformed id_token", func(_ *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			writeJSON(w, http.StatusOK, map[string]any{"id_token": "not.a.jwt"})
		}, "does not verify"},
		{"a server error", func(_ *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			writeJSON(w, http.StatusBadGateway, map[string]any{"error": "invalid_grant"})
		}, "HTTP 502"},
		{"a 400 without an OAuth error", func(_ *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			w.WriteHeader(http.StatusBadRequest)
		}, "without an OAuth error"},
		{"the client refused", func(_ *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid_client"})
		}, "invalid_client"},
		{"a redirect", func(p *fakeProvider, _ *testing.T, w http.ResponseWriter) {
			w.Header().Set("Location", p.srv.URL+"/elsewhere")
			w.WriteHeader(http.StatusTemporaryRedirect)
		}, "redirect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t)
			p.token = func(w http.ResponseWriter, _ *http.Request) { tc.answer(p, t, w) }
			identity, err := newTestConnector(t, p.config()).Login(context.Background(), "user", "password")
			if !errors.Is(err, connector.ErrUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Login = %+v, %v; want ErrUnavailable saying %q", identity, err, tc.wantErr)
			}
			if strings.Contains(err.Error(), "upstream-access-token") || strings.Contains(err.Error(), "eyJ") {
				t.Errorf("the error quotes an upstream token: %v", err)
			}
		})
	}
}

func TestGoodAnswer(t *testing.T) {
	p := newFakeProvider(t)
	c := newTestConnector(t, p.config())
	identity, err := c.Login(context.Background(), "user", "password")
	if err != nil {
		t.Fatal(err)
	}
	if identity.UserID != "user-1" || identity.Email != "user@example.com" || !identity.EmailVerified || identity.Name != "A User" ||
		len(identity.Groups) != 1 || identity.Groups[0] != "g1" || identity.Username != "user" {
		t.Errorf("identity = %+v", identity)
	}
	p.mu.Lock()
	form := p.lastRequest
	p.mu.Unlock()
	if form.Get("grant_type") != "password" || form.Get("username") != "user" || form.Get("password") != "password" ||
		form.Get("scope") != "openid email" || form.Has("client_secret") {
		t.Errorf("token request form = %v; want the password grant with the secret in HTTP Basic only", redact(form))
	}
}

func redact(form url.Values) url.Values {
	out := url.Values{}
	for k, v := range form {
		if k == "password" {
			v = []string{"…"}
		}
		out[k] = v
	}
	return out
}

// TestKeyRotation checks that a provider's new key is fetched when an id_token names it,
// and that known keys are not fetched again for every login.
func TestKeyRotation(t *testing.T) {
	p := newFakeProvider(t)
	c := newTestConnector(t, p.config())
	for range 3 {
		if _, err := c.Login(context.Background(), "user", "password"); err != nil {
			t.Fatal(err)
		}
	}
	if n := p.keyFetches.Load(); n != 1 {
		t.Errorf("the key set was fetched %d times for three logins with one key, want once", n)
	}
	p.rotate(t)
	if _, err := c.Login(context.Background(), "user", "password"); err != nil {
		t.Fatalf("login after the provider rotated its key: %v", err)
	}
	if n := p.keyFetches.Load(); n != 2 {
		t.Errorf("the key set was fetched %d times, want once more after the rotation", n)
	}
}

// TestSlowProvider checks that a provider that does not answer within the timeout makes
// the login unavailable in about that time.
func TestSlowProvider(t *testing.T) {
	p := newFakeProvider(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	p.token = func(http.ResponseWriter, *http.Request) { <-release }
	cfg := p.config()
	cfg.Timeout = 300 * time.Millisecond
	start := time.Now()
	_, err := newTestConnector(t, cfg).Login(context.Background(), "user", "password")
	if !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("Login = %v, want ErrUnavailable", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("the login took %v with a timeout of %v", took, cfg.Timeout)
	}
}

// TestPublicClientAndPostAuth checks where the client's credentials go: in the form for a
// public client and for a provider that only takes client_secret_post.
func TestPublicClientAndPostAuth(t *testing.T) {
	for _, tc := range []struct {
		name, secret string
		methods      []string
		wantSecret   string
		wantBasic    bool
	}{
		{"public client", "", nil, "", false},
		{"client_secret_post only", "s3cret", []string{"client_secret_post"}, "s3cret", false},
		{"client_secret_basic advertised", "s3cret", []string{"client_secret_post", "client_secret_basic"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t)
			var basic atomic.Bool
			p.token = func(w http.ResponseWriter, r *http.Request) {
				_, _, ok := r.BasicAuth()
				basic.Store(ok)
				p.answerIDToken(t, w, p.goodClaims())
			}
			cfg := p.config()
			cfg.ClientSecret = tc.secret
			c := newTestConnector(t, cfg)
			provider, err := c.discovery.get(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			provider.basicAuth = prefersBasicAuth(tc.methods)
			if _, err := c.Login(context.Background(), "user", "password"); err != nil {
				t.Fatal(err)
			}
			p.mu.Lock()
			form := p.lastRequest
			p.mu.Unlock()
			if basic.Load() != tc.wantBasic || form.Get("client_secret") != tc.wantSecret || (!tc.wantBasic && form.Get("client_id") != fakeClient) {
				t.Errorf("basic auth %v, form client_id %q client_secret set %v", basic.Load(), form.Get("client_id"), form.Has("client_secret"))
			}
		})
	}
}

// TestIDTokenOfAnotherDexClient makes Dex answer the connector's token request as if
// its other client had asked: the answer is a real id_token, signed by Dex for its
// issuer, but for another audience, which the connector must refuse.
func TestIDTokenOfAnotherDexClient(t *testing.T) {
	dex := dextest.Start(t, dextest.Options{})
	alice := dex.Users["alice"]
	cfg := snapshot.OIDC{Issuer: dex.Issuer, ClientID: dex.Client.ID, ClientSecret: dex.Client.Secret, Scopes: []string{"openid", "email"},
		Claims: snapshot.OIDCClaims{Subject: "sub"}, CAPEM: dex.CAPEM, Timeout: 5 * time.Second}
	c := newTestConnector(t, cfg)
	if _, err := c.Login(context.Background(), alice.Email, alice.Password); err != nil {
		t.Fatalf("login as Dex's client: %v", err)
	}
	c.client.Transport = asClient{next: c.client.Transport, client: dex.Other}
	_, err := c.Login(context.Background(), alice.Email, alice.Password)
	if !errors.Is(err, connector.ErrUnavailable) || !strings.Contains(err.Error(), "audience") {
		t.Fatalf("login with an id_token for %s = %v, want ErrUnavailable for the audience", dex.Other.ID, err)
	}
}

// asClient sends token requests with another client's credentials.
type asClient struct {
	next   http.RoundTripper
	client dextest.Client
}

func (a asClient) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost {
		return a.next.RoundTrip(r)
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	form := r.PostForm
	form.Set("client_id", a.client.ID)
	form.Set("client_secret", a.client.Secret)
	body := form.Encode()
	out := r.Clone(r.Context())
	out.Header.Del("Authorization")
	out.Body, out.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
	return a.next.RoundTrip(out)
}

// TestDiscoveryIsRefused checks the discovery documents the connector refuses before it
// sends any password.
func TestDiscoveryIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     func(p *fakeProvider) map[string]any
		wantErr string
	}{
		{"another issuer", func(*fakeProvider) map[string]any {
			return map[string]any{"issuer": "https://elsewhere.example", "token_endpoint": "https://elsewhere.example/token", "jwks_uri": "https://elsewhere.example/keys"}
		}, "another issuer"},
		{"a plain-http token endpoint", func(p *fakeProvider) map[string]any {
			return map[string]any{"issuer": p.srv.URL, "token_endpoint": "http://127.0.0.1/token", "jwks_uri": p.srv.URL + "/keys"}
		}, "token_endpoint is not an https URL"},
		{"no key set", func(p *fakeProvider) map[string]any {
			return map[string]any{"issuer": p.srv.URL, "token_endpoint": p.srv.URL + "/token"}
		}, "jwks_uri is not an https URL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newFakeProvider(t)
			p.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/.well-known/openid-configuration" {
					writeJSON(w, http.StatusOK, tc.doc(p))
					return
				}
				p.serve(w, r)
			})
			_, err := newTestConnector(t, p.config()).Login(context.Background(), "user", "password")
			var malformed *MalformedError
			if !errors.Is(err, connector.ErrUnavailable) || !errors.As(err, &malformed) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Login = %v; want ErrUnavailable, a MalformedError saying %q", err, tc.wantErr)
			}
			if n := p.tokenPosts.Load(); n != 0 {
				t.Errorf("the password was sent %d times", n)
			}
		})
	}
}

// TestDiscoveryIsKept checks that the document is read once for many logins, and that a
// provider whose discovery endpoint fails later goes on serving logins.
func TestDiscoveryIsKept(t *testing.T) {
	p := newFakeProvider(t)
	var reads atomic.Int32
	var failing atomic.Bool
	p.srv.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/openid-configuration" {
			reads.Add(1)
			if failing.Load() {
				w.WriteHeader(http.StatusInternalServerError)
				return
			}
		}
		p.serve(w, r)
	})
	c := newTestConnector(t, p.config())
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := c.Login(context.Background(), "user", "password"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := reads.Load(); n != 1 {
		t.Errorf("the discovery document was read %d times for 8 logins, want once", n)
	}
	failing.Store(true)
	c.discovery.mu.Lock()
	c.discovery.read = time.Now().Add(-2 * discoveryTTL)
	c.discovery.mu.Unlock()
	if _, err := c.Login(context.Background(), "user", "password"); err != nil {
		t.Errorf("login while the discovery endpoint fails, with a document read before: %v", err)
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("the old document was not read again (%d reads)", n)
	}
}

func TestInvalidGrantIsInvalidCredentials(t *testing.T) {
	for _, code := range []string{"invalid_grant", "access_denied"} {
		p := newFakeProvider(t)
		p.token = func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusBadRequest, map[string]any{"error": code, "error_description": "Invalid user credentials"})
		}
		_, err := newTestConnector(t, p.config()).Login(context.Background(), "user", "wrong")
		if !errors.Is(err, connector.ErrInvalidCredentials) || !strings.Contains(err.Error(), code) {
			t.Errorf("%s: Login = %v, want ErrInvalidCredentials naming the code", code, err)
		}
	}
}

func TestErrorCodeIsFitForALog(t *testing.T) {
	for in, want := range map[string]string{
		"invalid_grant":          "invalid_grant",
		"bad\ncode":              `"bad\ncode"`,
		strings.Repeat("x", 100): strings.Repeat("x", 64),
		`quote"inside`:           `"quote\"inside"`,
	} {
		if got := errorCode(in); got != want {
			t.Errorf("errorCode(%q) = %q, want %q", in, got, want)
		}
	}
}
