package adtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	goldap "github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/test/sambatest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

var (
	dc        *sambatest.Server
	passwords = map[string]string{}
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	var err error
	dc, err = sambatest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting Samba AD DC:", err)
		return 1
	}
	defer dc.Close()
	if err := loadAccounts(); err != nil {
		fmt.Fprintln(os.Stderr, "creating accounts:", err)
		return 1
	}
	return m.Run()
}

// loadAccounts creates a service account, a working user in a group, and users who may
// not log in: disabled, expired, locked out, and with a password to change.
func loadAccounts() error {
	for _, name := range []string{"svc-gatehouse", "alice", "bob", "carol", "dave", "erin"} {
		p, err := sambatest.Password()
		if err != nil {
			return err
		}
		passwords[name] = p
		if err := dc.Tool("user", "create", name, p, "--given-name="+name, "--surname=Test",
			"--mail-address="+name+"@mail.example.org"); err != nil {
			return err
		}
	}
	steps := [][]string{
		{"group", "add", "Engineers"},
		{"group", "addmembers", "Engineers", "alice"},
		{"user", "disable", "bob"},
		{"user", "setexpiry", "carol", "--days=0"},
		{"user", "setpassword", "erin", "--newpassword=" + passwords["erin"], "--must-change-at-next-login"},
		{"domain", "passwordsettings", "set", "--account-lockout-threshold=2"},
	}
	for _, args := range steps {
		if err := dc.Tool(args...); err != nil {
			return err
		}
	}
	return lockOut("dave")
}

// lockOut makes the domain lock user out, with wrong passwords.
func lockOut(user string) error {
	conn, err := goldap.DialURL(sambatest.LDAPURL)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	for range 3 {
		if err := conn.Bind(user+"@"+sambatest.Domain, "wrong-"+passwords[user]); err == nil {
			return errors.New("a wrong password was accepted")
		}
	}
	return nil
}

func config(url string) snapshot.ActiveDirectory {
	return snapshot.ActiveDirectory{
		Transport: snapshot.Transport{
			URLs:           []string{url},
			CAPEM:          dc.CAPEM,
			Timeout:        5 * time.Second,
			MaxConnections: 4,
			BindPassword:   passwords["svc-gatehouse"],
		},
		Domain:       sambatest.Domain,
		BindUsername: "svc-gatehouse@" + sambatest.Domain,
	}
}

func newConnector(t *testing.T, cfg snapshot.ActiveDirectory) *ldap.Connector {
	t.Helper()
	c, err := ldap.NewActiveDirectory("corp", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestLoginBySAMAccountNameUPNOrMail(t *testing.T) {
	wantGUID := objectGUID(t, "alice")
	startTLS := config(sambatest.LDAPURL)
	startTLS.StartTLS = true
	transports := map[string]snapshot.ActiveDirectory{"LDAPS": config(sambatest.LDAPSURL), "StartTLS": startTLS}
	for transport, cfg := range transports {
		c := newConnector(t, cfg)
		for _, username := range []string{"alice", "alice@gatehouse.test", "ALICE@GATEHOUSE.TEST", "alice@mail.example.org"} {
			t.Run(transport+"/"+username, func(t *testing.T) {
				id, err := c.Login(context.Background(), username, passwords["alice"])
				if err != nil {
					t.Fatal(err)
				}
				if id.UserID != wantGUID {
					t.Errorf("UserID = %q, want objectGUID %q", id.UserID, wantGUID)
				}
				if id.Username != "alice" || id.Email != "alice@mail.example.org" || id.Name != "alice Test" {
					t.Errorf("identity = %+v", id)
				}
				if !slices.Equal(id.Groups, []string{"Engineers"}) {
					t.Errorf("groups = %v, want [Engineers]", id.Groups)
				}
			})
		}
	}
}

// TestLookupUserByObjectGUID checks that userinfo's lookup finds an account by its
// objectGUID, compared as bytes, and not a disabled one.
func TestLookupUserByObjectGUID(t *testing.T) {
	c := newConnector(t, config(sambatest.LDAPSURL))
	guid := objectGUID(t, "alice")
	id, found, err := c.LookupUser(context.Background(), guid)
	if err != nil || !found {
		t.Fatalf("LookupUser(%s) = found %v, %v", guid, found, err)
	}
	if id.UserID != guid || id.Username != "alice" || id.Email != "alice@mail.example.org" || !slices.Equal(id.Groups, []string{"Engineers"}) {
		t.Errorf("identity = %+v", id)
	}
	for _, other := range []string{objectGUID(t, "bob"), "00000000-0000-0000-0000-000000000000", "*"} {
		if id, found, err := c.LookupUser(context.Background(), other); found || err != nil {
			t.Errorf("LookupUser(%q) = %+v, found %v, %v; want not found", other, id, found, err)
		}
	}
}

func TestLoginRefusesAccountsThatMayNotLogIn(t *testing.T) {
	c := newConnector(t, config(sambatest.LDAPSURL))
	tests := []struct {
		name, username, password, reason string
	}{
		{"wrong password", "alice", passwords["alice"] + "x", "refused"},
		{"empty password", "alice", "", "empty password"},
		{"wildcard username", "*", passwords["alice"], "no entry"},
		{"disabled account", "bob", passwords["bob"], "disabled"},
		{"expired account", "carol", passwords["carol"], "expired"},
		{"locked account", "dave", passwords["dave"], "locked"},
		{"password to change at next login", "erin", passwords["erin"], "password expired"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Login(context.Background(), tt.username, tt.password)
			if !errors.Is(err, connector.ErrInvalidCredentials) || errors.Is(err, connector.ErrUnavailable) {
				t.Fatalf("Login error = %v, want only ErrInvalidCredentials", err)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %q does not give the reason %q", err, tt.reason)
			}
		})
	}
}

func TestCheckActiveDirectory(t *testing.T) {
	if err := ldap.CheckActiveDirectory(context.Background(), config(sambatest.LDAPSURL)); err != nil {
		t.Fatal(err)
	}
	wrong := config(sambatest.LDAPSURL)
	wrong.BindPassword = "wrong"
	if err := ldap.CheckActiveDirectory(context.Background(), wrong); err == nil {
		t.Fatal("Check accepted a wrong service password")
	}
}

var guidLine = regexp.MustCompile(`(?m)^objectGUID: ([0-9a-f-]{36})$`)

// objectGUID is the account's GUID as Samba itself formats it.
func objectGUID(t *testing.T, user string) string {
	t.Helper()
	out, err := exec.Command("samba-tool", "user", "show", user, "--attributes=objectGUID",
		"--configfile="+dc.ConfigFile()).CombinedOutput()
	if err != nil {
		t.Fatalf("samba-tool user show: %v: %s", err, out)
	}
	m := guidLine.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no objectGUID in %s", out)
	}
	return string(m[1])
}
