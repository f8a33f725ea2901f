package ldap_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
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
					rate, p99 := loginLoad(b, c, n)
					b.ReportMetric(rate, "logins/s")
					b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
					b.ReportMetric(0, "ns/op")
					rates[name] = rate
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

// loginLoad runs b.N logins from n goroutines and returns logins per second and the 99th
// percentile latency.
func loginLoad(b *testing.B, c *ldap.Connector, n int) (float64, time.Duration) {
	// Warm the pool so the figure is the steady state.
	if _, err := c.Login(context.Background(), "alice", passwords["alice"]); err != nil {
		b.Fatal(err)
	}
	latencies := make([]time.Duration, b.N)
	var wg sync.WaitGroup
	work := make(chan int)
	b.ResetTimer()
	start := time.Now()
	for range n {
		wg.Go(func() {
			for i := range work {
				t0 := time.Now()
				if _, err := c.Login(context.Background(), "alice", passwords["alice"]); err != nil {
					b.Error(err)
				}
				latencies[i] = time.Since(t0)
			}
		})
	}
	for i := range b.N {
		work <- i
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	slices.Sort(latencies)
	return float64(b.N) / elapsed.Seconds(), latencies[(len(latencies)*99)/100]
}
