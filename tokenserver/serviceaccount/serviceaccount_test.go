package serviceaccount

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/rest"
)

// fakeCluster is an API server's ServiceAccount issuer: discovery, JWKS and TokenReview.
type fakeCluster struct {
	issuer string
	key    *ecdsa.PrivateKey
	// live answers TokenReviews; down fails every request.
	live, down atomic.Bool
	reviews    atomic.Int32
}

func newFakeCluster(t *testing.T) (*fakeCluster, *rest.Config) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &fakeCluster{key: key}
	c.live.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		switch r.URL.Path {
		case "/.well-known/openid-configuration":
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": c.issuer})
		case "/openid/v1/jwks":
			_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
		case "/apis/authentication.k8s.io/v1/tokenreviews":
			c.reviews.Add(1)
			var tr authenticationv1.TokenReview
			body, _ := io.ReadAll(r.Body)
			_ = json.Unmarshal(body, &tr)
			tr.Status.Authenticated = c.live.Load()
			if tr.Status.Authenticated {
				tr.Status.User.Username = "system:serviceaccount:team-a:reporter"
			} else {
				tr.Status.Error = "pod not found"
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(tr)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	c.issuer = srv.URL
	return c, &rest.Config{Host: srv.URL}
}

// token signs claims, with the defaults of a projected token of team-a/reporter.
func (c *fakeCluster) token(t *testing.T, key *ecdsa.PrivateKey, change func(map[string]any)) string {
	t.Helper()
	claims := map[string]any{
		"iss": c.issuer, "sub": "system:serviceaccount:team-a:reporter", "aud": []string{"https://issuer.example/"},
		"exp": time.Now().Add(10 * time.Minute).Unix(), "nbf": time.Now().Unix(),
		"kubernetes.io": map[string]any{"namespace": "team-a", "serviceaccount": map[string]string{"name": "reporter"}},
	}
	if change != nil {
		change(claims)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", "k1"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := jws.CompactSerialize()
	return s
}

var (
	audiences = []string{"https://issuer.example/", "https://issuer.example/oauth/token"}
	reporter  = Account{Namespace: "team-a", Name: "reporter"}
)

func TestVerify(t *testing.T) {
	cluster, cfg := newFakeCluster(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		key     *ecdsa.PrivateKey
		change  func(map[string]any)
		account Account
		want    error
	}{
		{"a token of the ServiceAccount", cluster.key, nil, reporter, nil},
		{"the token endpoint as audience", cluster.key, func(c map[string]any) { c["aud"] = "https://issuer.example/oauth/token" }, reporter, nil},
		{"another ServiceAccount's", cluster.key, nil, Account{Namespace: "team-a", Name: "default"}, ErrInvalid},
		{"another namespace's", cluster.key, func(c map[string]any) {
			c["sub"] = "system:serviceaccount:team-b:reporter"
			c["kubernetes.io"] = map[string]any{"namespace": "team-b", "serviceaccount": map[string]string{"name": "reporter"}}
		}, reporter, ErrInvalid},
		{"the API server's audience", cluster.key, func(c map[string]any) { c["aud"] = []string{"https://kubernetes.default.svc"} }, reporter, ErrInvalid},
		{"the API server's audience beside ours", cluster.key, func(c map[string]any) {
			c["aud"] = []string{"https://issuer.example/", "https://kubernetes.default.svc"}
		}, reporter, ErrInvalid},
		{"expired", cluster.key, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Second).Unix() }, reporter, ErrInvalid},
		{"without expiry", cluster.key, func(c map[string]any) { delete(c, "exp") }, reporter, ErrInvalid},
		{"another issuer", cluster.key, func(c map[string]any) { c["iss"] = "kubernetes/serviceaccount" }, reporter, ErrInvalid},
		{"signed by another key", other, nil, reporter, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := New(cfg, slog.New(slog.DiscardHandler), Options{})
			if err != nil {
				t.Fatal(err)
			}
			err = v.Verify(t.Context(), cluster.token(t, tc.key, tc.change), audiences, tc.account)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("not a JWT", func(t *testing.T) {
		v, _ := New(cfg, slog.New(slog.DiscardHandler), Options{})
		if err := v.Verify(t.Context(), "not.a.jwt", audiences, reporter); !errors.Is(err, ErrInvalid) {
			t.Errorf("got %v", err)
		}
	})
}

// TestVerifyReviewsAndOutages: the TokenReview's no refuses a well-signed token (its Pod
// is gone), a yes is remembered for ReviewTTL, and with the API server down a token
// verifies on the keys read before, but not before any were read.
func TestVerifyReviewsAndOutages(t *testing.T) {
	cluster, cfg := newFakeCluster(t)
	now := time.Now()
	clock := func() time.Time { return now }
	v, err := New(cfg, slog.New(slog.DiscardHandler), Options{ReviewTTL: time.Minute, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	token := cluster.token(t, cluster.key, nil)
	if err := v.Verify(t.Context(), token, audiences, reporter); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(t.Context(), token, audiences, reporter); err != nil || cluster.reviews.Load() != 1 {
		t.Fatalf("second use: %v after %d reviews, want the first review remembered", err, cluster.reviews.Load())
	}

	cluster.live.Store(false) // the bound Pod is deleted
	if err := v.Verify(t.Context(), cluster.token(t, cluster.key, nil), audiences, reporter); !errors.Is(err, ErrInvalid) {
		t.Errorf("a fresh token of a deleted Pod: %v, want refused", err)
	}
	now = now.Add(61 * time.Second)
	if err := v.Verify(t.Context(), token, audiences, reporter); !errors.Is(err, ErrInvalid) {
		t.Errorf("a remembered token past ReviewTTL once its Pod is gone: %v, want refused", err)
	}

	cluster.live.Store(true)
	cluster.down.Store(true)
	if err := v.Verify(t.Context(), cluster.token(t, cluster.key, nil), audiences, reporter); err != nil {
		t.Errorf("with the API server down, a token of the keys read before: %v, want accepted", err)
	}
	fresh, _ := New(cfg, slog.New(slog.DiscardHandler), Options{})
	if err := fresh.Verify(t.Context(), token, audiences, reporter); !errors.Is(err, ErrUnavailable) {
		t.Errorf("with the API server down and no keys read: %v, want ErrUnavailable", err)
	}
}
