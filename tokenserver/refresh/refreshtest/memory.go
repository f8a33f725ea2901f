package refreshtest

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
)

// Memory is a refresh.Store in one process's memory: the reference the real stores are
// held to, and the store of tests that need refresh tokens but not their durability.
type Memory struct {
	mu       sync.Mutex
	families map[string]*refresh.Family
	versions int
	// Fail, when set, is returned by every call: a store that cannot be reached.
	Fail error
}

// NewMemory returns an empty Memory store.
func NewMemory() *Memory {
	return &Memory{families: map[string]*refresh.Family{}}
}

var _ refresh.Store = (*Memory)(nil)

// Create stores f within l.
func (m *Memory) Create(_ context.Context, f *refresh.Family, l refresh.Limits) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return 0, m.Fail
	}
	var inTenant int
	var owned []*refresh.Family
	for _, g := range m.families {
		if g.TenantUID != f.TenantUID || !f.Created.Before(g.Deadline()) {
			continue // expired ones do not count: Collect deletes them
		}
		inTenant++
		if g.ClientID == f.ClientID && g.Subject == f.Subject && g.Live(f.Created) {
			owned = append(owned, g)
		}
	}
	if inTenant >= l.FamiliesPerTenant {
		return 0, refresh.ErrQuota
	}
	slices.SortFunc(owned, func(a, b *refresh.Family) int { return cmp.Compare(a.Created.UnixNano(), b.Created.UnixNano()) })
	oldest := owned[:max(0, len(owned)-l.FamiliesPerUser+1)]
	for _, g := range oldest {
		g.Revoked, g.RevokedReason, g.SealedSuccessor = f.Created, refresh.ReasonFamiliesPerUser, nil
		m.bump(g)
	}
	m.put(f)
	return len(oldest), nil
}

// Get returns a copy of family id of tenantUID.
func (m *Memory) Get(_ context.Context, tenantUID, id string) (*refresh.Family, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return nil, m.Fail
	}
	f, ok := m.families[id]
	if !ok || f.TenantUID != tenantUID {
		return nil, refresh.ErrNotFound
	}
	return clone(f), nil
}

// CompareAndSwap replaces the family at f.Version by f.
func (m *Memory) CompareAndSwap(_ context.Context, f *refresh.Family) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return m.Fail
	}
	old, ok := m.families[f.ID]
	if !ok || old.TenantUID != f.TenantUID {
		return refresh.ErrNotFound
	}
	if old.Version != f.Version {
		return refresh.ErrConflict
	}
	m.put(f)
	return nil
}

// RevokeSubject revokes the live families of subject in tenantUID.
func (m *Memory) RevokeSubject(_ context.Context, tenantUID, subject, reason string, now time.Time) (refresh.Revoked, error) {
	return m.revokeWhere(func(f *refresh.Family) bool { return f.TenantUID == tenantUID && f.Subject == subject }, reason, now)
}

// RevokeTenant revokes the live families of tenantUID.
func (m *Memory) RevokeTenant(_ context.Context, tenantUID, reason string, now time.Time) (refresh.Revoked, error) {
	return m.revokeWhere(func(f *refresh.Family) bool { return f.TenantUID == tenantUID }, reason, now)
}

func (m *Memory) revokeWhere(match func(*refresh.Family) bool, reason string, now time.Time) (refresh.Revoked, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return refresh.Revoked{}, m.Fail
	}
	var r refresh.Revoked
	for _, f := range m.families {
		if match(f) && f.Live(now) {
			f.Revoked, f.RevokedReason, f.SealedSuccessor = now, reason, nil
			m.bump(f)
			r.Tenant = f.Tenant
			r.Count++
		}
	}
	return r, nil
}

// Collect deletes the revoked and expired families.
func (m *Memory) Collect(_ context.Context, now time.Time) (refresh.Collected, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.Fail != nil {
		return refresh.Collected{}, m.Fail
	}
	c := refresh.Collected{Live: map[string]int{}}
	for id, f := range m.families {
		if f.Collectable(now) {
			delete(m.families, id)
			c.Deleted++
		} else {
			c.Live[f.Tenant]++
		}
	}
	return c, nil
}

// put stores a copy of f at a new version, and sets f.Version to it.
func (m *Memory) put(f *refresh.Family) {
	m.bump(f)
	m.families[f.ID] = clone(f)
}

func (m *Memory) bump(f *refresh.Family) {
	m.versions++
	f.Version = strconv.Itoa(m.versions)
}

func clone(f *refresh.Family) *refresh.Family {
	c := *f
	c.Scopes = slices.Clone(f.Scopes)
	c.OlderHashes = slices.Clone(f.OlderHashes)
	return &c
}
