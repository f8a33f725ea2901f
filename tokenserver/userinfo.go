package tokenserver

import (
	"context"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// lookupUser is implemented by connectors that can find a user without a password (the
// database and directory connectors), so that userinfo returns the user's current claims.
// An error means the user's directory cannot answer now.
type lookupUser interface {
	LookupUser(ctx context.Context, id string) (identity connector.Identity, found bool, err error)
}

// userinfo answers the claims of the user an access token was issued to, as far as its
// scopes allow (OpenID Connect Core §5.3).
func (s *Server) userinfo(w http.ResponseWriter, r *http.Request, t *store.Tenant) result {
	if !allowMethods(w, r, http.MethodGet, http.MethodPost) {
		return result{outcome: "method_not_allowed"}
	}
	noStore(w.Header())
	scheme, token, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		// RFC 6750 §3.1: no error attribute when the request carried no token. Tokens in
		// the query string are not accepted (they end up in logs), so they count as none.
		return bearerError(w, "", "")
	}
	claims, err := jwt.VerifyAccessToken(strings.TrimSpace(token), t.PublicKeys, t.Issuer(), t.UserinfoURL(), s.now())
	if err != nil {
		return bearerError(w, "invalid_token", "The access token is invalid or expired.")
	}
	connName, userID, _ := strings.Cut(claims.Subject, "|")
	body := map[string]any{}
	if c, ok := t.Connectors[connName].(lookupUser); ok {
		identity, found, err := c.LookupUser(r.Context(), userID)
		if err != nil {
			s.log.Warn("userinfo: cannot look up the user", "tenant", t.Name, "connection", connName, "error", err)
			writeOAuthError(w, temporarilyUnavailable)
			return result{outcome: temporarilyUnavailable.code}
		}
		if !found {
			return bearerError(w, "invalid_token", "The user of the access token no longer exists.")
		}
		body = userClaims(identity, strings.Fields(claims.Scope))
	}
	body["sub"] = claims.Subject
	writeJSON(w, http.StatusOK, body)
	return result{outcome: "success"}
}

func bearerError(w http.ResponseWriter, code, description string) result {
	challenge := `Bearer realm="userinfo"`
	if code != "" {
		challenge += `, error="` + code + `", error_description="` + description + `"`
	}
	w.Header().Set("WWW-Authenticate", challenge)
	if code == "" {
		code = "missing_token"
	}
	w.WriteHeader(http.StatusUnauthorized)
	return result{outcome: code}
}
