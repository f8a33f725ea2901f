package kubestore_test

import (
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/kubestore"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
)

// BenchmarkRefresh: refreshes with rotation over RefreshTokenFamily objects, with the
// API-server reads and writes each costs.
func BenchmarkRefresh(b *testing.B) {
	cfg, namespace := tokenServerConfig(b)
	calls := &refreshtest.Calls{}
	calls.CountRequests(cfg)
	s, err := kubestore.New(cfg, kubestore.Options{Namespace: namespace})
	if err != nil {
		b.Fatal(err)
	}
	refreshtest.Bench(b, s, func() map[string]int64 {
		return map[string]int64{"api-reads": calls.Reads.Load(), "api-writes": calls.Writes.Load()}
	})
}
