package attack

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
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
				a, b := begin(t, g, tc.policy, s.login)
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

// begin begins an attempt of l that must not wait for others in flight.
func begin(t *testing.T, g *Guard, p Policy, l Login) (*Attempt, *Block) {
	t.Helper()
	a, b, err := g.Begin(canceled(), p, l)
	if err != nil {
		t.Fatalf("Begin waits for attempts in flight: %v", err)
	}
	return a, b
}

// canceled is a context that has ended: Begin returns its error at once rather than wait.
func canceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// beginUpToTheLimit begins as many attempts of l as the brute-force limit allows.
func beginUpToTheLimit(t *testing.T, g *Guard, l Login) []*Attempt {
	t.Helper()
	var inFlight []*Attempt
	for range testPolicy.BruteForce.MaxAttempts {
		a, b := begin(t, g, testPolicy, l)
		if b != nil {
			t.Fatalf("attempt within the limit blocked: %+v", b)
		}
		inFlight = append(inFlight, a)
	}
	return inFlight
}

// TestGuardConcurrentAttemptsWaitForThoseInFlight begins more attempts than the limit
// while the first ones are in flight: the others wait for them rather than be refused,
// and get what a sequence of attempts would have got once they resolve.
func TestGuardConcurrentAttemptsWaitForThoseInFlight(t *testing.T) {
	tests := []struct {
		name    string
		resolve func(*Attempt)
		want    Reason // of the waiting attempts; "" when they pass
	}{
		{"successes free them", (*Attempt).Succeeded, ""},
		{"failures block them, as a sequence of failures would", func(a *Attempt) { a.Failed() }, ReasonBruteForce},
		{"attempts that could not be checked give the room back", (*Attempt).Unavailable, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			g, _ := newTestGuard()
			alice := login("alice", "192.0.2.1")
			inFlight := beginUpToTheLimit(t, g, alice)
			const waiting = 5
			type result struct {
				a   *Attempt
				b   *Block
				err error
			}
			results := make(chan result, waiting)
			for range waiting {
				go func() {
					a, b, err := g.Begin(t.Context(), testPolicy, alice)
					if a != nil {
						a.Succeeded()
					}
					results <- result{a, b, err}
				}()
			}
			awaitWaiter(t, g, UserIPKey(alice))
			for _, a := range inFlight {
				tc.resolve(a)
			}
			for range waiting {
				var r result
				select {
				case r = <-results:
				case <-time.After(10 * time.Second):
					t.Fatal("a waiting attempt was not woken when those in flight resolved")
				}
				switch {
				case r.err != nil:
					t.Errorf("a waiting attempt: %v", r.err)
				case tc.want == "" && r.b != nil:
					t.Errorf("a waiting attempt blocked: %+v, want an attempt", r.b)
				case tc.want != "" && (r.b == nil || r.b.Reason != tc.want):
					t.Errorf("a waiting attempt got %+v, want %s", r.b, tc.want)
				}
			}
		})
	}
}

// awaitWaiter returns once an attempt of key waits in Begin for those in flight.
func awaitWaiter(t *testing.T, g *Guard, key string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); runtime.Gosched() {
		g.mu.Lock()
		waiting := g.inFlight[key].resolved != nil
		g.mu.Unlock()
		if waiting {
			return
		}
	}
	t.Fatal("no attempt waits for those in flight")
}

// TestGuardWaitEndsWithTheRequest: an attempt waiting for those in flight returns its
// context's error when the context ends, and reserves nothing.
func TestGuardWaitEndsWithTheRequest(t *testing.T) {
	g, _ := newTestGuard()
	alice := login("alice", "192.0.2.1")
	inFlight := beginUpToTheLimit(t, g, alice)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, _, err := g.Begin(ctx, testPolicy, alice)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Begin after its context ended: %v, want context.Canceled", err)
	}
	for _, a := range inFlight {
		a.Failed()
	}
	if n, _ := g.counters.Get(UserIPKey(alice), testPolicy.BruteForce); n != testPolicy.BruteForce.MaxAttempts {
		t.Errorf("count %d after the limit's failures and an abandoned wait, want %d", n, testPolicy.BruteForce.MaxAttempts)
	}
}

func TestGuardOverrunWhenAPeerReservedTheSameLimit(t *testing.T) {
	g, _ := newTestGuard()
	alice := login("alice", "192.0.2.1")
	inFlight := beginUpToTheLimit(t, g, alice)
	// A peer's reservations of the same burst arrive while the passwords are checked.
	mustAdd(t, g.counters, UserIPKey(alice), 2, testPolicy.BruteForce)
	for _, a := range inFlight {
		b := a.Overrun()
		if b == nil || b.Reason != ReasonBruteForce || b.RetryAfter != testPolicy.BruteForce.CoolDown {
			t.Fatalf("Overrun after a peer's reservations = %+v, want brute_force for the cool-down", b)
		}
	}
	// The refused attempts resolved: the next is blocked rather than left waiting.
	if _, b := begin(t, g, testPolicy, alice); b == nil || b.Reason != ReasonBruteForce {
		t.Errorf("after the overrun: %+v, want brute_force", b)
	}
	// Another address of the same user is not affected.
	other, b := begin(t, g, testPolicy, login("alice", "192.0.2.2"))
	if b != nil || other.Overrun() != nil {
		t.Errorf("another address: blocked %+v", b)
	}
}

