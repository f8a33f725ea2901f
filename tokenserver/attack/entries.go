package attack

import (
	"slices"
	"time"
)

// Entry is one key's count, as one replica hands its counts to another.
type Entry struct {
	Key     string
	N       int
	Expires time.Time
	// Lifetime is the cool-down of the Add that last raised the count; BlocksAt is the
	// count from which it blocks logins.
	Lifetime time.Duration
	BlocksAt int
}

// Page returns the counts that have not expired of whole tenants, in the order of their
// UIDs from the tenant from (inclusive): as many tenants as limit entries hold, and at
// least one. next is the tenant to ask the next page from; more is false after the last.
// A limit of at least the tenant budget takes every tenant whole; a tenant over it is
// cut at the limit.
func (m *Memory) Page(from string, limit int) (entries []Entry, next string, more bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	uids := make([]string, 0, len(m.tenants))
	for uid := range m.tenants {
		if uid >= from {
			uids = append(uids, uid)
		}
	}
	slices.Sort(uids)
	for i, uid := range uids {
		t := m.tenants[uid]
		if len(entries) > 0 && len(entries)+t.size > limit {
			return entries, uids[i], true
		}
		t.each(func(c *count) {
			if !c.expired(now) && len(entries) < limit {
				entries = append(entries, Entry{Key: c.key, N: c.n, Expires: c.expires, Lifetime: c.lifetime, BlocksAt: c.blocksAt})
			}
		})
	}
	return entries, "", false
}

// Merge takes in counts from another replica, keeping for each key the larger count, the
// later expiry and the lower limit: counts that both replicas already saw are not added
// twice. New keys find room as Add's do; it returns how many found none.
func (m *Memory) Merge(entries []Entry) (refused int) {
	// Oldest first: each then files after the others, as Add's do.
	entries = slices.Clone(entries)
	slices.SortFunc(entries, func(a, b Entry) int { return a.Expires.Add(-a.Lifetime).Compare(b.Expires.Add(-b.Lifetime)) })
	var full []Full
	defer func() { m.reportFull(full...) }()
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	for _, e := range entries {
		if e.N <= 0 || !now.Before(e.Expires) {
			continue
		}
		c := m.live(e.Key, now)
		if c == nil {
			f, err := m.makeRoom(tenantOfKey(e.Key), now)
			full = append(full, f)
			if err != nil {
				refused++
				continue
			}
			c = &count{key: e.Key, blocksAt: e.BlocksAt}
		}
		c.n = max(c.n, e.N)
		if e.Expires.After(c.expires) {
			c.expires, c.lifetime = e.Expires, e.Lifetime
		}
		if e.BlocksAt > 0 && e.BlocksAt < c.blocksAt {
			c.blocksAt = e.BlocksAt
		}
		m.update(c)
	}
	return refused
}
