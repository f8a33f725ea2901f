package tokenserver

import (
	"cmp"
	"encoding/json"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// loopbackProxy makes the test client, on loopback, a trusted proxy: X-Forwarded-For
// then chooses the client address of each request.
var loopbackProxy = WithTrustedProxies(attack.TrustedProxies{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")})

// republish serves acme with its snapshot changed by change.
func (ts *testServer) republish(t *testing.T, change func(*snapshot.Snapshot)) {
	t.Helper()
	acme := withIssuer(ts.acme, ts.acme.Snapshot.Issuer)
	acme.Snapshot.Clients = slices.Clone(acme.Snapshot.Clients)
	change(acme.Snapshot)
	ts.acme = acme
	ts.store.Publish([]*store.Tenant{ts.acme.View(t), ts.beta.View(t), ts.dom.View(t)})
}

// login posts the password grant of the public client, from ip when not empty.
func (ts *testServer) login(t *testing.T, ip, username, password string) (reply, map[string]any) {
	t.Helper()
	var header http.Header
	if ip != "" {
		header = http.Header{"X-Forwarded-For": {ip}}
	}
	return post(t, ts.acme.Snapshot.Issuer+"oauth/token", "", formType,
		form("grant_type", "password", "client_id", tokentest.Public, "username", username, "password", password), header)
}

// expect checks the outcome of a login: "ok", "invalid_grant" or "too_many_attempts".
func expect(t *testing.T, what string, resp reply, body map[string]any, want string) {
	t.Helper()
	got, _ := body["error"].(string)
	if resp.StatusCode == http.StatusOK {
		got = "ok"
	}
	if got != want {
		t.Fatalf("%s: %d %v, want %s", what, resp.StatusCode, body, want)
	}
	if want == "too_many_attempts" {
		assertOAuthError(t, resp, body, http.StatusTooManyRequests, want)
	}
}

// retryAfter is the Retry-After of an answer in seconds.
func retryAfter(t *testing.T, resp reply) int {
	t.Helper()
	s, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q: %v", resp.Header.Get("Retry-After"), err)
	}
	return s
}

func (ts *testServer) blocked(t *testing.T, reason attack.Reason) float64 {
	return counterValue(t, ts.metrics.blocked, reason)
}

func (ts *testServer) lockouts(t *testing.T, reason attack.Reason) float64 {
	return counterValue(t, ts.metrics.lockouts, reason)
}

// counterValue reads acme's counter of reason.
func counterValue(t *testing.T, v *prometheus.CounterVec, reason attack.Reason) float64 {
	t.Helper()
	var m dto.Metric
	if err := v.WithLabelValues("team-a/acme", string(reason)).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestBruteForceProtection(t *testing.T) {
	ts := newTestServer(t, loopbackProxy)
	const attacker, other = "198.51.100.1", "198.51.100.2"
	password := ts.acme.AlicePassword
	for i := range 10 {
		resp, body := ts.login(t, attacker, tokentest.Alice, "wrong")
		expect(t, "failure "+strconv.Itoa(i+1), resp, body, "invalid_grant")
	}
	if got := ts.lockouts(t, attack.ReasonBruteForce); got != 1 {
		t.Errorf("lockouts %v after the 10th failure, want 1", got)
	}

	resp, body := ts.login(t, attacker, tokentest.Alice, password)
	expect(t, "the right password while locked", resp, body, "too_many_attempts")
	// The clock is frozen no more than the test's own run time; 15 minutes is 900 s.
	if s := retryAfter(t, resp); s < 840 || s > 900 {
		t.Errorf("Retry-After %d s, want the 900 s of the cool-down", s)
	}
	resp, body = ts.login(t, attacker, tokentest.Alice, "wrong")
	expect(t, "a wrong password while locked", resp, body, "too_many_attempts")
	if got := ts.blocked(t, attack.ReasonBruteForce); got != 2 {
		t.Errorf("blocked attempts %v, want 2", got)
	}

	resp, body = ts.login(t, other, tokentest.Alice, password)
	expect(t, "the same user from another address", resp, body, "ok")
	resp, body = ts.login(t, attacker, tokentest.AliceEmail, "wrong")
	expect(t, "another login name of the user from the attacker's address", resp, body, "invalid_grant")

	// Blocked attempts do not extend the cool-down: it runs from the last failure.
	ts.clockSkew.Store(int64(10 * time.Minute))
	resp, body = ts.login(t, attacker, tokentest.Alice, password)
	expect(t, "ten minutes later", resp, body, "too_many_attempts")
	if s := retryAfter(t, resp); s < 240 || s > 300 {
		t.Errorf("Retry-After %d s ten minutes into the cool-down, want 300", s)
	}
	ts.clockSkew.Store(int64(15 * time.Minute))
	resp, body = ts.login(t, attacker, tokentest.Alice, password)
	expect(t, "after the cool-down", resp, body, "ok")

	// A success clears the count: nine more failures do not lock.
	for range 9 {
		resp, body = ts.login(t, attacker, tokentest.Alice, "wrong")
		expect(t, "failure after a success", resp, body, "invalid_grant")
	}
	resp, body = ts.login(t, attacker, tokentest.Alice, password)
	expect(t, "success before the limit", resp, body, "ok")
	for range 9 {
		resp, body = ts.login(t, attacker, tokentest.Alice, "wrong")
		expect(t, "failure after a second success", resp, body, "invalid_grant")
	}
	if got := ts.lockouts(t, attack.ReasonBruteForce); got != 1 {
		t.Errorf("lockouts %v, want still 1", got)
	}
}

// TestConcurrentLogins sends logins of one user from one address all at once: they get
// what they would get one after another. The right password is never refused, however
// many attempts are in flight; wrong ones get the threshold's invalid_grant, then
// too_many_attempts.
func TestConcurrentLogins(t *testing.T) {
	const concurrency, threshold = 32, 10
	tests := []struct {
		name     string
		password string // the right one when empty
		want     map[string]int
		lockouts float64
	}{
		{"the right password", "", map[string]int{"ok": concurrency}, 0},
		{"a wrong password", "wrong", map[string]int{"invalid_grant": threshold, "too_many_attempts": concurrency - threshold}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, loopbackProxy)
			password := cmp.Or(tc.password, ts.acme.AlicePassword)
			var mu sync.Mutex
			got := map[string]int{}
			var wg sync.WaitGroup
			for range concurrency {
				wg.Go(func() {
					resp, body := ts.login(t, "198.51.100.1", tokentest.Alice, password)
					outcome, _ := body["error"].(string)
					if resp.StatusCode == http.StatusOK {
						outcome = "ok"
					}
					mu.Lock()
					defer mu.Unlock()
					got[outcome]++
				})
			}
			wg.Wait()
			if !maps.Equal(got, tc.want) {
				t.Errorf("%d logins at once: %v, want %v", concurrency, got, tc.want)
			}
			if l := ts.lockouts(t, attack.ReasonBruteForce); l != tc.lockouts {
				t.Errorf("lockouts %v, want %v", l, tc.lockouts)
			}
		})
	}
}

func TestSuspiciousIPThrottling(t *testing.T) {
	ts := newTestServer(t, loopbackProxy)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.AttackProtection = &snapshot.AttackProtection{
			BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 10, CoolDown: 15 * time.Minute},
			SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 3, CoolDown: time.Hour},
		}
	})
	const attacker = "2001:db8:1:2::1"
	password := ts.acme.AlicePassword
	steps := []struct {
		username, password, want string
	}{
		{"mallory", "wrong", "invalid_grant"},
		{"nobody", "wrong", "invalid_grant"},
		// A success neither counts as a failure nor clears the address's failures ...
		{tokentest.Alice, password, "ok"},
		// ... so this third failure locks the address,
		{"trudy", "wrong", "invalid_grant"},
		// for every user, even one with the right password.
		{tokentest.Alice, password, "too_many_attempts"},
		{"eve", "wrong", "too_many_attempts"},
	}
	for i, s := range steps {
		resp, body := ts.login(t, attacker, s.username, s.password)
		expect(t, "step "+strconv.Itoa(i)+" "+s.username, resp, body, s.want)
		if s.want == "too_many_attempts" {
			if r := retryAfter(t, resp); r < 3540 || r > 3600 {
				t.Errorf("Retry-After %d s, want the hour of the cool-down", r)
			}
		}
	}
	resp, body := ts.login(t, "2001:db8:1:2::ffff", tokentest.Alice, password)
	expect(t, "another address of the attacker's /64", resp, body, "too_many_attempts")
	resp, body = ts.login(t, "2001:db8:1:3::1", tokentest.Alice, password)
	expect(t, "another /64", resp, body, "ok")
	if l, b := ts.lockouts(t, attack.ReasonIPThrottling), ts.blocked(t, attack.ReasonIPThrottling); l != 1 || b != 3 {
		t.Errorf("IP throttling: %v lockouts and %v blocked attempts, want 1 and 3", l, b)
	}
	if got := ts.lockouts(t, attack.ReasonBruteForce); got != 0 {
		t.Errorf("brute-force lockouts %v, want 0", got)
	}
}

