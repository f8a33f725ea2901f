package tokenserver

import (
	"net/http"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// Refusals of what a client's grants (Client.spec.apis) do not allow. An API the client
// is not granted is Auth0's 403 access_denied, which its SDKs know; RFC 8707's
// invalid_target stays the answer to an audience that is no API at all. A scope beyond
// the grant is RFC 6749 §5.2's invalid_scope ("exceeds the scope granted"), refused
// rather than dropped so that a client never silently gets less than it believes.
var (
	apiNotGranted = &oauthError{status: http.StatusForbidden, code: "access_denied",
		description: "The client is not granted this API."}
	scopeNotGranted = &oauthError{status: http.StatusBadRequest, code: "invalid_scope",
		description: "The client is not granted a requested scope of this API."}
)

// clientScopes are the scopes to grant client for api: those grantedScopes keeps, once
// the client's grants allow api and every API scope asked for. A client without grants
// may have every API and every scope it defines; a token without an API (for userinfo)
// needs no grant.
func clientScopes(client *snapshot.Client, api *store.API, requested string) ([]string, *oauthError) {
	if api != nil && client.Restricted() {
		grant, ok := client.Grant(api.Identifier)
		if !ok {
			return nil, apiNotGranted
		}
		for _, s := range strings.Fields(requested) {
			if !slices.Contains(oidcScopes, s) && s != scopeOfflineAccess && !slices.Contains(grant.Scopes, s) {
				return nil, scopeNotGranted
			}
		}
	}
	return grantedScopes(requested, api), nil
}

// grantsScopes reports whether client may still be granted scopes of api, as a login
// asking for them would be.
func grantsScopes(client *snapshot.Client, api *store.API, scopes []string) bool {
	_, oerr := clientScopes(client, api, strings.Join(scopes, " "))
	return oerr == nil
}
