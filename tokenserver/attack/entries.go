package attack

import "time"

// Entry is one key's count, as one replica hands its counts to another.
type Entry struct {
	Key     string
	N       int
	Expires time.Time
}

// Entries returns the counts that have not expired.
func (m *Memory) Entries() []Entry {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	out := make([]Entry, 0, len(m.counts))
	for k, c := range m.counts {
		if now.Before(c.expires) {
			out = append(out, Entry{Key: k, N: c.n, Expires: c.expires})
		}
	}
	return out
}

// Merge takes in counts from another replica, keeping for each key the larger count and
// the later expiry: counts that both replicas already saw are not added twice.
func (m *Memory) Merge(entries []Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, e := range entries {
		if e.N <= 0 || !now.Before(e.Expires) {
			continue
		}
		c, ok := m.counts[e.Key]
		if ok && !now.Before(c.expires) {
			c, ok = count{}, false
		}
		c.n = max(c.n, e.N)
		if e.Expires.After(c.expires) {
			c.expires = e.Expires
		}
		if !ok && len(m.counts) >= m.limit {
			m.sweep(now)
		}
		m.counts[e.Key] = c
	}
}
