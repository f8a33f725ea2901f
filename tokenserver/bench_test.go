package tokenserver

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// benchTenant serves the sample tenant with bcrypt cost 10 and an RS256 key.
func benchTenant(b *testing.B) (*tokentest.Tenant, *store.Tenant, *httptest.Server) {
	b.Helper()
	st, srv := benchServer(b)
	ft := tokentest.NewTenant(b, "uid-bench", "bench", "acme", srv.URL+"/bench/acme/", "", bcrypt.DefaultCost,
		tokentest.NewKey(b, "bench", "RS256", "current"))
	view := ft.View(b)
	st.Publish([]*store.Tenant{view})
	return ft, view, srv
}

// benchServer is a token server over real HTTP serving the tenants published to its store.
func benchServer(b *testing.B) (*store.Store, *httptest.Server) {
	b.Helper()
	st := store.New()
	srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()))
	b.Cleanup(srv.Close)
	return st, srv
}

// hashAndSignTime is the time of the work a login cannot avoid, one bcrypt verify and
// one RS256 signature, measured on every core at once so that it shares the machine's
// current load with the measurement it is compared to.
func hashAndSignTime(b *testing.B, ft *tokentest.Tenant, view *store.Tenant) time.Duration {
	b.Helper()
	hash, err := password.DefaultCaps().Parse(ft.Snapshot.Connections[0].Users[0].PasswordHash)
	if err != nil {
		b.Fatal(err)
	}
	const rounds = 4
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for range rounds {
				if ok, err := hash.Verify(ft.AlicePassword); !ok || err != nil {
					b.Errorf("verify: %v %v", ok, err)
				}
				if _, err := view.Signer.SignAccessToken(jwt.Claims{Issuer: "x", Subject: "y", Audience: jwt.Audience{"z"}}); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start) / rounds
}

// BenchmarkPasswordGrant measures logins through HTTP at several concurrencies against
// the limit of this machine: cores ÷ (one bcrypt verify + one RS256 signature). At
// concurrency c on P cores an ideal server answers in max(1, c/P) service times; p99 is
// reported against that.
func BenchmarkPasswordGrant(b *testing.B) {
	ft, view, srv := benchTenant(b)
	body := form("grant_type", "password", "client_id", tokentest.Public, "username", tokentest.Alice,
		"password", ft.AlicePassword, "audience", tokentest.APIIdentifier, "scope", "read:sample")
	for _, concurrency := range []int{1, 8, 32} {
		b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
			before := hashAndSignTime(b, ft, view)
			load := tokentest.PostLoad(b, []string{benchTokenURL(srv)}, []string{body}, concurrency)

			// The machine is shared: average the limit measured before and after the run.
			service := (before + hashAndSignTime(b, ft, view)) / 2
			cores := runtime.GOMAXPROCS(0)
			limit := float64(cores) / service.Seconds()
			ideal := time.Duration(float64(service) * max(1, float64(concurrency)/float64(cores)))
			load.Report(b)
			b.ReportMetric(limit, "limit-tokens/s")
			b.ReportMetric(100*load.Rate/limit, "%-of-limit")
			b.ReportMetric(float64(load.P99)/float64(ideal), "p99/ideal")
		})
	}
}

// BenchmarkUserinfo measures userinfo requests per second, a signature check and a user
// lookup per request, against the limit of this machine: cores ÷ one RS256 signature
// verify, measured before and after the run.
func BenchmarkUserinfo(b *testing.B) {
	ft, view, srv := benchTenant(b)
	tok := func() string {
		resp, err := http.Post(benchTokenURL(srv), formType, strings.NewReader(form("grant_type", "password",
			"client_id", tokentest.Public, "username", tokentest.Alice, "password", ft.AlicePassword, "scope", "openid profile email")))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := jsonDecode(resp.Body, &out); err != nil || out.AccessToken == "" {
			b.Fatalf("token: %v", err)
		}
		return out.AccessToken
	}()
	before := verifyTime(b, view, tok)
	rate := benchGets(b, srv.URL+"/bench/acme/userinfo", "Bearer "+tok)
	limit := float64(runtime.GOMAXPROCS(0)) / ((before + verifyTime(b, view, tok)) / 2).Seconds()
	b.ReportMetric(limit, "limit-req/s")
	b.ReportMetric(100*rate/limit, "%-of-limit")
}

// verifyTime is the time of the work a userinfo request cannot avoid, the verify of its
// token's RS256 signature, measured on every core at once (see hashAndSignTime).
func verifyTime(b *testing.B, view *store.Tenant, token string) time.Duration {
	b.Helper()
	dot := strings.LastIndexByte(token, '.')
	signature, err := base64.RawURLEncoding.DecodeString(token[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	digest := sha256.Sum256([]byte(token[:dot]))
	pub := view.PublicKeys[view.Snapshot.Keys[0].KID].Key.(*rsa.PublicKey)
	const rounds = 200
	var wg sync.WaitGroup
	start := time.Now()
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for range rounds {
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], signature); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start) / rounds
}

// BenchmarkJWKS measures JWKS requests per second.
func BenchmarkJWKS(b *testing.B) {
	_, _, srv := benchTenant(b)
	_ = benchGets(b, srv.URL+"/bench/acme/.well-known/jwks.json", "")
}

// benchGets gets url b.N times from 16 clients at once and returns the requests per
// second, which it also reports.
func benchGets(b *testing.B, url, authorization string) float64 {
	const concurrency = 16
	client := tokentest.Client(concurrency)
	b.SetParallelism(concurrency / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodGet, url, nil)
			if authorization != "" {
				req.Header.Set("Authorization", authorization)
			}
			if !tokentest.RoundTrip(b, client, req) {
				return
			}
		}
	})
	rate := float64(b.N) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "req/s")
	return rate
}

// roundTrip sends req and reads its answer, and fails b unless it is 200.

func benchTokenURL(srv *httptest.Server) string { return srv.URL + "/bench/acme/oauth/token" }

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
