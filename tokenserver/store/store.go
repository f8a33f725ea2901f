package store

import (
	"net"
	"net/url"
	"strings"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
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
	// byUID holds every view, served or refused a host, so that an unchanged one is
	// not built again at the next load.
	byUID map[string]*Tenant
	// refused are the UIDs of the views refused a host; they are not served.
	refused map[string]bool
}

// New returns an empty store that is not ready.
func New() *Store {
	s := &Store{}
	s.routes.Store(&routes{})
	return s
}

// Publish replaces all views at once and marks the store ready. It returns the views
// refused a host (see routeDomains); they are not served at all.
func (s *Store) Publish(tenants []*Tenant) (refused []DomainRefusal) {
	r := &routes{
		byPath:  make(map[string]*Tenant),
		byUID:   make(map[string]*Tenant, len(tenants)),
		refused: make(map[string]bool),
	}
	r.byDomain, refused = routeDomains(tenants, s.routes.Load().byDomain)
	for _, t := range tenants {
		uid := t.Snapshot.Tenant.UID
		r.byUID[uid] = t
		switch {
		case t.Snapshot.Domain == "":
			r.byPath[t.Name] = t
		case r.byDomain[domainKey(t.Snapshot.Domain)] != t:
			r.refused[uid] = true
		}
	}
	s.routes.Store(r)
	s.ready.Store(true)
	return refused
}

// DomainRefusal is a view that claims a host the token server does not serve it at.
type DomainRefusal struct {
	// Tenant is the refused view's "<namespace>/<name>".
	Tenant string
	Domain string
	// Reason is "conflict" (another view holds the host) or "reserved" (the host of
	// the token server's own URL, under which path-routed Tenants are served).
	Reason string
}

// routeDomains decides which view serves each claimed host. The controller gives a host
// to one Tenant; this is the token server's own check, so that a stale or hand-written
// snapshot cannot take a host over: as the controller decides, the view that served a
// host in the previous publish keeps it, and among other claims the oldest Tenant
// (creation time, then UID) wins; and no view may claim the host of a path-routed
// Tenant's issuer, which would capture every path-routed Tenant.
func routeDomains(tenants []*Tenant, previous map[string]*Tenant) (map[string]*Tenant, []DomainRefusal) {
	ownHosts := map[string]bool{}
	for _, t := range tenants {
		if t.Snapshot.Domain == "" {
			if u, err := url.Parse(t.Snapshot.Issuer); err == nil {
				ownHosts[domainKey(u.Hostname())] = true
			}
		}
	}
	byDomain := make(map[string]*Tenant)
	var refused []DomainRefusal
	for _, t := range tenants {
		d := domainKey(t.Snapshot.Domain)
		switch held, taken := byDomain[d]; {
		case d == "":
		case ownHosts[d]:
			refused = append(refused, DomainRefusal{Tenant: t.Name, Domain: d, Reason: "reserved"})
		case !taken:
			byDomain[d] = t
		case claimsBefore(t.Snapshot.Tenant, held.Snapshot.Tenant, previous[d]):
			byDomain[d] = t
			refused = append(refused, DomainRefusal{Tenant: held.Name, Domain: d, Reason: "conflict"})
		default:
			refused = append(refused, DomainRefusal{Tenant: t.Name, Domain: d, Reason: "conflict"})
		}
	}
	return byDomain, refused
}

// claimsBefore orders two Tenants' claims on one host: the one that served it before
// first, then the older, then by UID, so that the answer never depends on the order
// views were loaded in.
func claimsBefore(a, b snapshot.TenantRef, servedBefore *Tenant) bool {
	if servedBefore != nil {
		switch servedBefore.Snapshot.Tenant.UID {
		case a.UID:
			return true
		case b.UID:
			return false
		}
	}
	if !a.Created.Equal(b.Created) {
		return a.Created.Before(b.Created)
	}
	return a.UID < b.UID
}

func domainKey(host string) string { return strings.ToLower(strings.TrimSuffix(host, ".")) }

// Ready reports whether views have been published since the store was created.
func (s *Store) Ready() bool { return s.ready.Load() }

// Tenants returns the views that are served.
func (s *Store) Tenants() []*Tenant {
	r := s.routes.Load()
	out := make([]*Tenant, 0, len(r.byUID))
	for uid, t := range r.byUID {
		if !r.refused[uid] {
			out = append(out, t)
		}
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
	if t, ok := r.byDomain[domainKey(host)]; ok {
		return t, strings.TrimPrefix(path, "/"), true
	}
	path = strings.TrimPrefix(path, "/")
	ns, after, ok := strings.Cut(path, "/")
	if !ok {
		return nil, "", false
	}
	name, rest, ok := strings.Cut(after, "/")
	if !ok {
		return nil, "", false
	}
	// path begins with "<namespace>/<name>", the key, without building it.
	t, ok = r.byPath[path[:len(ns)+1+len(name)]]
	return t, rest, ok
}

// ByUID returns the published view of the Tenant with that UID, served or refused a
// host, nil when there is none.
func (s *Store) ByUID(uid string) *Tenant {
	return s.routes.Load().byUID[uid]
}
