package refresh

import "time"

// Policy is a Client's refresh token settings, as Auth0's.
type Policy struct {
	// Rotation replaces the token at each refresh.
	Rotation bool
	// ReuseInterval is how long a rotated-out token still gets its successor, for a
	// client that lost the answer.
	ReuseInterval time.Duration
	// AbsoluteLifetime is how long a family lives from its login, and IdleLifetime how
	// long it lives unused; zero is Auth0's default.
	AbsoluteLifetime, IdleLifetime time.Duration
}

// Auth0's defaults of a Policy's lifetimes.
const (
	DefaultAbsoluteLifetime = 30 * 24 * time.Hour
	DefaultIdleLifetime     = 15 * 24 * time.Hour
)

func (p Policy) absolute() time.Duration {
	if p.AbsoluteLifetime <= 0 {
		return DefaultAbsoluteLifetime
	}
	return p.AbsoluteLifetime
}

func (p Policy) idle() time.Duration {
	if p.IdleLifetime <= 0 {
		return DefaultIdleLifetime
	}
	return p.IdleLifetime
}

// idleExpiry is when a family used at now expires unused, never after its absolute
// expiry.
func (p Policy) idleExpiry(f *Family, now time.Time) time.Time {
	e := now.Add(p.idle())
	if e.After(f.ExpiresAt) {
		return f.ExpiresAt
	}
	return e
}

// verdict is what a presented token does to its family.
type verdict int

const (
	// refuse: the token refreshes nothing and the family is left as it is.
	refuse verdict = iota
	// refreshCurrent: the family's live token; refresh it.
	refreshCurrent
	// resendSuccessor: the rotated-out token within the reuse interval; answer with the
	// successor it already got.
	resendSuccessor
	// revokeReused: a rotated-out token outside the reuse interval; revoke the family.
	revokeReused
)

// Reasons of judgements and revocations, in logs and the revoked metric.
const (
	ReasonRevoked         = "revoked"
	ReasonExpired         = "expired"
	ReasonIdle            = "idle"
	ReasonUnknownSecret   = "unknown_secret"
	ReasonCurrent         = "current"
	ReasonRetry           = "retry_within_reuse_interval"
	ReasonReused          = "reused"
	ReasonReusedOlder     = "reused_older"
	ReasonClient          = "client"
	ReasonFamiliesPerUser = "families_per_user"
)

// judge decides what presenting the secret whose hash is presented does to f at now,
// and why.
func judge(f *Family, presented []byte, now time.Time, p Policy) (verdict, string) {
	switch {
	case !f.Revoked.IsZero():
		return refuse, ReasonRevoked
	case !now.Before(f.ExpiresAt):
		return refuse, ReasonExpired
	case !now.Before(f.Deadline()):
		return refuse, ReasonIdle
	case sameHash(f.CurrentHash, presented):
		return refreshCurrent, ReasonCurrent
	case sameHash(f.PreviousHash, presented):
		if now.Sub(f.RotatedAt) < p.ReuseInterval && len(f.SealedSuccessor) > 0 {
			return resendSuccessor, ReasonRetry
		}
		return revokeReused, ReasonReused
	case isOlder(f, presented):
		return revokeReused, ReasonReusedOlder
	default:
		return refuse, ReasonUnknownSecret
	}
}

func isOlder(f *Family, presented []byte) bool {
	found := false
	for _, h := range f.OlderHashes {
		// No early return: the time taken says nothing of which hash matched.
		found = sameHash(h, presented) || found
	}
	return found
}

// holds reports whether presented is a secret f ever had, current or rotated out: a
// revocation must prove it holds the family.
func holds(f *Family, presented []byte) bool {
	return sameHash(f.CurrentHash, presented) || sameHash(f.PreviousHash, presented) || isOlder(f, presented)
}

// staleLastUsed reports whether a refresh without rotation at now writes LastUsed: only
// when the stored one is older than a tenth of the inactivity lifetime, so that plain
// refreshes rarely write.
func staleLastUsed(f *Family, now time.Time, p Policy) bool {
	return now.Sub(f.LastUsed) > p.idle()/10
}

// rotate makes f's current token the presented one's successor next, at now.
func rotate(f *Family, presented, next secret, now time.Time, p Policy) {
	older := append([][]byte{}, f.OlderHashes...)
	if f.PreviousHash != nil {
		older = append([][]byte{f.PreviousHash}, older...)
	}
	if len(older) > MaxOlderHashes {
		older = older[:MaxOlderHashes]
	}
	f.OlderHashes = older
	f.PreviousHash = f.CurrentHash
	f.CurrentHash = next.hash()
	f.Generation++
	f.SealedSuccessor = sealSuccessor(presented, next, f.ID, f.Generation)
	f.RotatedAt = now
	touch(f, now, p)
}

// touch records a use of f at now.
func touch(f *Family, now time.Time, p Policy) {
	f.LastUsed = now
	f.IdleExpiresAt = p.idleExpiry(f, now)
}

// revoke marks f revoked at now for reason; its sealed successor is of no more use.
func revoke(f *Family, now time.Time, reason string) {
	f.Revoked = now
	f.RevokedReason = reason
	f.SealedSuccessor = nil
}
