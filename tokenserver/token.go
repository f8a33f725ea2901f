package tokenserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/hashlimit"
	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// Grant types.
const (
	grantPassword      = "password"
	grantPasswordRealm = "http://auth0.com/oauth/grant-type/password-realm"
	// grantClientCredentials is served by clientCredentials.
	grantClientCredentials = "client_credentials"
)

// OpenID Connect scopes; every other scope must be defined on the audience.
const (
	scopeOpenID  = "openid"
	scopeProfile = "profile"
	scopeEmail   = "email"
)

var oidcScopes = []string{scopeOpenID, scopeProfile, scopeEmail}

// tokenResponse is a successful answer, RFC 6749 §5.1.
type tokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int64  `json:"expires_in"`
	Scope       string `json:"scope,omitempty"`
	IDToken     string `json:"id_token,omitempty"`
	// RefreshToken is issued with offline_access; see loginScopes and refreshGrant.
	RefreshToken string `json:"refresh_token,omitempty"`
}

func (s *Server) token(w http.ResponseWriter, r *http.Request, t *store.Tenant) result {
	if !allowMethods(w, r, http.MethodPost) {
		return result{outcome: "method_not_allowed"}
	}
	params, oerr := readParams(r)
	grant := grantLabel(params["grant_type"])
	if oerr == nil {
		var resp *tokenResponse
		resp, oerr = s.grant(r, t, params)
		if oerr == nil {
			s.metrics.issued.WithLabelValues(t.Name, grant).Inc()
			noStore(w.Header())
			writeJSON(w, http.StatusOK, resp)
			return result{grant: grant, outcome: "success"}
		}
	}
	writeOAuthError(w, oerr)
	return result{grant: grant, outcome: oerr.code}
}

// grant authenticates the client and runs its grant: for the password grants, check
// what it asks for, check the password, issue the tokens.
func (s *Server) grant(r *http.Request, t *store.Tenant, params map[string]string) (*tokenResponse, *oauthError) {
	grantType := params["grant_type"]
	if grantType == "" {
		return nil, invalidRequest("grant_type is missing.")
	}
	client, oerr := s.authenticateClient(r, t, params)
	if oerr != nil {
		return nil, oerr
	}
	if grantType == grantRefreshToken {
		return s.refreshGrant(r, t, client, params)
	}
	if grantType != grantPassword && grantType != grantPasswordRealm && grantType != grantClientCredentials {
		return nil, unsupportedGrantType
	}
	if !slices.Contains(client.GrantTypes, grantType) {
		return nil, unauthorizedClient
	}
	if grantType == grantClientCredentials {
		return s.clientCredentials(t, client, params)
	}
	username, password := params["username"], params["password"]
	if username == "" || password == "" {
		return nil, invalidRequest("username and password are required.")
	}
	connName, oerr := connectionName(t, grantType, params["realm"])
	if oerr != nil {
		return nil, oerr
	}
	api, oerr := audience(t, params["audience"])
	if oerr != nil {
		return nil, oerr
	}
	scopes, oerr := clientScopes(client, api, params["scope"])
	if oerr != nil {
		return nil, oerr
	}

	// Attack protection reserves the attempt before the password is checked.
	login, oerr := s.loginOf(r, t, client, connName, username)
	if oerr != nil {
		return nil, oerr
	}
	attempt, oerr := s.beginLogin(r.Context(), t, client, login)
	if oerr != nil {
		return nil, oerr
	}
	identity, err := t.Connectors[connName].Login(r.Context(), username, password)
	if err == nil || errors.Is(err, connector.ErrInvalidCredentials) {
		if oerr := s.overrun(t, client, login, attempt); oerr != nil {
			return nil, oerr
		}
	}
	switch {
	case errors.Is(err, connector.ErrInvalidCredentials):
		s.loginFailed(t, client, login, attempt, err)
		return nil, refused(err)
	case err != nil:
		// Not checked: the attempt gives back what it reserved.
		attempt.Unavailable()
		return nil, s.notChecked(t, client, connName, err)
	}
	attempt.Succeeded()

	scopes, refreshToken := s.loginScopes(r.Context(), t, client, api, connName, identity, scopes, params["scope"])
	resp, err := s.issue(t, client, api, connName, identity, scopes, s.now())
	if err != nil {
		s.log.Error("signing tokens", "tenant", t.Name, "error", err)
		return nil, temporarilyUnavailable
	}
	resp.RefreshToken = refreshToken
	return resp, nil
}

