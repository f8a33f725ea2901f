package systemtest

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/pgtest"
)

// RefreshStores are the refresh token stores a token server can keep families in, as
// its --refresh-token-store names them.
var RefreshStores = []string{"kubernetes", "postgres"}

// RefreshStore is a store for the token servers of a test: the flags that choose it,
// and, for postgres, the server the test started, to stop and start.
type RefreshStore struct {
	Name     string
	Flags    []string
	Postgres *pgtest.Server
}

// StartRefreshStore prepares the store name for the test's token servers: nothing for
// kubernetes (RefreshTokenFamily objects in the operator's namespace); a PostgreSQL on
// loopback for postgres, its DSN in a file as the chart mounts it from a Secret.
func StartRefreshStore(t testing.TB, name string) *RefreshStore {
	t.Helper()
	rs := &RefreshStore{Name: name, Flags: []string{"--refresh-token-store", name}}
	if name != "postgres" {
		return rs
	}
	server, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.Close)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, server.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx) //nolint:errcheck // the test's own connection
	if _, err := conn.Exec(ctx, "CREATE DATABASE gatehouse"); err != nil {
		t.Fatal(err)
	}
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte(server.DSN("gatehouse")), 0o600); err != nil {
		t.Fatal(err)
	}
	rs.Postgres = server
	rs.Flags = append(rs.Flags, "--refresh-token-postgres-dsn-file", dsnFile)
	return rs
}

// EnableRefreshTokens gives a Client the refresh_token grant with settings, and lets the
// API allow offline access; WaitOfflineToken waits until the token server sees it.
func (cl Cluster) EnableRefreshTokens(t testing.TB, c *identityv1alpha1.Client, api *identityv1alpha1.API, settings identityv1alpha1.RefreshTokensSpec) {
	t.Helper()
	cl.Update(t, api, func() { api.Spec.AllowOfflineAccess = true })
	cl.Update(t, c, func() {
		c.Spec.GrantTypes = []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword, identityv1alpha1.GrantTypeRefreshToken}
		c.Spec.RefreshTokens = settings.DeepCopy()
	})
}

// WaitOfflineToken logs username in through cfg until the answer holds a refresh token,
// and returns it.
func WaitOfflineToken(t testing.TB, cfg oauth2.Config, username, password string) *oauth2.Token {
	t.Helper()
	var tok *oauth2.Token
	Eventually(t, "a password login gets a refresh token", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
		defer cancel()
		var err error
		if tok, err = cfg.PasswordCredentialsToken(ctx, username, password); err == nil && tok.RefreshToken == "" {
			err = errors.New("no refresh token in the answer")
		}
		return err
	})
	return tok
}

// OfflineConfig is the oauth2 configuration of c asking for offline_access (and a
// refresh token with it) beside the sample's scopes, at the token endpoint of host
// (c's own when empty), as a replica's address.
func (c Credentials) OfflineConfig(host string) oauth2.Config {
	tokenURL := c["token_url"]
	if host != "" {
		u, _ := url.Parse(tokenURL)
		u.Host = host
		tokenURL = u.String()
	}
	return oauth2.Config{
		ClientID: c["client_id"], ClientSecret: c["client_secret"],
		Endpoint: oauth2.Endpoint{TokenURL: tokenURL, AuthStyle: oauth2.AuthStyleInHeader},
		Scopes:   []string{"openid", "profile", "email", "read:sample", "offline_access"},
	}
}
