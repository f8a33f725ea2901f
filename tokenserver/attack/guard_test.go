package attack

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
	"time"
)

var testPolicy = Policy{
	BruteForce:   Limit{MaxAttempts: 3, CoolDown: 15 * time.Minute},
	IPThrottling: Limit{MaxAttempts: 5, CoolDown: time.Hour},
}

func newTestGuard() (*Guard, *fakeClock) {
	clock := newClock()
	return NewGuard(NewMemory(MemoryOptions{Now: clock.now}), clock.now), clock
}

func login(user, ip string) Login {
	return Login{Tenant: "uid-acme", Connection: "users", Username: user, IP: netip.MustParseAddr(ip)}
}

// outcome is what a step does with an attempt that passes the Guard.
type outcome int

const (
	fail outcome = iota
	succeed
	unavailable
)

func TestGuard(t *testing.T) {
	type step struct {
		login    Login
		outcome  outcome
		advance  time.Duration // before the step
		blocked  Reason        // "" when the step must pass
		retry    time.Duration // RetryAfter of a block
		lockouts []Reason      // what a failure reaches
	}
	alice, aliceOther, bob := login("alice", "192.0.2.1"), login("alice", "192.0.2.2"), login("bob", "192.0.2.1")
	tests := []struct {
		name   string
		policy Policy
		steps  []step
	}{
		{"locks a login from an address at its limit, even with the right password", testPolicy, []step{
			{login: alice}, {login: alice},
			{login: alice, lockouts: []Reason{ReasonBruteForce}},
			{login: alice, outcome: succeed, blocked: ReasonBruteForce, retry: 15 * time.Minute},
			{login: aliceOther, outcome: succeed},
		}},
		{"the cool-down runs from the last failure", testPolicy, []step{
			{login: alice}, {login: alice}, {login: alice, advance: 10 * time.Minute, lockouts: []Reason{ReasonBruteForce}},
			{login: alice, advance: 10 * time.Minute, blocked: ReasonBruteForce, retry: 5 * time.Minute},
			{login: alice, advance: 5 * time.Minute},
		}},
		{"a success clears the login's failures", testPolicy, []step{
			{login: alice}, {login: alice}, {login: alice, outcome: succeed},
			// The address has failed 5 times now, a success in between included.
			{login: alice}, {login: alice}, {login: alice, lockouts: []Reason{ReasonBruteForce, ReasonIPThrottling}},
		}},
		{"an unavailable directory counts nothing", testPolicy, []step{
			{login: alice}, {login: alice}, {login: alice, outcome: unavailable}, {login: alice, outcome: unavailable},
			{login: alice, lockouts: []Reason{ReasonBruteForce}},
		}},
		{"case and spaces of the login do not matter", testPolicy, []step{
			{login: alice}, {login: login(" Alice", "192.0.2.1")}, {login: login("ALICE ", "192.0.2.1"), lockouts: []Reason{ReasonBruteForce}},
			{login: alice, blocked: ReasonBruteForce, retry: 15 * time.Minute},
		}},
		{"an address is throttled across logins, and a success does not clear it", testPolicy, []step{
			{login: alice}, {login: alice}, {login: bob}, {login: bob, outcome: succeed}, {login: login("carol", "192.0.2.1")},
			{login: login("dave", "192.0.2.1"), lockouts: []Reason{ReasonIPThrottling}},
			{login: bob, outcome: succeed, advance: time.Minute, blocked: ReasonIPThrottling, retry: 59 * time.Minute},
			{login: aliceOther, outcome: succeed},
		}},
		{"a lockout of both limits waits for the longer", testPolicy, []step{
			{login: bob}, {login: bob}, {login: bob, lockouts: []Reason{ReasonBruteForce}}, {login: login("carol", "192.0.2.1")},
			{login: alice, lockouts: []Reason{ReasonIPThrottling}},
			{login: bob, blocked: ReasonBruteForce, retry: time.Hour},
		}},
		{"an IPv6 /64 counts as one address", testPolicy, []step{
			{login: login("alice", "2001:db8::1")}, {login: login("alice", "2001:db8::2")},
			{login: login("alice", "2001:db8::ffff:1"), lockouts: []Reason{ReasonBruteForce}},
			{login: login("alice", "2001:db8::3"), blocked: ReasonBruteForce, retry: 15 * time.Minute},
			{login: login("alice", "2001:db8:0:1::1"), outcome: succeed},
		}},
		{"IPv4 in IPv6 counts as IPv4", testPolicy, []step{
			{login: alice}, {login: login("alice", "::ffff:192.0.2.1")}, {login: alice, lockouts: []Reason{ReasonBruteForce}},
			{login: login("alice", "::ffff:192.0.2.1"), blocked: ReasonBruteForce, retry: 15 * time.Minute},
		}},
		{"a disabled policy never blocks", Policy{}, []step{
			{login: alice}, {login: alice}, {login: alice}, {login: alice}, {login: alice}, {login: alice}, {login: alice, outcome: succeed},
		}},
		{"a limit of one locks at the first failure", Policy{BruteForce: Limit{MaxAttempts: 1, CoolDown: time.Minute}}, []step{
			{login: alice, lockouts: []Reason{ReasonBruteForce}},
			{login: alice, blocked: ReasonBruteForce, retry: time.Minute},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, clock := newTestGuard()
			for i, s := range tc.steps {
				clock.advance(s.advance)
				a, b := g.Begin(tc.policy, s.login)
				if s.blocked != "" {
					if b == nil || b.Reason != s.blocked || b.RetryAfter != s.retry {
						t.Fatalf("step %d: block %+v, want %s retrying after %v", i, b, s.blocked, s.retry)
					}
					continue
				}
				if b != nil {
					t.Fatalf("step %d: blocked %+v, want an attempt", i, b)
				}
				switch s.outcome {
				case fail:
					if got := a.Failed(); !slices.Equal(got, s.lockouts) {
						t.Fatalf("step %d: lockouts %v, want %v", i, got, s.lockouts)
					}
				case succeed:
					a.Succeeded()
				case unavailable:
					a.Unavailable()
				}
			}
		})
	}
}

