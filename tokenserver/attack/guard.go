package attack

import (
	"context"
	"errors"
	"slices"
	"sync"
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
	// Replicas is how many replicas share the counts, this one included.
	Replicas() int
	// Generation changes whenever key's count here is cleared and counted anew (see
	// Memory.Generation).
	Generation(key string) uint64
}

// Guard decides whether a login may be attempted, and counts its outcome in Counters.
type Guard struct {
	counters Counters
	now      func() time.Time
	unblocks unblocks
	// shared are the counters if replicas share them: an attempt past this replica's
	// share of a limit waits for the peers' counts before it is answered (Overrun).
	shared Shared

	// mu makes a check and the reservations it allows one step among this replica's
	// attempts, and guards inFlight.
	mu sync.Mutex
	// inFlight are, by key, this replica's attempts that reserved a failure of it and
	// whose outcome is not known yet.
	inFlight map[string]inFlight
}

// inFlight are the attempts of one key that reserved a failure and have not resolved.
type inFlight struct {
	n int
	// resolved, made for the first attempt that waits, is closed when one of them
	// resolves.
	resolved chan struct{}
}

// NewGuard returns a Guard counting in counters, reading time from now.
func NewGuard(counters Counters, now func() time.Time) *Guard {
	g := &Guard{counters: counters, now: now, unblocks: unblocks{applied: map[string]string{}}, inFlight: map[string]inFlight{}}
	g.shared, _ = counters.(Shared)
	return g
}

// Attempt is a login that passed the Guard: it reserved one failure of each limit,
// which its outcome keeps or returns. Exactly one of Succeeded, Failed and Unavailable
// must be called, unless Overrun refused the attempt.
type Attempt struct {
	guard  *Guard
	limits []limited
	// settled is when the peers' counts that Overrun waits for have reached this replica;
	// zero for an attempt within this replica's share of every limit. It is read from the
	// real clock, not the Guard's, which tests move.
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
	// generation is the key's Generation after the reservation, with peers.
	generation uint64
}

