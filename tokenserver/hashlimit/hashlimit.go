// Package hashlimit bounds the memory and CPU that a token server's password checks
// hold at once, and shares them among tenants so that one tenant's logins cannot slow
// another's.
//
// Every check has a weight: the memory it allocates or, when larger, its share of the
// CPU (each of its threads is worth Budget ÷ Threads), and never more than half the
// Budget. Checks run while their weights fit in the Budget. A tenant holds at most its
// fair share, Budget ÷ max(n, 2) where n counts the tenants that hold or wait for a
// check or did within AloneAfter, except that a tenant holding nothing may always start
// one check the Budget has room for. So while tenants share the token server, half the
// Budget stays free for the next tenant to arrive, whose first check starts at once;
// with n tenants active each holds about 1/n. A tenant that has been alone for
// AloneAfter may use the whole Budget, so that one tenant's logins reach the machine's
// hash limit; the next tenant to arrive then waits for one of its checks to end, no
// more. Nothing is taken back from a running check: a tenant over its share because
// others arrived starts nothing until it is under it again.
//
// When room frees, the next check to start is the first waiting one of the tenant that
// holds least, then was served longest ago, so that tenants take turns however many
// checks each has queued; when that check does not fit, nothing starts before it, so
// light checks cannot starve a heavy one. A check waits at most MaxWait, and a tenant
// has at most MaxQueued checks waiting; past either it is refused with a
// *RefusedError.
package hashlimit

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
)

// Config sizes a Limiter.
type Config struct {
	// Budget is the memory, in bytes, that checks may hold at once (password.Budget).
	Budget int64
	// Threads is how many check threads may run at once: a thread weighs
	// Budget ÷ Threads.
	Threads int
	// MaxWait is the longest a check waits to start.
	MaxWait time.Duration
	// MaxQueued is how many checks of one tenant may wait at once.
	MaxQueued int
	// AloneAfter is how long no other tenant must have held or waited for a check
	// before a tenant may use the whole Budget; zero keeps half of it free always.
	AloneAfter time.Duration
	// Now reads the time AloneAfter is measured in; time.Now when nil.
	Now func() time.Time
}

// DefaultConfig is the Config of a token server whose checks may hold budget bytes.
// Threads is 2 × (cores Go runs on − 1), at least 2: a tenant alone, which holds at most
// half of them, keeps all cores but one busy, and the next tenant's check runs on the
// one left instead of sharing a core with the first tenant's; a tenant alone for
// AloneAfter (2 s) keeps every core busy. Half of MaxWait is the Retry-After of a
// refusal.
func DefaultConfig(budget int64) Config {
	return Config{Budget: budget, Threads: 2 * max(runtime.GOMAXPROCS(0)-1, 1), MaxWait: 5 * time.Second, MaxQueued: 128,
		AloneAfter: 2 * time.Second}
}

// Reason says why a check was refused.
type Reason string

// The reasons of a RefusedError.
const (
	// ReasonTimeout: the check did not start within MaxWait.
	ReasonTimeout Reason = "timeout"
	// ReasonQueueFull: MaxQueued checks of the tenant were waiting already.
	ReasonQueueFull Reason = "queue_full"
)

// RefusedError is a check the Limiter refused because its tenant saturates the limiter.
type RefusedError struct {
	Reason Reason
	// RetryAfter is when trying again makes sense.
	RetryAfter time.Duration
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("too many password checks of this tenant at once (%s)", e.Reason)
}

// Limiter admits password checks. It is safe for concurrent use.
type Limiter struct {
	cfg Config
	// threadWeight is what one thread of a check weighs, in bytes.
	threadWeight int64

	mu   sync.Mutex
	used int64
	// tenants are those that hold or wait for a check.
	tenants map[string]*tenant
	// left are when tenants that hold and wait for nothing last did, for AloneAfter.
	left map[string]time.Time
	// grants numbers the checks started, arrivals those queued, to order tenants and
	// checks.
	grants, arrivals uint64
}

type tenant struct {
	held int64
	// queue holds the tenant's waiting checks in the order they arrived.
	queue []*waiter
	// lastGrant is the number of the tenant's last check started.
	lastGrant uint64
}

type waiter struct {
	tenant  *tenant
	weight  int64
	arrival uint64
	// ready is closed when the check may start; granted says so under mu.
	ready   chan struct{}
	granted bool
}

// New returns a Limiter sized by cfg.
func New(cfg Config) *Limiter {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{cfg: cfg, threadWeight: cfg.Budget / int64(max(cfg.Threads, 1)), tenants: map[string]*tenant{}, left: map[string]time.Time{}}
}

// Weight is what a check of cost c holds of the Budget while it runs.
func (l *Limiter) Weight(c password.Cost) int64 {
	return min(max(c.MemoryKiB<<10, int64(c.Threads)*l.threadWeight), l.cfg.Budget/2)
}

