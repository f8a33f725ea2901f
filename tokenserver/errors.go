package tokenserver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
)

// oauthError is an error answer of the token endpoint, RFC 6749 §5.2.
type oauthError struct {
	status      int
	code        string
	description string
	// basicRealm, when set, asks for HTTP Basic client authentication again.
	basicRealm string
	// retryAfter, when set, is sent in Retry-After.
	retryAfter time.Duration
}

func (e *oauthError) Error() string { return e.code + ": " + e.description }

func invalidRequest(description string) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: "invalid_request", description: description}
}

func invalidClient(description, basicRealm string) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", description: description, basicRealm: basicRealm}
}

// invalidGrant is the one answer to a wrong password, an unknown user and a blocked user,
// so that it reveals nothing about which logins exist.
var invalidGrant = &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: "Wrong username or password."}

// refused is the answer to a password the directory refused: invalidGrant, or
// invalid_grant with the description of a refusal the user can act on.
func refused(err error) *oauthError {
	var r *connector.RefusedError
	if errors.As(err, &r) {
		return &oauthError{status: http.StatusBadRequest, code: "invalid_grant", description: r.Description}
	}
	return invalidGrant
}

var (
	unsupportedGrantType = &oauthError{status: http.StatusBadRequest, code: "unsupported_grant_type",
		description: "grant_type must be password, http://auth0.com/oauth/grant-type/password-realm, refresh_token or client_credentials."}
	unauthorizedClient = &oauthError{status: http.StatusBadRequest, code: "unauthorized_client",
		description: "This grant type is not enabled for the client."}
	invalidTarget = &oauthError{status: http.StatusBadRequest, code: "invalid_target",
		description: "The audience is not an API of this tenant."}
	temporarilyUnavailable = &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "The directory cannot be reached; try again later.", retryAfter: time.Minute}
)

// checksSaturated answers a login whose password check the limiter refused because its
// tenant has too many at once.
func checksSaturated(retryAfter time.Duration) *oauthError {
	return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "Too many logins at once; try again later.", retryAfter: retryAfter}
}

// tooManyAttempts answers an attempt that attack protection blocks for retryAfter.
func tooManyAttempts(retryAfter time.Duration) *oauthError {
	return &oauthError{status: http.StatusTooManyRequests, code: "too_many_attempts",
		description: "Too many failed login attempts; try again later.", retryAfter: retryAfter}
}

// countersFull answers an attempt that attack protection has no room to count: every
// count of the tenant blocks logins, as during an attack on it.
func countersFull(retryAfter time.Duration) *oauthError {
	return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "Too many failed logins are being counted for this tenant; try again later.", retryAfter: retryAfter}
}

// noStore marks an answer as not cacheable, as RFC 6749 §5.1 requires for tokens and
// their errors.
func noStore(h http.Header) {
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
}

func writeOAuthError(w http.ResponseWriter, e *oauthError) {
	if e.basicRealm != "" {
		w.Header().Set("WWW-Authenticate", "Basic realm="+strconv.Quote(e.basicRealm))
	}
	if e.retryAfter > 0 {
		// Whole seconds, rounded up so that a client that waits is not refused again.
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.retryAfter+time.Second-1)/time.Second), 10))
	}
	noStore(w.Header())
	writeJSON(w, e.status, map[string]string{"error": e.code, "error_description": e.description})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The connection is the only thing that can fail here, and the client is gone then.
	_ = json.NewEncoder(w).Encode(body)
}
