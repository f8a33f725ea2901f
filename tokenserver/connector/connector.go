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

// RefusedError is a refusal of the directory that the user can act on, such as a second
// factor or a consent the password grant cannot give: the token server answers
// invalid_grant with Description rather than its usual one. It wraps
// ErrInvalidCredentials, so the attempt counts as a failed login.
type RefusedError struct {
	// Description is shown to the client, in RFC 6749 error_description characters.
	Description string
	// Reason is for logs.
	Reason string
}

func (e *RefusedError) Error() string { return e.Reason }

func (e *RefusedError) Unwrap() error { return ErrInvalidCredentials }

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
	// Credential identifies the credential the password is checked against, where the
	// connection holds it (a digest of a database user's password hash), and is empty
	// where a directory checks it: a refresh token of a login whose credential has
	// changed since refreshes no more.
	Credential string
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
