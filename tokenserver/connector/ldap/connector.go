// Package ldap checks passwords against LDAP directories and Active Directory: it finds
// the user's entry with a service account, checks the account, then binds as that entry
// with the password given.
//
// Safety rules that hold for every directory:
//   - every username is escaped with ldap.EscapeFilter before it enters a filter;
//   - an empty password never reaches a bind, since LDAP servers accept an empty password
//     as an unauthenticated bind that "succeeds";
//   - referrals in search results are ignored, never followed to other hosts;
//   - connections are TLS (ldaps:// or StartTLS) unless the configuration explicitly
//     accepts clear text with insecureNoTLS;
//   - a login that the search refuses (no such user, several, or an account that may
//     not log in) still binds, as a decoy DN that cannot exist, so that it costs the
//     directory round trips of a wrong password and its answer time tells nothing.
//
// Connections are pooled (see directory): service connections stay bound as the service
// account; user binds use a separate pool, since a bind changes a connection's identity.
package ldap

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// maxUsernameLength bounds what a client may put into a search filter.
const maxUsernameLength = 256

// Connector checks passwords against one directory. It implements connector.Connector.
type Connector struct {
	dir         *directory
	profile     profile
	userBaseDN  string
	userScope   int
	groupSearch *snapshot.LDAPGroupSearch
	log         *slog.Logger
	// decoy is the DN and password that logins the search refused bind as.
	decoy decoy
}

var _ connector.Connector = (*Connector)(nil)

// decoy is a DN below the user search base that no entry has, named by 128 random bits,
// and a password as random: binding as it fails as a wrong password does, at the cost
// of a bind.
type decoy struct{ dn, password string }

func newDecoy(baseDN string) decoy {
	return decoy{dn: "cn=gatehouse-decoy-" + rand.Text() + "," + baseDN, password: rand.Text()}
}

// profile is what differs between kinds of directories: how a username is looked up and
// how an entry becomes an identity.
type profile interface {
	// userFilter matches the entries that username may name.
	userFilter(username string) string
	// subjectFilter matches the entry whose subject (Identity.UserID) is id; false when id
	// cannot be a subject of this directory.
	subjectFilter(id string) (string, bool)
	// attributes are the attributes identity reads.
	attributes() []string
	// identity builds the identity of entry, or refuses the account with an error that
	// wraps connector.ErrInvalidCredentials.
	identity(entry *ldap.Entry, now time.Time) (connector.Identity, error)
}

// Option changes how a Connector works.
type Option func(*options)

type options struct {
	log     *slog.Logger
	pooling bool
}

// WithLogger sets where the connector logs failovers and suspicious directory answers.
// Passwords are never logged.
func WithLogger(log *slog.Logger) Option {
	return func(o *options) { o.log = log }
}

// WithoutPooling makes every step of a login dial a new connection. It exists to measure
// what pooling saves.
func WithoutPooling() Option {
	return func(o *options) { o.pooling = false }
}

