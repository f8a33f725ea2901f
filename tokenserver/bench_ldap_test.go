package tokenserver

import (
	"fmt"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// BenchmarkLDAPPasswordGrant measures logins through HTTP for a tenant whose default
// directory is a local slapd over LDAPS, with pooled directory connections and with a
// fresh connection per step, at several concurrencies, then prints how much pooling
// gains. A response with openid signs twice: with RS256 signing bounds the server; with
// ES256 the directory does, which is where the pooling ratio means something. Each run
// also reports this process's CPU per login (the load's HTTP client included) against
// its floor, measured in the same run: the two signatures alone plus the connector's
// directory round trips alone.
func BenchmarkLDAPPasswordGrant(b *testing.B) {
	directory, passwords := ldaptest.StartSample(b)
	cfg := directory.SampleConfig(passwords["gatehouse"], directory.LDAPSURL)
	cfg.MaxConnections = 64 // above the highest concurrency, so logins never wait for a connection
	body := form("grant_type", "password", "client_id", tokentest.Public, "username", "alice",
		"password", passwords["alice"], "audience", tokentest.APIIdentifier, "scope", "openid read:sample")

	modes := []struct {
		name string
		opts []ldap.Option
	}{
		{"pooled", nil},
		{"fresh", []ldap.Option{ldap.WithoutPooling()}},
	}
	algorithms := []string{"ES256", "RS256"}
	concurrencies := []int{1, 8, 32}
	results := map[string]tokentest.LoadResult{}
	for _, alg := range algorithms {
		for _, mode := range modes {
			st, srv := benchServer(b)
			ft := tokentest.NewTenant(b, "uid-ldap-bench", "bench", "acme", srv.URL+"/bench/acme/", "", bcrypt.MinCost,
				tokentest.NewKey(b, "bench", alg, "current"))
			ft.UseLDAP(cfg)
			view := ft.View(b, mode.opts...)
			b.Cleanup(func() { closeConnectors(b, view) })
			st.Publish([]*store.Tenant{view})
			for _, n := range concurrencies {
				name := fmt.Sprintf("%s/%s/concurrency=%d", alg, mode.name, n)
				b.Run(name, func(b *testing.B) {
					start := tokentest.ProcessCPU(b)
					results[name] = tokentest.PostLoad(b, []string{benchTokenURL(srv)}, []string{body}, n)
					perLogin := (tokentest.ProcessCPU(b) - start) / time.Duration(b.N)
					floor := tokentest.LoginFloor(b, view.Connectors[tokentest.LDAPConnection], ft.Keys[0].Signer, "alice", passwords["alice"], n)
					results[name].Report(b)
					b.ReportMetric(float64(perLogin.Microseconds()), "cpu-µs/login")
					b.ReportMetric(float64(floor.Microseconds()), "floor-cpu-µs/login")
					b.ReportMetric(float64(perLogin)/float64(floor), "cpu/floor")
				})
			}
		}
	}

	fmt.Printf("\n%-5s %11s | %10s %8s %8s | %10s %8s %8s | %s\n",
		"alg", "concurrency", "pooled/s", "p50 ms", "p99 ms", "fresh/s", "p50 ms", "p99 ms", "pooled/fresh")
	for _, alg := range algorithms {
		for _, n := range concurrencies {
			pooled := results[fmt.Sprintf("%s/pooled/concurrency=%d", alg, n)]
			fresh := results[fmt.Sprintf("%s/fresh/concurrency=%d", alg, n)]
			if pooled.Rate == 0 || fresh.Rate == 0 {
				continue // filtered out with -bench
			}
			fmt.Printf("%-5s %11d | %10.0f %8.2f %8.2f | %10.0f %8.2f %8.2f | %.1fx\n", alg, n,
				pooled.Rate, tokentest.Milliseconds(pooled.P50), tokentest.Milliseconds(pooled.P99),
				fresh.Rate, tokentest.Milliseconds(fresh.P50), tokentest.Milliseconds(fresh.P99), pooled.Rate/fresh.Rate)
		}
	}
}

func closeConnectors(b *testing.B, view *store.Tenant) {
	for name, c := range view.Connectors {
		if err := c.Close(); err != nil {
			b.Errorf("closing connector %s: %v", name, err)
		}
	}
}
