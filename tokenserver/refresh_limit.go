package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/hashlimit"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// maxRefreshesInFlight bounds the refreshes and revocations one replica asks its refresh
// token store at once. They share the store's rate (the kubernetes store's client sends
// at most 200 requests a second), and a refresh needs only a client_id, which a public
// client's is: without a fair share, one tenant's flood of made-up tokens would hold
// every other tenant's refreshes back.
const maxRefreshesInFlight = 64

// oneStoreCall is what a refresh weighs in the limiter: one slot.
var oneStoreCall = password.Cost{Threads: 1}

// newRefreshLimiter shares maxRefreshesInFlight among tenants as the password-check
// limiter shares its budget: a tenant gets its fair share, and a tenant holding nothing
// always starts one. Half of them stay free even for a tenant alone (no AloneAfter): a
// store call that hangs holds its slot until the store's timeout, longer than a
// refresh waits, so the next tenant must find a free one.
func newRefreshLimiter() *hashlimit.Limiter {
	return hashlimit.New(hashlimit.Config{
		Budget: maxRefreshesInFlight, Threads: maxRefreshesInFlight,
		MaxWait: 2 * time.Second, MaxQueued: maxRefreshesInFlight,
	})
}

// refreshesSaturated answers a refresh or revocation of a tenant that has its share of
// the store's calls in flight already.
func refreshesSaturated(retryAfter time.Duration) *oauthError {
	return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "Too many refresh token requests at once; try again later.", retryAfter: retryAfter}
}

// storeTurn waits for the tenant's turn to call the refresh token store, and returns
// the function that ends it.
func (s *Server) storeTurn(ctx context.Context, t *store.Tenant) (func(), *oauthError) {
	release, err := s.refreshLimiter.Acquire(ctx, t.Snapshot.Tenant.UID, oneStoreCall)
	var refused *hashlimit.RefusedError
	switch {
	case err == nil:
		return release, nil
	case errors.As(err, &refused):
		s.metrics.refreshesRefused.WithLabelValues(t.Name, string(refused.Reason)).Inc()
		s.log.Warn("refresh token request refused: too many of the tenant at once", "tenant", t.Name, "reason", refused.Reason)
		return nil, refreshesSaturated(refused.RetryAfter)
	default:
		return nil, refreshStoreUnavailable // the client went away
	}
}