func TestAttackProtectionPerTenant(t *testing.T) {
	limit := func(enabled bool, maxAttempts int) snapshot.AttackLimit {
		return snapshot.AttackLimit{Enabled: enabled, MaxAttempts: maxAttempts, CoolDown: time.Hour}
	}
	tests := []struct {
		name       string
		protection *snapshot.AttackProtection
		failures   int // before the right password is refused; 0 for never
	}{
		{"defaults when the snapshot has none", nil, 10},
		{"three attempts", &snapshot.AttackProtection{BruteForce: limit(true, 3), SuspiciousIPThrottling: limit(true, 100)}, 3},
		{"IP throttling below brute force", &snapshot.AttackProtection{BruteForce: limit(true, 10), SuspiciousIPThrottling: limit(true, 4)}, 4},
		{"both disabled", &snapshot.AttackProtection{BruteForce: limit(false, 3), SuspiciousIPThrottling: limit(false, 3)}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t)
			ts.republish(t, func(s *snapshot.Snapshot) { s.AttackProtection = tc.protection })
			attempts := max(tc.failures, 25)
			for i := 1; i <= attempts; i++ {
				resp, body := ts.login(t, "", tokentest.Alice, "wrong")
				want := "invalid_grant"
				if tc.failures > 0 && i > tc.failures {
					want = "too_many_attempts"
				}
				expect(t, "attempt "+strconv.Itoa(i), resp, body, want)
			}
			want := "ok"
			if tc.failures > 0 {
				want = "too_many_attempts"
			}
			resp, body := ts.login(t, "", tokentest.Alice, ts.acme.AlicePassword)
			expect(t, "the right password", resp, body, want)
		})
	}
}

