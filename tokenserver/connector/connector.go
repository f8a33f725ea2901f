// Package connector defines how the token server checks a password against a
// directory: a database connection's users, LDAP or Active Directory. Each strategy
// lives in a subpackage and implements Connector.
package connector

import (
	"context"
	"errors"
)

// ErrInvalidCredentials means the username is unknown, the password is wrong, or the
// account may not log in (blocked, disabled, locked, expired). The token server answers
// all of these alike with invalid_grant, so a caller cannot tell which it was; the
// wrapped error's text is for logs only.
var ErrInvalidCredentials = errors.New("invalid username or password")

// ErrUnavailable means the directory could not be asked (down, timed out). The token
// server answers 503 temporarily_unavailable.
var ErrUnavailable = errors.New("directory unavailable")

// Identity is a user whose password a Connector accepted.
type Identity struct {
	// UserID is stable across logins; the token's sub is "<connection>|<UserID>".
	UserID        string
	Username      string
	Email         string
	EmailVerified bool
	Name          string
	Groups        []string
	// Claims are extra claims for the id_token and userinfo.
	Claims map[string]any
}

// Connector checks passwords against one directory. Implementations are safe for
// concurrent use.
type Connector interface {
	// Login returns the identity of username when password is right. Errors wrap
	// ErrInvalidCredentials or ErrUnavailable.
	Login(ctx context.Context, username, password string) (Identity, error)
	// Close releases pooled connections; the Connector is not used afterwards.
	Close() error
}
