package tokenserver

import (
	"errors"
	"net/http"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// Answers of the revocation endpoint (RFC 7009 §2.2.1).
var (
	// Access tokens are JWTs that resource servers verify on their own: they cannot be
	// revoked, and expire instead.
	unsupportedTokenType = &oauthError{status: http.StatusBadRequest, code: "unsupported_token_type",
		description: "Only refresh tokens can be revoked; access tokens expire."}
	revokeOthersToken = &oauthError{status: http.StatusBadRequest, code: "unauthorized_client",
		description: "The token was not issued to this client."}
)

// revoke answers POST oauth/revoke (RFC 7009, at Auth0's path): an authenticated client
// revokes a refresh token it was issued, and with it the token's whole family. A token
// unknown, malformed or revoked already is answered 200 too (RFC 7009 §2.2), so that
// the answer tells nothing about tokens the caller does not hold.
func (s *Server) revoke(w http.ResponseWriter, r *http.Request, t *store.Tenant) result {
	if !allowMethods(w, r, http.MethodPost) {
		return result{outcome: "method_not_allowed"}
	}
	oerr := s.revokeToken(r, t)
	noStore(w.Header())
	if oerr != nil {
		writeOAuthError(w, oerr)
		return result{outcome: oerr.code}
	}
	w.WriteHeader(http.StatusOK)
	return result{outcome: "success"}
}

func (s *Server) revokeToken(r *http.Request, t *store.Tenant) *oauthError {
	params, oerr := readParams(r)
	if oerr != nil {
		return oerr
	}
	client, oerr := s.authenticateClient(r, t, params)
	if oerr != nil {
		return oerr
	}
	token := params["token"]
	switch {
	case token == "":
		return invalidRequest("token is required.")
	case looksLikeJWT(token):
		// Whatever token_type_hint says: the hint only speeds a lookup up (§2.1).
		return unsupportedTokenType
	case s.refresh == nil:
		return nil // no refresh token was issued by this token server
	}
	done, oerr := s.storeTurn(r.Context(), t)
	if oerr != nil {
		return oerr
	}
	err := s.refresh.Revoke(r.Context(), t.Snapshot.Tenant.UID, client.ClientID, token)
	done()
	switch {
	case err == nil:
		return nil
	case errors.Is(err, refresh.ErrWrongClient):
		s.log.Warn("refresh token revocation refused: the token is another client's", "tenant", t.Name, "client", client.Name)
		return revokeOthersToken
	default:
		s.log.Error("refresh token not revoked: the refresh token store is unavailable", "tenant", t.Name, "client", client.Name, "error", err)
		return refreshStoreUnavailable
	}
}

// looksLikeJWT tells whether token has the three parts of a JWS compact serialization;
// a refresh token has two.
func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }
