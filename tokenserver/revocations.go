package tokenserver

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Reasons of the revocations that snapshot changes ask for, as metrics and logs say.
const (
	reasonAdministrator   = "administrator"
	reasonPasswordChanged = "password_changed"
	reasonUserBlocked     = "user_blocked"
	reasonUserRemoved     = "user_removed"
	// reasonManyUsers replaces the reasons of more than maxSubjectRevocations users of
	// one tenant waiting at once: their tenant's every family is revoked instead.
	reasonManyUsers = "many_users_changed"
)

// maxSubjectRevocations bounds the users' revocations one tenant has waiting. Each costs
// the store a query or more, and a namespace may change every user of its users Secret
// at every edit; past the bound, the tenant's families are revoked in one operation,
// which costs that tenant its own logins' refresh tokens and no other tenant anything.
const maxSubjectRevocations = 64

// revocation is what one snapshot change asks to revoke: the families of subject, or
// every family of the tenant when subject is "".
type revocation struct {
	subject, reason string
}

// revocationsOf are the revocations that replacing prev by next asks for: those a new
// value of the revoke-refresh-tokens annotation names, and those of the database users
// whose password hash changed, who were blocked or who were removed. Users of a
// Connection that is gone need none: their refreshes are refused, and their families
// revoked then.
func revocationsOf(prev, next *snapshot.Snapshot) []revocation {
	var out []revocation
	if next.RevokeRefreshTokens != prev.RevokeRefreshTokens {
		// The annotation has the unblock annotation's form, with subjects for logins.
		asked := attack.ParseUnblock(next.RevokeRefreshTokens)
		if asked.All {
			return []revocation{{reason: reasonAdministrator}}
		}
		for _, subject := range asked.Users {
			out = append(out, revocation{subject, reasonAdministrator})
		}
	}
	for _, before := range prev.Connections {
		after := databaseConnection(next, before.Name)
		if before.Strategy != snapshot.StrategyDatabase || after == nil {
			continue
		}
		users := make(map[string]*snapshot.User, len(after.Users))
		for i := range after.Users {
			users[after.Users[i].ID] = &after.Users[i]
		}
		for _, u := range before.Users {
			if reason := userRevocation(u, users[u.ID]); reason != "" {
				out = append(out, revocation{subjectOf(before.Name, u.ID), reason})
			}
		}
	}
	return out
}

// userRevocation is why a database user's families go when before becomes after (nil
// for a removed user), "" when they stay.
func userRevocation(before snapshot.User, after *snapshot.User) string {
	switch {
	case after == nil:
		return reasonUserRemoved
	case after.Blocked && !before.Blocked:
		return reasonUserBlocked
	case after.PasswordHash != before.PasswordHash:
		return reasonPasswordChanged
	}
	return ""
}

func databaseConnection(s *snapshot.Snapshot, name string) *snapshot.Connection {
	for i := range s.Connections {
		if c := &s.Connections[i]; c.Name == name && c.Strategy == snapshot.StrategyDatabase {
			return c
		}
	}
	return nil
}

// Revocations revokes the refresh tokens that snapshot changes ask to, off the loader's
// goroutine and retrying while the store is unavailable. Each replica revokes what it
// sees change; revoking a family twice is harmless, and a replica that starts later
// sees no change, so it revokes nothing that was issued after the change.
type Revocations struct {
	tokens *refresh.Tokens
	log    *slog.Logger
	retry  time.Duration

	mu      sync.Mutex
	pending map[string]*tenantRevocations // by tenant UID
	wake    chan struct{}
}

// tenantRevocations are the revocations waiting for one tenant: all of its families
// (allReason set), or those of some subjects, with the reason of each.
type tenantRevocations struct {
	tenant    string
	allReason string
	subjects  map[string]string
}

// NewRevocations returns Revocations over tokens; Run applies them.
func NewRevocations(tokens *refresh.Tokens, log *slog.Logger) *Revocations {
	return &Revocations{tokens: tokens, log: log, retry: 5 * time.Second, pending: map[string]*tenantRevocations{}, wake: make(chan struct{}, 1)}
}

// Changed queues what replacing prev by next asks to revoke; give it to
// store.Loader.OnChange. It never blocks.
func (r *Revocations) Changed(prev, next *snapshot.Snapshot) {
	revs := revocationsOf(prev, next)
	if len(revs) == 0 {
		return
	}
	r.mu.Lock()
	p := r.pending[next.Tenant.UID]
	if p == nil {
		p = &tenantRevocations{subjects: map[string]string{}}
		r.pending[next.Tenant.UID] = p
	}
	p.tenant = next.Tenant.Namespace + "/" + next.Tenant.Name
	for _, rev := range revs {
		p.add(rev)
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (p *tenantRevocations) add(rev revocation) {
	switch {
	case p.allReason != "":
	case rev.subject == "":
		p.allReason, p.subjects = rev.reason, map[string]string{}
	case len(p.subjects) >= maxSubjectRevocations:
		p.allReason, p.subjects = reasonManyUsers, map[string]string{}
	default:
		p.subjects[rev.subject] = rev.reason
	}
}

// Run applies the queued revocations until ctx ends; those the store fails are tried
// again after a pause.
func (r *Revocations) Run(ctx context.Context) error {
	for {
		var retry <-chan time.Time
		if !r.applyPending(ctx) {
			retry = time.After(r.retry)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-r.wake:
		case <-retry:
		}
	}
}

// applyPending applies what is queued and tells whether all of it was applied; what
// failed is queued again.
func (r *Revocations) applyPending(ctx context.Context) bool {
	r.mu.Lock()
	pending := r.pending
	r.pending = map[string]*tenantRevocations{}
	r.mu.Unlock()
	ok := true
	for uid, p := range pending {
		if failed := r.apply(ctx, uid, p); failed != nil {
			ok = false
			r.requeue(uid, failed)
		}
	}
	return ok
}

// apply revokes p's families and returns what failed, nil when nothing did.
func (r *Revocations) apply(ctx context.Context, uid string, p *tenantRevocations) *tenantRevocations {
	if p.allReason != "" {
		if _, err := r.tokens.RevokeTenant(ctx, uid, p.allReason); err != nil {
			r.log.Error("revoking the tenant's refresh tokens; trying again", "tenant", p.tenant, "reason", p.allReason, "error", err)
			return p
		}
		return nil
	}
	var failed *tenantRevocations
	for subject, reason := range p.subjects {
		if _, err := r.tokens.RevokeSubject(ctx, uid, subject, reason); err != nil {
			if failed == nil {
				failed = &tenantRevocations{tenant: p.tenant, subjects: map[string]string{}}
				r.log.Error("revoking a user's refresh tokens; trying again", "tenant", p.tenant, "reason", reason, "error", err)
			}
			failed.subjects[subject] = reason
		}
	}
	return failed
}

// requeue merges failed into what was queued for uid since.
func (r *Revocations) requeue(uid string, failed *tenantRevocations) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending[uid]
	if p == nil {
		r.pending[uid] = failed
		return
	}
	if failed.allReason != "" {
		p.add(revocation{reason: failed.allReason})
	}
	for subject, reason := range failed.subjects {
		p.add(revocation{subject, reason})
	}
}
