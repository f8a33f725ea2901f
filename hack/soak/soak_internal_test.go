/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestScheduleSpreadsTheMixByWeight(t *testing.T) {
	cycle := schedule(mix)
	if len(cycle) != 20 {
		t.Fatalf("a cycle of %d requests, want 20", len(cycle))
	}
	for _, sc := range mix {
		if n := countOf(cycle, sc); n != sc.weight {
			t.Errorf("%s: %d in a cycle, want %d", sc.name, n, sc.weight)
		}
	}
	// Evenly rather than in blocks: userinfo, the heaviest, never runs twice in a row
	// within a cycle, and the first half of the cycle holds about half of every request.
	for i := range cycle[1:] {
		if cycle[i].name == "userinfo" && cycle[i+1].name == "userinfo" {
			t.Errorf("userinfo twice in a row at %d: %v", i, names(cycle))
		}
	}
	for _, sc := range mix {
		if n := countOf(cycle[:10], sc); n < sc.weight/2 || n > (sc.weight+1)/2 {
			t.Errorf("%s: %d of %d in the first half of the cycle %v", sc.name, n, sc.weight, names(cycle))
		}
	}
}

func countOf(cycle []*scenario, sc *scenario) int {
	n := 0
	for _, c := range cycle {
		if c == sc {
			n++
		}
	}
	return n
}

func names(cycle []*scenario) []string {
	var out []string
	for _, sc := range cycle {
		out = append(out, sc.name)
	}
	return out
}

func TestClassify(t *testing.T) {
	bearer := http.Header{"Www-Authenticate": {`Bearer realm="x", error="invalid_token", error_description="expired"`}}
	tests := []struct {
		name      string
		status    int
		header    http.Header
		body      string
		wantKind  string
		wantToken string
	}{
		{"login", 200, nil, `{"access_token":"a.b.c","token_type":"Bearer"}`, "200", "a.b.c"},
		{"jwks", 200, nil, `{"keys":[]}`, "200", ""},
		{"wrong password", 400, nil, `{"error":"invalid_grant","error_description":"Wrong username or password."}`, "400 invalid_grant", ""},
		{"locked out", 429, nil, `{"error":"too_many_attempts"}`, "429 too_many_attempts", ""},
		{"directory down", 503, nil, `{"error":"temporarily_unavailable"}`, "503 temporarily_unavailable", ""},
		{"userinfo refused", 401, bearer, "", "401 invalid_token", ""},
		{"not found", 404, nil, "404 page not found\n", "404", ""},
		{"proxy error", 502, nil, "<html>bad gateway</html>", "502", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, token := classify(tt.status, tt.header, []byte(tt.body))
			if got.kind() != tt.wantKind || token != tt.wantToken {
				t.Errorf("kind %q, token %q; want %q, %q", got.kind(), token, tt.wantKind, tt.wantToken)
			}
		})
	}
}

func TestTransportOutcome(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("post: %w", context.DeadlineExceeded), "timeout"},
		{&net.OpError{Op: "read", Err: os.ErrDeadlineExceeded}, "timeout"},
		{&net.OpError{Op: "dial", Err: errors.New("connection refused")}, "transport error"},
	}
	for _, tt := range tests {
		if got := transportOutcome(tt.err).kind(); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	s := &RequestStats{}
	for i := 100; i >= 1; i-- {
		s.latencies = append(s.latencies, time.Duration(i)*time.Millisecond)
	}
	for p, want := range map[float64]time.Duration{0.5: 50 * time.Millisecond, 0.99: 99 * time.Millisecond, 1: 100 * time.Millisecond} {
		if got := s.Percentile(p); got != want {
			t.Errorf("p%g = %v, want %v", p*100, got, want)
		}
	}
	one := &RequestStats{latencies: []time.Duration{time.Second}}
	if got := one.Percentile(0.99); got != time.Second {
		t.Errorf("p99 of one request %v, want 1s", got)
	}
	if got := (&RequestStats{}).Percentile(0.99); got != 0 {
		t.Errorf("p99 of none %v, want 0", got)
	}
}

