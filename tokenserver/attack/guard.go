package attack

import (
	"errors"
	"time"
)

// Reason names the limit that blocks an attempt, as metrics and logs report it.
type Reason string

// The limits of a Policy.
const (
	// ReasonBruteForce is the limit on failures of one login from one address.
	ReasonBruteForce Reason = "brute_force"
	// ReasonIPThrottling is the limit on failures from one address across logins.
	ReasonIPThrottling Reason = "ip_throttling"
	// ReasonCountersFull is no room to count the attempt: every count it could take the
	// room of blocks logins (see Full).
	ReasonCountersFull Reason = "counters_full"
)

// Limit is how many failures a key may count before further attempts are blocked, and
// how long after its last failure the count lasts. A zero Limit is off.
type Limit struct {
	MaxAttempts int
	CoolDown    time.Duration
}

func (l Limit) on() bool { return l.MaxAttempts > 0 && l.CoolDown > 0 }

// Policy is a tenant's protection of password logins.
type Policy struct {
	// BruteForce limits the failures of one login from one address; a success clears them.
	BruteForce Limit
	// IPThrottling limits the failures from one address across every login of the
	// tenant; a success does not clear them, so one valid account cannot clear an
	// attacker's address.
	IPThrottling Limit
}

// Block says why an attempt was refused and how long until the refusing count expires
// (at least a second).
type Block struct {
	Reason     Reason
	RetryAfter time.Duration
}

// Shared is Counters that replicas share: a change made on one reaches the others
// within Propagation, zero while there are no others.
type Shared interface {
	Counters
	Propagation() time.Duration
}

// Guard decides whether a login may be attempted, and counts its outcome in Counters.
type Guard struct {
	counters Counters
	now      func() time.Time
	unblocks unblocks
	// shared are the counters if replicas share them: an attempt re-checks its limits
	// (Overrun) no sooner than their Propagation after its reservations.
	shared Shared
}

// NewGuard returns a Guard counting in counters, reading time from now.
func NewGuard(counters Counters, now func() time.Time) *Guard {
	g := &Guard{counters: counters, now: now, unblocks: unblocks{applied: map[string]string{}}}
	g.shared, _ = counters.(Shared)
	return g
}

// Attempt is a login that passed the Guard: it reserved one failure of each limit,
// which its outcome keeps or returns. Exactly one of Succeeded, Failed and Unavailable
// must be called.
type Attempt struct {
	guard  *Guard
	limits []limited
	// settled is when the reservations of concurrent attempts on other replicas have
	// reached this one. It is read from the real clock, not the Guard's, which tests move.
	settled time.Time
}

// limited is one limit's key, and the count an Attempt reserved in it.
type limited struct {
	key    string
	limit  Limit
	reason Reason
	// clearedBySuccess counts are reset by a success rather than given back.
	clearedBySuccess bool
	reserved         int
}

// Begin checks l against p and, unless a limit blocks it, reserves one failure of each
// limit before the password is checked, so that concurrent guesses cannot all pass.
func (g *Guard) Begin(p Policy, l Login) (*Attempt, *Block) {
	limits := limitsOf(p, l)
	if b := g.blocked(limits); b != nil {
		return nil, b
	}
	a := &Attempt{guard: g, settled: time.Now()}
	if g.shared != nil {
		a.settled = a.settled.Add(g.shared.Propagation())
	}
	for _, lim := range limits {
		var err error
		if lim.reserved, err = g.counters.Add(lim.key, 1, lim.limit); err != nil {
			a.Unavailable() // the reservations made so far
			return nil, fullBlock(err)
		}
		a.limits = append(a.limits, lim)
		if lim.reserved > lim.limit.MaxAttempts {
			// A concurrent attempt reached the limit between the check and the reservation;
			// the reservation just set the count to expire a cool-down from now.
			a.Unavailable()
			return nil, &Block{Reason: lim.reason, RetryAfter: lim.limit.CoolDown}
		}
	}
	return a, nil
}

// fullBlock refuses an attempt that could not be counted: letting it through uncounted
// would give its key guesses that no limit bounds.
func fullBlock(err error) *Block {
	b := &Block{Reason: ReasonCountersFull, RetryAfter: time.Second}
	if full, ok := errors.AsType[*FullError](err); ok {
		b.RetryAfter = full.RetryAfter
	}
	return b
}

func limitsOf(p Policy, l Login) []limited {
	var limits []limited
	if p.BruteForce.on() {
		limits = append(limits, limited{key: UserIPKey(l), limit: p.BruteForce, reason: ReasonBruteForce, clearedBySuccess: true})
	}
	if p.IPThrottling.on() {
		limits = append(limits, limited{key: IPKey(l.Tenant, l.IP), limit: p.IPThrottling, reason: ReasonIPThrottling})
	}
	return limits
}

// blocked returns the first of limits that is reached, waiting for the longest
// of those reached to expire.
func (g *Guard) blocked(limits []limited) *Block {
	return g.over(limits, 0)
}

// over returns the first of limits whose count exceeds its maximum by more than slack,
// waiting for the longest of those to expire.
func (g *Guard) over(limits []limited, slack int) *Block {
	var b *Block
	for _, lim := range limits {
		n, expires := g.counters.Get(lim.key, lim.limit)
		if n < lim.limit.MaxAttempts+slack {
			continue
		}
		// At least a second: counts shared with a replica whose clock runs ahead may
		// expire here now.
		wait := max(expires.Sub(g.now()), time.Second)
		if b == nil {
			b = &Block{Reason: lim.reason, RetryAfter: wait}
		}
		b.RetryAfter = max(b.RetryAfter, wait)
	}
	return b
}

// Overrun reports, once the password is checked, whether more attempts were reserved
// than a limit allows: replicas each decide on their own count, so guesses sent to
// several at the same instant can all pass Begin before their reservations reach each
// other. Overrun waits until they have (the Propagation of Shared counters; a password
// check at a production cost outlasts it, so this adds nothing there). The caller then
// refuses the attempt whatever the password, keeping its reservation, so that a burst
// over the limit learns nothing; a lone or sequential attempt never overruns.
func (a *Attempt) Overrun() *Block {
	if wait := time.Until(a.settled); wait > 0 {
		time.Sleep(wait)
	}
	return a.guard.over(a.limits, 1)
}

// Succeeded clears the login's failures from its address and gives back the reserved
// failure of its address.
func (a *Attempt) Succeeded() {
	for _, lim := range a.limits {
		if lim.clearedBySuccess {
			a.guard.counters.Reset(lim.key)
		} else {
			_, _ = a.guard.counters.Add(lim.key, -1, lim.limit) // a return never fails
		}
	}
}

// Failed keeps the reserved failures and returns the limits this failure reached: the
// lockouts it caused.
func (a *Attempt) Failed() []Reason {
	var lockouts []Reason
	for _, lim := range a.limits {
		if lim.reserved == lim.limit.MaxAttempts {
			lockouts = append(lockouts, lim.reason)
		}
	}
	return lockouts
}

// Unavailable gives back the reserved failures: the password could not be checked.
func (a *Attempt) Unavailable() {
	for _, lim := range a.limits {
		_, _ = a.guard.counters.Add(lim.key, -1, lim.limit) // a return never fails
	}
}
