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

// Package soak runs a bounded load against a token server on loopback and reports what
// came back, so that a long run shows what short tests do not: leaks, errors under
// sustained load, latency that drifts. The report counts answers by kind (HTTP status
// and OAuth error code, transport errors, timeouts), gives latency percentiles per
// request, and samples the token server's memory over time from its metrics endpoint.
//
// The load is open loop: requests start on a fixed schedule, whatever the answers take,
// so a server that falls behind shows it as latency (measured from each request's
// scheduled start) instead of quietly slowing the load down.
//
// The mix is what an identity service sees from its applications: in every 20
// requests, 5 password grants of the sample user, 1 with a wrong password (an
// expected invalid_grant), 8 userinfo calls with issued access tokens, 3 JWKS and 3
// discovery fetches. Password hashing bounds logins (bcrypt cost 10 is ≈ 62 ms of
// CPU, about 12 checks/s on a shared 2-core machine), so at the default 20 requests/s
// the 6 logins/s use half of that: a healthy server keeps up, and the soak measures
// stability rather than maximum throughput.
//
// Each request carries X-Forwarded-For with one of a pool of simulated client
// addresses (TEST-NET-3, 203.0.113.0/24). An address sends whole cycles of the mix, so
// between two wrong passwords from one address there are always correct ones: brute
// force protection counting failures per user and address never reaches its lockout
// threshold. Suspicious-IP throttling counts every failure of an address for an hour
// after its last: at the default rate and 64 addresses an address fails about once a
// minute, so it reaches that limit (100) after about 100 minutes; longer soaks need
// more addresses or a lower rate. StartLocal makes the token server trust the header
// from loopback.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config bounds a run.
type Config struct {
	// Duration is how long requests are started for.
	Duration time.Duration
	// Rate is requests started per second.
	Rate float64
	// MaxInFlight caps requests awaiting an answer; a request due while the cap is
	// reached is not sent, and counted as such. Default 256.
	MaxInFlight int
	// Timeout bounds each request. Default 10s.
	Timeout time.Duration
	// ClientAddresses is the number of simulated client addresses, 1 to 254. Default 64.
	ClientAddresses int
	// SampleEvery is the interval of memory samples. Default Duration/30, within 1s to 1m.
	SampleEvery time.Duration
	// Progress, when set, gets a line at each memory sample, for watching a long run.
	Progress io.Writer
}

// Target is the token server and tenant under load.
type Target struct {
	// TokenURL is the tenant's token endpoint; its other endpoints are next to it.
	TokenURL string
	// PasswordGrant is the form of a password grant that succeeds.
	PasswordGrant map[string]string
	// MetricsURL is the token server's Prometheus endpoint.
	MetricsURL string
}

// Defaults of Config.
const (
	DefaultMaxInFlight     = 256
	DefaultTimeout         = 10 * time.Second
	DefaultClientAddresses = 64
	memorySamples          = 30
)

