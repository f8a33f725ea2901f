package tokenserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/database"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// The load of BenchmarkTenantIsolation.
const (
	floodLogins = 64                    // tenant A's logins at once
	steadyEvery = 25 * time.Millisecond // tenant B's pause between logins
	// steadySamples are B's logins in each phase, split over isolationRounds so that
	// the machine's other load, which changes by the second, falls on both phases; in
	// -short runs, which check that the benchmark works, one round of a few.
	steadySamples   = 400
	isolationRounds = 10
	shortSamples    = 10
	// latencyFloor bounds B's loaded p99 over its unloaded p99.
	latencyFloor = 2.0
)

// BenchmarkTenantIsolation: tenant A floods the token server with more logins at once
// than its share of the password-check budget lets it check, every one an argon2id check
// at the memory cap, while tenant B logs in at a steady pace with a hash that needs
// little memory. It reports B's p99 login latency alone and under A's flood, measured in
// alternating rounds of the same run so that both see the machine's other load alike,
// beside the floor: loaded within 2× of unloaded. The server checks passwords as a
// replica with the chart's 512Mi limit does (its caps, its limiter, its Go soft memory
// limit); the peak of the memory the Go runtime held is reported beside that limit.
// One run is the measurement; b.N is not used.
func BenchmarkTenantIsolation(b *testing.B) {
	caps := password.DefaultCaps()
	for _, tc := range []struct {
		name string
		// floodTime and floodThreads are t and p of A's hash, whose m is the cap.
		floodTime    uint32
		floodThreads uint8
		steadyCost   int // bcrypt cost of B's hash
	}{
		{"A=argon2id-m-cap-t1-p1/B=bcrypt10", 1, 1, bcrypt.DefaultCost},
		{"A=argon2id-m-cap-t1-p1/B=bcrypt4", 1, 1, bcrypt.MinCost},
		{"A=argon2id-all-caps/B=bcrypt10", caps.Argon2idMaxTime, caps.Argon2idMaxParallelism, bcrypt.DefaultCost},
	} {
		b.Run(tc.name, func(b *testing.B) {
			benchTenantIsolation(b, benchArgon2id(b, caps.Argon2idMaxMemoryKiB, tc.floodTime, tc.floodThreads), tc.steadyCost)
		})
	}
}

func benchTenantIsolation(b *testing.B, floodHash func(password string) string, steadyCost int) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(password.DefaultMemoryLimit / 10 * 9)) // as the token server does
	st, srv := benchServer(b)
	newTenant := func(name string, hash func(string) string) *tokentest.Tenant {
		ft := tokentest.NewTenant(b, "uid-"+name, "bench", name, srv.URL+"/bench/"+name+"/", "", bcrypt.MinCost,
			tokentest.NewKey(b, name, "ES256", "current"))
		ft.Snapshot.Connections[0].Users[0].PasswordHash = hash(ft.AlicePassword)
		return ft
	}
	flood := newTenant("flood", floodHash)
	// A hostile tenant turns its own attack protection off, so that every login costs a check.
	flood.Snapshot.AttackProtection = &snapshot.AttackProtection{}
	steady := newTenant("steady", func(pw string) string { return tokentest.Hash(b, pw, steadyCost) })
	checks := database.ChecksFor(password.DefaultMemoryLimit)
	st.Publish([]*store.Tenant{flood.ViewChecking(b, checks), steady.ViewChecking(b, checks)})

	steadyClient := tokentest.Client(1)
	for range 3 { // warm up the connection and the allocator
		benchLogin(b, context.Background(), steadyClient, steady)
	}
	var unloaded, loaded []time.Duration
	floodAnswers := map[int]int{}
	var peak uint64
	b.ResetTimer()
	rounds, perRound := isolationRounds, steadySamples/isolationRounds
	if testing.Short() {
		rounds, perRound = 1, shortSamples
	}
	for range rounds {
		unloaded = append(unloaded, steadyLogins(b, steadyClient, steady, perRound)...)
		stop := startFlood(b, flood)
		loaded = append(loaded, steadyLogins(b, steadyClient, steady, perRound)...)
		answers, roundPeak := stop()
		for status, n := range answers {
			floodAnswers[status] += n
		}
		peak = max(peak, roundPeak)
	}
	b.StopTimer()

	p99Unloaded, p99Loaded := p99(unloaded), p99(loaded)
	ratio := float64(p99Loaded) / float64(p99Unloaded)
	b.ReportMetric(tokentest.Milliseconds(p99Unloaded), "B-p99-unloaded-ms")
	b.ReportMetric(tokentest.Milliseconds(p99Loaded), "B-p99-loaded-ms")
	b.ReportMetric(ratio, "B-loaded/unloaded")
	b.ReportMetric(float64(peak>>20), "peak-MiB")
	b.ReportMetric(0, "ns/op")
	verdict := "within"
	if ratio > latencyFloor {
		verdict = "NOT within"
	}
	var answers []string
	for _, status := range slices.Sorted(maps.Keys(floodAnswers)) {
		answers = append(answers, fmt.Sprintf("%d×%d", floodAnswers[status], status))
	}
	b.Logf("tenant B's p99: unloaded %v, loaded %v: %.2f×, %s the floor of %.0f×. Tenant A got %s. Peak Go memory %d MiB, limit 512 MiB.",
		p99Unloaded.Round(100*time.Microsecond), p99Loaded.Round(100*time.Microsecond), ratio, verdict, latencyFloor,
		strings.Join(answers, ", "), peak>>20)
}

