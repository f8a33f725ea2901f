// Package database is the connector of a database connection: the users the controller
// copied from the connection's users Secret into the snapshot, checked by their bcrypt
// or argon2id hashes.
package database

import (
	"context"
	"fmt"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// dummyHash is verified when a login names no user, so that an unknown user costs the
// same time as a wrong password and the answer's timing does not reveal which logins
// exist. Cost 10 is bcrypt's default and what users' hashes typically have.
var dummyHash = sync.OnceValue(func() string {
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
}

var _ connector.Connector = (*Connector)(nil)

// New indexes users by their normalized username and email.
func New(users []snapshot.User) *Connector {
	c := &Connector{
		byLogin: make(map[string]*snapshot.User, 2*len(users)),
		byID:    make(map[string]*snapshot.User, len(users)),
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

// Login verifies the password of the user whose username or email is username. Unknown
// and blocked users cost one hash verification too, and all failures wrap
// connector.ErrInvalidCredentials.
func (c *Connector) Login(_ context.Context, username, pass string) (connector.Identity, error) {
	u, known := c.byLogin[snapshot.NormalizeLogin(username)]
	hash := dummyHash()
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