func TestParseMetrics(t *testing.T) {
	const text = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 23
go_memstats_heap_inuse_bytes 4.3958272e+06
go_memstats_heap_inuse_bytes_total{x="y"} 1
process_resident_memory_bytes 5.5185408e+07
gatehouse_requests_total{tenant="acme"} 12
`
	got, err := parseMetrics(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	if want := (MemorySample{RSS: 55185408, HeapInUse: 4395827.2, Goroutines: 23}); got != want {
		t.Errorf("%+v, want %+v", got, want)
	}
	if _, err := parseMetrics(strings.NewReader("go_goroutines 23\n")); err == nil {
		t.Error("metrics without the memory gauges parsed")
	}
}

func TestRunRefusesTargetsOffLoopback(t *testing.T) {
	cfg := Config{Duration: time.Second, Rate: 1}
	for _, target := range []Target{
		{TokenURL: "http://192.0.2.1/t/oauth/token", MetricsURL: "http://127.0.0.1:1/metrics"},
		{TokenURL: "http://127.0.0.1:1/t/oauth/token", MetricsURL: "http://example.com/metrics"},
	} {
		if _, err := Run(t.Context(), cfg, target); err == nil || !strings.Contains(err.Error(), "loopback only") {
			t.Errorf("%+v: %v, want a refusal", target, err)
		}
	}
	for _, host := range []string{"127.0.0.1", "127.1.2.3", "::1", "localhost"} {
		if !isLoopback(host) {
			t.Errorf("%s is loopback", host)
		}
	}
	for _, host := range []string{"192.0.2.1", "::ffff:192.0.2.1", "0.0.0.0", "", "localhost.example.com"} {
		if isLoopback(host) {
			t.Errorf("%s is not loopback", host)
		}
	}
}

func TestFailures(t *testing.T) {
	login, wrong := mix[0], mix[1]
	healthy := func() *Report {
		rep := newReport(Config{Duration: time.Second, Rate: 4, MaxInFlight: 2}, "http://127.0.0.1/t/oauth/token")
		rep.add(login, login.want, time.Millisecond)
		rep.add(wrong, wrong.want, time.Millisecond)
		rep.Memory = []MemorySample{{RSS: 1}}
		return rep
	}
	tests := []struct {
		name  string
		spoil func(*Report)
		want  []string
	}{
		{"healthy", func(*Report) {}, nil},
		{"5xx", func(r *Report) { r.add(login, outcome{status: 503, code: "temporarily_unavailable"}, 0) }, []string{"1 answers were 5xx"}},
		{"timeout", func(r *Report) { r.add(login, outcome{transport: transportTimeout}, 0) }, []string{"1 requests got no answer"}},
		{"behind", func(r *Report) { r.NotSent = 3 }, []string{"3 requests were not sent: 2 were awaiting answers"}},
		{"no memory", func(r *Report) { r.Memory = nil }, []string{"the token server's memory could not be sampled"}},
		// A lockout is reported, not failed: it is the brute-force protection working.
		{"locked out", func(r *Report) { r.add(login, outcome{status: 429, code: "too_many_attempts"}, 0) }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rep := healthy()
			tt.spoil(rep)
			if got := rep.Failures(); !slices.Equal(got, tt.want) {
				t.Errorf("failures %q, want %q", got, tt.want)
			}
			var out strings.Builder
			if err := rep.Write(&out); err != nil {
				t.Fatal(err)
			}
			if pass := strings.Contains(out.String(), "Result: PASS"); pass != (tt.want == nil) {
				t.Errorf("the report says PASS: %v, with failures %q:\n%s", pass, tt.want, out.String())
			}
		})
	}
	rep := healthy()
	if got := rep.Request("login (wrong password)"); got.Sent != 1 || got.AsExpected != 1 {
		t.Errorf("the wrong password answered invalid_grant is counted as %+v", got)
	}
}