// TestGuardConcurrentAttemptsCannotPassTheLimit begins more attempts than the limit
// before any of them fails: those past the limit are blocked.
func TestGuardConcurrentAttemptsCannotPassTheLimit(t *testing.T) {
	g, _ := newTestGuard()
	var passed []*Attempt
	for range 10 {
		if a, b := g.Begin(testPolicy, login("alice", "192.0.2.1")); b == nil {
			passed = append(passed, a)
		}
	}
	if len(passed) != testPolicy.BruteForce.MaxAttempts {
		t.Fatalf("%d attempts passed before any failed, want %d", len(passed), testPolicy.BruteForce.MaxAttempts)
	}
	var lockouts int
	for _, a := range passed {
		lockouts += len(a.Failed())
	}
	if lockouts != 1 {
		t.Errorf("%d lockouts reported, want 1", lockouts)
	}
}

// beginUpToTheLimit begins as many attempts of l as the brute-force limit allows.
func beginUpToTheLimit(t *testing.T, g *Guard, l Login) []*Attempt {
	t.Helper()
	var inFlight []*Attempt
	for range testPolicy.BruteForce.MaxAttempts {
		a, b := g.Begin(testPolicy, l)
		if b != nil {
			t.Fatalf("attempt within the limit blocked: %+v", b)
		}
		inFlight = append(inFlight, a)
	}
	return inFlight
}

func TestGuardOverrunWhenAPeerReservedTheSameLimit(t *testing.T) {
	g, _ := newTestGuard()
	alice := login("alice", "192.0.2.1")
	inFlight := beginUpToTheLimit(t, g, alice)
	// At the limit, but not over it: the attempts are answered.
	for _, a := range inFlight {
		if b := a.Overrun(); b != nil {
			t.Fatalf("attempts at the limit overrun: %+v", b)
		}
	}
	// A peer's reservations of the same burst arrive while the passwords are checked.
	mustAdd(t, g.counters, UserIPKey(alice), 2, testPolicy.BruteForce)
	for _, a := range inFlight {
		b := a.Overrun()
		if b == nil || b.Reason != ReasonBruteForce || b.RetryAfter != testPolicy.BruteForce.CoolDown {
			t.Fatalf("Overrun after a peer's reservations = %+v, want brute_force for the cool-down", b)
		}
	}
	// Another address of the same user is not affected.
	other, b := g.Begin(testPolicy, login("alice", "192.0.2.2"))
	if b != nil || other.Overrun() != nil {
		t.Errorf("another address: blocked %+v", b)
	}
}

// shared is Memory standing for counters that replicas share.
type shared struct {
	*Memory
	propagation time.Duration
}

func (s shared) Propagation() time.Duration { return s.propagation }

func TestGuardOverrunWaitsForPropagation(t *testing.T) {
	clock := newClock()
	counters := shared{Memory: NewMemory(MemoryOptions{Now: clock.now}), propagation: time.Second}
	g := NewGuard(counters, clock.now)
	alice := login("alice", "192.0.2.1")
	inFlight := beginUpToTheLimit(t, g, alice)
	// A peer's reservation arrives after the password check but within the propagation.
	go func() {
		time.Sleep(10 * time.Millisecond)
		_, _ = counters.Add(UserIPKey(alice), 1, testPolicy.BruteForce)
	}()
	if b := inFlight[0].Overrun(); b == nil || b.Reason != ReasonBruteForce {
		t.Errorf("Overrun = %+v, want brute_force once the peer's reservation has arrived", b)
	}
}

