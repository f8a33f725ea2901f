package ldap_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// directory is the slapd shared by the tests of this package, with the accounts of
// ldaptest.Server.LoadSample.
var (
	directory *ldaptest.Server
	passwords map[string]string
)

func TestMain(m *testing.M) {
	os.Exit(runWithDirectory(m))
}

func runWithDirectory(m *testing.M) int {
	var err error
	directory, err = ldaptest.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting slapd:", err)
		return 1
	}
	defer directory.Close()
	if passwords, err = directory.LoadSample(); err != nil {
		fmt.Fprintln(os.Stderr, "loading accounts:", err)
		return 1
	}
	return m.Run()
}

// config is the sample connection to urls (see ldaptest.Server.SampleConfig).
func config(urls ...string) snapshot.LDAP {
	return directory.SampleConfig(passwords["gatehouse"], urls...)
}

// groupSearchConfig is the sample connection over LDAPS, reading groups with a group
// search rather than from memberOf.
func groupSearchConfig() snapshot.LDAP {
	cfg := config(directory.LDAPSURL)
	cfg.Attributes.Groups = ""
	cfg.GroupSearch = &snapshot.LDAPGroupSearch{BaseDN: "ou=groups," + ldaptest.BaseDN}
	return cfg
}

func newConnector(t *testing.T, cfg snapshot.LDAP, opts ...ldap.Option) *ldap.Connector {
	t.Helper()
	c, err := ldap.New("corp", cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// ownDirectory starts a slapd of the test's own, which the test may stop and restart,
// loads the sample directory into it, and returns it with its passwords and a connector
// to it over LDAPS.
func ownDirectory(t *testing.T) (*ldaptest.Server, map[string]string, *ldap.Connector) {
	t.Helper()
	own, pw := ldaptest.StartSample(t)
	return own, pw, newConnector(t, own.SampleConfig(pw["gatehouse"], own.LDAPSURL))
}

var uuidPattern = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

func TestLoginReturnsClaimsOverEachTransport(t *testing.T) {
	ldaps := config(directory.LDAPSURL)
	startTLS := config(directory.LDAPURL)
	startTLS.StartTLS = true
	plain := config(directory.LDAPURL)
	plain.InsecureNoTLS = true
	plain.CAPEM = ""
	unpooled := config(directory.LDAPSURL)

	tests := []struct {
		name string
		cfg  snapshot.LDAP
		opts []ldap.Option
	}{
		{"ldaps", ldaps, nil},
		{"StartTLS", startTLS, nil},
		{"insecure plain LDAP", plain, nil},
		{"fresh connection per step", unpooled, []ldap.Option{ldap.WithoutPooling()}},
		{"groups from a group search", groupSearchConfig(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConnector(t, tt.cfg, tt.opts...)
			for _, username := range []string{"alice", "alice@example.org", "ALICE"} {
				id, err := c.Login(context.Background(), username, passwords["alice"])
				if err != nil {
					t.Fatalf("login as %q: %v", username, err)
				}
				if !uuidPattern.MatchString(id.UserID) {
					t.Errorf("UserID %q is not an entryUUID", id.UserID)
				}
				if id.Username != "alice" || id.Email != "alice@example.org" || id.Name != "Alice Liddell" {
					t.Errorf("identity = %+v", id)
				}
				groups := slices.Sorted(slices.Values(id.Groups))
				if !slices.Equal(groups, []string{"admins", "developers"}) {
					t.Errorf("groups = %v, want admins and developers", id.Groups)
				}
			}
			bob, err := c.Login(context.Background(), "bob", passwords["bob"])
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(bob.Groups, []string{"developers"}) {
				t.Errorf("bob's groups = %v", bob.Groups)
			}
		})
	}
}

func TestLoginRefusesWrongCredentialsAndInjection(t *testing.T) {
	c := newConnector(t, config(directory.LDAPSURL))
	alice := passwords["alice"]
	tests := []struct {
		name, username, password string
	}{
		{"wrong password", "alice", alice + "x"},
		{"other user's password", "bob", alice},
		{"unknown user", "nobody", alice},
		{"empty password", "alice", ""},
		{"empty username", "", alice},
		{"wildcard", "*", alice},
		{"partial wildcard", "ali*", alice},
		{"filter break-out", ")(uid=*", alice},
		{"filter break-out after a name", "alice)(uid=*", alice},
		{"filter break-out with OR", "*)(|(uid=*", alice},
		{"escaped NUL text", `\00`, alice},
		{"NUL byte", "alice\x00", alice},
		{"username matching two entries", "twins@example.org", passwords["twin1"]},
		{"overlong username", strings.Repeat("a", 300), alice},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := c.Login(context.Background(), tt.username, tt.password)
			if !errors.Is(err, connector.ErrInvalidCredentials) {
				t.Fatalf("Login = %+v, %v; want ErrInvalidCredentials", id, err)
			}
			if errors.Is(err, connector.ErrUnavailable) {
				t.Fatalf("Login error %v also says unavailable", err)
			}
			if tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Fatal("the error reveals the password")
			}
		})
	}
}

