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
// it, or any older token of the family, it revokes the family.
//
// Tokens is what the grant and the revocation endpoint use; the rotation, reuse and
// expiry decisions are its pure functions; Store implementations (kubernetes, postgres)
// only keep families and swap them atomically, and all of them pass the conformance
// suite in refresh/refreshtest.
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
	// Tenant is the tenant's name for metrics and logs ("<namespace>/<name>").
	Tenant string
	// Namespace is the tenant's namespace, the team whose quota the family counts
	// against: Tenants come and go (a new one, or one recreated with a new UID), their
	// namespace stays.
	Namespace string
	// Connection and UserID locate the user again at each refresh.
	Connection string
	UserID     string
	// Audience is the API identifier of the login ("" for none); Scopes are the scopes
	// granted at the login, which a refresh may narrow and never widen.
	Audience string
	Scopes   []string
	// Credential identifies the credential the login's password was checked against,
	// where the connection holds it (connector.Identity.Credential): a refresh finding
	// another one revokes the family, even if no token server saw the password change.
	Credential string
	// Created is the login's time; ExpiresAt is Created plus the Client's absolute
	// lifetime, after which no token of the family refreshes.
	Created   time.Time
	ExpiresAt time.Time
	// LastUsed is the last refresh (Created at first), and IdleExpiresAt LastUsed plus
	// the Client's inactivity lifetime (never after ExpiresAt): a family unused until
	// then is expired. Without rotation LastUsed is written only when it is a tenth of
	// the inactivity lifetime old, so a family may expire up to that much early.
	LastUsed      time.Time
	IdleExpiresAt time.Time
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
	// OlderHashes are the hashes of the tokens rotated out before PreviousHash, newest
	// first, at most MaxOlderHashes: presenting one revokes the family, where a secret
	// the family never had is only refused (knowing a family ID must not be enough to
	// revoke it).
	OlderHashes [][]byte
	// Revoked is set when the family was revoked, with the reason; a revoked family
	// refreshes nothing and is deleted by the next Collect.
	Revoked       time.Time
	RevokedReason string
	// Version is the store's version of this family, for CompareAndSwap; stores set it.
	Version string
}

// Deadline is when the family expires: its absolute or its inactivity expiry, whichever
// comes first.
func (f *Family) Deadline() time.Time {
	if !f.IdleExpiresAt.IsZero() && f.IdleExpiresAt.Before(f.ExpiresAt) {
		return f.IdleExpiresAt
	}
	return f.ExpiresAt
}

// Live reports whether the family can still refresh at now: neither revoked nor
// expired.
func (f *Family) Live(now time.Time) bool {
	return f.Revoked.IsZero() && now.Before(f.Deadline())
}

// Collectable reports whether Collect deletes the family at now: revoked, or expired.
func (f *Family) Collectable(now time.Time) bool {
	return !f.Live(now)
}

// MaxOlderHashes bounds Family.OlderHashes: a token rotated out more than this many
// rotations ago is refused without revoking its family.
const MaxOlderHashes = 16

// Limits bound the families a store holds.
type Limits struct {
	// FamiliesPerUser is how many live families one (tenant, client, subject) holds;
	// creating one more revokes the oldest.
	FamiliesPerUser int
	// FamiliesPerNamespace is how many unexpired families the Tenants of one namespace
	// hold together, revoked ones included until Collect deletes them (so that revoking
	// does not free the store before collection does); creating one more fails with
	// ErrQuota. A namespace, not a Tenant: a namespace user creates Tenants at will.
	FamiliesPerNamespace int
}

// Revoked is what a bulk revocation did.
type Revoked struct {
	// Tenant is the revoked families' Family.Tenant ("" when none was revoked).
	Tenant string
	Count  int
}

// Collected is what Collect did and found.
type Collected struct {
	Deleted int
	// Live counts the live families by Family.Tenant.
	Live map[string]int
}

// Store keeps families for all replicas. Implementations are safe for concurrent use,
// and by several processes at once. Errors other than ErrNotFound, ErrConflict and
// ErrQuota wrap ErrUnavailable.
type Store interface {
	// Create stores a new family, within l: when the family's owner (tenant, client,
	// subject) holds l.FamiliesPerUser live families already, the oldest are revoked,
	// and it returns how many; when f.Namespace holds l.FamiliesPerNamespace families,
	// it returns ErrQuota. f.Created is the time these are judged at.
	Create(ctx context.Context, f *Family, l Limits) (revoked int, err error)
	// Get returns the family of id in tenantUID, or ErrNotFound.
	Get(ctx context.Context, tenantUID, id string) (*Family, error)
	// CompareAndSwap replaces the family whose Version is f.Version by f, and sets
	// f.Version to the new one; ErrConflict when the stored family has changed since.
	CompareAndSwap(ctx context.Context, f *Family) error
	// RevokeSubject revokes every live family of subject in tenantUID (all clients).
	RevokeSubject(ctx context.Context, tenantUID, subject, reason string, now time.Time) (Revoked, error)
	// RevokeTenant revokes every live family of tenantUID.
	RevokeTenant(ctx context.Context, tenantUID, reason string, now time.Time) (Revoked, error)
	// Collect deletes the families that are revoked or expired at now, paging through
	// them, and counts the live ones.
	Collect(ctx context.Context, now time.Time) (Collected, error)
}

// MaxFamiliesPerUser is how many live families one user holds per client, as Auth0.
const MaxFamiliesPerUser = 200

// DefaultFamiliesPerNamespace is how many families one namespace holds when
// Options.FamiliesPerNamespace is zero.
const DefaultFamiliesPerNamespace = 10000

// Errors of a Store.
var (
	ErrNotFound = errors.New("refresh token family not found")
	ErrConflict = errors.New("refresh token family changed concurrently")
	ErrQuota    = errors.New("the namespace holds its quota of refresh token families")
	// ErrUnavailable wraps a store that cannot be reached: the grant answers 503.
	ErrUnavailable = errors.New("refresh token store unavailable")
)

// Errors of Tokens.
var (
	// ErrInvalidToken is a token that does not refresh: malformed, unknown, expired,
	// revoked, or another tenant's or client's. The grant answers invalid_grant.
	ErrInvalidToken = errors.New("invalid refresh token")
	// ErrReused is a rotated-out token presented after its reuse interval: its family is
	// revoked. The grant answers invalid_grant.
	ErrReused = errors.New("refresh token reused; its family is revoked")
	// ErrWrongClient is a revocation by a client the token was not issued to (RFC 7009
	// §2.1): the endpoint answers unauthorized_client.
	ErrWrongClient = errors.New("refresh token issued to another client")
)
