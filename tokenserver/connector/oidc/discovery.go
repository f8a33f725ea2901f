package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
)

// discoveryTTL is how long a discovery document is used before it is read again. A
// document that cannot be read again is used on, so that a provider whose discovery
// endpoint fails for a while goes on serving logins.
const discoveryTTL = time.Hour

// Document is the part of a provider's discovery document (OpenID Connect Discovery
// 1.0 §3) that the connector uses.
type Document struct {
	Issuer                   string   `json:"issuer"`
	TokenEndpoint            string   `json:"token_endpoint"`
	JWKSURI                  string   `json:"jwks_uri"`
	SigningAlgorithms        []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethods []string `json:"token_endpoint_auth_methods_supported"`
}

// Discover reads and checks the discovery document of issuer with client: its issuer
// must be issuer exactly (Discovery §4.3), and its token endpoint and key set must be
// https URLs.
func Discover(ctx context.Context, client *http.Client, issuer string) (Document, error) {
	body, err := upstream.Get(ctx, client, strings.TrimSuffix(issuer, "/")+"/.well-known/openid-configuration")
	if err != nil {
		return Document{}, err
	}
	var doc Document
	if err := json.Unmarshal(body, &doc); err != nil {
		return Document{}, &MalformedError{Reason: "the discovery document is not JSON"}
	}
	switch {
	case doc.Issuer != issuer:
		return Document{}, &MalformedError{
			Reason: "the discovery document names another issuer: the Connection's issuer must be the provider's exactly (mind a trailing slash)",
			Detail: fmt.Sprintf("discovered %q, configured %q", doc.Issuer, issuer),
		}
	case upstream.CheckURL(doc.TokenEndpoint) != nil:
		return Document{}, &MalformedError{Reason: "the discovery document's token_endpoint is not an https URL"}
	case upstream.CheckURL(doc.JWKSURI) != nil:
		return Document{}, &MalformedError{Reason: "the discovery document's jwks_uri is not an https URL"}
	}
	return doc, nil
}

// MalformedError is a provider's answer that is not what OpenID Connect specifies.
// Reason never quotes the answer, so that it may be shown to the Connection's owner;
// Detail may, for logs.
type MalformedError struct{ Reason, Detail string }

func (e *MalformedError) Error() string {
	if e.Detail == "" {
		return e.Reason
	}
	return e.Reason + ": " + e.Detail
}

// provider is what a login needs of a discovered provider.
type provider struct {
	tokenURL string
	// basicAuth sends a client secret with HTTP Basic rather than in the form.
	basicAuth bool
	verifier  *oidc.IDTokenVerifier
	jwksURI   string
	keySet    *oidc.RemoteKeySet
}

// discovery keeps a provider's discovery document, read at the first login and again
// after discoveryTTL, one read at a time.
type discovery struct {
	issuer   string
	clientID string
	client   *http.Client
	log      *slog.Logger
	// reading is held by the one goroutine reading the document.
	reading chan struct{}

	mu      sync.Mutex
	current *provider
	read    time.Time
}

func newDiscovery(issuer, clientID string, client *http.Client, log *slog.Logger) *discovery {
	return &discovery{issuer: issuer, clientID: clientID, client: client, log: log, reading: make(chan struct{}, 1)}
}

// get returns the provider, reading its document when there is none yet or it is old.
func (d *discovery) get(ctx context.Context) (*provider, error) {
	if p, fresh := d.cached(); fresh {
		return p, nil
	}
	select {
	case d.reading <- struct{}{}:
		defer func() { <-d.reading }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	// Another login may have read it while this one waited.
	stale, fresh := d.cached()
	if fresh {
		return stale, nil
	}
	doc, err := Discover(ctx, d.client, d.issuer)
	if err != nil {
		if stale != nil && !errors.Is(err, context.Canceled) {
			d.log.Warn("cannot read the provider's discovery document again; logins use the one read before", "error", err)
			return stale, nil
		}
		return nil, err
	}
	p := d.providerOf(doc, stale)
	d.mu.Lock()
	d.current, d.read = p, time.Now()
	d.mu.Unlock()
	return p, nil
}

func (d *discovery) cached() (p *provider, fresh bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current, d.current != nil && time.Since(d.read) < discoveryTTL
}

// providerOf builds the provider of doc. It keeps the key set of old while the key set's
// URL is unchanged, with the keys it holds; go-oidc's key set reads the keys again when
// a token names a key it does not hold, which is how a provider's key rotation is followed.
func (d *discovery) providerOf(doc Document, old *provider) *provider {
	var keySet *oidc.RemoteKeySet
	if old != nil && old.jwksURI == doc.JWKSURI {
		keySet = old.keySet
	} else {
		keySet = oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), d.client), doc.JWKSURI)
	}
	// The verifier checks the signature, that iss is the issuer, that aud holds the
	// client and that the token has not expired.
	config := &oidc.Config{ClientID: d.clientID, SupportedSigningAlgs: asymmetric(doc.SigningAlgorithms)}
	return &provider{
		tokenURL:  doc.TokenEndpoint,
		basicAuth: prefersBasicAuth(doc.TokenEndpointAuthMethods),
		verifier:  oidc.NewVerifier(d.issuer, keySet, config),
		jwksURI:   doc.JWKSURI,
		keySet:    keySet,
	}
}

// asymmetricAlgorithms are the id_token signatures accepted: a symmetric one would be
// keyed with the client secret, and "none" is no signature.
var asymmetricAlgorithms = []string{
	oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.PS384, oidc.PS512, oidc.EdDSA,
}

// asymmetric keeps the asymmetric algorithms of advertised; with none advertised,
// OpenID Connect's default RS256 (Discovery §3) is the one accepted.
func asymmetric(advertised []string) []string {
	var out []string
	for _, alg := range advertised {
		if slices.Contains(asymmetricAlgorithms, alg) {
			out = append(out, alg)
		}
	}
	if len(out) == 0 {
		return []string{oidc.RS256}
	}
	return out
}

// prefersBasicAuth reports whether a client secret goes in HTTP Basic: the default of
// OAuth 2.0 (RFC 6749 §2.3.1) and of a provider that names no method (Discovery §3),
// else in the form when the provider names only client_secret_post.
func prefersBasicAuth(methods []string) bool {
	return len(methods) == 0 || slices.Contains(methods, "client_secret_basic") || !slices.Contains(methods, "client_secret_post")
}