func TestConcurrentLoginsShareASmallPool(t *testing.T) {
	cfg := config(directory.LDAPSURL)
	cfg.MaxConnections = 2
	c := newConnector(t, cfg)
	var wg sync.WaitGroup
	errs := make(chan error, 16*10)
	for range 16 {
		wg.Go(func() {
			for i := range 10 {
				user, password := "alice", passwords["alice"]
				if i%2 == 1 {
					password += "x"
				}
				_, err := c.Login(context.Background(), user, password)
				if (i%2 == 0) != (err == nil) || (err != nil && !errors.Is(err, connector.ErrInvalidCredentials)) {
					errs <- fmt.Errorf("login %d: %w", i, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestLoginFailsOverToTheNextURL(t *testing.T) {
	hung := config("ldaps://"+silentServer(t), directory.LDAPSURL)
	hung.Timeout = 200 * time.Millisecond
	tests := []struct {
		name string
		cfg  snapshot.LDAP
	}{
		{"first server refuses connections", config("ldaps://"+proctest.MustFreeAddress(t), directory.LDAPSURL)},
		{"first server never answers", hung},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConnector(t, tt.cfg)
			if _, err := c.Login(context.Background(), "bob", passwords["bob"]); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestDirectoryDownIsUnavailable(t *testing.T) {
	silent := config("ldap://" + silentServer(t))
	silent.InsecureNoTLS = true
	silent.Timeout = 200 * time.Millisecond
	untrusted := config(directory.LDAPSURL)
	untrusted.CAPEM = ""
	tests := []struct {
		name string
		cfg  snapshot.LDAP
	}{
		{"nothing listens", config("ldaps://" + proctest.MustFreeAddress(t))},
		{"server never answers", silent},
		{"certificate from an untrusted CA", untrusted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConnector(t, tt.cfg)
			_, err := c.Login(context.Background(), "bob", passwords["bob"])
			if !errors.Is(err, connector.ErrUnavailable) {
				t.Fatalf("Login error = %v, want ErrUnavailable", err)
			}
		})
	}
}

func TestLoginRecoversWhenTheDirectoryRestarts(t *testing.T) {
	own, pw, c := ownDirectory(t)
	login := func() error {
		_, err := c.Login(context.Background(), "bob", pw["bob"])
		return err
	}

	if err := login(); err != nil {
		t.Fatal(err)
	}
	if err := own.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := login(); !errors.Is(err, connector.ErrUnavailable) {
		t.Fatalf("login with the directory stopped: %v, want ErrUnavailable", err)
	}
	if err := own.Start(); err != nil {
		t.Fatal(err)
	}
	if err := login(); err != nil {
		t.Fatalf("login after the directory came back: %v", err)
	}
}

func TestLoginReusesPooledConnectionsAfterTheServerDroppedThem(t *testing.T) {
	own, pw, c := ownDirectory(t)
	if _, err := c.Login(context.Background(), "bob", pw["bob"]); err != nil {
		t.Fatal(err)
	}
	// A quick restart leaves the pool full of connections the server closed; the next
	// login must not fail because of them.
	if err := own.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := own.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(context.Background(), "bob", pw["bob"]); err != nil {
		t.Fatalf("first login after restart: %v", err)
	}
}

func TestLoginIgnoresReferralsToOtherHosts(t *testing.T) {
	elsewhere, accepted := countingListener(t)
	err := directory.Add(fmt.Sprintf("dn: ou=partners,ou=people,%[1]s\nobjectClass: referral\nobjectClass: extensibleObject\nou: partners\nref: ldap://%[2]s/ou=people,%[1]s\n",
		ldaptest.BaseDN, elsewhere))
	if err != nil {
		t.Fatal(err)
	}
	c := newConnector(t, config(directory.LDAPSURL))
	if _, err := c.Login(context.Background(), "alice", passwords["alice"]); err != nil {
		t.Fatalf("login next to a referral: %v", err)
	}
	if _, err := c.Login(context.Background(), "partner", passwords["alice"]); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Fatalf("login of a user the referral might hold = %v, want ErrInvalidCredentials", err)
	}
	if n := accepted(); n != 0 {
		t.Fatalf("the referral's host got %d connections", n)
	}
}

func TestCheck(t *testing.T) {
	wrongPassword := config(directory.LDAPSURL)
	wrongPassword.BindPassword = "not-the-password"
	missingBase := config(directory.LDAPSURL)
	missingBase.UserSearch.BaseDN = "ou=nowhere," + ldaptest.BaseDN
	tests := []struct {
		name    string
		cfg     snapshot.LDAP
		wantErr bool
	}{
		{"working directory", config(directory.LDAPSURL), false},
		{"wrong service password", wrongPassword, true},
		{"missing base DN", missingBase, true},
		{"server down", config("ldaps://" + proctest.MustFreeAddress(t)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ldap.Check(context.Background(), tt.cfg)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Check = %v, want error: %v", err, tt.wantErr)
			}
		})
	}
}

// countingListener listens on loopback and counts the connections it accepts.
func countingListener(t *testing.T) (addr string, accepted func() int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			_ = c.Close()
		}
	}()
	t.Cleanup(func() { _ = l.Close() })
	return l.Addr().String(), func() int { return int(n.Load()) }
}

// silentServer accepts connections and never answers, like a hung directory.
func silentServer(t *testing.T) string {
	t.Helper()
	return ldaptest.StartSilent(t, "127.0.0.1:0").Addr
}

func TestLookupUserReturnsTheCurrentProfile(t *testing.T) {
	tests := []struct {
		name string
		cfg  snapshot.LDAP
		opts []ldap.Option
	}{
		{"pooled", config(directory.LDAPSURL), nil},
		{"fresh connection per step", config(directory.LDAPSURL), []ldap.Option{ldap.WithoutPooling()}},
		{"groups from a group search", groupSearchConfig(), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConnector(t, tt.cfg, tt.opts...)
			login, err := c.Login(context.Background(), "alice", passwords["alice"])
			if err != nil {
				t.Fatal(err)
			}
			got, found, err := c.LookupUser(context.Background(), login.UserID)
			if err != nil || !found {
				t.Fatalf("LookupUser(%s) = found %v, %v", login.UserID, found, err)
			}
			got.Groups = slices.Sorted(slices.Values(got.Groups))
			if got.UserID != login.UserID || got.Username != "alice" || got.Email != "alice@example.org" ||
				got.Name != "Alice Liddell" || !slices.Equal(got.Groups, []string{"admins", "developers"}) {
				t.Errorf("LookupUser = %+v", got)
			}
			// Unknown subjects and filter syntax find nobody.
			for _, id := range []string{"00000000-0000-0000-0000-000000000000", "*", login.UserID + ")(uid=*"} {
				if got, found, err := c.LookupUser(context.Background(), id); found || err != nil {
					t.Errorf("LookupUser(%q) = %+v, found %v, %v", id, got, found, err)
				}
			}
		})
	}
}

func TestLookupUserFailsWhenTheDirectoryIsDown(t *testing.T) {
	c := newConnector(t, config("ldaps://"+proctest.MustFreeAddress(t)))
	if _, found, err := c.LookupUser(context.Background(), "00000000-0000-0000-0000-000000000000"); found || !errors.Is(err, connector.ErrUnavailable) {
		t.Errorf("LookupUser = found %v, %v; want ErrUnavailable", found, err)
	}
}
