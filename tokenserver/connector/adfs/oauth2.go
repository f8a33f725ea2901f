package adfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// oauth2 is the OAuth 2.0 password grant of ADFS 2016 and later, as Microsoft documents
// it: grant_type=password with client_id (and client_secret for a confidential
// application), username, password, resource = the relying party identifier and
// scope=openid, which makes ADFS add an id_token
// (https://learn.microsoft.com/en-us/windows-server/identity/ad-fs/overview/ad-fs-openid-connect-oauth-flows-scenarios).
type oauth2 struct {
	cfg    snapshot.ADFS
	client *http.Client
	now    func() time.Time

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
}

func newOAuth2(cfg snapshot.ADFS, client *http.Client, now func() time.Time) *oauth2 {
	return &oauth2{cfg: cfg, client: client, now: now}
}

// tokenAnswer is the part of ADFS's token answer Gatehouse reads; the access and
// refresh tokens are not decoded, kept or logged.
type tokenAnswer struct {
	IDToken          string `json:"id_token"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (o *oauth2) login(ctx context.Context, username, password string) (claims, error) {
	verifier, err := o.idTokenVerifier(ctx)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type": {"password"},
		"client_id":  {o.cfg.ClientID},
		"username":   {username},
		"password":   {password},
		"resource":   {o.cfg.RelyingParty},
		"scope":      {"openid"},
	}
	if o.cfg.ClientSecret != "" {
		form.Set("client_secret", o.cfg.ClientSecret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.cfg.URL+TokenPath, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close() // ReadBody closes it already; bodyclose cannot see that across packages
	body, err := upstream.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	var answer tokenAnswer
	if err := json.Unmarshal(body, &answer); err != nil {
		return nil, fmt.Errorf("the token endpoint answered HTTP %d that is not OAuth JSON", resp.StatusCode)
	}
	if err := tokenError(resp.StatusCode, answer); err != nil {
		return nil, err
	}
	if answer.IDToken == "" {
		return nil, errors.New("ADFS answered no id_token: check that the application group's application may be given the openid scope")
	}
	idToken, err := verifier.Verify(ctx, answer.IDToken)
	if err != nil {
		return nil, fmt.Errorf("the id_token does not verify: %w", err)
	}
	var raw map[string]any
	if err := idToken.Claims(&raw); err != nil {
		return nil, fmt.Errorf("the id_token's claims: %w", err)
	}
	return jwtClaims(raw), nil
}

// tokenError classifies an error answer (RFC 6749 §5.2). Only invalid_grant is about
// the user's credentials (ADFS answers it for a wrong password, an unknown, disabled or
// locked-out user); anything else is ADFS or the Connection's configuration failing.
func tokenError(status int, answer tokenAnswer) error {
	switch {
	case status == http.StatusOK && answer.Error == "":
		return nil
	case answer.Error == "invalid_grant":
		return &refusal{code: strings.TrimSpace("invalid_grant " + codeIn(answer.ErrorDescription))}
	case status >= 500:
		return &upstream.StatusError{Code: status}
	case answer.Error != "":
		return fmt.Errorf("the token endpoint answered HTTP %d %s %s: check the Connection's clientID, clientSecretRef and relyingParty", status, oauthErrorCode(answer.Error), codeIn(answer.ErrorDescription))
	}
	return &upstream.StatusError{Code: status}
}

// oauthErrorCode keeps an upstream's error code only when it has the shape RFC 6749
// gives error codes, so that a log line never carries arbitrary upstream text.
func oauthErrorCode(code string) string {
	if len(code) > 64 || strings.ContainsFunc(code, func(r rune) bool { return (r < 'a' || r > 'z') && r != '_' }) {
		return "(unrecognised error code)"
	}
	return code
}

// idTokenVerifier reads ADFS's OpenID discovery once (again after a failure) and
// verifies id_tokens with the key set it names, which go-oidc refetches when a token's
// kid is unknown.
func (o *oauth2) idTokenVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.verifier != nil {
		return o.verifier, nil
	}
	d, err := discover(ctx, o.client, o.cfg.URL)
	if err != nil {
		return nil, err
	}
	// The key set fetches outside any login's context: a login that gives up must not
	// fail the fetch that others wait for.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.WithoutCancel(ctx), o.client), d.JWKSURI)
	o.verifier = oidc.NewVerifier(d.Issuer, keys, &oidc.Config{
		ClientID:             o.cfg.ClientID,
		SupportedSigningAlgs: []string{oidc.RS256},
		// An id_token is accepted up to clockSkew past its expiry.
		Now: func() time.Time { return o.now().Add(-clockSkew) },
	})
	return o.verifier, nil
}

// discovery is the part of the OpenID configuration Gatehouse reads.
type discovery struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// discover reads the OpenID configuration of the ADFS at base. Its issuer must be
// base/adfs, as ADFS publishes it and as OpenID Connect Discovery §4.3 requires of the
// document found below it.
func discover(ctx context.Context, client *http.Client, base string) (discovery, error) {
	body, err := upstream.Get(ctx, client, base+DiscoveryPath)
	if err != nil {
		return discovery{}, fmt.Errorf("reading the OpenID configuration: %w", err)
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return discovery{}, errors.New("the OpenID configuration is not JSON")
	}
	if want := base + issuerPath; d.Issuer != want {
		return discovery{}, fmt.Errorf("the OpenID configuration names issuer %q, not %q", d.Issuer, want)
	}
	if err := upstream.CheckURL(d.JWKSURI); err != nil {
		return discovery{}, fmt.Errorf("the OpenID configuration's jwks_uri: %w", err)
	}
	return d, nil
}

// jwtClaims turns an id_token's claims into claims: a string is one value, an array of
// strings (ADFS's group claim for a user in several groups) many.
func jwtClaims(raw map[string]any) claims {
	out := claims{}
	for name, v := range raw {
		switch v := v.(type) {
		case string:
			out[name] = []string{v}
		case []any:
			for _, item := range v {
				if s, ok := item.(string); ok {
					out[name] = append(out[name], s)
				}
			}
		}
	}
	return out
}