// TestGuardSprayInOneTenantKeepsAnothersLockouts: failures of many distinct logins in
// one tenant, many times the process's bound, clear no count of another tenant.
func TestGuardSprayInOneTenantKeepsAnothersLockouts(t *testing.T) {
	clock := newClock()
	g := NewGuard(NewMemory(MemoryOptions{TenantBudget: 100, Limit: 300, Now: clock.now}), clock.now)
	victim := login("alice", "192.0.2.1")
	for _, a := range beginUpToTheLimit(t, g, victim) {
		a.Failed()
	}
	// The attacker's tenants throttle no address, as in the report.
	sprayPolicy := Policy{BruteForce: testPolicy.BruteForce}
	for i := range 3_000 {
		spray := Login{Tenant: fmt.Sprintf("uid-mallory-%d", i%4), Connection: "users", Username: fmt.Sprint("user", i), IP: victim.IP}
		a, b := g.Begin(sprayPolicy, spray)
		if b != nil {
			t.Fatalf("spray attempt %d blocked: %+v", i, b)
		}
		a.Failed()
	}
	if _, b := g.Begin(testPolicy, victim); b == nil || b.Reason != ReasonBruteForce {
		t.Errorf("after another tenant's spray, the locked-out login got %+v, want brute_force", b)
	}
}

// TestGuardRefusesWhatItCannotCount: when every count of a tenant blocks, an attempt
// that needs a new key is refused, and gives back what it reserved.
func TestGuardRefusesWhatItCannotCount(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryOptions{TenantBudget: 3, Now: clock.now})
	g := NewGuard(m, clock.now)
	strict := Policy{BruteForce: Limit{MaxAttempts: 1, CoolDown: 15 * time.Minute}, IPThrottling: Limit{MaxAttempts: 1, CoolDown: time.Hour}}
	alice, bob := login("alice", "192.0.2.1"), login("bob", "192.0.2.2")
	a, b := g.Begin(strict, alice)
	if b != nil {
		t.Fatalf("first attempt blocked: %+v", b)
	}
	a.Failed() // two keys, both blocking
	clock.advance(time.Minute)
	// bob's login key fits, then his address's does not.
	_, b = g.Begin(strict, bob)
	if b == nil || b.Reason != ReasonCountersFull || b.RetryAfter != 14*time.Minute {
		t.Fatalf("an attempt with no room to count it: %+v, want counters_full until alice's count expires", b)
	}
	if n, _ := m.Get(UserIPKey(bob), strict.BruteForce); n != 0 {
		t.Errorf("the refused attempt kept its reservation: %d", n)
	}
	if _, b := g.Begin(strict, alice); b == nil || b.Reason != ReasonBruteForce {
		t.Errorf("alice after the refusal: %+v, want still brute_force", b)
	}
}

func TestUnblock(t *testing.T) {
	g, _ := newTestGuard()
	fail := func(l Login) {
		if a, b := g.Begin(testPolicy, l); b == nil {
			a.Failed()
		}
	}
	blocked := func(l Login) bool { _, b := g.Begin(testPolicy, l); return b != nil }
	other := Login{Tenant: "uid-other", Connection: "users", Username: "alice", IP: netip.MustParseAddr("192.0.2.1")}
	lockAll := func() {
		for range 3 {
			for _, l := range []Login{login("alice", "192.0.2.1"), login("alice", "192.0.2.2"), login("bob", "192.0.2.3"), other} {
				fail(l)
			}
		}
		fail(login("carol", "192.0.2.3"))
		fail(login("dave", "192.0.2.3")) // 192.0.2.3 has failed 5 times: throttled
	}

	if u := g.Unblock("uid-acme", ";1"); u != nil {
		t.Fatalf("a value naming nobody cleared %+v", u)
	}
	lockAll()
	if u := g.Unblock("uid-acme", "ALICE@example.com, Alice ; 1"); u == nil || len(u.Users) != 2 {
		t.Fatalf("a new value cleared %+v, want two users", u)
	}
	for l, want := range map[Login]bool{login("alice", "192.0.2.1"): false, login("alice", "192.0.2.2"): false,
		login("bob", "192.0.2.3"): true, login("erin", "192.0.2.3"): true, other: true} {
		if got := blocked(l); got != want {
			t.Errorf("after unblocking alice, %s from %s blocked: %v, want %v", l.Username, l.IP, got, want)
		}
	}
	lockAll()
	if u := g.Unblock("uid-acme", "ALICE@example.com, Alice ; 1"); u != nil {
		t.Errorf("the same value was applied again: %+v", u)
	}
	if !blocked(login("alice", "192.0.2.1")) {
		t.Error("the same value cleared alice again")
	}
	if u := g.Unblock("uid-acme", "*"); u == nil || !u.All {
		t.Fatalf("* cleared %+v, want the whole tenant", u)
	}
	for _, l := range []Login{login("alice", "192.0.2.1"), login("bob", "192.0.2.3"), login("erin", "192.0.2.3")} {
		if blocked(l) {
			t.Errorf("after unblocking *, %s from %s is blocked", l.Username, l.IP)
		}
	}
	if !blocked(other) {
		t.Error("unblocking one tenant cleared another")
	}
	if u := g.Unblock("uid-other", "alice"); u == nil || blocked(other) {
		t.Errorf("the first value seen of a tenant cleared %+v; alice blocked: %v", u, blocked(other))
	}
}

