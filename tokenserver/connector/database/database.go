// Package database is the connector of a database connection: the users the controller
// copied from the connection's users Secret into the snapshot, checked by their bcrypt
// or argon2id hashes within the token server's caps, each check admitted by the
// process's password-check limiter.
package database

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/hashlimit"
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

// Checks are how the database connectors of a process check passwords.
type Checks struct {
	// Caps bound the hashes they check: a user whose hash is over them cannot log in.
	Caps password.Caps
	// Limiter admits every check; every connector of the process shares it.
	Limiter *hashlimit.Limiter
}

// ChecksFor are the Checks of a token server replica whose memory limit is memoryLimit:
// the caps and the limiter's budget both follow from password.Budget.
func ChecksFor(memoryLimit int64) Checks {
	budget := password.Budget(memoryLimit)
	return Checks{Caps: password.CapsFor(budget), Limiter: hashlimit.New(hashlimit.DefaultConfig(budget))}
}

// Connector checks passwords against the users of one database connection. It is
// immutable and safe for concurrent use.
type Connector struct {
	byLogin map[string]*user
	byID    map[string]*user
	// dummy is verified when a login names no user, or a user whose hash is refused, so
	// that such a login costs the same time as a wrong password and the answer's timing
	// does not reveal which logins exist.
	dummy   password.Hash
	tenant  string
	limiter *hashlimit.Limiter
}

// user is a snapshot user with its parsed hash; hashErr says why it is unusable.
type user struct {
	*snapshot.User
	hash    password.Hash
	hashErr error
	// credential is the Identity.Credential of the user's password hash.
	credential string
}

var _ connector.Connector = (*Connector)(nil)

// New indexes users by their normalized username and email and parses their hashes
// within checks' caps; tenantUID identifies their tenant to the limiter. log is told
// once of the users whose hash is refused.
func New(users []snapshot.User, tenantUID string, checks Checks, log *slog.Logger) *Connector {
	c := &Connector{
		byLogin: make(map[string]*user, 2*len(users)),
		byID:    make(map[string]*user, len(users)),
		tenant:  tenantUID,
		limiter: checks.Limiter,
	}
	parsed := make([]user, len(users))
	var refused []string
	for i := range users {
		u := &parsed[i]
		u.User = &users[i]
		u.credential = credentialOf(u.PasswordHash)
		if u.hash, u.hashErr = checks.Caps.Parse(u.PasswordHash); u.hashErr != nil {
			refused = append(refused, fmt.Sprintf("%s: %v", u.Login(), u.hashErr))
		}
		c.byID[u.ID] = u
		for _, login := range []string{u.Username, u.Email} {
			if key := snapshot.NormalizeLogin(login); key != "" {
				c.byLogin[key] = u
			}
		}
	}
	if len(refused) > 0 {
		// The controller refuses such hashes, so this is a snapshot it did not write, or
		// one written with higher caps than this token server's.
		log.Warn("users whose password hash is over this token server's caps or malformed: their logins answer invalid_grant",
			"users", len(refused), "first", refused[:min(len(refused), 5)])
	}
	c.dummy = dummyFor(parsed, checks.Caps)
	return c
}

// dummyFor returns the hash an unknown login is checked against: a hash of users' own,
// with the algorithm and cost most of them share. A fixed dummy would answer unknown
// logins faster than known ones in a store hashed at a higher cost (4× at bcrypt cost
// 12 against 10), or slower at a lower one, and so tell which logins exist. The hash
// is never a match that matters: an unknown login fails whatever the password.
func dummyFor(users []user, caps password.Caps) password.Hash {
	counts := map[string]int{}
	var best *password.Hash
	bestCount := 0
	for i := range users {
		if users[i].hashErr != nil {
			continue
		}
		h := &users[i].hash
		p := h.Parameters()
		if counts[p]++; counts[p] > bestCount {
			best, bestCount = h, counts[p]
		}
	}
	if best != nil {
		return *best
	}
	h, err := caps.Parse(defaultDummyHash())
	if err != nil {
		panic(fmt.Sprintf("the dummy bcrypt hash is over the caps: %v", err))
	}
	return h
}

// Login verifies the password of the user whose username or email is username. Unknown
// and blocked users cost one hash verification too, and all failures wrap
// connector.ErrInvalidCredentials but one: a check the limiter refuses wraps
// connector.ErrUnavailable and the limiter's error.
func (c *Connector) Login(ctx context.Context, username, pass string) (connector.Identity, error) {
	u, known := c.byLogin[snapshot.NormalizeLogin(username)]
	hash := c.dummy
	if known && u.hashErr == nil {
		hash = u.hash
	}
	ok, err := c.verify(ctx, hash, pass)
	switch {
	case errors.Is(err, connector.ErrUnavailable):
		return connector.Identity{}, err
	case !known:
		return connector.Identity{}, fmt.Errorf("%w: unknown user", connector.ErrInvalidCredentials)
	case u.hashErr != nil:
		return connector.Identity{}, fmt.Errorf("%w: unusable password hash: %w", connector.ErrInvalidCredentials, u.hashErr)
	case err != nil:
		return connector.Identity{}, fmt.Errorf("%w: %w", connector.ErrInvalidCredentials, err)
	case !ok:
		return connector.Identity{}, fmt.Errorf("%w: wrong password", connector.ErrInvalidCredentials)
	case u.Blocked:
		return connector.Identity{}, fmt.Errorf("%w: user is blocked", connector.ErrInvalidCredentials)
	}
	return identity(u), nil
}

// verify checks pass against hash once the limiter admits the check.
func (c *Connector) verify(ctx context.Context, hash password.Hash, pass string) (bool, error) {
	release, err := c.limiter.Acquire(ctx, c.tenant, hash.Cost())
	if err != nil {
		return false, fmt.Errorf("%w: password check not admitted: %w", connector.ErrUnavailable, err)
	}
	defer release()
	return hash.Verify(pass)
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

func identity(u *user) connector.Identity {
	return connector.Identity{
		UserID:        u.ID,
		Username:      u.Username,
		Email:         u.Email,
		EmailVerified: u.EmailVerified,
		Name:          u.Name,
		Claims:        u.Claims,
		Credential:    u.credential,
	}
}

// credentialOf identifies a password hash without holding it: the first 128 bits of
// its SHA-256. A new hash, even of the same password, has a new salt and so another.
func credentialOf(passwordHash string) string {
	sum := sha256.Sum256([]byte(passwordHash))
	return "sha256:" + hex.EncodeToString(sum[:16])
}
