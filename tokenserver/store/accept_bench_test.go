package store_test

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// BenchmarkClientAccepted measures the time from writing a snapshot that holds a new
// Client to the token server answering that client's token request: the API server's
// watch, the decode and the swap. Each iteration adds one Client.
func BenchmarkClientAccepted(b *testing.B) {
	ns := fmt.Sprintf("bench-accept-%d", time.Now().UnixNano())
	st, _, _ := runLoader(b, ns)
	srv := httptest.NewServer(tokenserver.NewServer(st, slog.New(slog.DiscardHandler), tokenserver.NewMetrics()))
	b.Cleanup(srv.Close)

	key := tokentest.NewKey(b, "accept", "ES256", "current")
	ft := tokentest.NewTenant(b, "uid-accept", "bench", "accept", srv.URL+"/bench/accept/", "", bcrypt.MinCost, key)
	apply(b, tokentest.KeySecret(ns, "uid-accept", key))
	apply(b, tokentest.SnapshotSecrets(b, ns, ft.Snapshot)...)
	tokenURL := ft.Snapshot.Issuer + "oauth/token"

	accepted := func(clientID string) bool {
		resp, err := http.PostForm(tokenURL, url.Values{"grant_type": {"password"}, "client_id": {clientID},
			"username": {tokentest.Alice}, "password": {ft.AlicePassword}})
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	eventually(b, "the tenant is served", func() bool { return accepted(tokentest.Public) })

	latencies := make([]time.Duration, b.N)
	b.ResetTimer()
	for i := range b.N {
		clientID := fmt.Sprintf("new-client-%d", i)
		ft.Snapshot.Clients = append(ft.Snapshot.Clients, snapshot.Client{ClientID: clientID, Type: "public", GrantTypes: []string{"password"}})
		secrets := tokentest.SnapshotSecrets(b, ns, ft.Snapshot)
		start := time.Now()
		apply(b, secrets...)
		for !accepted(clientID) {
			if time.Since(start) > time.Minute {
				b.Fatalf("client %s not accepted after a minute", clientID)
			}
			time.Sleep(2 * time.Millisecond)
		}
		latencies[i] = time.Since(start)
	}
	b.StopTimer()
	slices.Sort(latencies)
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds())/1000, "max-ms")
	b.ReportMetric(0, "ns/op")
}
