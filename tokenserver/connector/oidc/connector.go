// Package oidc checks passwords at an OpenID Connect provider with the resource owner
// password grant (RFC 6749 §4.3): it sends the username and password to the provider's
// token endpoint, found through its discovery document, verifies the id_token of the
// answer with the provider's keys (signature, issuer, audience, expiry) and maps its
// claims to the user's identity.
//
// Every request goes through upstream's client. The provider's tokens are never logged
// and never kept: only the identity taken from a verified id_token is, for userinfo (see
// package profiles).
package oidc

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// maxLoginsInFlight bounds the logins one connector has at its provider at once; past it,
// a login is refused at once as unavailable. It bounds what a slow provider makes a
// replica hold, and it ends a loop: a Connection whose issuer is a Gatehouse issuer
// whose default directory is that Connection again would otherwise nest logins until
// the first one times out.
const maxLoginsInFlight = 64

// Connector checks passwords at one provider.
type Connector struct {
	cfg       snapshot.OIDC
	client    *http.Client
	discovery *discovery
	users     *profiles.Connection
	// inFlight holds a token per login at the provider.
	inFlight chan struct{}
}

var _ connector.Connector = (*Connector)(nil)

// New returns the connector of an oidc Connection, which keeps its users' identities in
// users, for userinfo, and closes users when it is closed. It makes no request: the
// provider is discovered at the first login.
func New(cfg snapshot.OIDC, users *profiles.Connection, log *slog.Logger) (*Connector, error) {
	client, err := upstream.NewClient(upstream.Options{CAPEM: cfg.CAPEM, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	return &Connector{
		cfg:       cfg,
		client:    client,
		discovery: newDiscovery(cfg.Issuer, cfg.ClientID, client, log),
		users:     users,
		inFlight:  make(chan struct{}, maxLoginsInFlight),
	}, nil
}

// Login asks the provider for tokens with username and password and returns the
// identity in its verified id_token.
func (c *Connector) Login(ctx context.Context, username, password string) (connector.Identity, error) {
	select {
	case c.inFlight <- struct{}{}:
		defer func() { <-c.inFlight }()
	default:
		return connector.Identity{}, fmt.Errorf("%w: %d logins are at the provider already", connector.ErrUnavailable, maxLoginsInFlight)
	}
	provider, err := c.discovery.get(ctx)
	if err != nil {
		return connector.Identity{}, fmt.Errorf("%w: discovering %s: %w", connector.ErrUnavailable, c.cfg.Issuer, err)
	}
	rawIDToken, err := c.passwordGrant(ctx, provider, username, password)
	if err != nil {
		return connector.Identity{}, err
	}
	idToken, err := provider.verifier.Verify(oidc.ClientContext(ctx, c.client), rawIDToken)
	if err != nil {
		return connector.Identity{}, fmt.Errorf("%w: the provider's id_token does not verify: %w", connector.ErrUnavailable, err)
	}
	var claims map[string]any
	if err := idToken.Claims(&claims); err != nil {
		return connector.Identity{}, fmt.Errorf("%w: the provider's id_token claims: %w", connector.ErrUnavailable, err)
	}
	identity, err := identityOf(claims, c.cfg.Claims, username)
	if err != nil {
		return connector.Identity{}, fmt.Errorf("%w: %w", connector.ErrUnavailable, err)
	}
	c.users.Remember(identity)
	return identity, nil
}

// LookupUser answers userinfo from the identity of the user's last login (see
// profiles.Connection.LookupUser).
func (c *Connector) LookupUser(ctx context.Context, id string) (connector.Identity, bool, error) {
	return c.users.LookupUser(ctx, id)
}

// Close releases the connector's idle connections and its hold on the tenant's profiles.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	c.users.Close()
	return nil
}
