// Package dextest runs a real Dex (https://dexidp.io) for tests: an OpenID Connect
// provider on a loopback port over TLS, from a certificate authority generated at start,
// whose token endpoint serves the password grant, with memory storage. Its users are
// static ones with passwords and bcrypt hashes made at start, or, with Options.LDAP, the
// users of a test slapd (test/ldaptest) checked by Dex's LDAP connector.
//
// The binary is built by `make dex` (hack/dex.sh) into bin/.
package dextest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
)

// Client is a client registered at Dex.
type Client struct {
	ID, Secret string
}

// User is one of Dex's static users. Dex's local users log in with their email.
type User struct {
	Email, Username, Name, ID, Password string
	Groups                              []string
}

// Options configure Start.
type Options struct {
	// LDAP, when set, makes Dex check passwords with its LDAP connector against this
	// slapd, loaded with the sample directory (ldaptest.LoadSample), binding with
	// LDAPServicePassword; otherwise Dex checks them against its static users.
	LDAP                *ldaptest.Server
	LDAPServicePassword string
}

// Server is a running Dex.
type Server struct {
	// Issuer is Dex's issuer URL, and CAPEM the authority its certificate chains to.
	Issuer string
	CAPEM  string
	// Client may use the password grant; Other is a second client, whose tokens are
	// not meant for Client.
	Client, Other Client
	// Users are the static users by username: alice (groups admins and developers) and bob.
	Users map[string]User

	addr   string
	config string
	proc   *proctest.Process
}

// Binary is the Dex that hack/dex.sh builds.
func Binary() (string, error) {
	out, err := exec.CommandContext(context.Background(), filepath.Join(kubetest.RepoRoot(), "hack", "dex.sh"), "path").Output() //nolint:gosec // a fixed script of this repository
	if err != nil {
		return "", fmt.Errorf("hack/dex.sh path: %w", err)
	}
	bin := strings.TrimSpace(string(out))
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing: run make dex", bin)
	}
	return bin, nil
}

// Start starts a Dex of the test's own, which is stopped and removed when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	bin, err := Binary()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	s, err := configure(dir, opts)
	if err != nil {
		tb.Fatal(err)
	}
	s.config = filepath.Join(dir, "config.json")
	if err := s.start(bin); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Stop() })
	return s
}

// configure writes Dex's configuration, TLS files and users into dir.
func configure(dir string, opts Options) (*Server, error) {
	tlsFiles, err := ldaptest.WriteServerTLS(dir)
	if err != nil {
		return nil, err
	}
	addr, err := proctest.FreeAddress()
	if err != nil {
		return nil, err
	}
	users, err := staticUsers()
	if err != nil {
		return nil, err
	}
	s := &Server{Issuer: "https://" + addr + "/dex", CAPEM: tlsFiles.CAPEM, addr: addr, Users: maps.Clone(users.users)}
	for _, c := range []*Client{&s.Client, &s.Other} {
		if c.Secret, err = ldaptest.RandomPassword(); err != nil {
			return nil, err
		}
	}
	s.Client.ID, s.Other.ID = "gatehouse", "another-app"
	config := map[string]any{
		"issuer":  s.Issuer,
		"storage": map[string]any{"type": "memory"},
		"web":     map[string]any{"https": addr, "tlsCert": tlsFiles.CertFile, "tlsKey": tlsFiles.KeyFile},
		"logger":  map[string]any{"level": "info", "format": "text"},
		"oauth2":  map[string]any{"passwordConnector": "local", "skipApprovalScreen": true},
		"staticClients": []map[string]any{
			{"id": s.Client.ID, "secret": s.Client.Secret, "name": "Gatehouse", "redirectURIs": []string{"https://127.0.0.1/callback"}},
			{"id": s.Other.ID, "secret": s.Other.Secret, "name": "Another app", "redirectURIs": []string{"https://127.0.0.1/other"}},
		},
		"enablePasswordDB": true,
		"staticPasswords":  users.entries,
	}
	if opts.LDAP != nil {
		config["oauth2"] = map[string]any{"passwordConnector": "ldap", "skipApprovalScreen": true}
		config["connectors"] = []map[string]any{ldapConnector(opts.LDAP, opts.LDAPServicePassword)}
	}
	raw, err := json.MarshalIndent(config, "", "  ") // JSON is YAML, which Dex reads
	if err != nil {
		return nil, err
	}
	return s, os.WriteFile(filepath.Join(dir, "config.json"), raw, 0o600)
}

