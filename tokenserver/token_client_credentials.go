package tokenserver

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// Auth0's marks of a machine token: its sub is "<client_id>@clients", its gty this.
const (
	machineSubjectSuffix = "@clients"
	gtyClientCredentials = "client-credentials"
)

var audienceRequired = &oauthError{status: http.StatusBadRequest, code: "invalid_target",
	description: "client_credentials needs an audience, and the tenant has no default audience."}

// clientCredentials is the Client Credentials grant, RFC 6749 §4.4: an authenticated
// client gets an access token for itself, for an API among its grants. There is no user,
// so no id_token, and no refresh token: the client asks again with its credentials.
func (s *Server) clientCredentials(t *store.Tenant, client *snapshot.Client, params map[string]string) (*tokenResponse, *oauthError) {
	if client.Type != "confidential" {
		// A public client proves nothing of who asks; the CRD refuses it this grant.
		return nil, unauthorizedClient
	}
	api, oerr := audience(t, params["audience"])
	if oerr != nil {
		return nil, oerr
	}
	if api == nil {
		return nil, audienceRequired
	}
	scopes, oerr := machineScopes(client, api, params["scope"])
	if oerr != nil {
		return nil, oerr
	}
	resp, err := s.issueMachineToken(t, client, api, scopes)
	if err != nil {
		s.log.Error("signing tokens", "tenant", t.Name, "error", err)
		return nil, temporarilyUnavailable
	}
	return resp, nil
}

// machineScopes are the scopes of a machine token: those asked for, each within the
// client's grant of api, or every scope of the grant when none is asked for, as Auth0
// does. A client without grants has none: a machine token always needs one. OpenID
// Connect scopes are about a user and are dropped.
func machineScopes(client *snapshot.Client, api *store.API, requested string) ([]string, *oauthError) {
	grant, ok := client.Grant(api.Identifier)
	if !ok {
		return nil, apiNotGranted
	}
	if strings.TrimSpace(requested) == "" {
		return grant.Scopes, nil
	}
	scopes, oerr := clientScopes(client, api, requested)
	return slices.DeleteFunc(scopes, func(s string) bool { return slices.Contains(oidcScopes, s) }), oerr
}

// issueMachineToken signs the client's access token for api: Auth0's machine-token shape
// with RFC 9068's claims, in the API's algorithm and lifetime.
func (s *Server) issueMachineToken(t *store.Tenant, client *snapshot.Client, api *store.API, scopes []string) (*tokenResponse, error) {
	now := s.now()
	lifetime := accessTokenLifetime(t, api)
	scope := strings.Join(scopes, " ")
	accessToken, err := api.Signer.SignAccessToken(jwt.Claims{
		Issuer:          t.Issuer(),
		Subject:         client.ClientID + machineSubjectSuffix,
		Audience:        jwt.Audience{api.Identifier},
		IssuedAt:        now.Unix(),
		Expiry:          now.Add(lifetime).Unix(),
		Scope:           scope,
		ClientID:        client.ClientID,
		AuthorizedParty: client.ClientID,
		GrantType:       gtyClientCredentials,
		JWTID:           newJTI(),
	})
	if err != nil {
		return nil, err
	}
	return &tokenResponse{AccessToken: accessToken, TokenType: "Bearer", ExpiresIn: int64(lifetime / time.Second), Scope: scope}, nil
}