// steadyLogins logs in as alice of ft n times, a pause apart, and returns their
// latencies. Every login must succeed.
func steadyLogins(b *testing.B, client *http.Client, ft *tokentest.Tenant, n int) []time.Duration {
	var latencies []time.Duration
	for range n {
		status, took := benchLogin(b, context.Background(), client, ft)
		if status != http.StatusOK {
			b.Fatalf("tenant B's login: status %d", status)
		}
		latencies = append(latencies, took)
		time.Sleep(steadyEvery)
	}
	return latencies
}

// startFlood starts floodLogins logins as alice of ft at once, each starting again as
// soon as it is answered, and waits for them to fill ft's share and queue. stop
// cancels them and returns how they were answered and the peak of the memory the Go
// runtime held from the OS meanwhile.
func startFlood(b *testing.B, ft *tokentest.Tenant) (stop func() (answers map[int]int, peak uint64)) {
	ctx, cancel := context.WithCancel(context.Background())
	client := tokentest.Client(floodLogins)
	var mu sync.Mutex
	answers := map[int]int{}
	var wg sync.WaitGroup
	for range floodLogins {
		wg.Go(func() {
			for ctx.Err() == nil {
				if status, _ := benchLogin(b, ctx, client, ft); status != 0 {
					mu.Lock()
					answers[status]++
					mu.Unlock()
				}
			}
		})
	}
	peak := watchMemory(ctx)
	time.Sleep(300 * time.Millisecond)
	return func() (map[int]int, uint64) {
		cancel()
		wg.Wait()
		client.CloseIdleConnections()
		return answers, <-peak
	}
}

// benchLogin posts alice's password grant to ft and returns the status, 0 when ctx
// ended first, and the latency.
func benchLogin(b *testing.B, ctx context.Context, client *http.Client, ft *tokentest.Tenant) (int, time.Duration) {
	body := form("grant_type", "password", "client_id", tokentest.Public, "username", tokentest.Alice, "password", ft.AlicePassword)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, ft.Snapshot.Issuer+"oauth/token", strings.NewReader(body))
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	start := time.Now()
	resp, err := client.Do(req)
	if ctx.Err() != nil {
		return 0, 0
	}
	if err != nil {
		b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, time.Since(start)
}

// watchMemory samples the memory the Go runtime holds from the OS (what it mapped, less
// what it released) until ctx ends, then sends the peak.
func watchMemory(ctx context.Context) <-chan uint64 {
	peak := make(chan uint64, 1)
	samples := []metrics.Sample{{Name: "/memory/classes/total:bytes"}, {Name: "/memory/classes/heap/released:bytes"}}
	go func() {
		var most uint64
		for ctx.Err() == nil {
			metrics.Read(samples)
			most = max(most, samples[0].Value.Uint64()-samples[1].Value.Uint64())
			time.Sleep(5 * time.Millisecond)
		}
		peak <- most
	}()
	return peak
}

func p99(latencies []time.Duration) time.Duration {
	s := slices.Clone(latencies)
	slices.Sort(s)
	return s[(len(s)*99)/100]
}

// benchArgon2id returns a function that hashes a password with argon2id at m, t and p.
func benchArgon2id(b *testing.B, m, t uint32, p uint8) func(string) string {
	return func(password string) string {
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			b.Fatal(err)
		}
		key := argon2.IDKey([]byte(password), salt, t, m, p, 32)
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
			base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
	}
}