// staticUsers are the static users with their passwords, and their entries in Dex's
// configuration. They are made once per test binary, for all its Dex servers: Dex refuses
// bcrypt hashes below the default cost, which takes long under the race detector.
var staticUsers = sync.OnceValues(func() (static, error) {
	users := map[string]User{
		"alice": {Email: "alice@example.com", Username: "alice", Name: "Alice Example", ID: "a11ce", Groups: []string{"admins", "developers"}},
		"bob":   {Email: "bob@example.com", Username: "bob", Name: "Bob Example", ID: "b0b"},
	}
	var entries []map[string]any
	for name, u := range users {
		var err error
		if u.Password, err = ldaptest.RandomPassword(); err != nil {
			return static{}, err
		}
		users[name] = u
		hash, err := bcrypt.GenerateFromPassword([]byte(u.Password), bcrypt.DefaultCost)
		if err != nil {
			return static{}, err
		}
		entries = append(entries, map[string]any{
			"email": u.Email, "username": u.Username, "name": u.Name, "userID": u.ID, "groups": u.Groups,
			"emailVerified": true, "preferredUsername": u.Username, "hash": string(hash),
		})
	}
	return static{users, entries}, nil
})

type static struct {
	users   map[string]User
	entries []map[string]any
}

// ldapConnector is Dex's LDAP connector on the sample directory of directory over LDAPS:
// users by uid, groups by member.
func ldapConnector(directory *ldaptest.Server, servicePassword string) map[string]any {
	return map[string]any{
		"type": "ldap", "id": "ldap", "name": "LDAP",
		"config": map[string]any{
			"host":       strings.TrimPrefix(directory.LDAPSURL, "ldaps://"),
			"rootCAData": base64.StdEncoding.EncodeToString([]byte(directory.CAPEM)),
			"bindDN":     "cn=gatehouse,ou=svc," + ldaptest.BaseDN,
			"bindPW":     servicePassword,
			"userSearch": map[string]any{
				"baseDN": "ou=people," + ldaptest.BaseDN, "filter": "(objectClass=inetOrgPerson)",
				"username": "uid", "idAttr": "uid", "emailAttr": "mail", "nameAttr": "cn", "preferredUsernameAttr": "uid",
			},
			"groupSearch": map[string]any{
				"baseDN": "ou=groups," + ldaptest.BaseDN, "filter": "(objectClass=groupOfNames)",
				"userMatchers": []map[string]string{{"userAttr": "DN", "groupAttr": "member"}}, "nameAttr": "cn",
			},
		},
	}
}

func (s *Server) start(bin string) error {
	proc, err := proctest.Start(exec.Command(bin, "serve", s.config))
	if err != nil {
		return fmt.Errorf("starting dex: %w", err)
	}
	s.proc = proc
	return s.waitReady()
}

// waitReady waits until Dex serves its discovery document.
func (s *Server) waitReady() error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(s.CAPEM))
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Exited():
			output := s.proc.Output()
			s.proc = nil
			return fmt.Errorf("dex exited at start: %s", output)
		default:
		}
		if resp, err := client.Get(s.Issuer + "/.well-known/openid-configuration"); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("dex did not serve its discovery document within 30s: " + s.proc.Output())
}

// Stop stops Dex and waits until it exited.
func (s *Server) Stop() {
	if s.proc == nil {
		return
	}
	_, _ = s.proc.Stop(10 * time.Second)
	s.proc = nil
}

// Pid is the running Dex's process id, for proctest.ReadStat.
func (s *Server) Pid() int { return s.proc.Pid() }

// Output is what Dex has logged so far.
func (s *Server) Output() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.Output()
}
