package oidc_test

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/dextest"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/oidc"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// configFor is a connection to dex as its password-grant client, asking for groups too.
func configFor(dex *dextest.Server) snapshot.OIDC {
	return snapshot.OIDC{
		Issuer:       dex.Issuer,
		ClientID:     dex.Client.ID,
		ClientSecret: dex.Client.Secret,
		Scopes:       []string{"openid", "email", "profile", "groups"},
		Claims:       snapshot.OIDCClaims{Subject: "sub", Email: "email", Name: "name", Groups: "groups"},
		CAPEM:        dex.CAPEM,
		Timeout:      5 * time.Second,
	}
}

func newConnector(t testing.TB, cfg snapshot.OIDC) *oidc.Connector {
	t.Helper()
	c, err := oidc.New(cfg, profiles.New().Open("tenant-uid", "upstream"), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestLoginAgainstDex(t *testing.T) {
	directory, ldapPasswords := ldaptest.StartSample(t)
	local := dextest.Start(t, dextest.Options{})
	overLDAP := dextest.Start(t, dextest.Options{LDAP: directory, LDAPServicePassword: ldapPasswords["gatehouse"]})
	alice := local.Users["alice"]

	wrongSecret := configFor(local)
	wrongSecret.ClientSecret = "not-the-secret"
	unknownClient := configFor(local)
	unknownClient.ClientID = "no-such-client"

	for _, tc := range []struct {
		name               string
		cfg                snapshot.OIDC
		username, password string
		want               connector.Identity
		wantErr            error
	}{
		{"right password", configFor(local), alice.Email, alice.Password, connector.Identity{
			Username: "alice", Email: alice.Email, EmailVerified: true, Name: alice.Name, Groups: []string{"admins", "developers"},
		}, nil},
		{"right password through Dex's LDAP connector", configFor(overLDAP), "alice", ldapPasswords["alice"], connector.Identity{
			Username: "alice", Email: "alice@example.org", EmailVerified: true, Name: "Alice Liddell", Groups: []string{"admins", "developers"},
		}, nil},
		{"wrong password", configFor(local), alice.Email, "wrong-" + alice.Password, connector.Identity{}, connector.ErrInvalidCredentials},
		{"another user's password", configFor(local), alice.Email, local.Users["bob"].Password, connector.Identity{}, connector.ErrInvalidCredentials},
		{"unknown user", configFor(local), "nobody@example.com", alice.Password, connector.Identity{}, connector.ErrInvalidCredentials},
		{"wrong password through Dex's LDAP connector", configFor(overLDAP), "alice", "wrong", connector.Identity{}, connector.ErrInvalidCredentials},
		// The Connection's own mistakes are not the user's: they answer unavailable.
		{"wrong client secret", wrongSecret, alice.Email, alice.Password, connector.Identity{}, connector.ErrUnavailable},
		{"unknown client", unknownClient, alice.Email, alice.Password, connector.Identity{}, connector.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := newConnector(t, tc.cfg).Login(context.Background(), tc.username, tc.password)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Login = %+v, %v; want %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if got.UserID == "" {
				t.Error("no user id")
			}
			tc.want.UserID = got.UserID // Dex's sub, an encoding of its user id and connector
			if !equalIdentities(got, tc.want) {
				t.Errorf("Login = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestUserinfoFromTheLogin checks that the connector answers userinfo with the identity
// of the user's last login, and a user it holds nothing of with the id alone.
func TestUserinfoFromTheLogin(t *testing.T) {
	dex := dextest.Start(t, dextest.Options{})
	c := newConnector(t, configFor(dex))
	alice := dex.Users["alice"]
	identity, err := c.Login(context.Background(), alice.Email, alice.Password)
	if err != nil {
		t.Fatal(err)
	}
	got, found, err := c.LookupUser(context.Background(), identity.UserID)
	if err != nil || !found || !equalIdentities(got, identity) {
		t.Errorf("LookupUser(alice) = %+v, %v, %v; want the login's %+v", got, found, err, identity)
	}
	got, found, err = c.LookupUser(context.Background(), "never-logged-in")
	if err != nil || !found || !equalIdentities(got, connector.Identity{UserID: "never-logged-in"}) {
		t.Errorf("LookupUser(unknown) = %+v, %v, %v; want the id alone", got, found, err)
	}
}

func TestDexDown(t *testing.T) {
	dex := dextest.Start(t, dextest.Options{})
	alice := dex.Users["alice"]
	discovered := newConnector(t, configFor(dex))
	if _, err := discovered.Login(context.Background(), alice.Email, alice.Password); err != nil {
		t.Fatal(err)
	}
	dex.Stop()
	for name, c := range map[string]*oidc.Connector{
		"discovered before": discovered,
		"never discovered":  newConnector(t, configFor(dex)),
	} {
		_, err := c.Login(context.Background(), alice.Email, alice.Password)
		if !errors.Is(err, connector.ErrUnavailable) {
			t.Errorf("%s: Login with Dex down = %v, want ErrUnavailable", name, err)
		}
	}
	if err := oidc.Check(context.Background(), configFor(dex)); err == nil {
		t.Error("Check with Dex down succeeded")
	}
}

func TestCheckAgainstDex(t *testing.T) {
	dex := dextest.Start(t, dextest.Options{})
	if err := oidc.Check(context.Background(), configFor(dex)); err != nil {
		t.Errorf("Check: %v", err)
	}
	slash := configFor(dex)
	slash.Issuer += "/"
	var malformed *oidc.MalformedError
	if err := oidc.Check(context.Background(), slash); !errors.As(err, &malformed) {
		t.Errorf("Check of the issuer with a trailing slash = %v, want an issuer mismatch", err)
	}
	noCA := configFor(dex)
	noCA.CAPEM = ""
	if err := oidc.Check(context.Background(), noCA); err == nil {
		t.Error("Check without Dex's CA succeeded")
	}
}

func equalIdentities(a, b connector.Identity) bool {
	return a.UserID == b.UserID && a.Username == b.Username && a.Email == b.Email && a.EmailVerified == b.EmailVerified &&
		a.Name == b.Name && slices.Equal(a.Groups, b.Groups) && len(a.Claims) == 0 && len(b.Claims) == 0
}
