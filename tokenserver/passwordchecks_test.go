package tokenserver

import (
	"context"
	"log/slog"
	"net/http"
	"strconv"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/database"
	"github.com/gatehouse-dev/gatehouse/tokenserver/hashlimit"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestSaturatingTenantGets503: while acme holds all the password checks a tenant may
// hold, its logins wait the limiter's bounded wait and get 503 temporarily_unavailable
// with Retry-After, counted, logged, and not counted as failed attempts; beta's logins
// meanwhile get their tokens.
func TestSaturatingTenantGets503(t *testing.T) {
	var logs proctest.Buffer
	ts := newLoggingTestServer(t, slog.New(slog.NewJSONHandler(&logs, nil)))
	// A bcrypt check weighs a quarter of the budget: a tenant alone holds two.
	limiter := hashlimit.New(hashlimit.Config{Budget: 4 << 20, Threads: 4, MaxWait: 50 * time.Millisecond, MaxQueued: 10})
	checks := database.Checks{Caps: password.DefaultCaps(), Limiter: limiter}
	ts.store.Publish([]*store.Tenant{ts.acme.ViewChecking(t, checks), ts.beta.ViewChecking(t, checks)})

	// acme's two checks in flight, as a flood of acme's logins would hold them.
	bcrypt := password.Cost{MemoryKiB: 5, Threads: 1}
	var inFlight []func()
	for range 2 {
		release, err := limiter.Acquire(context.Background(), ts.acme.Snapshot.Tenant.UID, bcrypt)
		if err != nil {
			t.Fatal(err)
		}
		inFlight = append(inFlight, release)
	}

	// More refusals than brute-force protection allows failures: none of them counts.
	const refusals = 12
	for i := range refusals {
		resp, body := ts.login(t, "", tokentest.Alice, "wrong")
		assertOAuthError(t, resp, body, http.StatusServiceUnavailable, "temporarily_unavailable")
		if retryAfter(t, resp) < 1 {
			t.Fatalf("refusal %d: Retry-After %q", i+1, resp.Header.Get("Retry-After"))
		}
		beta := form("grant_type", "password", "client_id", tokentest.Public, "username", tokentest.Alice, "password", ts.beta.AlicePassword)
		if resp, body := post(t, ts.beta.Snapshot.Issuer+"oauth/token", "", formType, beta, nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("beta's login while acme saturates: %d %v", resp.StatusCode, body)
		}
	}

	var m dto.Metric
	if err := ts.metrics.checksRefused.WithLabelValues("team-a/acme", string(hashlimit.ReasonTimeout)).Write(&m); err != nil {
		t.Fatal(err)
	}
	if got := m.GetCounter().GetValue(); got != refusals {
		t.Errorf("refused checks of acme counted %v, want %d", got, refusals)
	}
	logged := 0
	for _, line := range logLines(t, &logs) {
		if line["msg"] == "login refused: too many password checks of the tenant at once" {
			logged++
			if line["tenant"] != "team-a/acme" || line["connection"] != tokentest.Connection || line["reason"] != string(hashlimit.ReasonTimeout) {
				t.Errorf("refusal logged as %v", line)
			}
		}
	}
	if logged != refusals {
		t.Errorf("%d refusals logged, want %d", logged, refusals)
	}

	// Once acme's checks end, the right password works: the refusals counted no failure.
	for _, release := range inFlight {
		release()
	}
	resp, body := ts.login(t, "", tokentest.Alice, ts.acme.AlicePassword)
	expect(t, "acme's login after the flood, "+strconv.Itoa(refusals)+" refusals later", resp, body, "ok")
}
