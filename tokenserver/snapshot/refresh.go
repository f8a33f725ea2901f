package snapshot

import "time"

// RefreshTokens is how a Client's refresh tokens rotate and expire: the Client's
// refreshTokens, defaults applied. A Client has them when it has the refresh_token grant.
type RefreshTokens struct {
	// Rotation replaces the refresh token at each refresh.
	Rotation bool `json:"rotation"`
	// ReuseInterval is how long a replaced token still gets its successor (Auth0's
	// leeway) rather than revoking its family.
	ReuseInterval time.Duration `json:"reuseInterval,omitempty"`
	// AbsoluteLifetime is how long a family refreshes after its login.
	AbsoluteLifetime time.Duration `json:"absoluteLifetime"`
	// IdleLifetime is how long a family refreshes after its last use.
	IdleLifetime time.Duration `json:"idleLifetime"`
}
