// Package profiles keeps the identities that upstream connectors (azureAD, adfs, oidc)
// captured at their users' logins, so that userinfo can answer the users' claims: an
// upstream cannot be asked about a user without the user's password. What is kept is
// bounded per tenant and for the whole token server, so that a namespace whose
// Connections point at an upstream it controls, which may mint any number of users with
// large claims, in as many Tenants as it likes, evicts its own first and never holds
// more than the store's bound.
package profiles

import (
	"container/list"
	"context"
	"encoding/json"
	"sync"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
)

// maxTenantBytes bounds the identities one tenant's connectors keep, in the bytes of
// their JSON encoding; past it, the tenant's least recently stored ones make room.
// maxStoreBytes bounds those of all tenants, a small part of a replica's memory limit;
// past it, the tenant that keeps the most makes room.
const (
	maxTenantBytes = 8 << 20
	maxStoreBytes  = 32 << 20
)

// profileOverhead is what one kept identity costs beyond its encoding, roughly: its list
// element, map entry and key.
const profileOverhead = 128

// Store keeps the profiles of all the tenants of one token server. It is safe for
// concurrent use.
type Store struct {
	mu      sync.Mutex
	tenants map[string]*tenant
	bytes   int
}

// New returns an empty Store.
func New() *Store {
	return &Store{tenants: map[string]*tenant{}}
}

// Open returns the profiles of the Connection connection of the tenant tenantUID, for its
// connector, which closes them when it is closed. A tenant's share of the store goes with
// the last of its connectors.
func (s *Store) Open(tenantUID, connection string) *Connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tenants[tenantUID]
	if !ok {
		t = &tenant{byKey: map[key]*list.Element{}, order: list.New()}
		s.tenants[tenantUID] = t
	}
	t.holders++
	return &Connection{store: s, tenantUID: tenantUID, tenant: t, name: connection}
}

// Connection is one connector's view of its tenant's profiles.
type Connection struct {
	store     *Store
	tenantUID string
	tenant    *tenant
	name      string
	closeOnce sync.Once
}

// Remember keeps id, the identity of a user who just logged in, in place of the user's
// previous one. An identity larger than the tenant's whole bound is not kept.
func (c *Connection) Remember(id connector.Identity) {
	c.store.put(c.tenant, key{c.name, id.UserID}, id)
}

// LookupUser answers userinfo with the identity of the user's last login on this
// replica. A user it holds none of (another replica served the login, or the profile
// was evicted) is answered with the id alone: the access token, which Gatehouse signed,
// shows the user logged in, so the user is not reported missing.
func (c *Connection) LookupUser(_ context.Context, id string) (connector.Identity, bool, error) {
	if identity, ok := c.store.get(c.tenant, key{c.name, id}); ok {
		return identity, true, nil
	}
	return connector.Identity{UserID: id}, true, nil
}

// Close releases the connector's hold on its tenant's share; a second Close does nothing.
// The profiles of a Connection whose connector was replaced stay for the new one.
func (c *Connection) Close() {
	c.closeOnce.Do(func() {
		c.store.mu.Lock()
		defer c.store.mu.Unlock()
		if c.tenant.holders--; c.tenant.holders == 0 {
			delete(c.store.tenants, c.tenantUID)
			c.store.bytes -= c.tenant.bytes
		}
	})
}

// tenant is one tenant's share: identities by connection and user id, the most recently
// stored first. Store.mu guards it.
type tenant struct {
	holders int
	byKey   map[key]*list.Element
	order   *list.List // of *profile
	bytes   int
}

type key struct{ connection, userID string }

type profile struct {
	key      key
	identity connector.Identity
	bytes    int
}

func (s *Store) put(t *tenant, k key, id connector.Identity) {
	p := &profile{key: k, identity: id, bytes: sizeOf(k, id)}
	if p.bytes > maxTenantBytes {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.holders == 0 {
		return // the tenant's last connector is closed: nothing reads its share
	}
	if e, ok := t.byKey[k]; ok {
		s.remove(t, e)
	}
	t.byKey[k] = t.order.PushFront(p)
	t.bytes += p.bytes
	s.bytes += p.bytes
	for t.bytes > maxTenantBytes {
		s.remove(t, t.order.Back())
	}
	for s.bytes > maxStoreBytes {
		largest := s.largest()
		s.remove(largest, largest.order.Back())
	}
}

// largest is the tenant that keeps the most bytes.
func (s *Store) largest() *tenant {
	var largest *tenant
	for _, t := range s.tenants {
		if largest == nil || t.bytes > largest.bytes {
			largest = t
		}
	}
	return largest
}

func (s *Store) remove(t *tenant, e *list.Element) {
	p := t.order.Remove(e).(*profile)
	delete(t.byKey, p.key)
	t.bytes -= p.bytes
	s.bytes -= p.bytes
}

func (s *Store) get(t *tenant, k key) (connector.Identity, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := t.byKey[k]
	if !ok {
		return connector.Identity{}, false
	}
	return e.Value.(*profile).identity, true
}

// sizeOf is what keeping id costs, roughly: its encoding counts its extra claims, whatever
// their types.
func sizeOf(k key, id connector.Identity) int {
	raw, err := json.Marshal(id)
	if err != nil {
		// Claims that do not encode cannot be measured, so they are not kept.
		return maxTenantBytes + 1
	}
	return profileOverhead + len(k.connection) + len(k.userID) + len(raw)
}
