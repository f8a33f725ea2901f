package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/azuread"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/database"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/oidc"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Factory builds the connector of one Connection of a tenant.
type Factory func(snapshot.TenantRef, snapshot.Connection) (connector.Connector, error)

// DefaultFactories maps each strategy to its connector. Database connectors check
// passwords with passwords, which all of them share, and log the users whose hash they
// refuse. Directory connectors log their failovers and refusals to log, with the
// connection's name, and take directoryOptions (benchmarks compare pooling with a fresh
// connection per login through them). Upstream connectors (adfs, azureAD, oidc) keep
// their users' profiles, for userinfo, in one store bounded per tenant.
func DefaultFactories(log *slog.Logger, passwords database.Checks, directoryOptions ...ldap.Option) map[string]Factory {
	directory := append([]ldap.Option{ldap.WithLogger(log)}, directoryOptions...)
	users := profiles.New()
	return map[string]Factory{
		snapshot.StrategyDatabase: func(t snapshot.TenantRef, c snapshot.Connection) (connector.Connector, error) {
			return database.New(c.Users, t.UID, passwords, log.With("tenant", t.Namespace+"/"+t.Name, "connection", c.Name)), nil
		},
		snapshot.StrategyLDAP: func(_ snapshot.TenantRef, c snapshot.Connection) (connector.Connector, error) {
			if c.LDAP == nil {
				return nil, errors.New("the snapshot has no ldap configuration for this connection")
			}
			return ldap.New(c.Name, *c.LDAP, directory...)
		},
		snapshot.StrategyActiveDirectory: func(_ snapshot.TenantRef, c snapshot.Connection) (connector.Connector, error) {
			if c.ActiveDirectory == nil {
				return nil, errors.New("the snapshot has no activeDirectory configuration for this connection")
			}
			return ldap.NewActiveDirectory(c.Name, *c.ActiveDirectory, directory...)
		},
		snapshot.StrategyADFS: func(t snapshot.TenantRef, c snapshot.Connection) (connector.Connector, error) {
			if c.ADFS == nil {
				return nil, errors.New("the snapshot has no adfs configuration for this connection")
			}
			return remembering(users, t, c, func(p *profiles.Connection) (connector.Connector, error) {
				return adfs.New(c.Name, *c.ADFS, p, adfs.WithLogger(log))
			})
		},
		snapshot.StrategyAzureAD: func(t snapshot.TenantRef, c snapshot.Connection) (connector.Connector, error) {
			if c.AzureAD == nil {
				return nil, errors.New("the snapshot has no azureAD configuration for this connection")
			}
			return remembering(users, t, c, func(p *profiles.Connection) (connector.Connector, error) {
				return azuread.New(*c.AzureAD, p)
			})
		},
		snapshot.StrategyOIDC: func(t snapshot.TenantRef, c snapshot.Connection) (connector.Connector, error) {
			if c.OIDC == nil {
				return nil, errors.New("the snapshot has no oidc configuration for this connection")
			}
			return remembering(users, t, c, func(p *profiles.Connection) (connector.Connector, error) {
				return oidc.New(*c.OIDC, p, log.With("tenant", t.Namespace+"/"+t.Name, "connection", c.Name))
			})
		},
	}
}

// remembering builds the connector of an upstream Connection c of tenant t with build,
// given the Connection's share of users; the share is closed again if build fails.
func remembering(users *profiles.Store, t snapshot.TenantRef, c snapshot.Connection, build func(*profiles.Connection) (connector.Connector, error)) (connector.Connector, error) {
	p := users.Open(t.UID, c.Name)
	built, err := build(p)
	if err != nil {
		p.Close()
		return nil, err
	}
	return built, nil
}

// closeGrace is how long a replaced connector stays open, so that logins that started
// with the old view finish.
const closeGrace = time.Minute

// unavailable is the connector of a Connection this server cannot serve (a strategy it
// does not implement, or a configuration it cannot use): logins answer
// temporarily_unavailable until a snapshot fixes it.
type unavailable struct{ reason error }

