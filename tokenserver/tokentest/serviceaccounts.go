package tokentest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/client-go/rest"
)

// ServiceAccountIssuer stands in for a cluster's ServiceAccount issuer over real HTTP:
// the API server's /.well-known/openid-configuration, /openid/v1/jwks and TokenReview,
// and the tokens it would issue, signed with an ES256 key it generates.
type ServiceAccountIssuer struct {
	// URL is the API server's and the issuer's.
	URL string
	// Key signs its tokens, with kid "sa" until Rotate replaces them.
	Key *ecdsa.PrivateKey
	kid string
	mu  sync.Mutex
	// Live is the TokenReviews' answer (true at first): false as for a token whose Pod
	// was deleted. Down fails every request, as an API server away does.
	Live, Down atomic.Bool
	// Reviews counts the TokenReviews asked, KeyReads the reads of its keys.
	Reviews, KeyReads atomic.Int32
}

// NewServiceAccountIssuer starts a ServiceAccountIssuer until t ends.
func NewServiceAccountIssuer(t testing.TB) *ServiceAccountIssuer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c := &ServiceAccountIssuer{Key: key, kid: "sa"}
	c.Live.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(c.serve))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Config reaches the issuer's API server, in JSON, the only encoding it speaks.
func (c *ServiceAccountIssuer) Config() *rest.Config {
	return &rest.Config{Host: c.URL, ContentConfig: rest.ContentConfig{ContentType: "application/json"}}
}

func (c *ServiceAccountIssuer) serve(w http.ResponseWriter, r *http.Request) {
	if c.Down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/.well-known/openid-configuration":
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": c.URL, "jwks_uri": c.URL + "/openid/v1/jwks"})
	case "/openid/v1/jwks":
		c.KeyReads.Add(1)
		key, kid := c.signingKey()
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	case "/apis/authentication.k8s.io/v1/tokenreviews":
		c.Reviews.Add(1)
		var tr authenticationv1.TokenReview
		_ = json.NewDecoder(r.Body).Decode(&tr)
		var claims struct {
			Subject string `json:"sub"`
		}
		if jws, err := jose.ParseSignedCompact(tr.Spec.Token, []jose.SignatureAlgorithm{jose.ES256}); err == nil {
			_ = json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims)
		}
		tr.Status.Authenticated = c.Live.Load()
		if tr.Status.Authenticated {
			tr.Status.User.Username = claims.Subject
		} else {
			tr.Status.Error = "pod not found"
		}
		_ = json.NewEncoder(w).Encode(tr)
	default:
		http.NotFound(w, r)
	}
}

// Rotate replaces the issuer's key with a new one of kid, as the API server's
// --service-account-signing-key-file is rotated: only the new key is published.
func (c *ServiceAccountIssuer) Rotate(t testing.TB, kid string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Key, c.kid = key, kid
}

func (c *ServiceAccountIssuer) signingKey() (*ecdsa.PrivateKey, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.Key, c.kid
}

// Token is a projected token of ServiceAccount namespace/name for audiences, valid ten
// minutes, with change applied to its claims, signed with key (the issuer's when nil).
func (c *ServiceAccountIssuer) Token(t testing.TB, namespace, name string, audiences []string, key *ecdsa.PrivateKey, change func(map[string]any)) string {
	t.Helper()
	now := time.Now()
	claims := map[string]any{
		"iss": c.URL, "sub": "system:serviceaccount:" + namespace + ":" + name, "aud": audiences,
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(10 * time.Minute).Unix(),
		"kubernetes.io": map[string]any{"namespace": namespace, "serviceaccount": map[string]string{"name": name, "uid": "sa-uid"},
			"pod": map[string]string{"name": name + "-pod", "uid": "pod-uid"}},
	}
	if change != nil {
		change(claims)
	}
	ours, kid := c.signingKey()
	if key == nil {
		key = ours
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
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