// shared is Memory standing for counters that replicas share.
type shared struct {
	*Memory
	propagation time.Duration
	replicas    int
}

func (s shared) Propagation() time.Duration { return s.propagation }
func (s shared) Replicas() int              { return s.replicas }

// TestGuardWaitsForPeersOnlyPastItsShare: with two replicas, an attempt that keeps each
// count within half its limit is answered without waiting for the peer; the next waits.
func TestGuardWaitsForPeersOnlyPastItsShare(t *testing.T) {
	bruteForce := Limit{MaxAttempts: 10, CoolDown: 15 * time.Minute}
	loginsOnly := Policy{BruteForce: bruteForce}
	both := Policy{BruteForce: bruteForce, IPThrottling: Limit{MaxAttempts: 7, CoolDown: time.Hour}}
	alice := login("alice", "192.0.2.1")
	tests := []struct {
		name     string
		policy   Policy
		replicas int
		logins   []Login
		waits    []bool
	}{
		{"alone, none waits", both, 1, repeat(alice, 7), repeat(false, 7)},
		{"a login's first attempts do not wait, those past half its limit do", loginsOnly, 2,
			repeat(alice, 7), []bool{false, false, false, false, false, true, true}},
		{"other logins from an address wait once it is past half its limit", both, 2,
			[]Login{alice, login("bob", "192.0.2.1"), login("carol", "192.0.2.1"), login("dave", "192.0.2.1"), login("erin", "192.0.2.2")},
			[]bool{false, false, false, true, false}},
		{"with three replicas, a third", loginsOnly, 3, repeat(alice, 4), []bool{false, false, false, true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			g := NewGuard(shared{Memory: NewMemory(MemoryOptions{Now: clock.now}), propagation: time.Hour, replicas: tc.replicas}, clock.now)
			for i, l := range tc.logins {
				a, b := begin(t, g, tc.policy, l)
				if b != nil {
					t.Fatalf("attempt %d blocked: %+v", i, b)
				}
				if got := a.WaitsForPeers(); got != tc.waits[i] {
					t.Errorf("attempt %d waits for the peers: %v, want %v", i, got, tc.waits[i])
				}
				a.Failed()
			}
		})
	}
}

func repeat[T any](v T, n int) []T {
	s := make([]T, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestGuardBlockWaitsForPeersAttempts: a peer's attempts in flight hold the whole budget
// of a login. Once one succeeds (its reset arrives within the wait), this replica's
// attempt goes ahead instead of being refused as if they had failed; failures that
// stay through the wait block it.
func TestGuardBlockWaitsForPeersAttempts(t *testing.T) {
	const propagation = 50 * time.Millisecond
	alice := login("alice", "192.0.2.1")
	for _, tc := range []struct {
		name         string
		peerSucceeds bool
	}{
		{"a peer's success frees the budget", true},
		{"a peer's failures block", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			counters := shared{Memory: NewMemory(MemoryOptions{Now: clock.now}), propagation: propagation, replicas: 2}
			g := NewGuard(counters, clock.now)
			for range testPolicy.BruteForce.MaxAttempts { // the peer's reservations, arrived
				if _, err := counters.Add(UserIPKey(alice), 1, testPolicy.BruteForce); err != nil {
					t.Fatal(err)
				}
			}
			if tc.peerSucceeds {
				time.AfterFunc(propagation, func() { counters.Reset(UserIPKey(alice)) })
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*settleTime)
			defer cancel()
			start := time.Now()
			a, b, err := g.Begin(ctx, testPolicy, alice)
			switch {
			case err != nil:
				t.Fatalf("Begin: %v", err)
			case tc.peerSucceeds && (b != nil || a == nil):
				t.Fatalf("blocked by the peer's attempts in flight: %+v", b)
			case !tc.peerSucceeds && (b == nil || b.Reason != ReasonBruteForce):
				t.Fatalf("Begin = %+v, want brute_force after the peer's failures", b)
			case !tc.peerSucceeds && time.Since(start) < settleTime:
				t.Errorf("blocked after %v, before a success could clear the count (%v)", time.Since(start), settleTime)
			}
			if a != nil {
				a.Succeeded()
			}
		})
	}
}

// TestGuardOverrunWaitsForPropagation: a peer's reservation that arrives after one
// Propagation, but within two, is seen by an attempt past its share; see Guard.share
// for why one would not do.
func TestGuardOverrunWaitsForPropagation(t *testing.T) {
	clock := newClock()
	const propagation = time.Second
	counters := shared{Memory: NewMemory(MemoryOptions{Now: clock.now}), propagation: propagation, replicas: 2}
	g := NewGuard(counters, clock.now)
	alice := login("alice", "192.0.2.1")
	inFlight := beginUpToTheLimit(t, g, alice)
	last := inFlight[len(inFlight)-1]
	if !last.WaitsForPeers() {
		t.Fatal("an attempt at the limit does not wait for the peers")
	}
	go func() {
		time.Sleep(propagation * 3 / 2)
		_, _ = counters.Add(UserIPKey(alice), 1, testPolicy.BruteForce)
	}()
	if b := last.Overrun(); b == nil || b.Reason != ReasonBruteForce {
		t.Errorf("Overrun = %+v, want brute_force once the peer's reservation has arrived", b)
	}
}

// TestGuardOverrunAfterASuccess: concurrent right passwords on two replicas can take a
// login's count past its limit between resets. An attempt whose count a success cleared
// after its reservation is not refused, however high the count is again; an address's
// count, which a success only gives back, still refuses.
func TestGuardOverrunAfterASuccess(t *testing.T) {
	const propagation = 10 * time.Millisecond
	alice := login("alice", "192.0.2.1")
	for _, tc := range []struct {
		name        string
		key         string
		limit       Limit
		wantRefused bool
	}{
		{"a login's count cleared by a success", UserIPKey(alice), testPolicy.BruteForce, false},
		{"an address's count, given back by a success", IPKey(alice.Tenant, alice.IP), testPolicy.IPThrottling, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			counters := shared{Memory: NewMemory(MemoryOptions{Now: clock.now}), propagation: propagation, replicas: 2}
			g := NewGuard(counters, clock.now)
			a, b := begin(t, g, testPolicy, alice)
			if b != nil {
				t.Fatalf("blocked: %+v", b)
			}
			// The peer's attempts: one succeeds, then more than the limit arrive at once.
			counters.Reset(UserIPKey(alice))
			if _, err := counters.Add(IPKey(alice.Tenant, alice.IP), -1, testPolicy.IPThrottling); err != nil {
				t.Fatal(err)
			}
			for range tc.limit.MaxAttempts + 1 {
				if _, err := counters.Add(tc.key, 1, tc.limit); err != nil {
					t.Fatal(err)
				}
			}
			if got := a.Overrun(); (got != nil) != tc.wantRefused {
				t.Errorf("Overrun = %+v, want refused %v", got, tc.wantRefused)
			}
		})
	}
}

