package hostile_test

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// The attack counters' budget: the token server keeps at most keysPerTenant counted keys
// per tenant, and mallory's spray counts sprayFactor times as many. A budget shared by
// all tenants, or one that dropped every count when full (as the one global map did at
// 100,000 keys), would lose team-b's lockout to it.
const (
	keysPerTenant = 32
	sprayFactor   = 4
	// bruteForceAttempts locks a login out from an address, in both teams' Tenants.
	bruteForceAttempts = 3
)

// Addresses, as X-Forwarded-For gives them (TEST-NET ranges).
const (
	victimGuesser   = "192.0.2.10"   // guessed team-b's password until locked out
	victimElsewhere = "192.0.2.11"   // where team-b's user logs in from meanwhile
	sprayer         = "198.51.100.7" // mallory's spray
)

// TestLockoutsSurviveASpray: team-b's user is locked out after guesses from one address;
// mallory, whose Tenant throttles no address and whose hashes are cheap, sprays far more
// distinct logins than a tenant may count. team-b's lockout holds after it (the right
// password from the guessing address is still refused), and so does a lockout in
// mallory's own tenant: a spray unblocks nobody.
func TestLockoutsSurviveASpray(t *testing.T) {
	victim, mallory := newTeams(t, "lockout")
	g := startGatehouse(t, "lockout", "--attack-keys-per-tenant="+strconv.Itoa(keysPerTenant), "--trusted-proxies=127.0.0.1")
	b := newIssuer(t, victim.namespace, "bravo")
	b.tenant.Spec.AttackProtection.BruteForce.MaxAttempts = bruteForceAttempts
	victim.serve(t, g, b)
	m := newIssuer(t, mallory.namespace, "spray")
	m.tenant.Spec.AttackProtection.BruteForce.MaxAttempts = bruteForceAttempts
	m.tenant.Spec.AttackProtection.SuspiciousIPThrottling.Enabled = ptr.To(false)
	mallory.serve(t, g, m)

	lockOut(t, g, b, victimGuesser)
	lockOut(t, g, m, sprayer)

	spraying := g.from(sprayer)
	for i := range sprayFactor * keysPerTenant {
		username := fmt.Sprintf("spray-%d@spray.example", i)
		if err := m.login(spraying, username, "wrong").is(http.StatusBadRequest, "invalid_grant"); err != nil {
			t.Fatalf("spray login %d of mallory's tenant: %v", i+1, err)
		}
	}

	// The spray did fill the budget: mallory's tenant gave up its own counts for it.
	evicted := fmt.Sprintf(`gatehouse_tokenserver_attack_counters_full_total{bound="tenant",outcome="evicted",tenant="%s/%s"}`, m.tenant.Namespace, m.tenant.Name)
	if n, want := systemtest.Metric(t, g.MetricsURL, evicted), float64((sprayFactor-1)*keysPerTenant); n < want {
		t.Errorf("%s = %v after the spray, want at least %v: the spray did not reach the budget", evicted, n, want)
	}
	if err := b.login(g.from(victimGuesser), b.username, b.password).is(http.StatusTooManyRequests, "too_many_attempts"); err != nil {
		t.Errorf("team-b's lockout after mallory's spray of %d logins (a budget of %d keys per tenant): %v", sprayFactor*keysPerTenant, keysPerTenant, err)
	}
	if err := m.login(spraying, m.username, m.password).is(http.StatusTooManyRequests, "too_many_attempts"); err != nil {
		t.Errorf("the lockout in mallory's own tenant after her spray: %v", err)
	}
	if err := b.login(g.from(victimElsewhere), b.username, b.password).is(http.StatusOK, ""); err != nil {
		t.Errorf("team-b's user from another address after mallory's spray: %v", err)
	}
}

// lockOut guesses the issuer's user's password from address until the user is locked
// out from there, and checks that the right password is then refused too.
func lockOut(t *testing.T, g *gatehouse, is *issuer, address string) {
	t.Helper()
	from := g.from(address)
	for i := range bruteForceAttempts {
		if err := is.login(from, is.username, "wrong").is(http.StatusBadRequest, "invalid_grant"); err != nil {
			t.Fatalf("guess %d at %s of %s/%s: %v", i+1, is.username, is.tenant.Namespace, is.tenant.Name, err)
		}
	}
	if err := is.login(from, is.username, is.password).is(http.StatusTooManyRequests, "too_many_attempts"); err != nil {
		t.Fatalf("%s of %s/%s after %d wrong guesses from %s: %v", is.username, is.tenant.Namespace, is.tenant.Name, bruteForceAttempts, address, err)
	}
}