func (c Config) withDefaults() (Config, error) {
	if c.Duration <= 0 || c.Rate <= 0 {
		return c, errors.New("duration and rate must be positive")
	}
	if c.MaxInFlight < 0 || c.Timeout < 0 || c.SampleEvery < 0 {
		return c, errors.New("the in-flight cap, the timeout and the sample interval cannot be negative")
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.ClientAddresses == 0 {
		c.ClientAddresses = DefaultClientAddresses
	}
	if c.ClientAddresses < 1 || c.ClientAddresses > 254 {
		return c, fmt.Errorf("client addresses must be 1 to 254, not %d", c.ClientAddresses)
	}
	if c.SampleEvery == 0 {
		c.SampleEvery = min(max(c.Duration/memorySamples, time.Second), time.Minute)
	}
	return c, nil
}

// Run sends the load of cfg to target and reports on it. It stops starting requests
// when ctx ends, waits for those in flight, and reports on what was sent.
func Run(ctx context.Context, cfg Config, target Target) (*Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, u := range []string{target.TokenURL, target.MetricsURL} {
		if err := checkLoopbackURL(u); err != nil {
			return nil, err
		}
	}
	r := newRunner(cfg, target)
	defer r.client.CloseIdleConnections()
	if err := r.warmUp(ctx); err != nil {
		return nil, err
	}

	r.report.LoadAtStart = loadAverage()
	stopSampling := r.sampleMemory()
	start := time.Now()
	r.sendOnSchedule(ctx, start)
	r.report.Elapsed = time.Since(start)
	stopSampling()
	r.report.LoadAtEnd = loadAverage()
	r.report.Interrupted = ctx.Err() != nil
	return r.report, nil
}

// runner holds the state of one run.
type runner struct {
	cfg       Config
	target    Target
	endpoints endpoints
	client    *http.Client
	cycle     []*scenario
	addresses []string
	tokens    tokenPool

	mu     sync.Mutex // guards report while requests are in flight
	report *Report
}

func newRunner(cfg Config, target Target) *runner {
	return &runner{
		cfg:       cfg,
		target:    target,
		endpoints: endpointsOf(target.TokenURL),
		client:    loopbackClient(cfg.MaxInFlight),
		cycle:     schedule(mix),
		addresses: clientAddresses(cfg.ClientAddresses),
		report:    newReport(cfg, target.TokenURL),
	}
}

// warmUp logs in once before the clock starts: a broken target fails here with a clear
// error, and userinfo has an access token from the first request on.
func (r *runner) warmUp(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := loginRequest(ctx, r, r.target.PasswordGrant)
	if err != nil {
		return err
	}
	req.Header.Set("X-Forwarded-For", r.addresses[0])
	got, err := r.exchange(req)
	if err != nil {
		return fmt.Errorf("warm-up login: %w", err)
	}
	if got.status != http.StatusOK {
		return fmt.Errorf("warm-up login: answered %s", got.kind())
	}
	return nil
}

// sendOnSchedule starts request i at start + i/rate until the duration or ctx ends, and
// waits for the answers.
func (r *runner) sendOnSchedule(ctx context.Context, start time.Time) {
	total := scheduled(r.cfg)
	inFlight := make(chan struct{}, r.cfg.MaxInFlight)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range total {
		at := start.Add(time.Duration(float64(i) / r.cfg.Rate * float64(time.Second)))
		if !sleepUntil(ctx, at) {
			return
		}
		sc := r.cycle[i%len(r.cycle)]
		select {
		case inFlight <- struct{}{}:
		default:
			r.record(func(rep *Report) { rep.NotSent++ })
			continue
		}
		// An address sends a whole cycle of the mix before the next one takes over.
		address := r.addresses[(i/len(r.cycle))%len(r.addresses)]
		wg.Go(func() {
			defer func() { <-inFlight }()
			got := r.send(sc, address)
			latency := time.Since(at)
			r.record(func(rep *Report) { rep.add(sc, got, latency) })
		})
	}
}

// send runs one request of sc from address. Requests in flight finish even after the
// run is interrupted: an answer cut short would count as the server's error.
func (r *runner) send(sc *scenario, address string) outcome {
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Timeout)
	defer cancel()
	req, err := sc.request(ctx, r)
	if err != nil {
		return transportOutcome(err)
	}
	req.Header.Set("X-Forwarded-For", address)
	got, err := r.exchange(req)
	if err != nil {
		return transportOutcome(err)
	}
	return got
}

func (r *runner) record(update func(*Report)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	update(r.report)
}

// sleepUntil waits until t; it reports false when ctx ends first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	wait := time.Until(t)
	if wait <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-timer.C:
		return true
	}
}

// loopbackClient is an HTTP client that dials loopback addresses only, keeps up to
// maxConns connections alive, and reports redirects rather than following them.
func loopbackClient(maxConns int) *http.Client {
	dialer := &net.Dialer{
		Timeout: 5 * time.Second,
		Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if !isLoopback(host) {
				return fmt.Errorf("refusing to dial %s: the soak runs against loopback only", address)
			}
			return nil
		},
	}
	return &http.Client{
		Transport: &http.Transport{
			DialContext:         dialer.DialContext,
			MaxIdleConns:        maxConns,
			MaxIdleConnsPerHost: maxConns,
			IdleConnTimeout:     90 * time.Second,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// checkLoopbackURL refuses a URL whose host is not a loopback address.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if !isLoopback(u.Hostname()) {
		return fmt.Errorf("%s is not on loopback: the soak runs against loopback only", raw)
	}
	return nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.IsLoopback()
}
