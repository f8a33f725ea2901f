package kubestore_test

import (
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/kubestore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
)

// requestCounter counts the API-server requests through it, writes apart.
type requestCounter struct {
	next          http.RoundTripper
	reads, writes atomic.Int64
}

func (c *requestCounter) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		c.reads.Add(1)
	} else {
		c.writes.Add(1)
	}
	return c.next.RoundTrip(r)
}

// BenchmarkRefresh: refreshes with rotation over RefreshTokenFamily objects, with the
// API-server reads and writes each costs.
func BenchmarkRefresh(b *testing.B) {
	cfg, namespace := tokenServerConfig(b)
	counter := &requestCounter{}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		counter.next = rt
		return counter
	})
	s, err := kubestore.New(cfg, kubestore.Options{Namespace: namespace})
	if err != nil {
		b.Fatal(err)
	}
	refreshtest.Bench(b, s, func() map[string]int64 {
		return map[string]int64{"api-reads": counter.reads.Load(), "api-writes": counter.writes.Load()}
	})
}
