package tokentest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// formType is the content type of a token request.
const formType = "application/x-www-form-urlencoded"

// LoadResult is the throughput and latency of a run of Load.
type LoadResult struct {
	Rate     float64 // answers per second
	P50, P99 time.Duration
}

// Report reports the result as b's metrics, in place of ns/op.
func (r LoadResult) Report(b *testing.B) {
	b.ReportMetric(r.Rate, "tokens/s")
	b.ReportMetric(Milliseconds(r.P50), "p50-ms")
	b.ReportMetric(Milliseconds(r.P99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// Milliseconds is d in milliseconds, to three decimals.
func Milliseconds(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// PostLoad posts b.N token requests from concurrency clients at once, each waiting for
// its answer before sending the next; request i goes to urls[i%len(urls)] (round robin,
// as a Service spreads them over replicas) with bodies[i%len(bodies)]. It fails b
// unless every answer is 200.
func PostLoad(b *testing.B, urls, bodies []string, concurrency int) LoadResult {
	b.Helper()
	client := Client(concurrency)
	defer client.CloseIdleConnections()
	return Load(b, concurrency, func(ctx context.Context, i int) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, urls[i%len(urls)], strings.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Content-Type", formType)
		if !RoundTrip(b, client, req) {
			return errAnswered
		}
		return nil
	})
}

// errAnswered stops a PostLoad client whose answer RoundTrip reported.
var errAnswered = errors.New("not 200")

// Load calls do b.N times, from concurrency goroutines at once, each waiting for its
// call to return before the next (i numbers the calls), and returns the rate and the
// latencies. A goroutine whose call fails stops, and the failure fails b.
func Load(b *testing.B, concurrency int, do func(ctx context.Context, i int) error) LoadResult {
	b.Helper()
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	for range concurrency {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(b.N); i = next.Add(1) - 1 {
				start := time.Now()
				if err := do(b.Context(), int(i)); err != nil {
					if !errors.Is(err, errAnswered) {
						b.Error(err)
					}
					return
				}
				latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	return LoadResult{
		Rate: float64(b.N) / b.Elapsed().Seconds(),
		P50:  latencies[len(latencies)/2],
		P99:  latencies[(len(latencies)*99)/100],
	}
}

// Client is an HTTP client keeping concurrency connections to each host.
func Client(concurrency int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency}}
}

// RoundTrip sends req and reports whether the answer was 200; it fails b otherwise.
func RoundTrip(b *testing.B, client *http.Client, req *http.Request) bool {
	resp, err := client.Do(req) //nolint:gosec // the benchmark's own server
	if err != nil {
		b.Error(err)
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("status %d", resp.StatusCode)
		return false
	}
	return true
}
