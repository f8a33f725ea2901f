package store

import (
	"net"
	"strings"
	"sync/atomic"
)

// Store publishes the current views of all Tenants. Lookups are lock-free.
type Store struct {
	routes atomic.Pointer[routes]
	ready  atomic.Bool
}

// routes is one published generation of views.
type routes struct {
	byDomain map[string]*Tenant
	// byPath is keyed by "<namespace>/<name>".
	byPath map[string]*Tenant
	byUID  map[string]*Tenant
}

// New returns an empty store that is not ready.
func New() *Store {
	s := &Store{}
	s.routes.Store(&routes{})
	return s
}

// Publish replaces all views at once and marks the store ready.
func (s *Store) Publish(tenants []*Tenant) {
	r := &routes{
		byDomain: make(map[string]*Tenant),
		byPath:   make(map[string]*Tenant),
		byUID:    make(map[string]*Tenant, len(tenants)),
	}
	for _, t := range tenants {
		r.byUID[t.Snapshot.Tenant.UID] = t
		if t.Snapshot.Domain != "" {
			r.byDomain[strings.ToLower(t.Snapshot.Domain)] = t
		} else {
			r.byPath[t.Name] = t
		}
	}
	s.routes.Store(r)
	s.ready.Store(true)
}

// Ready reports whether views have been published since the store was created.
func (s *Store) Ready() bool { return s.ready.Load() }

// Tenants returns the published views.
func (s *Store) Tenants() []*Tenant {
	r := s.routes.Load()
	out := make([]*Tenant, 0, len(r.byUID))
	for _, t := range r.byUID {
		out = append(out, t)
	}
	return out
}

// Route finds the Tenant a request is for and the path below its issuer: a Tenant with a
// domain by the Host header, else by the path prefix /<namespace>/<name>/.
func (s *Store) Route(host, path string) (t *Tenant, rest string, ok bool) {
	r := s.routes.Load()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if t, ok := r.byDomain[strings.ToLower(strings.TrimSuffix(host, "."))]; ok {
		return t, strings.TrimPrefix(path, "/"), true
	}
	ns, after, ok := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if !ok {
		return nil, "", false
	}
	name, rest, ok := strings.Cut(after, "/")
	if !ok {
		return nil, "", false
	}
	t, ok = r.byPath[ns+"/"+name]
	return t, rest, ok
}

// ByUID returns the published view of the Tenant with that UID, nil when there is none.
func (s *Store) ByUID(uid string) *Tenant {
	return s.routes.Load().byUID[uid]
}
