package adfstest

import (
	"crypto/rsa"
	"encoding/base64"
	"math/big"
	"net/http"
	"time"
)

// discovery serves ADFS's OpenID configuration, below the issuer <URL>/adfs (the fields
// of an ADFS 2016 farm's /adfs/.well-known/openid-configuration).
func (s *Server) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.Issuer(),
		"authorization_endpoint":                s.URL() + "/adfs/oauth2/authorize/",
		"token_endpoint":                        s.URL() + "/adfs/oauth2/token/",
		"jwks_uri":                              s.URL() + "/adfs/discovery/keys",
		"token_endpoint_auth_methods_supported": []string{"client_secret_post", "client_secret_basic", "private_key_jwt", "windows_client_authentication"},
		"response_types_supported":              []string{"code", "id_token", "code id_token", "id_token token", "code token", "code id_token token"},
		"grant_types_supported":                 []string{"authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer", "implicit", "password", "srv_challenge"},
		"subject_types_supported":               []string{"pairwise"},
		"scopes_supported":                      []string{"openid", "profile", "email", "allatclaims", "user_impersonation", "logon_cert", "aza", "vpn_cert"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      []string{"aud", "iss", "iat", "exp", "auth_time", "nonce", "at_hash", "c_hash", "sub", "upn", "unique_name", "pwd_url", "pwd_exp", "sid"},
		"access_token_issuer":                   "http://" + s.srv.Listener.Addr().String() + "/adfs/services/trust",
	})
}

// keys serves the published token-signing keys as a JWKS (RFC 7517), with kid and x5t
// the certificate's thumbprint and x5c the certificate, as ADFS's /adfs/discovery/keys.
func (s *Server) keys(w http.ResponseWriter, _ *http.Request) {
	_, published := s.state()
	keys := make([]map[string]any, 0, len(published))
	for _, k := range published {
		pub := k.Cert.PublicKey.(*rsa.PublicKey)
		keys = append(keys, map[string]any{
			"kty": "RSA", "use": "sig", "alg": "RS256",
			"kid": thumbprint(k.Cert), "x5t": thumbprint(k.Cert),
			"n":   base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
			"e":   base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
			"x5c": []string{base64.StdEncoding.EncodeToString(k.Cert.Raw)},
		})
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

// oauthError writes an RFC 6749 §5.2 error as ADFS does: HTTP 400 (401 for a client it
// cannot authenticate), error_description starting with the MSIS code.
func oauthError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": description})
}

// token answers ADFS's password grant (grant_type=password with client_id, username,
// password, resource; scope=openid for an id_token).
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "MSIS9600: The request body is not valid.")
		return
	}
	form := r.PostForm
	switch {
	case form.Get("grant_type") != "password":
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "MSIS9611: The authorization server does not support the requested 'grant_type'.")
		return
	case form.Get("client_id") != s.ClientID:
		oauthError(w, http.StatusBadRequest, "invalid_client", "MSIS9607: The 'client_id' parameter in the request is invalid.")
		return
	case s.ClientSecret != "" && form.Get("client_secret") != s.ClientSecret:
		oauthError(w, http.StatusUnauthorized, "invalid_client", "MSIS9622: Client authentication failed.")
		return
	case form.Get("resource") != s.RelyingParty:
		oauthError(w, http.StatusBadRequest, "invalid_resource", "MSIS9602: The received 'resource' parameter is not a valid resource identifier.")
		return
	}
	user, ok := s.check(form.Get("username"), form.Get("password"))
	if !ok {
		oauthError(w, http.StatusBadRequest, "invalid_grant", "MSIS9659: Invalid 'username' or 'password'.")
		return
	}
	answers, published := s.state()
	audience := s.ClientID
	if answers.Audience != "" {
		audience = answers.Audience
	}
	now := time.Now()
	claims := map[string]any{
		"aud": audience, "iss": s.Issuer(), "iat": now.Unix(), "exp": now.Add(answers.lifetime()).Unix(),
		"auth_time": now.Unix(), "sub": pairwiseSub(form.Get("username"), s.ClientID), "sid": randomID(),
	}
	for claimType, name := range jwtClaimNames {
		switch values := user.Claims[claimType]; {
		case len(values) == 1:
			// ADFS sends a claim with one value as a string, with more as an array.
			claims[name] = values[0]
		case len(values) > 0:
			claims[name] = values
		}
	}
	idToken, err := signJWT(signer(answers, published), claims)
	if err != nil {
		oauthError(w, http.StatusInternalServerError, "server_error", err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		// The access token is opaque here: Gatehouse never reads it.
		"access_token": randomID(), "token_type": "bearer", "expires_in": 3600,
		"resource": s.RelyingParty, "scope": "openid", "id_token": idToken,
	})
}
