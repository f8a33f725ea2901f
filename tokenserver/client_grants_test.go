package tokenserver

import (
	"net/http"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// grantedPublic is a public client of acme granted read:sample of the RS256 API only.
const grantedPublic = "granted-public-client"

func TestPasswordGrantKeepsToTheClientsGrants(t *testing.T) {
	ts := newTestServer(t)
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.Clients = append(s.Clients, snapshot.Client{ClientID: grantedPublic, Name: "granted", Type: "public", GrantTypes: []string{"password"},
			APIs: []snapshot.ClientGrant{{Identifier: tokentest.APIIdentifier, Scopes: []string{"read:sample"}}}})
	})
	for _, tc := range []struct {
		name, clientID, audience, scope string
		status                          int
		want                            string // the granted scope, or the error
	}{
		{"the granted scope", grantedPublic, tokentest.APIIdentifier, "openid read:sample", http.StatusOK, "openid read:sample"},
		{"the default audience when granted", grantedPublic, "", "read:sample", http.StatusOK, "read:sample"},
		{"a scope of the API not granted", grantedPublic, tokentest.APIIdentifier, "read:sample write:sample", http.StatusBadRequest, "invalid_scope"},
		{"a scope the API does not define", grantedPublic, tokentest.APIIdentifier, "delete:everything", http.StatusBadRequest, "invalid_scope"},
		{"an API not granted", grantedPublic, tokentest.HS256Identifier, "read:hs", http.StatusForbidden, "access_denied"},
		{"an audience that is no API", grantedPublic, "https://nothing.example/", "", http.StatusBadRequest, "invalid_target"},
		{"a client without grants has every API", tokentest.Public, tokentest.HS256Identifier, "read:hs write:sample", http.StatusOK, "read:hs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := post(t, ts.acme.Snapshot.Issuer+"oauth/token", "", formType,
				form("grant_type", "password", "client_id", tc.clientID, "username", tokentest.Alice, "password", ts.acme.AlicePassword,
					"audience", tc.audience, "scope", tc.scope), nil)
			if tc.status != http.StatusOK {
				assertOAuthError(t, resp, body, tc.status, tc.want)
				return
			}
			if resp.StatusCode != http.StatusOK || body["scope"] != tc.want {
				t.Errorf("got %d %v, want scope %q", resp.StatusCode, body, tc.want)
			}
		})
	}
}
