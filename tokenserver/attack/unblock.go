package attack

import (
	"net/url"
	"strings"
	"sync"
	"time"
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

// Unblock clears the counts that a tenant's unblock value names, once per value. A
// process applies the value it first sees too, which clears nothing when its counts
// start empty. It returns what it cleared, nil when the value was applied before or
// names nothing.
//
// When replicas share Counters, the value applied is marked in them too (unblockMark),
// and a replica that finds the mark does not apply the value again: a second
// application, by a replica that sees the value later or starts with counts taken from
// its peers, would clear the failures counted since the first.
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
	mark := unblockMark(tenantUID, value)
	if n, _ := g.counters.Get(mark, unblockMarkLimit); n > 0 {
		return nil
	}
	// One mark per tenant: the marks of earlier values go, so that a value set again
	// later is a new request.
	g.counters.Reset(unblockMarkPrefix(tenantUID))
	if u.All {
		g.counters.Reset(TenantPrefix(tenantUID))
	} else {
		for _, name := range u.Users {
			g.counters.Reset(UserPrefix(tenantUID, name))
		}
	}
	// After the counts it cleared, which make room for it. A mark that finds none (every
	// other count of the tenant blocks) is not kept: a replica that starts later may
	// then apply the value again.
	_, _ = g.counters.Add(mark, 1, unblockMarkLimit)
	return &u
}

// unblockMarkLimit is what the mark of an applied unblock value counts against. It lasts
// a year: a replica that starts later than that after an unblock, while the annotation
// still holds the value, applies it again. Its one count "blocks", so that it is never
// given up for other keys.
var unblockMarkLimit = Limit{MaxAttempts: 1, CoolDown: 365 * 24 * time.Hour}

// unblockMarksPrefix starts every unblock mark. It starts with "/", which no TenantPrefix
// does (a UID is never empty), so unblocking a tenant never clears them.
const unblockMarksPrefix = "/unblock/"

// unblockMarkPrefix is the prefix of a tenant's unblock marks.
func unblockMarkPrefix(tenantUID string) string {
	return unblockMarksPrefix + url.PathEscape(tenantUID) + "/"
}

// unblockMark is the key marking that value was applied to the tenant's counts.
func unblockMark(tenantUID, value string) string {
	return unblockMarkPrefix(tenantUID) + digest(value) + "/"
}
