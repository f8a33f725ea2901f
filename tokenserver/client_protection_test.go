package tokenserver

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestClientSecretGuessesAreLimited plays a network client guessing a machine client's
// secret: its failures are counted per client and address like failed logins, however
// it sets auth0-forwarded-for, and lock the client out at that address only; unknown
// client_ids are not counted.
func TestClientSecretGuessesAreLimited(t *testing.T) {
	ts := newTestServer(t, loopbackProxy)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.AttackProtection = &snapshot.AttackProtection{
			BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 3, CoolDown: 15 * time.Minute},
			SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 6, CoolDown: time.Hour},
		}
		for i := range s.Clients {
			// Trusted with the header, which must not choose the address guesses count at.
			s.Clients[i].TrustForwardedFor = s.Clients[i].ClientID == tokentest.Machine
		}
	})
	const attacker, owner, scanner = "198.51.100.1", "198.51.100.2", "198.51.100.3"
	machineToken := func(ip, id, secret string, i int) (reply, map[string]any) {
		header := basic(id, secret)
		header.Set("X-Forwarded-For", ip)
		header.Set(headerForwardedFor, "203.0.113."+strconv.Itoa(i))
		return post(t, ts.acme.Snapshot.Issuer+"oauth/token", "", formType, form("grant_type", "client_credentials"), header)
	}
	for i := range 3 {
		resp, body := machineToken(attacker, tokentest.Machine, "guess-"+strconv.Itoa(i), i)
		assertOAuthError(t, resp, body, http.StatusUnauthorized, "invalid_client")
	}
	resp, body := machineToken(attacker, tokentest.Machine, ts.acme.MachineSecret, 9)
	assertOAuthError(t, resp, body, http.StatusTooManyRequests, "too_many_attempts")
	if s := retryAfter(t, resp); s < 840 || s > 900 {
		t.Errorf("Retry-After %d s, want the 900 s of the cool-down", s)
	}
	if got := ts.lockouts(t, attack.ReasonBruteForce); got != 1 {
		t.Errorf("lockouts %v, want 1", got)
	}
	resp, body = machineToken(owner, tokentest.Machine, ts.acme.MachineSecret, 0)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the client from its own address: %d %v", resp.StatusCode, body)
	}

	// Unknown client_ids are refused uncounted: no secret was checked, and a workload
	// that asks before its new Client is served must not lock itself out. Guesses at a
	// known client from several addresses, or several clients, still are counted.
	for i := range 20 {
		resp, body := machineToken(scanner, "unknown-"+strconv.Itoa(i%2), "guess", i)
		assertOAuthError(t, resp, body, http.StatusUnauthorized, "invalid_client")
	}
	resp, body = machineToken(scanner, tokentest.Machine, ts.acme.MachineSecret, 0)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the client from an address that asked for unknown clients: %d %v", resp.StatusCode, body)
	}
	if got := counterValue(t, ts.metrics.clientAuthFailures, methodClientSecret); got != 23 {
		t.Errorf("failed client authentications %v, want 23", got)
	}
	if got := counterValue(t, ts.metrics.issued, grantClientCredentials); got != 2 {
		t.Errorf("client_credentials tokens issued %v, want 2", got)
	}
}
