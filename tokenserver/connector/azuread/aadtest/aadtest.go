// Package aadtest is a stand-in for the Microsoft Entra ID (Azure AD) endpoints that the
// azureAD connector and MSAL Go call, served over local HTTPS: a tenant's v2.0 OpenID
// configuration and keys, user-realm discovery, and the v2.0 token endpoint's password
// grant with its AADSTS error answers, and for a domain federated to AD FS (see
// Federate) the user realm naming the federation server and the SAML bearer grant. The azureAD connector is tested against this
// stand-in, not against Microsoft.
//
// Each answer's shape is taken from Microsoft's documentation or from MSAL Go's own test
// data, cited where it is built by these names:
//   - ROPC, https://learn.microsoft.com/entra/identity-platform/v2-oauth-ropc: the
//     request, the successful response, the client_secret of confidential clients;
//   - ERR, the error response of the v2.0 token endpoint,
//     https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow#error-response-1,
//     with the codes of https://learn.microsoft.com/entra/identity-platform/reference-error-codes;
//   - IDT, https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference;
//   - MSAL, MSAL Go v1.10.1: apps/internal/mock/mock.go (GetTenantDiscoveryBody,
//     GetAccessTokenBody), public/public_test.go (user-realm answers) and the types
//     MSAL decodes them into (apps/internal/oauth/ops/authority/authority.go).
package aadtest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// User is a user of the stand-in's tenant.
type User struct {
	// Username is the UPN the user logs in with, such as alice@contoso.example.
	Username string
	Password string
	ObjectID string
	Name     string
	Email    string
	Groups   []string
	// Refusal, when set, is the AADSTS code the token endpoint answers once the password
	// is right: 50057 disabled, 50053 locked, 50055 expired, 50076 MFA, 65001 consent.
	Refusal int
}

// Server is the stand-in. Its URL is the authority host of a Connection.
type Server struct {
	URL string
	// CAPEM is the PEM of the certificate the server presents.
	CAPEM    string
	TenantID string
	// Domain is the tenant's verified domain, which also names it in URLs.
	Domain   string
	ClientID string
	// ClientSecret, when set, makes the app registration a confidential client.
	ClientSecret string

	// IDToken, when set, builds the id_token of a successful login from the claims the
	// stand-in would sign, so that tests can tamper with it (see Sign).
	IDToken func(claims map[string]any) string

	status      atomic.Int64 // when non-zero, every endpoint answers this status
	delay       atomic.Int64 // every answer waits this long
	jwksFetches atomic.Int32
	tokenCalls  atomic.Int32

	mu            sync.Mutex
	users         map[string]User
	key           *rsa.PrivateKey
	kid           string
	federation    *Federation
	tokenRequests []url.Values
}

// New starts a stand-in for a tenant with a random ID, the domain contoso.example and
// a random application ID.
func New(t testing.TB) *Server {
	t.Helper()
	s := &Server{TenantID: newGUID(t), Domain: "contoso.example", ClientID: newGUID(t), users: map[string]User{}}
	s.RotateKey(t)
	srv := httptest.NewTLSServer(s.handler())
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	s.CAPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}))
	return s
}

// AddUser adds u to the tenant.
func (s *Server) AddUser(u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[strings.ToLower(u.Username)] = u
}

// RotateKey replaces the tenant's signing key with a new one of a new key ID; the old
// one is no longer published.
func (s *Server) RotateKey(t testing.TB) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key, s.kid = key, newGUID(t)
}

// Fail makes every endpoint answer status (0 to answer normally again).
func (s *Server) Fail(status int) { s.status.Store(int64(status)) }

// Delay makes every answer wait d.
func (s *Server) Delay(d time.Duration) { s.delay.Store(int64(d)) }

// JWKSFetches counts the requests for the tenant's keys.
func (s *Server) JWKSFetches() int { return int(s.jwksFetches.Load()) }

// TokenCalls counts the requests to the token endpoint.
func (s *Server) TokenCalls() int { return int(s.tokenCalls.Load()) }

// Issuer is the tenant's v2.0 issuer.
func (s *Server) Issuer() string { return s.URL + "/" + s.TenantID + "/v2.0" }

