package tokenserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/pgtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/kubestore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/pgstore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// benchStore is a store the refresh benchmark runs against, and the counts of its calls.
type benchStore struct {
	name  string
	open  func(b *testing.B) (refresh.Store, *refreshtest.Calls)
	units string // of the calls counted
}

var benchStores = []benchStore{
	{name: "kubernetes", open: openKubeStore, units: "api"},
	{name: "postgres", open: openPostgresStore, units: "sql"},
}

// BenchmarkRefreshGrant measures refresh grants through HTTP, each rotating its
// family's token (a read and a compare-and-swap in the store), at several concurrencies
// for each store, with the store's calls counted per refresh. Each concurrent client
// refreshes a family of its own.
func BenchmarkRefreshGrant(b *testing.B) {
	for _, bs := range benchStores {
		b.Run("store="+bs.name, func(b *testing.B) {
			st, calls := bs.open(b)
			srv, ft := refreshBenchServer(b, st)
			tokenURL := snapshot.TokenURL(ft.Snapshot.Issuer)
			for _, concurrency := range []int{1, 8, 32} {
				b.Run(fmt.Sprintf("concurrency=%d", concurrency), func(b *testing.B) {
					families := make(chan string, concurrency)
					for range concurrency {
						families <- benchOfflineLogin(b, srv, ft)
					}
					client := tokentest.Client(concurrency)
					defer client.CloseIdleConnections()
					reads, writes := calls.Reads.Load(), calls.Writes.Load()
					load := tokentest.Load(b, concurrency, func(ctx context.Context, _ int) error {
						token := <-families
						next, err := benchRefresh(ctx, client, tokenURL, ft, token)
						families <- next
						return err
					})
					load.Report(b)
					b.ReportMetric(float64(calls.Reads.Load()-reads)/float64(b.N), bs.units+"-reads/refresh")
					b.ReportMetric(float64(calls.Writes.Load()-writes)/float64(b.N), bs.units+"-writes/refresh")
				})
			}
		})
	}
}

// refreshBenchServer serves the sample tenant, with rotating refresh tokens kept in st,
// over real HTTP.
func refreshBenchServer(b *testing.B, st refresh.Store) (*httptest.Server, *tokentest.Tenant) {
	b.Helper()
	tokens := refresh.New(st, refresh.Options{})
	views := store.New()
	srv := httptest.NewServer(NewServer(views, slog.New(slog.DiscardHandler), NewMetrics(), WithRefreshTokens(tokens)))
	b.Cleanup(srv.Close)
	ft := tokentest.NewTenant(b, "uid-bench-refresh", "bench", "acme", srv.URL+"/bench/acme/", "", bcrypt.MinCost,
		tokentest.NewKey(b, "bench", "RS256", "current"))
	ft.UseRefreshTokens(snapshot.RefreshTokens{Rotation: true, AbsoluteLifetime: time.Hour, IdleLifetime: time.Hour})
	views.Publish([]*store.Tenant{ft.View(b)})
	return srv, ft
}

// benchOfflineLogin logs alice in with offline_access and returns the refresh token.
func benchOfflineLogin(b *testing.B, srv *httptest.Server, ft *tokentest.Tenant) string {
	b.Helper()
	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	resp, err := http.Post(snapshot.TokenURL(ft.Snapshot.Issuer), formType, strings.NewReader(form("grant_type", "password",
		"client_id", tokentest.Public, "username", tokentest.Alice, "password", ft.AlicePassword, "scope", "read:sample offline_access")))
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if err := jsonDecode(resp.Body, &answer); err != nil || answer.RefreshToken == "" {
		b.Fatalf("login: %d, no refresh token (%v)", resp.StatusCode, err)
	}
	return answer.RefreshToken
}

// benchRefresh refreshes token and returns its successor, or token again with an error.
func benchRefresh(ctx context.Context, client *http.Client, tokenURL string, ft *tokentest.Tenant, token string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, tokenURL, strings.NewReader(form("grant_type", "refresh_token",
		"client_id", tokentest.Public, "refresh_token", token)))
	req.Header.Set("Content-Type", formType)
	resp, err := client.Do(req)
	if err != nil {
		return token, err
	}
	defer resp.Body.Close()
	var answer struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := jsonDecode(resp.Body, &answer); err != nil || resp.StatusCode != http.StatusOK || answer.RefreshToken == "" {
		return token, fmt.Errorf("refresh: %d (%w)", resp.StatusCode, err)
	}
	return answer.RefreshToken, nil
}

// openKubeStore starts an API server for the benchmark and returns a kubestore with the
// token server's rights in its namespace, counting the requests it sends.
func openKubeStore(b *testing.B) (refresh.Store, *refreshtest.Calls) {
	b.Helper()
	env, err := kubetest.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = env.Stop() })
	const namespace = "gatehouse-system"
	cfg := tokentest.TokenServerConfig(b, env.Client, env.Config, namespace)
	calls := &refreshtest.Calls{}
	calls.CountRequests(cfg)
	st, err := kubestore.New(cfg, kubestore.Options{Namespace: namespace})
	if err != nil {
		b.Fatal(err)
	}
	return st, calls
}

// openPostgresStore starts a PostgreSQL for the benchmark and returns a pgstore of a
// migrated database, counting the statements it sends.
func openPostgresStore(b *testing.B) (refresh.Store, *refreshtest.Calls) {
	b.Helper()
	server, err := pgtest.Start()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(server.Close)
	calls := &refreshtest.Calls{}
	st, err := pgstore.Open(server.DSN("postgres"), pgstore.Options{Tracer: calls.Tracer()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(st.Close)
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return st, calls
}