// TestClientAddress checks where the counted address comes from: X-Forwarded-For only
// from a trusted proxy, auth0-forwarded-for only from a confidential client allowed to
// send it.
func TestClientAddress(t *testing.T) {
	tenantWithTrustedClient := func(ts *testServer) {
		ts.republish(t, func(s *snapshot.Snapshot) {
			for i := range s.Clients {
				s.Clients[i].TrustForwardedFor = s.Clients[i].ClientID == tokentest.Confidential
			}
		})
	}
	// lockAndProbe fails 10 times, each from a new address as send chooses it, and
	// reports whether the 11th attempt, with the right password from yet another
	// address, is blocked.
	lockAndProbe := func(t *testing.T, ts *testServer, send func(ip string, password string) (reply, map[string]any)) string {
		t.Helper()
		for i := range 10 {
			resp, body := send("198.51.100."+strconv.Itoa(i+1), "wrong")
			expect(t, "failure", resp, body, "invalid_grant")
		}
		resp, body := send("198.51.100.99", ts.acme.AlicePassword)
		if resp.StatusCode == http.StatusOK {
			return "ok"
		}
		e, _ := body["error"].(string)
		return e
	}
	tokenRequest := func(ts *testServer, clientID, secret string, header http.Header, password string) (reply, map[string]any) {
		return post(t, ts.acme.Snapshot.Issuer+"oauth/token", "", formType, form("grant_type", "password",
			"client_id", clientID, "client_secret", secret, "username", tokentest.Alice, "password", password), header)
	}

	tests := []struct {
		name string
		opts []Option
		send func(ts *testServer, ip, password string) (reply, map[string]any)
		want string
	}{
		{"X-Forwarded-For of a trusted proxy is the address", []Option{loopbackProxy},
			func(ts *testServer, ip, password string) (reply, map[string]any) {
				return ts.login(t, ip, tokentest.Alice, password)
			}, "ok"},
		{"X-Forwarded-For without trusted proxies is ignored", nil,
			func(ts *testServer, ip, password string) (reply, map[string]any) {
				return ts.login(t, ip, tokentest.Alice, password)
			}, "too_many_attempts"},
		{"auth0-forwarded-for of a trusted confidential client is the address", nil,
			func(ts *testServer, ip, password string) (reply, map[string]any) {
				return tokenRequest(ts, tokentest.Confidential, ts.acme.ConfidentialSecret, http.Header{"Auth0-Forwarded-For": {ip}}, password)
			}, "ok"},
		{"auth0-forwarded-for wins over X-Forwarded-For", []Option{loopbackProxy},
			func(ts *testServer, ip, password string) (reply, map[string]any) {
				return tokenRequest(ts, tokentest.Confidential, ts.acme.ConfidentialSecret,
					http.Header{"Auth0-Forwarded-For": {ip}, "X-Forwarded-For": {"203.0.113.1"}}, password)
			}, "ok"},
		{"auth0-forwarded-for of a public client is ignored", nil,
			func(ts *testServer, ip, password string) (reply, map[string]any) {
				return tokenRequest(ts, tokentest.Public, "", http.Header{"Auth0-Forwarded-For": {ip}}, password)
			}, "too_many_attempts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTestServer(t, tc.opts...)
			tenantWithTrustedClient(ts)
			got := lockAndProbe(t, ts, func(ip, password string) (reply, map[string]any) { return tc.send(ts, ip, password) })
			if got != tc.want {
				t.Errorf("the right password from a new address after 10 failures: %s, want %s", got, tc.want)
			}
		})
	}

	t.Run("auth0-forwarded-for of a confidential client not allowed to send it is ignored", func(t *testing.T) {
		ts := newTestServer(t)
		got := lockAndProbe(t, ts, func(ip, password string) (reply, map[string]any) {
			return tokenRequest(ts, tokentest.Confidential, ts.acme.ConfidentialSecret, http.Header{"Auth0-Forwarded-For": {ip}}, password)
		})
		if got != "too_many_attempts" {
			t.Errorf("got %s, want too_many_attempts", got)
		}
	})
	t.Run("malformed auth0-forwarded-for of a trusted client", func(t *testing.T) {
		ts := newTestServer(t)
		tenantWithTrustedClient(ts)
		for _, header := range []http.Header{
			{"Auth0-Forwarded-For": {"not-an-address"}},
			{"Auth0-Forwarded-For": {"198.51.100.1, 198.51.100.2"}},
			{"Auth0-Forwarded-For": {"198.51.100.1", "198.51.100.2"}},
		} {
			resp, body := tokenRequest(ts, tokentest.Confidential, ts.acme.ConfidentialSecret, header, ts.acme.AlicePassword)
			assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_request")
		}
	})
}