// Sign signs claims with the tenant's current key, as Entra ID signs id_tokens (RS256
// with the kid of a published key).
func (s *Server) Sign(claims map[string]any) string {
	s.mu.Lock()
	key, kid := s.key, s.kid
	s.mu.Unlock()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		panic(err) // an RSA key always makes a signer
	}
	payload, _ := json.Marshal(claims)
	jws, err := signer.Sign(payload)
	if err != nil {
		panic(err)
	}
	compact, _ := jws.CompactSerialize()
	return compact
}

func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.openIDConfiguration)
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.keys)
	// MSAL spells the path /common/UserRealm/{user}; the documentation /common/userrealm.
	mux.HandleFunc("GET /common/UserRealm/{user}", s.userRealm)
	mux.HandleFunc("GET /common/userrealm/{user}", s.userRealm)
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(s.delay.Load()))
		if status := int(s.status.Load()); status != 0 {
			http.Error(w, http.StatusText(status), status)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// knownTenant reports whether a path's tenant names this tenant, by ID or domain.
func (s *Server) knownTenant(tenant string) bool {
	return tenant == s.TenantID || strings.EqualFold(tenant, s.Domain)
}

// openIDConfiguration answers as MSAL's GetTenantDiscoveryBody, with the endpoints and
// issuer under the tenant's ID even when it is named by domain, as Entra ID does. An
// unknown tenant gets AADSTS90002 in the ERR shape.
func (s *Server) openIDConfiguration(w http.ResponseWriter, r *http.Request) {
	if !s.knownTenant(r.PathValue("tenant")) {
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant '"+r.PathValue("tenant")+"' not found.")
		return
	}
	authority := s.URL + "/" + s.TenantID
	writeJSON(w, http.StatusOK, map[string]any{
		"token_endpoint":                        authority + "/oauth2/v2.0/token",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		"jwks_uri":                              authority + "/discovery/v2.0/keys",
		"response_modes_supported":              []string{"query", "fragment", "form_post"},
		"subject_types_supported":               []string{"pairwise"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token"},
		"scopes_supported":                      []string{"openid", "profile", "email", "offline_access"},
		"issuer":                                s.Issuer(),
		"request_uri_parameter_supported":       false,
		"userinfo_endpoint":                     "https://graph.microsoft.com/oidc/userinfo",
		"authorization_endpoint":                authority + "/oauth2/v2.0/authorize",
		"device_authorization_endpoint":         authority + "/oauth2/v2.0/devicecode",
		"end_session_endpoint":                  authority + "/oauth2/v2.0/logout",
		"claims_supported":                      []string{"sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		"tenant_region_scope":                   "NA",
		"cloud_instance_name":                   "microsoftonline.com",
	})
}

// keys is the tenant's JSON Web Key Set: RSA keys with use "sig" and their kid, as the
// jwks_uri of the discovery document publishes them.
func (s *Server) keys(w http.ResponseWriter, r *http.Request) {
	if r.PathValue("tenant") != s.TenantID {
		http.NotFound(w, r)
		return
	}
	s.jwksFetches.Add(1)
	s.mu.Lock()
	jwk := jose.JSONWebKey{Key: &s.key.PublicKey, KeyID: s.kid, Algorithm: string(jose.RS256), Use: "sig"}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
}

// userRealm answers user-realm discovery as MSAL's tests do for a managed domain:
// {"account_type":"Managed","cloud_audience_urn":...,"cloud_instance_name":...,
// "domain_name":...}; a federated domain gets federatedRealm; a domain of no tenant gets
// account_type Unknown.
func (s *Server) userRealm(w http.ResponseWriter, r *http.Request) {
	_, domain, _ := strings.Cut(r.PathValue("user"), "@")
	if f := s.federated(domain); f != nil && r.URL.Query().Get("api-version") == "1.0" {
		writeJSON(w, http.StatusOK, federatedRealm(f))
		return
	}
	if r.URL.Query().Get("api-version") != "1.0" || !strings.EqualFold(domain, s.Domain) {
		writeJSON(w, http.StatusOK, map[string]any{"ver": "1.0", "account_type": "Unknown", "cloud_instance_name": "microsoftonline.com"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"ver": "1.0", "account_type": "Managed", "domain_name": s.Domain,
		"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline",
	})
}

// token is the v2.0 token endpoint's password grant ROPC, or the SAML bearer grant of a
// federated user (samlGrant): the client authenticates as its registration says (a
// confidential client with client_secret, a public one without), then the user's
// password is checked, then the user's refusal if any.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	s.tokenCalls.Add(1)
	if !s.knownTenant(r.PathValue("tenant")) {
		s.oauthError(w, http.StatusBadRequest, "invalid_tenant", 90002, "Tenant not found.")
		return
	}
	err := r.ParseForm()
	s.mu.Lock()
	s.tokenRequests = append(s.tokenRequests, r.PostForm)
	s.mu.Unlock()
	grant := r.PostForm.Get("grant_type")
	if err != nil || (grant != "password" && grant != grantSAML11 && grant != grantSAML20) {
		s.oauthError(w, http.StatusBadRequest, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.")
		return
	}
	if r.PostForm.Get("client_id") != s.ClientID {
		s.oauthError(w, http.StatusBadRequest, "unauthorized_client", 700016, "Application not found in the directory.")
		return
	}
	secret := r.PostForm.Get("client_secret")
	switch {
	case s.ClientSecret != "" && secret == "":
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
		return
	case s.ClientSecret != "" && secret != s.ClientSecret:
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 7000215, "Invalid client secret provided.")
		return
	case s.ClientSecret == "" && secret != "":
		s.oauthError(w, http.StatusUnauthorized, "invalid_client", 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.")
		return
	}
	if grant != "password" {
		s.samlGrant(w, r.PostForm)
		return
	}
	s.mu.Lock()
	user, ok := s.users[strings.ToLower(r.PostForm.Get("username"))]
	s.mu.Unlock()
	_, domain, _ := strings.Cut(user.Username, "@")
	switch {
	case !ok:
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", 50034, "The user account does not exist in the directory.")
	case r.PostForm.Get("password") != user.Password || s.federated(domain) != nil:
		// A federated user's password is the federation server's to check.
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", 50126, "Error validating credentials due to invalid username or password.")
	case user.Refusal != 0:
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", user.Refusal, refusalText[user.Refusal])
	default:
		s.tokens(w, r.PostForm.Get("scope"), user)
	}
}

// refusalText is the start of Entra ID's description of each refusal ERR.
var refusalText = map[int]string{
	50057: "The user account is disabled.",
	50053: "Your account is locked because you've tried to sign in too many times with an incorrect user ID or password.",
	50055: "The password is expired.",
	50076: "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access the resource.",
	50079: "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access the resource.",
	65001: "The user or administrator has not consented to use the application.",
	53003: "Access has been blocked by Conditional Access policies.",
}

// tokens is the successful answer ROPC, with MSAL's client_info MSAL and an
// id_token of the documented v2.0 claims IDT.
func (s *Server) tokens(w http.ResponseWriter, scope string, u User) {
	now := time.Now()
	claims := map[string]any{
		"ver": "2.0", "iss": s.Issuer(), "aud": s.ClientID, "tid": s.TenantID, "oid": u.ObjectID,
		"sub": "pairwise-" + u.ObjectID, "iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"preferred_username": u.Username, "name": u.Name, "uti": "stand-in",
	}
	if u.Email != "" {
		claims["email"] = u.Email
	}
	if len(u.Groups) > 0 {
		claims["groups"] = u.Groups
	}
	idToken := s.Sign(claims)
	if s.IDToken != nil {
		idToken = s.IDToken(claims)
	}
	clientInfo, _ := json.Marshal(map[string]string{"uid": u.ObjectID, "utid": s.TenantID})
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, map[string]any{
		"token_type":     "Bearer",
		"scope":          scope,
		"expires_in":     3599,
		"ext_expires_in": 3599,
		"access_token":   "stand-in-access-token-" + newOpaque(),
		"refresh_token":  "stand-in-refresh-token-" + newOpaque(),
		"id_token":       idToken,
		"client_info":    base64.RawURLEncoding.EncodeToString(clientInfo),
	})
}

// oauthError answers in the v2.0 endpoint's error shape ERR.
func (s *Server) oauthError(w http.ResponseWriter, status int, code string, aadsts int, text string) {
	trace, correlation := newOpaque(), newOpaque()
	stamp := time.Now().UTC().Format("2006-01-02 15:04:05Z")
	writeJSON(w, status, map[string]any{
		"error":             code,
		"error_description": fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", aadsts, text, trace, correlation, stamp),
		"error_codes":       []int{aadsts},
		"timestamp":         stamp,
		"trace_id":          trace,
		"correlation_id":    correlation,
	})
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func newGUID(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

func newOpaque() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return base64.RawURLEncoding.EncodeToString(b)
}
