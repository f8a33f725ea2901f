package tokenserver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/serviceaccount"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// fakeServiceAccounts accepts the token "<namespace>/<name>" for that ServiceAccount
// and the tenant's audiences; "unavailable" is the cluster's keys being unreadable.
type fakeServiceAccounts struct{ audiences [][]string }

func (f *fakeServiceAccounts) Verify(_ context.Context, token string, audiences []string, a serviceaccount.Account) error {
	f.audiences = append(f.audiences, audiences)
	switch token {
	case "unavailable":
		return serviceaccount.ErrUnavailable
	case a.Namespace + "/" + a.Name:
		return nil
	}
	return fmt.Errorf("%w: not %s/%s", serviceaccount.ErrInvalid, a.Namespace, a.Name)
}

const boundMachine = "bound-machine"

func TestClientAssertions(t *testing.T) {
	verifier := &fakeServiceAccounts{}
	ts := newTestServer(t, WithServiceAccounts(verifier), loopbackProxy)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.AttackProtection = &snapshot.AttackProtection{
			BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 3, CoolDown: 15 * time.Minute},
			SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 100, CoolDown: time.Hour},
		}
		s.Clients = append(s.Clients, snapshot.Client{ClientID: boundMachine, Name: "bound", Type: "confidential", GrantTypes: []string{"client_credentials", "password"},
			ServiceAccount: &snapshot.ServiceAccountRef{Namespace: "team-a", Name: "reporter"},
			APIs:           []snapshot.ClientGrant{{Identifier: tokentest.APIIdentifier, Scopes: []string{"read:sample"}}}})
	})
	assertion := func(ip, clientID, token string, extra ...string) (reply, map[string]any) {
		body := append([]string{"grant_type", "client_credentials", "client_id", clientID,
			"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", token}, extra...)
		return post(t, ts.acme.Snapshot.Issuer+"oauth/token", "", formType, form(body...), http.Header{"X-Forwarded-For": {ip}})
	}
	resp, body := assertion("198.51.100.1", boundMachine, "team-a/reporter")
	if resp.StatusCode != http.StatusOK || body["scope"] != "read:sample" {
		t.Fatalf("the ServiceAccount's token: %d %v", resp.StatusCode, body)
	}
	issuer := ts.acme.Snapshot.Issuer
	if got := verifier.audiences[0]; len(got) != 2 || got[0] != issuer || got[1] != issuer+"oauth/token" {
		t.Errorf("audiences checked %v, want the issuer and the token endpoint", got)
	}
	resp, body = post(t, issuer+"oauth/token", "", formType, form("grant_type", "password", "client_id", boundMachine,
		"client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer", "client_assertion", "team-a/reporter",
		"username", tokentest.Alice, "password", ts.acme.AlicePassword, "audience", tokentest.APIIdentifier, "scope", "read:sample"), nil)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the password grant of a client authenticated by its ServiceAccount: %d %v", resp.StatusCode, body)
	}

	for _, tc := range []struct {
		name, clientID, token string
		extra                 []string
		header                http.Header
		status                int
		code                  string
	}{
		{"another ServiceAccount's token", boundMachine, "team-a/default", nil, nil, http.StatusUnauthorized, "invalid_client"},
		{"a client bound to no ServiceAccount", tokentest.Machine, "team-a/reporter", nil, nil, http.StatusUnauthorized, "invalid_client"},
		{"an unknown client", "nobody", "team-a/reporter", nil, nil, http.StatusUnauthorized, "invalid_client"},
		{"no client_id", "", "team-a/reporter", nil, nil, http.StatusBadRequest, "invalid_request"},
		{"a secret as well", boundMachine, "team-a/reporter", []string{"client_secret", "x"}, nil, http.StatusBadRequest, "invalid_request"},
		{"HTTP Basic as well", boundMachine, "team-a/reporter", nil, basic(tokentest.Machine, ts.acme.MachineSecret), http.StatusBadRequest, "invalid_request"},
		{"another assertion type", boundMachine, "team-a/reporter", []string{"client_assertion_type", "urn:other"}, nil, http.StatusBadRequest, "invalid_request"},
		{"the cluster's keys unreadable", boundMachine, "unavailable", nil, nil, http.StatusServiceUnavailable, "temporarily_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			params := []string{"grant_type", "client_credentials", "client_assertion", tc.token}
			if tc.clientID != "" {
				params = append(params, "client_id", tc.clientID)
			}
			assertionType := "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
			for i := 0; i+1 < len(tc.extra); i += 2 {
				if tc.extra[i] == "client_assertion_type" {
					assertionType = tc.extra[i+1]
				} else {
					params = append(params, tc.extra[i], tc.extra[i+1])
				}
			}
			params = append(params, "client_assertion_type", assertionType)
			resp, body := post(t, issuer+"oauth/token", "", formType, form(params...), tc.header)
			assertOAuthError(t, resp, body, tc.status, tc.code)
		})
	}

	// Failed assertions count as failed client authentications: three from one address
	// lock the client out there.
	const attacker = "198.51.100.9"
	for i := range 3 {
		resp, body := assertion(attacker, boundMachine, "forged-"+strconv.Itoa(i))
		assertOAuthError(t, resp, body, http.StatusUnauthorized, "invalid_client")
	}
	resp, body = assertion(attacker, boundMachine, "team-a/reporter")
	assertOAuthError(t, resp, body, http.StatusTooManyRequests, "too_many_attempts")
	if got := ts.lockouts(t, attack.ReasonBruteForce); got != 1 {
		t.Errorf("lockouts %v, want 1", got)
	}
	if got := counterValue(t, ts.metrics.clientAuthFailures, methodClientAssertion); got < 5 {
		t.Errorf("failed client assertions %v, want at least 5", got)
	}
}
