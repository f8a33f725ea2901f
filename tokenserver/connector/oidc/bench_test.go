package oidc_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/test/dextest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// BenchmarkOIDCLogin measures logins through the connector against a local Dex at
// concurrencies 1 and 8, and beside each, in the same run, Dex's own cost: the same
// password grant posted straight to Dex's token endpoint, its answer read and dropped.
// What the connector adds is the difference: discovery (read once), the id_token's
// verification and the claims mapping. Each run reports the CPU per login of this
// process (the connector, or the bare HTTP client) and of Dex. Dex checks a bcrypt hash
// of cost 10, the least it accepts, so Dex bounds both.
func BenchmarkOIDCLogin(b *testing.B) {
	dex := dextest.Start(b, dextest.Options{})
	alice := dex.Users["alice"]
	cfg := configFor(dex)
	c := newConnector(b, cfg)
	direct := directGrant(b, dex, alice.Email, alice.Password)

	concurrencies := []int{1, 8}
	rates := map[string]float64{}
	for _, n := range concurrencies {
		for _, mode := range []struct {
			name  string
			login func(context.Context) error
		}{
			{"connector", func(ctx context.Context) error { _, err := c.Login(ctx, alice.Email, alice.Password); return err }},
			{"dex-alone", direct},
		} {
			name := fmt.Sprintf("%s/concurrency=%d", mode.name, n)
			b.Run(name, func(b *testing.B) {
				own, dexCPU := cpuOf(b, os.Getpid()), cpuOf(b, dex.Pid())
				load := loginLoad(b, mode.login, n)
				perLogin := func(pid int, before time.Duration) float64 {
					return float64((cpuOf(b, pid) - before).Microseconds()) / 1000 / float64(b.N+1)
				}
				b.ReportMetric(perLogin(os.Getpid(), own), "client-cpu-ms/login")
				b.ReportMetric(perLogin(dex.Pid(), dexCPU), "dex-cpu-ms/login")
				b.ReportMetric(load.Rate, "logins/s")
				b.ReportMetric(tokentest.Milliseconds(load.P50), "p50-ms")
				b.ReportMetric(tokentest.Milliseconds(load.P99), "p99-ms")
				b.ReportMetric(0, "ns/op")
				rates[name] = load.Rate
			})
		}
	}
	for _, n := range concurrencies {
		through, alone := rates[fmt.Sprintf("connector/concurrency=%d", n)], rates[fmt.Sprintf("dex-alone/concurrency=%d", n)]
		if through > 0 && alone > 0 {
			fmt.Printf("concurrency %d: through the connector %6.1f logins/s, Dex alone %6.1f logins/s (%.0f%%)\n",
				n, through, alone, 100*through/alone)
		}
	}
}

// cpuOf is the CPU a process has used so far, in ticks of 10 ms.
func cpuOf(b *testing.B, pid int) time.Duration {
	stat, ok := proctest.ReadStat(pid)
	if !ok {
		b.Fatalf("no process %d", pid)
	}
	return stat.CPU
}

// directGrant returns a password grant of username at dex as its client, with a pooled
// HTTP client of its own, which checks the answer's status only.
func directGrant(b *testing.B, dex *dextest.Server, username, password string) func(context.Context) error {
	b.Helper()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(dex.CAPEM))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, MaxIdleConnsPerHost: 16}}
	b.Cleanup(client.CloseIdleConnections)
	provider, err := oidc.NewProvider(oidc.ClientContext(context.Background(), client), dex.Issuer)
	if err != nil {
		b.Fatal(err)
	}
	body := url.Values{"grant_type": {"password"}, "username": {username}, "password": {password},
		"scope": {"openid email profile groups"}}.Encode()
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, provider.Endpoint().TokenURL, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(dex.Client.ID, dex.Client.Secret)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("dex answered %d", resp.StatusCode)
		}
		return nil
	}
}

// loginLoad runs b.N logins from n goroutines, after one to warm connections and
// caches.
func loginLoad(b *testing.B, login func(context.Context) error, n int) tokentest.LoadResult {
	if err := login(context.Background()); err != nil {
		b.Fatal(err)
	}
	return tokentest.Load(b, n, func(ctx context.Context, _ int) error { return login(ctx) })
}