// TestUnblockFromSnapshot locks logins and addresses out, then clears them through the
// snapshot's unblock value, as the Tenant's annotation sets it.
func TestUnblockFromSnapshot(t *testing.T) {
	ts := newTestServer(t, loopbackProxy)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.AttackProtection = &snapshot.AttackProtection{
			BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 3, CoolDown: time.Hour},
			SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 5, CoolDown: time.Hour},
		}
	})
	const a, b, c, d = "198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"
	fail := func(ip, username string, n int) {
		t.Helper()
		for range n {
			ts.login(t, ip, username, "wrong")
		}
	}
	probe := func(what, ip, username, password, want string) {
		t.Helper()
		resp, body := ts.login(t, ip, username, password)
		expect(t, what, resp, body, want)
	}
	fail(a, tokentest.Alice, 3)
	fail(b, tokentest.AliceEmail, 3)
	fail(c, "mallory", 3)
	fail(c, "trudy", 2) // the fifth failure from c throttles it
	probe("alice locked from a", a, tokentest.Alice, ts.acme.AlicePassword, "too_many_attempts")
	probe("alice's email locked from b", b, tokentest.AliceEmail, ts.acme.AlicePassword, "too_many_attempts")

	ts.republish(t, func(s *snapshot.Snapshot) { s.Unblock = "ALICE" })
	probe("alice unblocked from a", a, tokentest.Alice, ts.acme.AlicePassword, "ok")
	probe("another login name is not unblocked", b, tokentest.AliceEmail, ts.acme.AlicePassword, "too_many_attempts")
	probe("an address is not unblocked by a user", c, tokentest.Alice, ts.acme.AlicePassword, "too_many_attempts")

	fail(d, tokentest.Alice, 3)
	ts.republish(t, func(s *snapshot.Snapshot) {}) // the same value, in a new snapshot
	probe("the same value unblocks once", d, tokentest.Alice, ts.acme.AlicePassword, "too_many_attempts")
	ts.republish(t, func(s *snapshot.Snapshot) { s.Unblock = "alice;2" })
	probe("a new suffix repeats it", d, tokentest.Alice, ts.acme.AlicePassword, "ok")

	ts.republish(t, func(s *snapshot.Snapshot) { s.Unblock = "*" })
	probe("* unblocks every login", b, tokentest.AliceEmail, ts.acme.AlicePassword, "ok")
	probe("* unblocks every address", c, tokentest.Alice, ts.acme.AlicePassword, "ok")
}