func (u unavailable) Login(context.Context, string, string) (connector.Identity, error) {
	return connector.Identity{}, fmt.Errorf("%w: %w", connector.ErrUnavailable, u.reason)
}

func (unavailable) Close() error { return nil }

// connectorCache reuses a connector while its Connection's configuration is unchanged,
// so that pooled directory connections survive unrelated snapshot changes. It is used
// by one goroutine, the loader's.
type connectorCache struct {
	factories map[string]Factory
	log       *slog.Logger
	entries   map[string]cachedConnector
}

type cachedConnector struct {
	fingerprint [sha256.Size]byte
	connector   connector.Connector
}

func newConnectorCache(factories map[string]Factory, log *slog.Logger) *connectorCache {
	return &connectorCache{factories: factories, log: log, entries: map[string]cachedConnector{}}
}

// connectors returns the connectors of snap, reusing unchanged ones. Call sweep after
// publishing the views to close the ones no view uses.
func (c *connectorCache) connectors(snap *snapshot.Snapshot, inUse map[string]bool) map[string]connector.Connector {
	out := make(map[string]connector.Connector, len(snap.Connections))
	for _, conn := range snap.Connections {
		key := snap.Tenant.UID + "/" + conn.Name
		inUse[key] = true
		fp := fingerprint(conn)
		if e, ok := c.entries[key]; ok && e.fingerprint == fp {
			out[conn.Name] = e.connector
			continue
		}
		built := buildConnector(c.factories, c.log, snap, conn)
		if old, ok := c.entries[key]; ok {
			c.closeLater(old.connector)
		}
		c.entries[key] = cachedConnector{fingerprint: fp, connector: built}
		out[conn.Name] = built
	}
	return out
}

// BuildConnectors builds the connectors of snap's Connections, without reuse.
func BuildConnectors(snap *snapshot.Snapshot, factories map[string]Factory, log *slog.Logger) map[string]connector.Connector {
	out := make(map[string]connector.Connector, len(snap.Connections))
	for _, conn := range snap.Connections {
		out[conn.Name] = buildConnector(factories, log, snap, conn)
	}
	return out
}

// buildConnector builds one connector; a Connection that cannot be served gets one that
// answers temporarily_unavailable.
func buildConnector(factories map[string]Factory, log *slog.Logger, snap *snapshot.Snapshot, conn snapshot.Connection) connector.Connector {
	log = log.With("tenant", snap.Tenant.Namespace+"/"+snap.Tenant.Name, "connection", conn.Name, "strategy", conn.Strategy)
	factory, ok := factories[conn.Strategy]
	if !ok {
		log.Error("connection strategy not implemented by this token server; its logins answer temporarily_unavailable")
		return unavailable{reason: fmt.Errorf("strategy %q not implemented", conn.Strategy)}
	}
	built, err := factory(snap.Tenant, conn)
	if err != nil {
		log.Error("cannot build connector; its logins answer temporarily_unavailable", "error", err)
		return unavailable{reason: err}
	}
	return built
}

// sweep closes the connectors of Connections that no longer exist.
func (c *connectorCache) sweep(inUse map[string]bool) {
	for key, e := range c.entries {
		if !inUse[key] {
			c.closeLater(e.connector)
			delete(c.entries, key)
		}
	}
}

func (c *connectorCache) closeLater(conn connector.Connector) {
	time.AfterFunc(closeGrace, func() {
		if err := conn.Close(); err != nil {
			c.log.Error("closing a replaced connector", "error", err)
		}
	})
}

func fingerprint(conn snapshot.Connection) [sha256.Size]byte {
	raw, err := json.Marshal(conn)
	if err != nil {
		// A Connection decoded from JSON always encodes again; a zero fingerprint only
		// forces a rebuild.
		return [sha256.Size]byte{}
	}
	return sha256.Sum256(raw)
}
