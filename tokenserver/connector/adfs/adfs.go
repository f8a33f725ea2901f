// Package adfs checks passwords against an on-premises ADFS (2016 and later), in one of
// two modes:
//
//   - oauth2: the OAuth 2.0 password grant at /adfs/oauth2/token; the id_token ADFS
//     answers is verified with the keys its OpenID discovery publishes (refetched on an
//     unknown kid), for its issuer, the application's client ID and its expiry.
//   - wsTrust: WS-Trust 1.3 usernamemixed at /adfs/services/trust/13/usernamemixed; the
//     SAML 1.1 or 2.0 assertion ADFS answers is verified with the token-signing
//     certificates of its federation metadata (cached, refetched when an assertion does
//     not verify, so that a rolled-over certificate is picked up without a restart), for
//     its issuer, the relying party as audience and its validity period. Claims are read
//     only from the element the signature covers, so that an unsigned assertion
//     wrapped around or beside a signed one cannot speak for it.
//
// The upstream's tokens and assertions are read for the user's claims and dropped: they
// are never logged or stored; only the identity taken from them is kept, for userinfo
// (see package profiles). Every request goes through upstream's client.
package adfs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Paths of the ADFS endpoints below the federation service's URL.
const (
	TokenPath         = "/adfs/oauth2/token"
	DiscoveryPath     = "/adfs/.well-known/openid-configuration"
	UsernameMixedPath = "/adfs/services/trust/13/usernamemixed"
	MetadataPath      = "/FederationMetadata/2007-06/FederationMetadata.xml"
	// issuerPath is where ADFS's OpenID issuer hangs below the URL.
	issuerPath = "/adfs"
)

// clockSkew is how far the clocks of ADFS and the token server may disagree when an
// id_token's expiry or an assertion's validity period is checked.
const clockSkew = 2 * time.Minute

// claims are the claims of a verified token or assertion, by name: values of one claim
// in the order ADFS issued them.
type claims map[string][]string

func (c claims) first(name string) string {
	if name == "" || len(c[name]) == 0 {
		return ""
	}
	return c[name][0]
}

// protocol asks ADFS to check a password and returns the verified claims.
type protocol interface {
	login(ctx context.Context, username, password string) (claims, error)
}

// Connector checks passwords against one ADFS.
type Connector struct {
	name     string
	cfg      snapshot.ADFS
	client   *http.Client
	log      *slog.Logger
	protocol protocol
	users    *profiles.Connection
}

var _ connector.Connector = (*Connector)(nil)

// Option configures New.
type Option func(*options)

type options struct {
	log *slog.Logger
	now func() time.Time
}

// WithLogger logs refusals and upstream failures to log.
func WithLogger(log *slog.Logger) Option { return func(o *options) { o.log = log } }

// WithClock makes the connector read the time from now, for tests.
func WithClock(now func() time.Time) Option { return func(o *options) { o.now = now } }

// New returns the connector of the adfs connection name, which keeps its users'
// identities in users, for userinfo, and closes users when it is closed.
func New(name string, cfg snapshot.ADFS, users *profiles.Connection, opts ...Option) (*Connector, error) {
	o := options{log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	if err := upstream.CheckURL(cfg.URL); err != nil {
		return nil, fmt.Errorf("url: %w", err)
	}
	cfg.URL = strings.TrimSuffix(cfg.URL, "/")
	client, err := upstream.NewClient(upstream.Options{CAPEM: cfg.CAPEM, Timeout: cfg.Timeout})
	if err != nil {
		return nil, err
	}
	c := &Connector{name: name, cfg: cfg, client: client, users: users, log: o.log.With("connection", name, "strategy", snapshot.StrategyADFS)}
	switch cfg.Mode {
	case snapshot.ADFSModeOAuth2:
		c.protocol = newOAuth2(cfg, client, o.now)
	case snapshot.ADFSModeWSTrust:
		c.protocol = newWSTrust(cfg, client, o.now, c.log)
	default:
		return nil, fmt.Errorf("mode %q is neither %s nor %s", cfg.Mode, snapshot.ADFSModeOAuth2, snapshot.ADFSModeWSTrust)
	}
	return c, nil
}

// Login asks ADFS to check username's password and returns the identity its verified
// token or assertion names.
func (c *Connector) Login(ctx context.Context, username, password string) (connector.Identity, error) {
	got, err := c.protocol.login(ctx, username, password)
	if err != nil {
		var refused *refusal
		if errors.As(err, &refused) {
			// The code says which of wrong password, unknown or disabled user it was;
			// the client gets invalid_grant for all of them.
			c.log.Info("ADFS refused the login", "code", refused.code)
			return connector.Identity{}, fmt.Errorf("%w: ADFS refused the login (%s)", connector.ErrInvalidCredentials, refused.code)
		}
		c.log.Warn("ADFS could not check the password", "error", err)
		return connector.Identity{}, fmt.Errorf("%w: %w", connector.ErrUnavailable, err)
	}
	identity, err := identityOf(got, c.cfg.Claims, username)
	if err != nil {
		c.log.Warn("ADFS accepted the password but its answer lacks a claim Gatehouse needs", "error", err)
		return connector.Identity{}, fmt.Errorf("%w: %w", connector.ErrUnavailable, err)
	}
	c.users.Remember(identity)
	return identity, nil
}

// LookupUser answers userinfo from the identity of the user's last login (see
// profiles.Connection.LookupUser): ADFS cannot be asked without the password.
func (c *Connector) LookupUser(ctx context.Context, id string) (connector.Identity, bool, error) {
	return c.users.LookupUser(ctx, id)
}

// Close releases the client's idle connections and the connector's hold on its
// profiles.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	c.users.Close()
	return nil
}

// identityOf reads the user from verified claims. Without the user ID claim ADFS's claim
// rules do not issue what the Connection names: that is the configuration's fault, not
// the user's.
func identityOf(got claims, names snapshot.ADFSClaims, login string) (connector.Identity, error) {
	id := got.first(names.UserID)
	if id == "" {
		return connector.Identity{}, fmt.Errorf("no %q claim to identify the user by: add a claim rule that issues it, or name another claim in claims.userID", names.UserID)
	}
	identity := connector.Identity{
		UserID:   id,
		Username: got.first(names.Username),
		Email:    got.first(names.Email),
		Name:     got.first(names.Name),
	}
	if identity.Username == "" {
		identity.Username = login
	}
	if names.Groups != "" {
		identity.Groups = got[names.Groups]
	}
	return identity, nil
}

// refusal is ADFS refusing the user's credentials; code names why (an MSIS code, an
// OAuth error or a SOAP fault code), for the log.
type refusal struct{ code string }

func (r *refusal) Error() string { return "ADFS refused the credentials: " + r.code }

// msisCode finds the MSIS or ID code ADFS puts at the start of its error texts, such as
// "MSIS9659: Invalid 'username' or 'password'.", so that logs name it without echoing
// the rest of an upstream's text.
var msisCode = regexp.MustCompile(`\b(MSIS|ID)[0-9]{3,5}\b`)

func codeIn(text string) string {
	return msisCode.FindString(text)
}
