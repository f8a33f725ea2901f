package serviceaccount_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/serviceaccount"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

var (
	tenantAudiences = []string{"https://issuer.example/", "https://issuer.example/oauth/token"}
	reporter        = serviceaccount.Account{Namespace: "team-a", Name: "reporter"}
)

func newVerifier(t *testing.T, cluster *tokentest.ServiceAccountIssuer, opts serviceaccount.Options) *serviceaccount.Verifier {
	t.Helper()
	v, err := serviceaccount.New(cluster.Config(), slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerify(t *testing.T) {
	cluster := tokentest.NewServiceAccountIssuer(t)
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ours := []string{"https://issuer.example/"}
	for _, tc := range []struct {
		name      string
		namespace string
		audiences []string
		key       *ecdsa.PrivateKey
		change    func(map[string]any)
		want      error
	}{
		{"a token of the ServiceAccount", "team-a", ours, nil, nil, nil},
		{"the token endpoint as audience", "team-a", []string{"https://issuer.example/oauth/token"}, nil, nil, nil},
		{"another namespace's ServiceAccount of the name", "team-b", ours, nil, nil, serviceaccount.ErrInvalid},
		{"another ServiceAccount's", "team-a", ours, nil, func(c map[string]any) {
			c["sub"] = "system:serviceaccount:team-a:default"
			c["kubernetes.io"] = map[string]any{"namespace": "team-a", "serviceaccount": map[string]string{"name": "default"}}
		}, serviceaccount.ErrInvalid},
		{"the API server's audience", "team-a", []string{"https://kubernetes.default.svc"}, nil, nil, serviceaccount.ErrInvalid},
		{"the API server's audience beside ours", "team-a", []string{"https://issuer.example/", "https://kubernetes.default.svc"}, nil, nil, serviceaccount.ErrInvalid},
		{"no audience", "team-a", nil, nil, nil, serviceaccount.ErrInvalid},
		{"expired", "team-a", ours, nil, func(c map[string]any) { c["exp"] = time.Now().Add(-time.Second).Unix() }, serviceaccount.ErrInvalid},
		{"without expiry", "team-a", ours, nil, func(c map[string]any) { delete(c, "exp") }, serviceaccount.ErrInvalid},
		{"a legacy Secret token's issuer", "team-a", ours, nil, func(c map[string]any) { c["iss"] = "kubernetes/serviceaccount" }, serviceaccount.ErrInvalid},
		{"signed by another key", "team-a", ours, other, nil, serviceaccount.ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			token := cluster.Token(t, tc.namespace, "reporter", tc.audiences, tc.key, tc.change)
			err := newVerifier(t, cluster, serviceaccount.Options{}).Verify(t.Context(), token, tenantAudiences, reporter)
			if (tc.want == nil) != (err == nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
	t.Run("not a JWT", func(t *testing.T) {
		if err := newVerifier(t, cluster, serviceaccount.Options{}).Verify(t.Context(), "not.a.jwt", tenantAudiences, reporter); !errors.Is(err, serviceaccount.ErrInvalid) {
			t.Errorf("got %v", err)
		}
	})
}

// TestVerifyReviewsAndOutages: the TokenReview's no refuses a well-signed token (its Pod
// is gone), a yes is remembered for ReviewTTL, and with the API server down a token
// verifies on the keys read before, but not before any were read.
func TestVerifyReviewsAndOutages(t *testing.T) {
	cluster := tokentest.NewServiceAccountIssuer(t)
	now := time.Now()
	v := newVerifier(t, cluster, serviceaccount.Options{ReviewTTL: time.Minute, Now: func() time.Time { return now }})
	token := func() string { return cluster.Token(t, "team-a", "reporter", tenantAudiences[:1], nil, nil) }
	first := token()
	if err := v.Verify(t.Context(), first, tenantAudiences, reporter); err != nil {
		t.Fatal(err)
	}
	if err := v.Verify(t.Context(), first, tenantAudiences, reporter); err != nil || cluster.Reviews.Load() != 1 {
		t.Fatalf("second use: %v after %d reviews, want the first review remembered", err, cluster.Reviews.Load())
	}

	cluster.Live.Store(false) // the bound Pod is deleted
	if err := v.Verify(t.Context(), token(), tenantAudiences, reporter); !errors.Is(err, serviceaccount.ErrInvalid) {
		t.Errorf("a fresh token of a deleted Pod: %v, want refused", err)
	}
	now = now.Add(61 * time.Second)
	if err := v.Verify(t.Context(), first, tenantAudiences, reporter); !errors.Is(err, serviceaccount.ErrInvalid) {
		t.Errorf("a remembered token past ReviewTTL once its Pod is gone: %v, want refused", err)
	}

	cluster.Live.Store(true)
	cluster.Down.Store(true)
	if err := v.Verify(t.Context(), token(), tenantAudiences, reporter); err != nil {
		t.Errorf("with the API server down, a token of the keys read before: %v, want accepted", err)
	}
	fresh := newVerifier(t, cluster, serviceaccount.Options{})
	if err := fresh.Verify(t.Context(), first, tenantAudiences, reporter); !errors.Is(err, serviceaccount.ErrUnavailable) {
		t.Errorf("with the API server down and no keys read: %v, want ErrUnavailable", err)
	}
}

// TestKeysAreReadAgainForANewKid: a token of a kid the keys read do not hold reads them
// again, at most every ten seconds of the Verifier's clock, so that made-up kids cannot
// make every request read them; after the cluster's key rotates, its tokens verify.
func TestKeysAreReadAgainForANewKid(t *testing.T) {
	cluster := tokentest.NewServiceAccountIssuer(t)
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	v := newVerifier(t, cluster, serviceaccount.Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
	token := func() string { return cluster.Token(t, "team-a", "reporter", tenantAudiences[:1], nil, nil) }
	if err := v.Verify(t.Context(), token(), tenantAudiences, reporter); err != nil {
		t.Fatal(err)
	}
	cluster.Rotate(t, "sa-2")
	rotated := token()
	if err := v.Verify(t.Context(), rotated, tenantAudiences, reporter); !errors.Is(err, serviceaccount.ErrInvalid) {
		t.Errorf("a new kid within ten seconds of the last read: %v, want refused on the keys read", err)
	}
	if n := cluster.KeyReads.Load(); n != 1 {
		t.Errorf("%d reads of the keys within ten seconds, want 1", n)
	}
	now.Add(int64(11 * time.Second))
	if err := v.Verify(t.Context(), rotated, tenantAudiences, reporter); err != nil {
		t.Errorf("the rotated key's token ten seconds later: %v, want accepted", err)
	}
	if n := cluster.KeyReads.Load(); n != 2 {
		t.Errorf("%d reads of the keys, want 2", n)
	}
}
