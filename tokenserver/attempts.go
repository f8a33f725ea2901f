package tokenserver

import (
	"sync"
	"time"
)

// attemptLimiter refuses logins of a user from an address after too many failures in a
// window, as Auth0's brute-force protection does: it stops password guessing without
// letting anyone lock a user out from everywhere.
type attemptLimiter struct {
	max    int
	window time.Duration
	now    func() time.Time

	mu       sync.Mutex
	failures map[string]failures
}

type failures struct {
	count int
	since time.Time
}

// maxTrackedLogins bounds the limiter's memory; past it, expired entries are swept and,
// if that is not enough, the oldest knowledge is dropped wholesale.
const maxTrackedLogins = 100_000

func newAttemptLimiter(max int, window time.Duration, now func() time.Time) *attemptLimiter {
	return &attemptLimiter{max: max, window: window, now: now, failures: map[string]failures{}}
}

// blocked reports whether key has failed too often within the window.
func (l *attemptLimiter) blocked(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	f, ok := l.failures[key]
	return ok && f.count >= l.max && l.now().Sub(f.since) < l.window
}

// fail records a failed login of key.
func (l *attemptLimiter) fail(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f, ok := l.failures[key]
	if !ok || now.Sub(f.since) >= l.window {
		f = failures{since: now}
	}
	f.count++
	if !ok && len(l.failures) >= maxTrackedLogins {
		l.sweep(now)
	}
	l.failures[key] = f
}

// succeed forgets the failures of key.
func (l *attemptLimiter) succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.failures, key)
}

func (l *attemptLimiter) sweep(now time.Time) {
	for k, f := range l.failures {
		if now.Sub(f.since) >= l.window {
			delete(l.failures, k)
		}
	}
	if len(l.failures) >= maxTrackedLogins {
		clear(l.failures)
	}
}
