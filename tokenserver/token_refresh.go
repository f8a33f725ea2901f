package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

const (
	grantRefreshToken = "refresh_token"
	// scopeOfflineAccess asks a password grant for a refresh token (OpenID Connect Core
	// §11); it is granted only where refresh tokens are, and dropped silently elsewhere.
	scopeOfflineAccess = "offline_access"
)

// Answers of the refresh grant. One invalid_grant answers every token that does not
// refresh (unknown, expired, revoked, reused, another client's), so that an answer
// tells nothing about a token its caller does not hold.
var (
	invalidRefreshToken = &oauthError{status: http.StatusBadRequest, code: "invalid_grant",
		description: "The refresh token is invalid, expired or revoked."}
	widenedScope = &oauthError{status: http.StatusBadRequest, code: "invalid_scope",
		description: "A refresh may narrow the scope of the login, never widen it."}
	refreshStoreUnavailable = &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "Refresh tokens cannot be checked now; try again later.", retryAfter: 10 * time.Second}
)

// refreshable are the strategies whose connectors look users up with authority, without
// their password: a refresh of a user the directory removed or disabled is refused. The
// upstream connectors (azureAD, adfs, oidc) only remember the last login, so their
// users get no refresh tokens.
var refreshable = []string{snapshot.StrategyDatabase, snapshot.StrategyLDAP, snapshot.StrategyActiveDirectory}

// loginScopes are the scopes a password login was granted, with offline_access and a
// refresh token when it gets one: offline_access asked, the API allowing it, the client having the
// refresh_token grant, the connection able to look its users up again, and this token
// server keeping refresh tokens. offline_access is in the scopes only with a refresh
// token, and dropped silently otherwise, as Auth0 does.
func (s *Server) loginScopes(ctx context.Context, t *store.Tenant, client *snapshot.Client, api *store.API,
	connName string, identity connector.Identity, scopes []string, requested string) ([]string, string) {
	offline := s.refresh != nil && client.RefreshTokens != nil && slices.Contains(client.GrantTypes, grantRefreshToken) &&
		api != nil && api.AllowOfflineAccess && slices.Contains(strings.Fields(requested), scopeOfflineAccess) &&
		slices.Contains(refreshable, strategyOf(t, connName))
	if !offline {
		return scopes, ""
	}
	scopes = append(slices.Clip(scopes), scopeOfflineAccess)
	token, err := s.refresh.Issue(ctx, refresh.Grant{
		Tenant: t.Name, TenantUID: t.Snapshot.Tenant.UID, ClientID: client.ClientID,
		Connection: connName, UserID: identity.UserID, Subject: subjectOf(connName, identity.UserID),
		Audience: api.Identifier, Scopes: scopes, Credential: identity.Credential,
	}, refreshPolicy(client.RefreshTokens))
	if err != nil {
		// A password login never depends on the store: it is answered as if offline
		// access were not granted.
		s.log.Warn("login answered without a refresh token: the refresh token store did not take it",
			"tenant", t.Name, "client", client.Name, "error", err)
		return scopes[:len(scopes)-1], ""
	}
	return scopes, token
}

// refreshGrant answers grant_type=refresh_token (RFC 6749 §6) for an authenticated
// client: the family refreshes (rotating the token when the client's policy does), the
// user is looked up again, and new tokens carry the user's current claims.
func (s *Server) refreshGrant(r *http.Request, t *store.Tenant, client *snapshot.Client, params map[string]string) (*tokenResponse, *oauthError) {
	if client.RefreshTokens == nil || !slices.Contains(client.GrantTypes, grantRefreshToken) {
		return nil, unauthorizedClient
	}
	presented := params["refresh_token"]
	if presented == "" {
		return nil, invalidRequest("refresh_token is required.")
	}
	if s.refresh == nil {
		return nil, invalidRefreshToken // this token server keeps no refresh tokens, so issued none
	}
	ctx, tenantUID := r.Context(), t.Snapshot.Tenant.UID
	done, oerr := s.storeTurn(ctx, t)
	if oerr != nil {
		return nil, oerr
	}
	refreshed, err := s.refresh.Refresh(ctx, tenantUID, client.ClientID, presented, refreshPolicy(client.RefreshTokens))
	done()
	if err != nil {
		return nil, s.refreshRefused(t, client, err)
	}
	f := refreshed.Family
	// The token was rotated already: a refusal from here on leaves the successor
	// undelivered, and the presented token then gets it again within the reuse interval,
	// or revokes the family after it.
	scopes, ok := narrowedScopes(params["scope"], f.Scopes)
	if !ok {
		return nil, widenedScope
	}
	api, identity, reason, err := s.refreshedLogin(ctx, t, client, f)
	switch {
	case err != nil:
		s.log.Warn("refresh not answered: the user's directory is unavailable", "tenant", t.Name, "connection", f.Connection, "error", err)
		return nil, temporarilyUnavailable
	case reason != "":
		// The login no longer holds, for good: its family goes, so the client learns at
		// once and every later refresh is refused without asking the directory.
		s.log.Info("refresh refused; family revoked", "tenant", t.Name, "client", client.Name, "family", f.ID, "reason", reason)
		if err := s.refresh.Revoke(ctx, tenantUID, client.ClientID, refreshed.Token); err != nil {
			s.log.Warn("revoking the family of a refused refresh", "tenant", t.Name, "family", f.ID, "error", err)
		}
		return nil, invalidRefreshToken
	}
	resp, err := s.issue(t, client, api, f.Connection, identity, scopes, f.Created)
	if err != nil {
		s.log.Error("signing tokens", "tenant", t.Name, "error", err)
		return nil, temporarilyUnavailable
	}
	resp.RefreshToken = refreshed.Token
	return resp, nil
}