// notChecked reports a password that could not be checked and returns the answer: the
// tenant saturates the password-check limiter, the client went away, or the directory
// cannot be reached.
func (s *Server) notChecked(t *store.Tenant, client *snapshot.Client, connName string, err error) *oauthError {
	var refused *hashlimit.RefusedError
	switch {
	case errors.As(err, &refused):
		s.metrics.checksRefused.WithLabelValues(t.Name, string(refused.Reason)).Inc()
		s.log.Warn("login refused: too many password checks of the tenant at once", "tenant", t.Name, "connection", connName,
			"client", client.Name, "reason", refused.Reason)
		return checksSaturated(refused.RetryAfter)
	case errors.Is(err, context.Canceled):
		s.log.Debug("login abandoned by the client before its password was checked", "tenant", t.Name, "connection", connName)
	default:
		s.log.Error("password not checked: the directory is unavailable or the check did not finish", "tenant", t.Name, "connection", connName, "error", err)
	}
	return temporarilyUnavailable
}

// authenticateClient identifies the client by HTTP Basic or by client_id in the body,
// and checks the secret of a confidential client under attack protection. RFC 6749 §2.3
// allows one method per request, so both at once is refused.
func (s *Server) authenticateClient(r *http.Request, t *store.Tenant, params map[string]string) (*snapshot.Client, *oauthError) {
	if _, ok := params["client_assertion_type"]; ok {
		return s.authenticateAssertion(r, t, params)
	}
	var realm string
	id, secret, basic, oerr := basicCredentials(r)
	if oerr != nil {
		return nil, oerr
	}
	if basic {
		if _, both := params["client_secret"]; both {
			return nil, invalidRequest("Authenticate the client with HTTP Basic or with client_secret, not both.")
		}
		if bodyID, ok := params["client_id"]; ok && bodyID != id {
			return nil, invalidRequest("client_id differs from the HTTP Basic user.")
		}
		realm = t.Issuer()
	} else {
		id, secret = params["client_id"], params["client_secret"]
	}
	if id == "" {
		return nil, invalidClient("Client authentication is missing.", realm)
	}
	client, ok := t.Clients[id]
	if ok && client.Type == "public" {
		if secret != "" {
			return nil, invalidClient("A public client has no secret.", realm)
		}
		return client, nil
	}
	return s.checkClientSecret(r, t, id, client, secret, realm)
}

// basicCredentials reads HTTP Basic client credentials, whose client_id and secret RFC
// 6749 §2.3.1 form-encodes inside the Basic encoding.
func basicCredentials(r *http.Request) (id, secret string, basic bool, oerr *oauthError) {
	user, pass, basic := r.BasicAuth()
	if !basic {
		return "", "", false, nil
	}
	id, err1 := url.QueryUnescape(user)
	secret, err2 := url.QueryUnescape(pass)
	if err1 != nil || err2 != nil {
		return "", "", true, invalidRequest("The Basic credentials are not form-encoded.")
	}
	return id, secret, true, nil
}

// connectionName is the Connection that checks the password: the tenant's default
// directory, or the realm of the password-realm grant.
func connectionName(t *store.Tenant, grantType, realm string) (string, *oauthError) {
	name := t.Snapshot.DefaultDirectory
	if grantType == grantPasswordRealm {
		if realm == "" {
			return "", invalidRequest("realm is required by the password-realm grant.")
		}
		name = realm
	} else if name == "" {
		return "", invalidRequest("The tenant has no default directory; use the password-realm grant with a realm.")
	}
	if _, ok := t.Connectors[name]; !ok {
		return "", invalidRequest("The realm is not a connection of this tenant.")
	}
	return name, nil
}

// audience is the API the access token is for, nil for a token only for userinfo.
func audience(t *store.Tenant, requested string) (*store.API, *oauthError) {
	if requested == "" {
		requested = t.Snapshot.DefaultAudience
	}
	if requested == "" {
		return nil, nil
	}
	api, ok := t.APIs[requested]
	if !ok {
		return nil, invalidTarget
	}
	return api, nil
}