// Acquire waits until a check of cost c for tenantKey may run, for at most MaxWait, and
// returns the function that ends it, which must be called once. It returns a
// *RefusedError when the tenant saturates the limiter, or ctx's error when ctx ends
// first.
func (l *Limiter) Acquire(ctx context.Context, tenantKey string, c password.Cost) (release func(), err error) {
	w, err := l.enqueue(tenantKey, l.Weight(c))
	if err != nil {
		return nil, err
	}
	release = func() { l.release(tenantKey, w) }
	timer := time.NewTimer(l.cfg.MaxWait)
	defer timer.Stop()
	var refusal error
	select {
	case <-w.ready:
		return release, nil
	case <-timer.C:
		refusal = &RefusedError{Reason: ReasonTimeout, RetryAfter: l.retryAfter()}
	case <-ctx.Done():
		refusal = ctx.Err()
	}
	if l.abandon(tenantKey, w) {
		return nil, refusal
	}
	// Granted while giving up: run the check, unless the caller is gone.
	if ctx.Err() != nil {
		release()
		return nil, ctx.Err()
	}
	return release, nil
}

func (l *Limiter) retryAfter() time.Duration { return l.cfg.MaxWait / 2 }

// enqueue queues a check of weight for tenantKey and starts whatever may start.
func (l *Limiter) enqueue(tenantKey string, weight int64) (*waiter, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := l.tenants[tenantKey]
	if t == nil {
		t = &tenant{}
		l.tenants[tenantKey] = t
	}
	if len(t.queue) >= l.cfg.MaxQueued {
		return nil, &RefusedError{Reason: ReasonQueueFull, RetryAfter: l.retryAfter()}
	}
	l.arrivals++
	w := &waiter{tenant: t, weight: weight, arrival: l.arrivals, ready: make(chan struct{})}
	t.queue = append(t.queue, w)
	l.grant()
	return w, nil
}

// abandon takes a waiting check out of its queue, or reports false if it was granted.
func (l *Limiter) abandon(tenantKey string, w *waiter) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		return false
	}
	t := w.tenant
	t.queue = slices.DeleteFunc(t.queue, func(q *waiter) bool { return q == w })
	l.forgetIdle(tenantKey, t)
	// One tenant fewer may raise the others' share.
	l.grant()
	return true
}

// release ends a granted check and starts whatever may start now.
func (l *Limiter) release(tenantKey string, w *waiter) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.used -= w.weight
	w.tenant.held -= w.weight
	l.forgetIdle(tenantKey, w.tenant)
	l.grant()
}

func (l *Limiter) forgetIdle(tenantKey string, t *tenant) {
	if t.held == 0 && len(t.queue) == 0 {
		delete(l.tenants, tenantKey)
		if l.cfg.AloneAfter > 0 {
			l.left[tenantKey] = l.cfg.Now()
		}
	}
}

// active counts the tenants that hold or wait for a check, or did within AloneAfter; it
// forgets those that left longer ago.
func (l *Limiter) active() int {
	now := l.cfg.Now()
	for key, at := range l.left {
		if _, back := l.tenants[key]; back || now.Sub(at) >= l.cfg.AloneAfter {
			delete(l.left, key)
		}
	}
	return len(l.tenants) + len(l.left)
}

// grant starts waiting checks while the budget has room (all of it for a tenant alone):
// each time the first waiting check of the tenant that holds least (then was served longest ago, then waited
// longest), among those within their share. When that check does not fit, nothing
// starts: no other tenant's check goes before it.
func (l *Limiter) grant() {
	n := l.active()
	share := l.cfg.Budget / int64(max(n, 2))
	if l.cfg.AloneAfter > 0 && n == 1 {
		share = l.cfg.Budget
	}
	for {
		next := l.next(share)
		if next == nil {
			return
		}
		w := next.queue[0]
		if l.used+w.weight > l.cfg.Budget {
			return
		}
		next.queue = next.queue[1:]
		l.used += w.weight
		next.held += w.weight
		l.grants++
		next.lastGrant = l.grants
		w.granted = true
		close(w.ready)
	}
}

// next is the tenant whose first waiting check starts next, or nil when none may.
func (l *Limiter) next(share int64) *tenant {
	var best *tenant
	for _, t := range l.tenants {
		if len(t.queue) == 0 || (t.held > 0 && t.held+t.queue[0].weight > share) {
			continue
		}
		if best == nil || t.before(best) {
			best = t
		}
	}
	return best
}

// before reports whether t's next check goes before u's.
func (t *tenant) before(u *tenant) bool {
	switch {
	case t.held != u.held:
		return t.held < u.held
	case t.lastGrant != u.lastGrant:
		return t.lastGrant < u.lastGrant
	}
	return t.queue[0].arrival < u.queue[0].arrival
}