// TestUnblockOnceAcrossReplicas has two Guards share counts, as replicas do: a value
// one applied is not applied again by the other, which would clear the failures counted
// since; a value set again after another is a new request.
func TestUnblockOnceAcrossReplicas(t *testing.T) {
	shared := NewMemory(MemoryOptions{})
	first, second := NewGuard(shared, time.Now), NewGuard(shared, time.Now)
	alice := login("alice", "192.0.2.1")
	failAlice := func() {
		for range testPolicy.BruteForce.MaxAttempts {
			if a, b := first.Begin(testPolicy, alice); b == nil {
				a.Failed()
			}
		}
	}
	aliceCount := func() int { n, _ := shared.Get(UserIPKey(alice), testPolicy.BruteForce); return n }

	failAlice()
	if u := first.Unblock("uid-acme", "alice;1"); u == nil || aliceCount() != 0 {
		t.Fatalf("the first replica's unblock cleared %+v; alice counts %d", u, aliceCount())
	}
	failAlice()
	if u := second.Unblock("uid-acme", "alice;1"); u != nil || aliceCount() == 0 {
		t.Errorf("the second replica applied the value again: cleared %+v, alice counts %d", u, aliceCount())
	}
	if u := second.Unblock("uid-acme", "bob"); u == nil {
		t.Fatal("a new value was not applied")
	}
	if u := first.Unblock("uid-acme", "bob"); u != nil {
		t.Errorf("the first replica applied the second's value again: %+v", u)
	}
	if u := first.Unblock("uid-acme", "alice;1"); u == nil || aliceCount() != 0 {
		t.Errorf("a value set again after another was not applied: cleared %+v, alice counts %d", u, aliceCount())
	}
	if u := first.Unblock("uid-acme", "*"); u == nil {
		t.Fatal("* was not applied")
	}
	if n, _ := shared.Get(unblockMark("uid-acme", "*"), unblockMarkLimit); n != 1 {
		t.Errorf("unblocking the whole tenant cleared its own mark: %d", n)
	}
}

func TestParseUnblock(t *testing.T) {
	tests := []struct {
		value string
		want  Unblock
	}{
		{"", Unblock{}},
		{"alice", Unblock{Users: []string{"alice"}}},
		{" alice@example.com , bob,,", Unblock{Users: []string{"alice@example.com", "bob"}}},
		{"alice;2026-11-26T10:00", Unblock{Users: []string{"alice"}}},
		{"*;1", Unblock{All: true}},
		{";1732612345", Unblock{}},
	}
	for _, tc := range tests {
		got := ParseUnblock(tc.value)
		if got.All != tc.want.All || !slices.Equal(got.Users, tc.want.Users) {
			t.Errorf("ParseUnblock(%q) = %+v, want %+v", tc.value, got, tc.want)
		}
	}
}

// BenchmarkGuard measures what attack protection adds to a login: a failed attempt from
// one of many addresses, with both limits on.
func BenchmarkGuard(b *testing.B) {
	g := NewGuard(NewMemory(MemoryOptions{}), time.Now)
	policy := Policy{BruteForce: Limit{MaxAttempts: 10, CoolDown: 15 * time.Minute}, IPThrottling: Limit{MaxAttempts: 100, CoolDown: time.Hour}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		ip := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		if a, _ := g.Begin(policy, Login{Tenant: "uid-acme", Connection: "users", Username: "alice", IP: ip}); a != nil {
			a.Failed()
		}
	}
}
