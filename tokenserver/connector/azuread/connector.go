// Package azuread checks passwords against Microsoft Entra ID (Azure AD) with the
// resource owner password credentials (ROPC) grant of the v2.0 endpoint, through
// Microsoft's own library, MSAL Go. MSAL also follows users of a domain federated to
// AD FS: user-realm discovery tells it the domain is federated, it asks the federation
// server with WS-Trust 1.3 and trades the SAML assertion for Entra ID's tokens.
//
// Each login is a fresh password check: MSAL's token cache is emptied around every
// write (see forgetTokens), so no user token outlives the login. The id_token is
// verified here (signature through the tenant's published keys, issuer, audience,
// expiry), never just decoded as MSAL does; only the identity taken from it is kept, for
// userinfo (see package profiles).
package azuread

import (
	"context"
	"fmt"
	"net/http"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Connector checks passwords against one Entra ID tenant.
type Connector struct {
	cfg      snapshot.AzureAD
	http     *http.Client
	msal     public.Client
	verifier *verifier
	users    *profiles.Connection
}

var _ connector.Connector = (*Connector)(nil)

// New returns the connector of cfg, which keeps its users' identities in users, for
// userinfo, and closes users when it is closed. It makes no request: the first login
// discovers the tenant's endpoints and keys.
func New(cfg snapshot.AzureAD, users *profiles.Connection) (*Connector, error) {
	httpClient, err := newHTTPClient(cfg)
	if err != nil {
		return nil, err
	}
	// MSAL's confidential client is not used even with a secret: it sends no client
	// secret with the password grant (MSAL Go 1.10), so tokenRequests adds it instead.
	msal, err := public.New(cfg.ClientID,
		public.WithAuthority(cfg.Authority()),
		public.WithHTTPClient(httpClient),
		// Instance discovery asks login.microsoftonline.com which hosts are Microsoft's;
		// the authority host is already one the Connection names (a sovereign cloud or
		// a stand-in), and its discovery document is fetched from it directly.
		public.WithInstanceDiscovery(false),
		public.WithCache(forgetTokens{}),
	)
	if err != nil {
		return nil, fmt.Errorf("azureAD authority %q: %w", cfg.Authority(), err)
	}
	return &Connector{cfg: cfg, http: httpClient, msal: msal, verifier: newVerifier(httpClient, cfg), users: users}, nil
}

// newHTTPClient is upstream's client with MSAL's token requests amended.
func newHTTPClient(cfg snapshot.AzureAD) (*http.Client, error) {
	client, err := upstream.NewClient(upstream.Options{CAPEM: cfg.CAPEM, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	client.Transport = tokenRequests{next: client.Transport, clientSecret: cfg.ClientSecret}
	return client, nil
}

// Login asks Entra ID for tokens with username and password and returns the identity of
// the verified id_token. Entra ID's refusals map to ErrInvalidCredentials (or a
// RefusedError for MFA and consent), everything else to ErrUnavailable.
func (c *Connector) Login(ctx context.Context, username, password string) (connector.Identity, error) {
	//nolint:staticcheck // SA1019: Microsoft deprecates ROPC in favour of interactive flows; the password grant is what this connector serves.
	result, err := c.msal.AcquireTokenByUsernamePassword(ctx, c.cfg.Scopes, username, password)
	if err != nil {
		return connector.Identity{}, classify(err)
	}
	claims, err := c.verifier.verify(ctx, result.IDToken.RawToken)
	if err != nil {
		return connector.Identity{}, fmt.Errorf("%w: the id_token from %s failed verification: %w", connector.ErrUnavailable, c.cfg.AuthorityHost, err)
	}
	identity := claims.identity()
	c.users.Remember(identity)
	return identity, nil
}

// LookupUser answers userinfo from the identity of the user's last login (see
// profiles.Connection.LookupUser): Entra ID cannot be asked without the password.
func (c *Connector) LookupUser(ctx context.Context, id string) (connector.Identity, bool, error) {
	return c.users.LookupUser(ctx, id)
}

// Close releases the pooled connections and the connector's hold on its profiles.
func (c *Connector) Close() error {
	c.http.CloseIdleConnections()
	c.users.Close()
	return nil
}

// Check fetches the tenant's OpenID discovery document from its authority, as the first
// login does. The controller reports its error in the Connection's conditions.
func Check(ctx context.Context, cfg snapshot.AzureAD) error {
	client, err := upstream.NewClient(upstream.Options{CAPEM: cfg.CAPEM, Timeout: cfg.Timeout})
	if err != nil {
		return err
	}
	defer client.CloseIdleConnections()
	_, err = discover(ctx, client, cfg.Authority())
	return err
}