func resolveOptions(opts []Option) options {
	o := options{log: slog.Default(), pooling: true}
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// New returns a Connector for the ldap connection called name.
func New(name string, cfg snapshot.LDAP, opts ...Option) (*Connector, error) {
	p, err := newLDAPProfile(cfg)
	if err != nil {
		return nil, fmt.Errorf("ldap connection %q: %w", name, err)
	}
	scope, err := searchScope(cfg.UserSearch.Scope)
	if err != nil {
		return nil, fmt.Errorf("ldap connection %q: %w", name, err)
	}
	if cfg.GroupSearch != nil {
		if err := checkGroupSearch(*cfg.GroupSearch); err != nil {
			return nil, fmt.Errorf("ldap connection %q: %w", name, err)
		}
	}
	return newConnector(name, cfg.Transport, cfg.BindDN, p, cfg.UserSearch.BaseDN, scope, cfg.GroupSearch, opts)
}

func newConnector(name string, t snapshot.Transport, bindName string, p profile, baseDN string, scope int, groups *snapshot.LDAPGroupSearch, opts []Option) (*Connector, error) {
	o := resolveOptions(opts)
	log := o.log.With("connection", name)
	dir, err := newDirectory(t, bindName, log, time.Now)
	if err != nil {
		return nil, fmt.Errorf("connection %q: %w", name, err)
	}
	if _, err := ldap.CompileFilter(p.userFilter("probe")); err != nil {
		return nil, fmt.Errorf("connection %q: user filter: %w", name, err)
	}
	dir.openPools(t.MaxConnections, o.pooling, defaultIdleTimeout)
	return &Connector{
		dir:         dir,
		profile:     p,
		userBaseDN:  baseDN,
		userScope:   scope,
		groupSearch: groups,
		log:         log,
		decoy:       newDecoy(baseDN),
	}, nil
}

// Close closes the pooled connections.
func (c *Connector) Close() error {
	c.dir.close()
	return nil
}

// Login finds username's entry, refuses accounts that may not log in, binds as the entry
// with password, and returns the identity read from the entry.
func (c *Connector) Login(ctx context.Context, username, password string) (connector.Identity, error) {
	switch {
	case password == "":
		return connector.Identity{}, refused("empty password")
	case username == "":
		return connector.Identity{}, refused("empty username")
	case len(username) > maxUsernameLength:
		return connector.Identity{}, refused("username longer than %d bytes", maxUsernameLength)
	}
	entry, err := c.findUser(ctx, username)
	if err != nil {
		return connector.Identity{}, c.bindDecoy(ctx, err)
	}
	id, err := c.profile.identity(entry, time.Now())
	if err != nil {
		return connector.Identity{}, c.bindDecoy(ctx, fmt.Errorf("%s: %w", entry.DN, err))
	}
	if err := c.bindUser(ctx, entry.DN, password); err != nil {
		return connector.Identity{}, err
	}
	return c.withSearchedGroups(ctx, id, entry.DN)
}

// bindDecoy binds as the decoy after the search refused a login with refusal, as the
// login would bind with a wrong password, and returns what that login would: the
// refusal, or the bind pool's unavailability. An unavailable search returns at once, as
// it does for every login.
func (c *Connector) bindDecoy(ctx context.Context, refusal error) error {
	if !errors.Is(refusal, connector.ErrInvalidCredentials) {
		return refusal
	}
	if err := c.bindUser(ctx, c.decoy.dn, c.decoy.password); errors.Is(err, connector.ErrUnavailable) {
		return err
	}
	return refusal
}

// LookupUser returns the current identity of the user whose subject is id, for userinfo,
// found with the service account. A user whose entry is gone or whose account may no
// longer log in is not found; a directory that cannot answer is an error wrapping
// connector.ErrUnavailable.
func (c *Connector) LookupUser(ctx context.Context, id string) (connector.Identity, bool, error) {
	filter, ok := c.profile.subjectFilter(id)
	if !ok {
		return connector.Identity{}, false, nil
	}
	entries, err := c.searchUsers(ctx, "looking up the user", filter)
	if err != nil || len(entries) != 1 {
		return connector.Identity{}, false, err
	}
	identity, ok := c.usableIdentity(entries[0], id)
	if !ok {
		return connector.Identity{}, false, nil
	}
	identity, err = c.withSearchedGroups(ctx, identity, entries[0].DN)
	return identity, err == nil, err
}

// usableIdentity is the identity of entry if its subject is id and its account may log in:
// a disabled, locked or expired account gets no profile, as it gets no token.
func (c *Connector) usableIdentity(entry *ldap.Entry, id string) (connector.Identity, bool) {
	identity, err := c.profile.identity(entry, time.Now())
	return identity, err == nil && identity.UserID == id
}

// withSearchedGroups adds the groups found by the group search, if one is configured, to
// the identity of the entry dn.
func (c *Connector) withSearchedGroups(ctx context.Context, id connector.Identity, dn string) (connector.Identity, error) {
	if c.groupSearch == nil {
		return id, nil
	}
	groups, err := c.searchGroups(ctx, dn)
	if err != nil {
		return connector.Identity{}, err
	}
	id.Groups = appendMissing(id.Groups, groups...)
	return id, nil
}

// findUser returns the one entry that username names. No entry, or more than one, refuses
// the login: a username must never pick one of several accounts by chance.
func (c *Connector) findUser(ctx context.Context, username string) (*ldap.Entry, error) {
	entries, err := c.searchUsers(ctx, "searching the user", c.profile.userFilter(username))
	switch {
	case err != nil:
		return nil, err
	case len(entries) > 1:
		c.log.Warn("username matches more than one directory entry; login refused", "username", username)
		return nil, refused("username %q matches more than one entry", username)
	case len(entries) == 0:
		return nil, refused("no entry for username %q", username)
	}
	return entries[0], nil
}

// searchUsers returns up to two user entries matching filter: enough to tell one from
// several.
func (c *Connector) searchUsers(ctx context.Context, what, filter string) ([]*ldap.Entry, error) {
	req := ldap.NewSearchRequest(c.userBaseDN, c.userScope, ldap.NeverDerefAliases,
		2, 0, false, filter, c.profile.attributes(), nil)
	res, err := c.dir.search(ctx, what, req)
	if err != nil {
		return nil, err
	}
	return res.Entries, nil
}

// bindUser checks password by binding as dn on a user-bind connection.
func (c *Connector) bindUser(ctx context.Context, dn, password string) error {
	err := c.dir.do(ctx, c.dir.users, "binding as the user", func(conn *ldap.Conn) error {
		return conn.Bind(dn, password)
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, connector.ErrUnavailable):
		return err
	default:
		// The server answered: wrong password, or an account it refuses. Its diagnostic
		// message (such as AD's "data 533") says which, for the logs.
		return refused("bind as %s refused: %v", dn, err)
	}
}

// searchGroups returns the names of the groups whose member attribute holds dn.
func (c *Connector) searchGroups(ctx context.Context, dn string) ([]string, error) {
	gs := c.groupSearch
	filter := fmt.Sprintf("(&%s(%s=%s))", groupFilter(*gs), groupMemberAttribute(*gs), ldap.EscapeFilter(dn))
	name := groupNameAttribute(*gs)
	req := ldap.NewSearchRequest(gs.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, filter, []string{name}, nil)
	res, err := c.dir.search(ctx, "searching groups", req)
	if err != nil {
		return nil, err
	}
	var groups []string
	for _, e := range res.Entries {
		groups = appendMissing(groups, e.GetAttributeValue(name))
	}
	return groups, nil
}

func groupFilter(gs snapshot.LDAPGroupSearch) string {
	return cmp.Or(gs.Filter, "(objectClass=groupOfNames)")
}

func groupMemberAttribute(gs snapshot.LDAPGroupSearch) string {
	return cmp.Or(gs.MemberAttribute, "member")
}

func groupNameAttribute(gs snapshot.LDAPGroupSearch) string {
	return cmp.Or(gs.NameAttribute, "cn")
}

func checkGroupSearch(gs snapshot.LDAPGroupSearch) error {
	if gs.BaseDN == "" {
		return errors.New("groupSearch: baseDN is empty")
	}
	if _, err := ldap.CompileFilter(fmt.Sprintf("(&%s(%s=x))", groupFilter(gs), groupMemberAttribute(gs))); err != nil {
		return fmt.Errorf("groupSearch filter: %w", err)
	}
	return nil
}

func searchScope(scope string) (int, error) {
	switch scope {
	case "", "sub":
		return ldap.ScopeWholeSubtree, nil
	case "one":
		return ldap.ScopeSingleLevel, nil
	}
	return 0, fmt.Errorf("unknown search scope %q", scope)
}

// groupNames returns the first RDN value of each group DN (cn=admins,ou=groups,… →
// admins), skipping values that are not DNs.
func groupNames(dns []string) []string {
	var names []string
	for _, s := range dns {
		dn, err := ldap.ParseDN(s)
		if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) == 0 {
			continue
		}
		names = appendMissing(names, dn.RDNs[0].Attributes[0].Value)
	}
	return names
}

// appendMissing appends the non-empty values not yet in list.
func appendMissing(list []string, values ...string) []string {
	for _, v := range values {
		if v != "" && !containsFold(list, v) {
			list = append(list, v)
		}
	}
	return list
}

func containsFold(list []string, v string) bool {
	for _, s := range list {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}
