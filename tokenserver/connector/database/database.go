// Package database is the connector of a database connection: the users the controller
// copied from the connection's users Secret into the snapshot, checked by their bcrypt
// or argon2id hashes.
package database

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// defaultDummyHash is the dummy hash of a store without users. Cost 10 is bcrypt's
// default.
var defaultDummyHash = sync.OnceValue(func() string {
	h, err := bcrypt.GenerateFromPassword([]byte("gatehouse-dummy-password"), bcrypt.DefaultCost)
	if err != nil {
		panic(fmt.Sprintf("generating the dummy bcrypt hash: %v", err))
	}
	return string(h)
})

// Connector checks passwords against the users of one database connection. It is
// immutable and safe for concurrent use.
type Connector struct {
	byLogin map[string]*snapshot.User
	byID    map[string]*snapshot.User
	// dummyHash is verified when a login names no user, so that an unknown user costs
	// the same time as a wrong password and the answer's timing does not reveal which
	// logins exist.
	dummyHash string
}

var _ connector.Connector = (*Connector)(nil)

// New indexes users by their normalized username and email.
func New(users []snapshot.User) *Connector {
	c := &Connector{
		byLogin:   make(map[string]*snapshot.User, 2*len(users)),
		byID:      make(map[string]*snapshot.User, len(users)),
		dummyHash: dummyFor(users),
	}
	for i := range users {
		u := &users[i]
		c.byID[u.ID] = u
		for _, login := range []string{u.Username, u.Email} {
			if key := snapshot.NormalizeLogin(login); key != "" {
				c.byLogin[key] = u
			}
		}
	}
	return c
}

// dummyFor returns the hash an unknown login is checked against: a hash of users' own,
// with the algorithm and cost most of them share. A fixed dummy would answer unknown
// logins faster than known ones in a store hashed at a higher cost (4× at bcrypt cost
// 12 against 10), or slower at a lower one, and so tell which logins exist. The hash
// is never a match that matters: an unknown login fails whatever the password.
func dummyFor(users []snapshot.User) string {
	counts := map[string]int{}
	best, bestCount := "", 0
	for i := range users {
		h := users[i].PasswordHash
		p := hashParameters(h)
		if counts[p]++; counts[p] > bestCount {
			best, bestCount = h, counts[p]
		}
	}
	if best == "" {
		return defaultDummyHash()
	}
	return best
}

// hashParameters is the part of a hash that sets its cost: bcrypt's "$2a$10$", or
// argon2id's "$argon2id$v=19$m=...,t=...,p=...$"; what follows is salt and digest.
func hashParameters(hash string) string {
	parts := strings.Split(hash, "$")
	keep := len(parts) - 1 // bcrypt: salt and digest are one field
	if strings.HasPrefix(hash, "$argon2") {
		keep = len(parts) - 2 // argon2id: the salt, then the digest
	}
	return strings.Join(parts[:max(keep, 0)], "$")
}

// Login verifies the password of the user whose username or email is username. Unknown
// and blocked users cost one hash verification too, and all failures wrap
// connector.ErrInvalidCredentials.
func (c *Connector) Login(_ context.Context, username, pass string) (connector.Identity, error) {
	u, known := c.byLogin[snapshot.NormalizeLogin(username)]
	hash := c.dummyHash
	if known {
		hash = u.PasswordHash
	}
	ok, err := password.Verify(hash, pass)
	switch {
	case err != nil:
		// The controller validates hashes, so this is a snapshot written by something else.
		return connector.Identity{}, fmt.Errorf("%w: unusable password hash: %w", connector.ErrInvalidCredentials, err)
	case !known:
		return connector.Identity{}, fmt.Errorf("%w: unknown user", connector.ErrInvalidCredentials)
	case !ok:
		return connector.Identity{}, fmt.Errorf("%w: wrong password", connector.ErrInvalidCredentials)
	case u.Blocked:
		return connector.Identity{}, fmt.Errorf("%w: user is blocked", connector.ErrInvalidCredentials)
	}
	return identity(u), nil
}

// LookupUser returns the current identity of the user with the given id, for userinfo.
// A blocked or removed user is not found. It never fails: the users are in memory.
func (c *Connector) LookupUser(_ context.Context, id string) (connector.Identity, bool, error) {
	u, ok := c.byID[id]
	if !ok || u.Blocked {
		return connector.Identity{}, false, nil
	}
	return identity(u), true, nil
}

// Close does nothing: the connector holds no connections.
func (c *Connector) Close() error { return nil }

func identity(u *snapshot.User) connector.Identity {
	return connector.Identity{
		UserID:        u.ID,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		Claims:        u.Claims,
	}
}
