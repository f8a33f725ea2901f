package tokenserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// publicCacheControl lets clients and proxies cache discovery and JWKS briefly: a new
// key is published a rotation period before it signs, so minutes of staleness are safe,
// while a client that meets an unknown kid refetches soon.
const publicCacheControl = "public, max-age=300"

// discoveryDocument is the OpenID Provider metadata (OpenID Connect Discovery §3), which
// is also the RFC 8414 authorization server metadata.
type discoveryDocument struct {
	Issuer                            string   `json:"issuer"`
	TokenEndpoint                     string   `json:"token_endpoint"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	JWKSURI                           string   `json:"jwks_uri"`
	GrantTypesSupported               []string `json:"grant_types_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                   []string `json:"claims_supported"`
	ServiceName                       string   `json:"service_name,omitempty"`

	revocationMetadata
}

// revocationMetadata is the RFC 8414 metadata of the revocation endpoint, which
// authenticates clients as the token endpoint does.
type revocationMetadata struct {
	Endpoint             string   `json:"revocation_endpoint"`
	AuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported"`
}

// tokenEndpointAuthMethods are how clients authenticate to the token and revocation
// endpoints.
var tokenEndpointAuthMethods = []string{"client_secret_basic", "client_secret_post", "none"}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request, t *store.Tenant) result {
	if !allowMethods(w, r, http.MethodGet) {
		return result{outcome: "method_not_allowed"}
	}
	w.Header().Set("Cache-Control", publicCacheControl)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(t.Discovery(encodeDiscovery)) //nolint:gosec // G705: JSON encoded from the view, served as JSON, not HTML
	return result{outcome: "success"}
}

// encodeDiscovery is the JSON of a view's discovery document, as writeJSON writes it.
func encodeDiscovery(t *store.Tenant) []byte {
	var body bytes.Buffer
	// A document of strings cannot fail to encode.
	_ = json.NewEncoder(&body).Encode(discoveryOf(t))
	return body.Bytes()
}

func discoveryOf(t *store.Tenant) discoveryDocument {
	iss := t.Issuer()
	scopes := slices.Clone(oidcScopes)
	for _, api := range t.Snapshot.APIs {
		scopes = append(scopes, api.Scopes...)
		if api.AllowOfflineAccess {
			scopes = append(scopes, scopeOfflineAccess)
		}
	}
	slices.Sort(scopes[len(oidcScopes):])
	return discoveryDocument{
		Issuer:           iss,
		TokenEndpoint:    snapshot.TokenURL(iss),
		UserinfoEndpoint: snapshot.UserinfoURL(iss),
		JWKSURI:          snapshot.JWKSURL(iss),
		// No authorization endpoint: only the token endpoint's grants are served.
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{grantPassword, grantPasswordRealm, grantRefreshToken, grantClientCredentials},
		TokenEndpointAuthMethodsSupported: tokenEndpointAuthMethods,
		ScopesSupported:                   slices.Compact(scopes),
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{string(t.SigningAlgorithm)},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "iat", "auth_time", "azp",
			"name", "preferred_username", "email", "email_verified", "groups"},
		ServiceName: t.Snapshot.DisplayName,

		revocationMetadata: revocationMetadata{Endpoint: snapshot.RevokeURL(iss), AuthMethodsSupported: tokenEndpointAuthMethods},
	}
}

func (s *Server) jwks(w http.ResponseWriter, r *http.Request, t *store.Tenant) result {
	if !allowMethods(w, r, http.MethodGet) {
		return result{outcome: "method_not_allowed"}
	}
	w.Header().Set("Cache-Control", publicCacheControl)
	w.Header().Set("Content-Type", "application/jwk-set+json")
	_, _ = w.Write(t.JWKS) //nolint:gosec // G705: JSON built from parsed public keys, served as JSON, not HTML
	return result{outcome: "success"}
}
