// Package refresh keeps the refresh tokens of every tenant: their families, rotation,
// reuse detection and revocation (RFC 6749 §6, RFC 9700 §4.14), over a Store shared by
// all token-server replicas.
//
// A refresh token is opaque: "<family ID>.<secret>", the family ID 32 lowercase hex
// characters (128 random bits) and the secret 43 base64url characters (256 random bits).
// A store keeps the SHA-256 of the secret, never the secret. One family is the chain of
// tokens that descends from one login; each rotation replaces its current token by a
// successor. A rotated-out token presented within the Client's reuse interval gets the
// same successor again (the store holds the successor sealed with a key derived from
// the token it replaced, so only the holder of that token can open it); presented after
// it, it revokes the family.
//
// Issuer and the HTTP handlers use this package; the rotation and reuse decisions are
// its pure functions; Store implementations (kubernetes, postgres) only keep families
// and swap them atomically, and all of them pass the conformance suite in
// refresh/refreshtest.
package refresh

import (
	"context"
	"errors"
	"time"
)

// Family is one chain of refresh tokens from one login.
type Family struct {
	// ID is the family ID of the tokens, 32 lowercase hex characters.
	ID string
	// TenantUID, ClientID and Subject ("<connection>|<user id>") own the family; a token
	// is refused for any other tenant or client.
	TenantUID string
	ClientID  string
	Subject   string
	// Connection and UserID locate the user again at each refresh.
	Connection string
	UserID     string
	// Audience is the API identifier of the login ("" for none); Scopes are the scopes
	// granted at the login, which a refresh may narrow and never widen.
	Audience string
	Scopes   []string
	// Created is the login's time; ExpiresAt is Created plus the Client's absolute
	// lifetime, after which no token of the family refreshes.
	Created   time.Time
	ExpiresAt time.Time
	// LastUsed is the last refresh (Created at first); a family unused for the Client's
	// inactivity lifetime is expired.
	LastUsed time.Time
	// Generation counts rotations: 0 for the login's token.
	Generation int
	// CurrentHash is the SHA-256 of the live token's secret.
	CurrentHash []byte
	// PreviousHash is the SHA-256 of the token CurrentHash replaced, RotatedAt when it was
	// replaced, and SealedSuccessor the current token sealed with a key derived from the
	// previous one: a retry of the previous token within the reuse interval opens it.
	PreviousHash    []byte
	RotatedAt       time.Time
	SealedSuccessor []byte
	// Revoked is set when the family was revoked, with the reason; a revoked family
	// refreshes nothing and is collected after its expiry.
	Revoked       time.Time
	RevokedReason string
	// Version is the store's version of this family, for CompareAndSwap; stores set it.
	Version string
}

// Store keeps families for all replicas. Implementations are safe for concurrent use,
// and by several processes at once.
type Store interface {
	// Create stores a new family. When the family's owner (tenant, client, subject) holds
	// MaxFamiliesPerUser live families already, the oldest are revoked. It returns
	// ErrQuota when the tenant holds its quota of families.
	Create(ctx context.Context, f *Family) error
	// Get returns the family of id in tenantUID, or ErrNotFound.
	Get(ctx context.Context, tenantUID, id string) (*Family, error)
	// CompareAndSwap replaces the family whose Version is f.Version by f, and sets
	// f.Version to the new one; ErrConflict when the stored family has changed since.
	CompareAndSwap(ctx context.Context, f *Family) error
	// RevokeSubject revokes every live family of subject in tenantUID (all clients),
	// and returns how many it revoked.
	RevokeSubject(ctx context.Context, tenantUID, subject, reason string, now time.Time) (int, error)
	// RevokeTenant revokes every live family of tenantUID.
	RevokeTenant(ctx context.Context, tenantUID, reason string, now time.Time) (int, error)
	// Collect deletes the families that expired (or were revoked and expired) before
	// now, paging through them, and returns how many it deleted.
	Collect(ctx context.Context, now time.Time) (int, error)
}

// MaxFamiliesPerUser is how many live families one user holds per client, as Auth0.
const MaxFamiliesPerUser = 200

// Errors of a Store.
var (
	ErrNotFound = errors.New("refresh token family not found")
	ErrConflict = errors.New("refresh token family changed concurrently")
	ErrQuota    = errors.New("the tenant holds its quota of refresh token families")
	// ErrUnavailable wraps a store that cannot be reached: the grant answers 503.
	ErrUnavailable = errors.New("refresh token store unavailable")
)