// TestGuardOverrunWaitsForALateSuccess: the peers' attempts that took a login over its
// limit resolve later than the propagation; one success among them, within settleTime,
// keeps this replica's right password from being refused.
func TestGuardOverrunWaitsForALateSuccess(t *testing.T) {
	const propagation = 10 * time.Millisecond
	alice := login("alice", "192.0.2.1")
	clock := newClock()
	counters := shared{Memory: NewMemory(MemoryOptions{Now: clock.now}), propagation: propagation, replicas: 2}
	g := NewGuard(counters, clock.now)
	a, b := begin(t, g, testPolicy, alice)
	if b != nil {
		t.Fatalf("blocked: %+v", b)
	}
	for range testPolicy.BruteForce.MaxAttempts { // the peer's attempts in flight
		if _, err := counters.Add(UserIPKey(alice), 1, testPolicy.BruteForce); err != nil {
			t.Fatal(err)
		}
	}
	time.AfterFunc(settleTime/2, func() { counters.Reset(UserIPKey(alice)) })
	if got := a.Overrun(); got != nil {
		t.Errorf("Overrun = %+v, want none once a peer's success cleared the count", got)
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
		a, b := begin(t, g, sprayPolicy, spray)
		if b != nil {
			t.Fatalf("spray attempt %d blocked: %+v", i, b)
		}
		a.Failed()
	}
	if _, b := begin(t, g, testPolicy, victim); b == nil || b.Reason != ReasonBruteForce {
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
	a, b := begin(t, g, strict, alice)
	if b != nil {
		t.Fatalf("first attempt blocked: %+v", b)
	}
	a.Failed() // two keys, both blocking
	clock.advance(time.Minute)
	// bob's login key fits, then his address's does not.
	_, b = begin(t, g, strict, bob)
	if b == nil || b.Reason != ReasonCountersFull || b.RetryAfter != 14*time.Minute {
		t.Fatalf("an attempt with no room to count it: %+v, want counters_full until alice's count expires", b)
	}
	if n, _ := m.Get(UserIPKey(bob), strict.BruteForce); n != 0 {
		t.Errorf("the refused attempt kept its reservation: %d", n)
	}
	if _, b := begin(t, g, strict, alice); b == nil || b.Reason != ReasonBruteForce {
		t.Errorf("alice after the refusal: %+v, want still brute_force", b)
	}
}

func TestUnblock(t *testing.T) {
	g, _ := newTestGuard()
	fail := func(l Login) {
		if a, b := begin(t, g, testPolicy, l); b == nil {
			a.Failed()
		}
	}
	blocked := func(l Login) bool {
		a, b := begin(t, g, testPolicy, l)
		if a != nil {
			a.Unavailable()
		}
		return b != nil
	}
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
			if a, b := begin(t, first, testPolicy, alice); b == nil {
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
		if a, _, _ := g.Begin(context.Background(), policy, Login{Tenant: "uid-acme", Connection: "users", Username: "alice", IP: ip}); a != nil {
			a.Failed()
		}
	}
}
