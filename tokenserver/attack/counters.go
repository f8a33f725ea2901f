// Package attack protects password logins against guessing. It counts attempts per key
// (a user from a client address, or a client address across users) in Counters, which
// one replica keeps in memory and replicas can share.
package attack

import (
	"strings"
	"sync"
	"time"
)

// Counters counts attempts per key. A count lives until ttl after the last Add that
// raised it, so a lockout lasts a cool-down after the last failure. Implementations are
// safe for concurrent use.
type Counters interface {
	// Add adds delta to key's count and returns the new count. A negative delta returns
	// attempts that were reserved but did not fail (the directory was down); it never
	// takes a count below zero or extends its life.
	Add(key string, delta int, ttl time.Duration) int
	// Get returns key's count and when it expires; zero once it has expired.
	Get(key string) (n int, expires time.Time)
	// Reset forgets the count of every key that starts with prefix; a whole key is a
	// prefix of itself.
	Reset(prefix string)
}

// Memory is Counters in this process's memory.
type Memory struct {
	now   func() time.Time
	limit int

	mu     sync.Mutex
	counts map[string]count
}

type count struct {
	n       int
	expires time.Time
}

// DefaultMemoryLimit bounds the keys a Memory holds: past it, expired counts are swept
// and, if that is not enough, every count is dropped, so an attacker who sprays
// addresses costs memory only up to the limit.
const DefaultMemoryLimit = 100_000

// NewMemory returns empty Counters holding at most limit keys, reading time from now.
func NewMemory(limit int, now func() time.Time) *Memory {
	return &Memory{now: now, limit: limit, counts: map[string]count{}}
}

// Add implements Counters.
func (m *Memory) Add(key string, delta int, ttl time.Duration) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	c, ok := m.counts[key]
	if ok && !now.Before(c.expires) {
		c, ok = count{}, false
	}
	if delta <= 0 {
		if !ok {
			return 0
		}
		c.n = max(c.n+delta, 0)
		m.counts[key] = c
		return c.n
	}
	c.n += delta
	c.expires = now.Add(ttl)
	if !ok && len(m.counts) >= m.limit {
		m.sweep(now)
	}
	m.counts[key] = c
	return c.n
}

// Get implements Counters.
func (m *Memory) Get(key string) (n int, expires time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.counts[key]
	if !ok || !m.now().Before(c.expires) {
		return 0, time.Time{}
	}
	return c.n, c.expires
}

// Reset implements Counters.
func (m *Memory) Reset(prefix string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.counts {
		if strings.HasPrefix(k, prefix) {
			delete(m.counts, k)
		}
	}
}

func (m *Memory) sweep(now time.Time) {
	for k, c := range m.counts {
		if !now.Before(c.expires) {
			delete(m.counts, k)
		}
	}
	if len(m.counts) >= m.limit {
		clear(m.counts)
	}
}
