// Package attack protects password logins against guessing. It counts attempts per key
// (a user from a client address, or a client address across users) in Counters, which
// one replica keeps in memory and replicas can share.
package attack

import (
	"strings"
	"sync"
	"time"
)

// Counters counts attempts per key. Implementations are safe for concurrent use.
type Counters interface {
	// Add adds delta to key's count, counted against l, and returns the new count. A
	// positive delta makes the count last l.CoolDown from now, so a lockout lasts a
	// cool-down after the last failure; a negative one returns attempts that were
	// reserved but did not fail (the directory was down): it never takes a count below
	// zero or extends its life. A count of at least l.MaxAttempts blocks logins and is
	// kept whatever else is counted. A key not counted yet may find no room: Add then
	// counts nothing and returns a *FullError.
	Add(key string, delta int, l Limit) (int, error)
	// Get returns key's count and when it expires; zero once it has expired. It records
	// l as the limit the key counts against, so that a count that blocks under a limit
	// lowered since its last Add is kept too.
	Get(key string, l Limit) (n int, expires time.Time)
	// Reset forgets the count of every key that starts with prefix; a whole key is a
	// prefix of itself.
	Reset(prefix string)
}

// Bounds of a Memory. Each counted key costs about 300 bytes (measured by
// BenchmarkMemoryFull), so the process-wide bound is about 60 MB, and one tenant's
// budget about 1.5 MB: room for the failures of 5,000 logins or addresses within a
// cool-down, far more than a tenant's users mistype.
const (
	DefaultTenantBudget = 5_000
	DefaultMemoryLimit  = 200_000
)

// MemoryOptions configure a Memory; zero values take the defaults.
type MemoryOptions struct {
	// TenantBudget is how many keys one tenant may hold (DefaultTenantBudget).
	TenantBudget int
	// Limit is how many keys the process holds, all tenants together
	// (DefaultMemoryLimit).
	Limit int
	// Now reads the time (time.Now).
	Now func() time.Time
	// Report, when set, is told of every new key that found a bound full. It is called
	// without the Memory's lock held.
	Report func(Full)
}

// Memory is Counters in this process's memory, within a budget of keys per tenant and a
// bound for the process (see Full for what happens at them).
type Memory struct {
	now          func() time.Time
	tenantBudget int
	limit        int
	report       func(Full)

	mu     sync.Mutex
	counts map[string]*count
	// generations numbers the counts' creations (see Generation).
	generations uint64
	tenants     map[string]*tenantCounts
	// bySize orders the tenants by how many keys they hold, the largest first: the one
	// that gives up a key when the process is full.
	bySize tenantsBySize
}

var _ Counters = (*Memory)(nil)

// NewMemory returns empty Counters.
func NewMemory(o MemoryOptions) *Memory {
	if o.TenantBudget <= 0 {
		o.TenantBudget = DefaultTenantBudget
	}
	if o.Limit <= 0 {
		o.Limit = DefaultMemoryLimit
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Memory{
		now: o.Now, tenantBudget: o.TenantBudget, limit: o.Limit, report: o.Report,
		counts: map[string]*count{}, tenants: map[string]*tenantCounts{},
	}
}

// Add implements Counters.
func (m *Memory) Add(key string, delta int, l Limit) (int, error) {
	m.mu.Lock()
	n, full, err := m.add(key, delta, l, m.now())
	m.mu.Unlock()
	m.reportFull(full)
	return n, err
}

func (m *Memory) add(key string, delta int, l Limit, now time.Time) (int, Full, error) {
	c := m.live(key, now)
	if delta <= 0 {
		if c == nil {
			return 0, Full{}, nil
		}
		c.n = max(c.n+delta, 0)
		c.blocksAt = l.MaxAttempts
		m.update(c)
		return c.n, Full{}, nil
	}
	var full Full
	if c == nil {
		var err error
		if full, err = m.makeRoom(tenantOfKey(key), now); err != nil {
			return 0, full, err
		}
		c = &count{key: key, generation: m.nextGeneration()}
	}
	c.n += delta
	c.expires, c.lifetime, c.blocksAt = now.Add(l.CoolDown), l.CoolDown, l.MaxAttempts
	m.update(c)
	return c.n, full, nil
}

// Get implements Counters.
func (m *Memory) Get(key string, l Limit) (n int, expires time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c := m.live(key, m.now())
	if c == nil {
		return 0, time.Time{}
	}
	if c.blocksAt != l.MaxAttempts {
		c.blocksAt = l.MaxAttempts
		m.update(c)
	}
	return c.n, c.expires
}

// Generation is a number that changes whenever key's count is cleared (by a Reset or
// its expiry) and counted anew, and only then; 0 while the key has no count. A
// replica that reads the same Generation before and after a wait knows that no success
// cleared the count meanwhile.
func (m *Memory) Generation(key string) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.live(key, m.now()); c != nil {
		return c.generation
	}
	return 0
}

func (m *Memory) nextGeneration() uint64 {
	m.generations++
	return m.generations
}

// Reset implements Counters. A prefix that names a tenant (every prefix keys.go builds
// does) looks at that tenant's keys only.
func (m *Memory) Reset(prefix string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var matched []*count
	collect := func(c *count) {
		if strings.HasPrefix(c.key, prefix) {
			matched = append(matched, c)
		}
	}
	if uid, ok := tenantOf(prefix); ok {
		if t := m.tenants[uid]; t != nil {
			t.each(collect)
		}
	} else {
		for _, c := range m.counts {
			collect(c)
		}
	}
	for _, c := range matched {
		m.remove(c)
	}
}

// live returns key's count, nil when there is none or it has expired (an expired count
// is dropped).
func (m *Memory) live(key string, now time.Time) *count {
	c := m.counts[key]
	if c != nil && c.expired(now) {
		m.remove(c)
		return nil
	}
	return c
}

// reportFull reports what hit a bound; the zero Full is nothing.
func (m *Memory) reportFull(full ...Full) {
	if m.report == nil {
		return
	}
	for _, f := range full {
		if f != (Full{}) {
			m.report(f)
		}
	}
}