// logLines decodes the JSON log lines written to logs.
func logLines(t *testing.T, logs *proctest.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for line := range strings.Lines(logs.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, m)
	}
	return out
}

// TestAttackLogs checks the lockout and blocked-attempt log lines: who, from where,
// why, and never a password.
func TestAttackLogs(t *testing.T) {
	var logs proctest.Buffer
	ts := newLoggingTestServer(t, slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), loopbackProxy)
	const attacker = "198.51.100.7"
	wrong := tokentest.Random(t)
	for range 10 {
		ts.login(t, attacker, tokentest.Alice, wrong)
	}
	ts.login(t, attacker, tokentest.Alice, ts.acme.AlicePassword)

	want := map[string]any{"tenant": "team-a/acme", "connection": tokentest.Connection, "client": "public",
		"reason": "brute_force", "clientIP": attacker, "username": tokentest.Alice}
	counts := map[string]int{}
	for _, line := range logLines(t, &logs) {
		raw, _ := json.Marshal(line)
		if strings.Contains(string(raw), wrong) || strings.Contains(string(raw), ts.acme.AlicePassword) {
			t.Errorf("a log line holds a password: %s", raw)
		}
		msg, _ := line["msg"].(string)
		counts[msg]++
		if msg != "login locked out" && msg != "login blocked" {
			continue
		}
		if wantLevel := map[string]string{"login locked out": "WARN", "login blocked": "INFO"}[msg]; line["level"] != wantLevel {
			t.Errorf("%q logged at %v, want %s", msg, line["level"], wantLevel)
		}
		for k, v := range want {
			if line[k] != v {
				t.Errorf("%q: %s = %v, want %v", msg, k, line[k], v)
			}
		}
	}
	if counts["login refused"] != 10 || counts["login locked out"] != 1 || counts["login blocked"] != 1 {
		t.Errorf("logged %v, want 10 refusals, 1 lockout, 1 blocked attempt", counts)
	}
}

// TestCountersFull fills a tenant's budget of counts with lockouts: a login that needs a
// new count is refused with 503 until the first lockout expires, counted and logged once,
// while another tenant's logins go on.
func TestCountersFull(t *testing.T) {
	var logs proctest.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	var report func(attack.Full)
	memory := attack.NewMemory(attack.MemoryOptions{TenantBudget: 2, Report: func(f attack.Full) { report(f) }})
	ts := newLoggingTestServer(t, log, loopbackProxy, WithCounters(memory))
	report = CountersReporter(ts.store, ts.metrics, log)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.AttackProtection = &snapshot.AttackProtection{BruteForce: snapshot.AttackLimit{Enabled: true, MaxAttempts: 1, CoolDown: 15 * time.Minute}}
	})
	for _, user := range []string{"mallory-1", "mallory-2"} {
		resp, body := ts.login(t, "198.51.100.1", user, "wrong")
		expect(t, "a failure that locks "+user, resp, body, "invalid_grant")
	}
	for range 3 {
		resp, body := ts.login(t, "198.51.100.1", tokentest.Alice, ts.acme.AlicePassword)
		assertOAuthError(t, resp, body, http.StatusServiceUnavailable, "temporarily_unavailable")
		if s := retryAfter(t, resp); s < 840 || s > 900 {
			t.Errorf("Retry-After %d s, want the 900 s until the first lockout expires", s)
		}
	}
	resp, body := post(t, ts.beta.Snapshot.Issuer+"oauth/token", "", formType,
		form("grant_type", "password", "client_id", tokentest.Public, "username", tokentest.Alice, "password", ts.beta.AlicePassword), nil)
	expect(t, "another tenant's login", resp, body, "ok")

	var m dto.Metric
	if err := ts.metrics.countersFull.WithLabelValues("team-a/acme", "tenant", "refused").Write(&m); err != nil || m.GetCounter().GetValue() != 3 {
		t.Errorf("counters_full_total{tenant=team-a/acme,bound=tenant,outcome=refused} = %v, want 3", m.GetCounter().GetValue())
	}
	if got := ts.blocked(t, attack.ReasonCountersFull); got != 3 {
		t.Errorf("blocked{reason=counters_full} = %v, want 3", got)
	}
	var full []map[string]any
	for _, line := range logLines(t, &logs) {
		if msg, _ := line["msg"].(string); strings.HasPrefix(msg, "attempt counters full") {
			full = append(full, line)
		}
	}
	if len(full) != 1 || full[0]["tenant"] != "team-a/acme" || full[0]["level"] != "WARN" {
		t.Errorf("logged %v, want one warning naming team-a/acme", full)
	}
}
