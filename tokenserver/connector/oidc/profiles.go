package oidc

import (
	"container/list"
	"sync"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
)

// maxProfileBytes bounds the identities one tenant's oidc connections keep, in the bytes
// of their strings: a provider controlled by the tenant's namespace may mint any number
// of users with large claims, and only that tenant's oldest profiles make room.
const maxProfileBytes = 8 << 20

// profileOverhead is what one kept identity costs beyond its strings, roughly.
const profileOverhead = 128

// Profiles keeps, for each tenant, the identities of its oidc users' latest logins, so
// that userinfo can answer their claims: the provider cannot be asked about a user
// without the user's password. Each tenant's share is bounded by maxProfileBytes and
// dropped when the last of its connectors is closed. It is safe for concurrent use.
type Profiles struct {
	mu      sync.Mutex
	tenants map[string]*tenantProfiles
}

// NewProfiles returns an empty Profiles, for all the connectors of one token server.
func NewProfiles() *Profiles {
	return &Profiles{tenants: map[string]*tenantProfiles{}}
}

// acquire returns the share of tenantUID and the function that releases it, once.
func (p *Profiles) acquire(tenantUID string) (*tenantProfiles, func()) {
	p.mu.Lock()
	defer p.mu.Unlock()
	t, ok := p.tenants[tenantUID]
	if !ok {
		t = &tenantProfiles{byKey: map[profileKey]*list.Element{}, order: list.New()}
		p.tenants[tenantUID] = t
	}
	t.holders++
	var once sync.Once
	return t, func() {
		once.Do(func() {
			p.mu.Lock()
			defer p.mu.Unlock()
			if t.holders--; t.holders == 0 {
				delete(p.tenants, tenantUID)
			}
		})
	}
}

// tenantProfiles is one tenant's share: identities by connection and user id, the most
// recently stored first.
type tenantProfiles struct {
	holders int // guarded by Profiles.mu

	mu    sync.Mutex
	byKey map[profileKey]*list.Element
	order *list.List // of *profile
	bytes int
}

type profileKey struct{ connection, userID string }

type profile struct {
	key      profileKey
	identity connector.Identity
	bytes    int
}

func (t *tenantProfiles) put(connection string, id connector.Identity) {
	p := &profile{key: profileKey{connection, id.UserID}, identity: id, bytes: sizeOf(connection, id)}
	if p.bytes > maxProfileBytes {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, ok := t.byKey[p.key]; ok {
		t.remove(e)
	}
	t.byKey[p.key] = t.order.PushFront(p)
	t.bytes += p.bytes
	for t.bytes > maxProfileBytes {
		t.remove(t.order.Back())
	}
}

func (t *tenantProfiles) remove(e *list.Element) {
	p := t.order.Remove(e).(*profile)
	delete(t.byKey, p.key)
	t.bytes -= p.bytes
}

func (t *tenantProfiles) get(connection, userID string) (connector.Identity, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	e, ok := t.byKey[profileKey{connection, userID}]
	if !ok {
		return connector.Identity{}, false
	}
	return e.Value.(*profile).identity, true
}

// sizeOf is what keeping id costs, roughly. Identities of this connector carry no extra
// claims.
func sizeOf(connection string, id connector.Identity) int {
	n := profileOverhead + len(connection) + 2*len(id.UserID) + len(id.Username) + len(id.Email) + len(id.Name)
	for _, g := range id.Groups {
		n += len(g) + 16
	}
	return n
}