// refreshRefused is the answer to a refresh that Tokens refused.
func (s *Server) refreshRefused(t *store.Tenant, client *snapshot.Client, err error) *oauthError {
	switch {
	case errors.Is(err, refresh.ErrInvalidToken), errors.Is(err, refresh.ErrReused):
		return invalidRefreshToken
	case errors.Is(err, context.Canceled):
		s.log.Debug("refresh abandoned by the client", "tenant", t.Name, "client", client.Name)
	default:
		s.log.Error("refresh not answered: the refresh token store is unavailable", "tenant", t.Name, "client", client.Name, "error", err)
	}
	return refreshStoreUnavailable
}

// refreshedLogin finds again what a family's login was granted: its API, and the user
// as the directory knows them now. A reason says why the login no longer holds (the
// API, offline access, the client's grant of its scopes, the connection or the user is
// gone); err that the directory cannot answer.
func (s *Server) refreshedLogin(ctx context.Context, t *store.Tenant, client *snapshot.Client, f *refresh.Family) (*store.API, connector.Identity, string, error) {
	api, ok := t.APIs[f.Audience]
	switch {
	case !ok:
		return nil, connector.Identity{}, "api_removed", nil
	case !api.AllowOfflineAccess:
		return nil, connector.Identity{}, "offline_access_disallowed", nil
	}
	if !grantsScopes(client, api, f.Scopes) {
		return nil, connector.Identity{}, "client_grant_removed", nil
	}
	lookup, ok := t.Connectors[f.Connection].(lookupUser)
	if !ok || !slices.Contains(refreshable, strategyOf(t, f.Connection)) {
		return nil, connector.Identity{}, "connection_removed", nil
	}
	identity, found, err := lookup.LookupUser(ctx, f.UserID)
	switch {
	case err != nil:
		return nil, connector.Identity{}, "", err
	case !found:
		return nil, connector.Identity{}, "user_gone", nil
	case f.Credential != "" && identity.Credential != f.Credential:
		// Revocation on a new password hash also acts when a replica sees the snapshot
		// change; this holds when none ran then. Families from before credentials were
		// recorded have none.
		return nil, connector.Identity{}, reasonPasswordChanged, nil
	}
	return api, identity, "", nil
}

// narrowedScopes are the scopes a refresh asks for: those of the login when it names
// none, else the ones it names, each of which the login must have been granted (RFC
// 6749 §6). offline_access stays, since the answer holds a refresh token.
func narrowedScopes(requested string, granted []string) ([]string, bool) {
	asked := strings.Fields(requested)
	if len(asked) == 0 {
		return granted, true
	}
	var scopes []string
	for _, s := range asked {
		if !slices.Contains(granted, s) {
			return nil, false
		}
		if !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if !slices.Contains(scopes, scopeOfflineAccess) {
		scopes = append(scopes, scopeOfflineAccess)
	}
	return scopes, true
}

// refreshPolicy is the refresh package's Policy of a client's settings.
func refreshPolicy(rt *snapshot.RefreshTokens) refresh.Policy {
	return refresh.Policy{
		Rotation: rt.Rotation, ReuseInterval: rt.ReuseInterval,
		AbsoluteLifetime: rt.AbsoluteLifetime, IdleLifetime: rt.IdleLifetime,
	}
}

// strategyOf is the strategy of the tenant's Connection name, "" for none.
func strategyOf(t *store.Tenant, name string) string {
	for _, c := range t.Snapshot.Connections {
		if c.Name == name {
			return c.Strategy
		}
	}
	return ""
}

// subjectOf is the sub of a connection's user, in tokens and refresh token families.
func subjectOf(connName, userID string) string { return connName + "|" + userID }
