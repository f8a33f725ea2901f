package ldap_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// BenchmarkLogin measures logins (user search, bind, memberOf claims) against the local
// slapd at several concurrencies, with pooled connections and with a fresh connection
// per step, over LDAPS and plain LDAP, then prints how much pooling gains.
func BenchmarkLogin(b *testing.B) {
	plain := config(directory.LDAPURL)
	plain.InsecureNoTLS = true
	transports := []struct {
		name string
		cfg  snapshot.LDAP
	}{
		{"ldaps", config(directory.LDAPSURL)},
		{"plain", plain},
	}
	modes := []struct {
		name string
		opts []ldap.Option
	}{
		{"pooled", nil},
		{"fresh", []ldap.Option{ldap.WithoutPooling()}},
	}
	concurrencies := []int{1, 8, 32}
	rates := map[string]float64{}
	for _, tr := range transports {
		for _, mode := range modes {
			for _, n := range concurrencies {
				name := fmt.Sprintf("%s/%s/concurrency=%d", tr.name, mode.name, n)
				b.Run(name, func(b *testing.B) {
					cfg := tr.cfg
					cfg.MaxConnections = 2 * n
					c, err := ldap.New("bench", cfg, mode.opts...)
					if err != nil {
						b.Fatal(err)
					}
					defer func() { _ = c.Close() }()
					load := loginLoad(b, c, n)
					b.ReportMetric(load.Rate, "logins/s")
					b.ReportMetric(tokentest.Milliseconds(load.P99), "p99-ms")
					b.ReportMetric(0, "ns/op")
					rates[name] = load.Rate
				})
			}
		}
	}
	for _, tr := range transports {
		for _, n := range concurrencies {
			pooled := rates[fmt.Sprintf("%s/pooled/concurrency=%d", tr.name, n)]
			fresh := rates[fmt.Sprintf("%s/fresh/concurrency=%d", tr.name, n)]
			if fresh > 0 {
				fmt.Printf("%s concurrency %2d: pooled %7.0f logins/s, fresh %7.0f logins/s, pooling gains %.1fx\n",
					tr.name, n, pooled, fresh, pooled/fresh)
			}
		}
	}
}

// loginLoad runs b.N logins from n goroutines, after one that warms the pool so that
// the figure is the steady state.
func loginLoad(b *testing.B, c *ldap.Connector, n int) tokentest.LoadResult {
	login := func(ctx context.Context, _ int) error {
		_, err := c.Login(ctx, "alice", passwords["alice"])
		return err
	}
	if err := login(context.Background(), 0); err != nil {
		b.Fatal(err)
	}
	return tokentest.Load(b, n, login)
}
