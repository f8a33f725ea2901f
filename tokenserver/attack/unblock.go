package attack

import (
	"strings"
	"sync"
)

// Unblock is what an administrator asked to clear: every count of a tenant, or the
// counts of some logins from every address.
type Unblock struct {
	All   bool
	Users []string
}

// ParseUnblock reads the value of a Tenant's unblock annotation: login names separated
// by commas, or "*" for the whole tenant; anything after a ";" is ignored, so that
// appending a new ";<anything>" repeats the request.
func ParseUnblock(value string) Unblock {
	list, _, _ := strings.Cut(value, ";")
	var u Unblock
	for name := range strings.SplitSeq(list, ",") {
		switch name = strings.TrimSpace(name); name {
		case "":
		case "*":
			u.All = true
		default:
			u.Users = append(u.Users, name)
		}
	}
	return u
}

// Empty tells whether u clears nothing.
func (u Unblock) Empty() bool { return !u.All && len(u.Users) == 0 }

// unblocks remembers, per tenant, the unblock value last applied.
type unblocks struct {
	mu      sync.Mutex
	applied map[string]string
}

// Unblock clears the counts that a tenant's unblock value names, once per value: every
// replica applies each new value to the counts it holds. A process applies the value it
// first sees too, which clears nothing when its counts start empty. It returns what it
// cleared, nil when the value was applied before or names nothing.
func (g *Guard) Unblock(tenantUID, value string) *Unblock {
	g.unblocks.mu.Lock()
	defer g.unblocks.mu.Unlock()
	if g.unblocks.applied[tenantUID] == value {
		return nil
	}
	g.unblocks.applied[tenantUID] = value
	u := ParseUnblock(value)
	if u.Empty() {
		return nil
	}
	if u.All {
		g.counters.Reset(TenantPrefix(tenantUID))
		return &u
	}
	for _, name := range u.Users {
		g.counters.Reset(UserPrefix(tenantUID, name))
	}
	return &u
}