// grantedScopes keeps the OpenID Connect scopes and the scopes api defines, in the order
// asked, dropping the rest and duplicates.
func grantedScopes(requested string, api *store.API) []string {
	var granted []string
	for _, s := range strings.Fields(requested) {
		known := slices.Contains(oidcScopes, s) || (api != nil && slices.Contains(api.Scopes, s))
		if known && !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return granted
}

// issue signs the access token and, when openid was granted, the id_token. authTime is
// when the user gave the password: now for a login, the login's time for a refresh,
// whose id_token must not claim a newer authentication (OpenID Connect Core §12.2).
func (s *Server) issue(t *store.Tenant, client *snapshot.Client, api *store.API, connName string, identity connector.Identity, scopes []string, authTime time.Time) (*tokenResponse, error) {
	now := s.now()
	openid := slices.Contains(scopes, scopeOpenID)
	signer, lifetime := t.Signer, accessTokenLifetime(t, api)
	aud := jwt.Audience{t.UserinfoURL()}
	if api != nil {
		signer, aud = api.Signer, jwt.Audience{api.Identifier}
		if openid && api.Asymmetric {
			aud = append(aud, t.UserinfoURL())
		}
	}
	scope := strings.Join(scopes, " ")
	claims := jwt.Claims{
		Issuer:   t.Issuer(),
		Subject:  subjectOf(connName, identity.UserID),
		Audience: aud,
		IssuedAt: now.Unix(),
		Expiry:   now.Add(lifetime).Unix(),
		Scope:    scope,
		ClientID: client.ClientID,
		JWTID:    newJTI(),
	}
	accessToken, err := signer.SignAccessToken(claims)
	if err != nil {
		return nil, err
	}
	resp := &tokenResponse{AccessToken: accessToken, TokenType: "Bearer", ExpiresIn: int64(lifetime / time.Second), Scope: scope}
	if openid {
		idClaims := userClaims(identity, scopes)
		idClaims["iss"], idClaims["sub"] = claims.Issuer, claims.Subject
		idClaims["aud"], idClaims["azp"] = client.ClientID, client.ClientID
		idClaims["iat"], idClaims["auth_time"] = claims.IssuedAt, authTime.Unix()
		idClaims["exp"] = now.Add(t.Snapshot.IDTokenLifetime).Unix()
		if resp.IDToken, err = t.Signer.SignIDToken(idClaims); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// accessTokenLifetime is the lifetime of access tokens for api: its own, or the tenant's.
func accessTokenLifetime(t *store.Tenant, api *store.API) time.Duration {
	if api != nil && api.AccessTokenLifetime > 0 {
		return api.AccessTokenLifetime
	}
	return t.Snapshot.AccessTokenLifetime
}

// userClaims are the claims about the user that scopes allow, for the id_token and
// userinfo. A user's own claims never replace the standard ones.
func userClaims(id connector.Identity, scopes []string) map[string]any {
	claims := map[string]any{}
	if slices.Contains(scopes, scopeProfile) {
		for name, v := range id.Claims {
			claims[name] = v
		}
		setIfPresent(claims, "name", id.Name)
		setIfPresent(claims, "preferred_username", id.Username)
		if len(id.Groups) > 0 {
			claims["groups"] = id.Groups
		}
	}
	if slices.Contains(scopes, scopeEmail) {
		setIfPresent(claims, "email", id.Email)
		if id.Email != "" {
			claims["email_verified"] = id.EmailVerified
		}
	}
	return claims
}

func setIfPresent(claims map[string]any, name, value string) {
	if value != "" {
		claims[name] = value
	}
}

func newJTI() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}

// grantLabel bounds the grant label of metrics to the known grant types.
func grantLabel(grantType string) string {
	switch grantType {
	case grantPassword:
		return "password"
	case grantPasswordRealm:
		return "password-realm"
	case grantRefreshToken:
		return grantRefreshToken
	case grantClientCredentials:
		return grantClientCredentials
	case "":
		return ""
	default:
		return "other"
	}
}