// Begin checks l against p and, unless a limit blocks it, reserves one failure of each
// limit before the password is checked, so that concurrent guesses cannot all pass.
//
// A limit blocks once its count, less the attempts of this replica still in flight,
// reaches its maximum: that is the failures a sequence of attempts would have counted
// (and the reservations of peers' attempts in flight, which this replica cannot tell
// from failures). An attempt that finds the rest of a limit's budget reserved by
// attempts in flight here waits for them to resolve: a success frees it, a failure may
// block it, as it would have blocked it had they come one after another. With peers, a
// block is only answered once no success has cleared a count for settleTime (see
// blockStands).
// Begin returns ctx's error if ctx ends first.
func (g *Guard) Begin(ctx context.Context, p Policy, l Login) (*Attempt, *Block, error) {
	limits := limitsOf(p, l)
	var blockedAt []uint64
	var blockedSince time.Time
	for {
		a, b, resolved := g.tryBegin(limits)
		if b != nil {
			generations, stands := g.blockStands(limits, blockedAt, blockedSince)
			if stands {
				return nil, b, nil
			}
			if !slices.Equal(generations, blockedAt) {
				blockedAt, blockedSince = generations, time.Now()
			}
			timer := time.NewTimer(2 * g.shared.Propagation())
			select {
			case <-timer.C:
				continue
			case <-ctx.Done():
				timer.Stop()
				return nil, nil, ctx.Err()
			}
		}
		if resolved == nil {
			return a, b, nil
		}
		select {
		case <-resolved:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// generations are the Generations of limits' keys.
func (g *Guard) generations(limits []limited) []uint64 {
	generations := make([]uint64, len(limits))
	for i, lim := range limits {
		generations[i] = g.shared.Generation(lim.key)
	}
	return generations
}

// settleTime is how long, with peers, a block or an overrun waits for a success to clear
// the counts before it is answered: the peers' attempts in flight need the time of a
// password check and a signature, on a loaded replica, to resolve.
const settleTime = time.Second

// blockStands returns the Generations of limits' keys and whether a block of limits
// stands; blockedAt are the Generations since blockedSince (nil the first time).
// Without peers it stands: the counts less this replica's attempts in flight are
// failures. With peers, the counts also hold the reservations of the peers' attempts
// in flight, which this replica cannot tell from failures, and concurrent right
// passwords on two replicas would lock each other out. So a block waits, in steps of
// twice the Propagation, for those attempts to resolve and their outcomes to arrive,
// and stands once no success cleared a count for settleTime. Failures clear nothing,
// so a real lockout still answers 429, later by the wait, and an attacker learns
// nothing more.
func (g *Guard) blockStands(limits []limited, blockedAt []uint64, blockedSince time.Time) ([]uint64, bool) {
	if g.shared == nil || g.shared.Replicas() < 2 {
		return nil, true
	}
	generations := g.generations(limits)
	return generations, slices.Equal(blockedAt, generations) && time.Since(blockedSince) >= settleTime
}

// tryBegin begins an attempt of limits or blocks it, or returns what it must wait for:
// the next resolution of the attempts in flight that hold the rest of a limit's budget.
func (g *Guard) tryBegin(limits []limited) (*Attempt, *Block, <-chan struct{}) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for {
		if b, resolved := g.check(limits); b != nil || resolved != nil {
			return nil, b, resolved
		}
		a, b, overtaken := g.reserve(limits)
		if !overtaken {
			return a, b, nil
		}
		// A peer's reservations arrived between the check and this one's: check again.
	}
}

// check returns the Block of limits, or what to wait for before a reservation fits.
func (g *Guard) check(limits []limited) (*Block, <-chan struct{}) {
	var b *Block
	var resolved <-chan struct{}
	for _, lim := range limits {
		n, expires := g.counters.Get(lim.key, lim.limit)
		own := g.inFlight[lim.key]
		switch {
		case n-own.n >= lim.limit.MaxAttempts:
			b = g.blockedBy(b, lim, expires)
		case n >= lim.limit.MaxAttempts && resolved == nil:
			if own.resolved == nil {
				own.resolved = make(chan struct{})
				g.inFlight[lim.key] = own
			}
			resolved = own.resolved
		}
	}
	if b != nil {
		return b, nil
	}
	return nil, resolved
}

// reserve reserves one failure of each of limits, which check let through, and tracks
// the attempt as in flight. overtaken tells that a peer's reservations took a count past
// its limit since the check: then nothing is reserved.
func (g *Guard) reserve(limits []limited) (a *Attempt, b *Block, overtaken bool) {
	a = &Attempt{guard: g}
	pastShare := false
	for _, lim := range limits {
		var err error
		if lim.reserved, err = g.counters.Add(lim.key, 1, lim.limit); err != nil {
			a.giveBack()
			return nil, fullBlock(err), false
		}
		a.limits = append(a.limits, lim)
		if lim.reserved > lim.limit.MaxAttempts {
			a.giveBack()
			return nil, nil, true
		}
		if g.shared != nil {
			pastShare = pastShare || lim.reserved > g.share(lim.limit)
			a.limits[len(a.limits)-1].generation = g.shared.Generation(lim.key)
		}
	}
	if pastShare {
		a.settled = time.Now().Add(2 * g.shared.Propagation())
	}
	for _, lim := range a.limits {
		f := g.inFlight[lim.key]
		f.n++
		g.inFlight[lim.key] = f
	}
	return a, nil, false
}

// share is how many attempts of l this replica answers without waiting for its peers:
// its part of the budget split evenly over the replicas that share the counts, rounded
// down so that the parts add up to no more than the whole.
//
// Why a burst over N replicas then learns at most the threshold T of a limit, P being
// the Propagation (for a burst of failures; a success that resets the count means the
// password is known):
//
//   - Each replica answers without waiting at most s = ⌊T/N⌋: the attempts it answered
//     stay in its own count, so the k-th of them has a count of at least k. If no
//     attempt that waited is answered, at most N·s ≤ T are.
//   - Otherwise let a, on replica i, be the last reserved of the answered attempts that
//     waited. Its count after the wait, at most T, holds every answered attempt reserved
//     until P after a (each reaches i within P; a waits 2P). If none is reserved later,
//     at most T are answered.
//   - Those reserved later did not wait (a is the last that did). Take b, on replica j,
//     the last of them on j: j had received every answered attempt reserved up to a,
//     and holds its own, so those and j's answered attempts after a number at most s.
//     Each other replica answered at most s after a, without waiting. So at most N·s ≤
//     T are answered.
//
// A wait of one P would not do: an attempt on j reserved just after a need not see a's
// count nor reach i before a's check. The replicas must agree on N, as they do once each
// knows the others' Leases.
func (g *Guard) share(l Limit) int {
	return l.MaxAttempts / max(g.shared.Replicas(), 1)
}

// resolved tells those waiting in Begin that attempts of limits have resolved, after
// their counts have changed.
func (g *Guard) resolved(limits []limited) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, lim := range limits {
		f := g.inFlight[lim.key]
		if f.resolved != nil {
			close(f.resolved)
		}
		if f.n--; f.n == 0 {
			delete(g.inFlight, lim.key)
		} else {
			g.inFlight[lim.key] = inFlight{n: f.n}
		}
	}
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

// blockedBy adds lim, whose count expires at expires, to b: the first limit reached
// names the reason, and the retry waits for the longest.
func (g *Guard) blockedBy(b *Block, lim limited, expires time.Time) *Block {
	// At least a second: counts shared with a replica whose clock runs ahead may expire
	// here now.
	wait := max(expires.Sub(g.now()), time.Second)
	if b == nil {
		return &Block{Reason: lim.reason, RetryAfter: wait}
	}
	b.RetryAfter = max(b.RetryAfter, wait)
	return b
}

// Overrun reports, once the password is checked, whether the replicas together reserved
// more attempts than a limit allows: each decides on its own count, so guesses sent to
// several at the same instant can all pass Begin before their reservations reach each
// other. The caller then refuses the attempt whatever the password, and Overrun keeps
// its reservations (as a failure's), so that a burst over the limit learns nothing. An
// attempt that took a count past this replica's share first waits twice the
// Propagation, for the peers' reservations (WaitsForPeers; see share for why this
// bounds a burst); one within its share of every limit is answered at once. With
// peers, an attempt over a limit then waits up to settleTime for a success to clear the
// count (see clearedSince) before it is refused. A sequence
// of attempts, each sent once the last is answered, never overruns: each replica's
// count holds the others' before the next attempt is checked.
func (a *Attempt) Overrun() *Block {
	if wait := time.Until(a.settled); wait > 0 {
		time.Sleep(wait)
	}
	b := a.overrun()
	// Over a limit, wait for a success to clear it, as a block does (see blockStands).
	for deadline := time.Now().Add(settleTime); b != nil && a.guard.shared != nil && time.Now().Before(deadline); b = a.overrun() {
		time.Sleep(min(2*a.guard.shared.Propagation(), time.Until(deadline)))
	}
	if b != nil {
		a.guard.resolved(a.limits)
	}
	return b
}

// overrun is the Block of the limits over their maximum that no success cleared.
func (a *Attempt) overrun() *Block {
	var b *Block
	for _, lim := range a.limits {
		if n, expires := a.guard.counters.Get(lim.key, lim.limit); n > lim.limit.MaxAttempts && !a.guard.clearedSince(lim) {
			b = a.guard.blockedBy(b, lim, expires)
		}
	}
	return b
}

// clearedSince reports whether a success cleared lim's count after the attempt reserved
// in it (an administrator's unblock does too): the count over the limit is then the
// reservations of attempts that came after a right password, from the same address,
// not a burst that guesses past the threshold, so it refuses nothing. (A burst's right
// guess past the threshold is still refused: only another right guess clears the
// count before it is answered.) Counts that a success only gives back never qualify,
// so an address's one good account cannot lift its throttling.
func (g *Guard) clearedSince(lim limited) bool {
	return lim.clearedBySuccess && g.shared != nil && g.shared.Generation(lim.key) != lim.generation
}

// WaitsForPeers reports whether Overrun waits for the peers' counts: the attempt took
// the count of a limit past this replica's share of it.
func (a *Attempt) WaitsForPeers() bool {
	return !a.settled.IsZero()
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
	a.guard.resolved(a.limits)
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
	a.guard.resolved(a.limits)
	return lockouts
}

// Unavailable gives back the reserved failures: the password could not be checked.
func (a *Attempt) Unavailable() {
	a.giveBack()
	a.guard.resolved(a.limits)
}

// giveBack returns the reserved failures.
func (a *Attempt) giveBack() {
	for _, lim := range a.limits {
		_, _ = a.guard.counters.Add(lim.key, -1, lim.limit) // a return never fails
	}
}
