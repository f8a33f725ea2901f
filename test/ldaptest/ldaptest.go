// Package ldaptest runs a real OpenLDAP slapd for tests: its own configuration and
// database in a temporary directory, plain LDAP and LDAPS on loopback ports, TLS from a
// certificate authority generated at start, and entries loaded from LDIF with ldapadd.
//
// slapd and ldapadd come from the Debian packages slapd and ldap-utils
// (hack/install-test-deps.sh installs them).
package ldaptest

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
)

// BaseDN is the suffix of the test directory.
const BaseDN = "dc=example,dc=org"

// AdminDN is the directory's root DN, which may write anything.
const AdminDN = "cn=admin," + BaseDN

// Server is a running slapd.
type Server struct {
	// LDAPURL serves plain LDAP and StartTLS; LDAPSURL serves LDAP over TLS.
	LDAPURL, LDAPSURL string
	// CAPEM is the certificate authority that signed the server's certificate.
	CAPEM string

	dir         string
	adminPwFile string
	ldapAddr    string
	ldapsAddr   string
	proc        *proctest.Process
}

// slapdConf is a minimal configuration: the standard schemas, one mdb database with the
// memberof overlay (so users carry memberOf), and ACLs in which only bound users read and
// passwords are usable for binds only.
var slapdConf = template.Must(template.New("slapd.conf").Parse(`
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile {{.Dir}}/slapd.pid
TLSCACertificateFile {{.TLS.CAFile}}
TLSCertificateFile {{.TLS.CertFile}}
TLSCertificateKeyFile {{.TLS.KeyFile}}

database mdb
suffix "{{.BaseDN}}"
rootdn "{{.AdminDN}}"
rootpw {{.AdminPassword}}
directory {{.Dir}}/data
maxsize 104857600
overlay memberof
access to attrs=userPassword by self =xw by anonymous auth by * none
access to * by users read by * none
`))

// Start writes a configuration into a new temporary directory and starts slapd with it.
// Close stops it and removes the directory.
func Start() (*Server, error) {
	for _, bin := range []string{"slapd", "ldapadd"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not found (run hack/install-test-deps.sh): %w", bin, err)
		}
	}
	dir, err := os.MkdirTemp("", "ldaptest-")
	if err != nil {
		return nil, err
	}
	s, err := configure(dir)
	if err == nil {
		err = s.Start()
	}
	if err == nil {
		err = s.Add(fmt.Sprintf("dn: %s\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n", BaseDN))
	}
	if err != nil {
		s.Close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

func configure(dir string) (*Server, error) {
	tls, err := WriteServerTLS(dir)
	if err != nil {
		return nil, err
	}
	if err := os.Mkdir(filepath.Join(dir, "data"), 0o700); err != nil {
		return nil, err
	}
	adminPassword, err := RandomPassword()
	if err != nil {
		return nil, err
	}
	adminPwFile := filepath.Join(dir, "admin.pw")
	if err := os.WriteFile(adminPwFile, []byte(adminPassword), 0o600); err != nil {
		return nil, err
	}
	var conf bytes.Buffer
	if err := slapdConf.Execute(&conf, map[string]any{
		"Dir": dir, "TLS": tls, "BaseDN": BaseDN, "AdminDN": AdminDN, "AdminPassword": adminPassword,
	}); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "slapd.conf"), conf.Bytes(), 0o600); err != nil {
		return nil, err
	}
	ldapAddr, err := proctest.FreeAddress()
	if err != nil {
		return nil, err
	}
	ldapsAddr, err := proctest.FreeAddress()
	if err != nil {
		return nil, err
	}
	return &Server{
		LDAPURL:     "ldap://" + ldapAddr,
		LDAPSURL:    "ldaps://" + ldapsAddr,
		CAPEM:       tls.CAPEM,
		dir:         dir,
		adminPwFile: adminPwFile,
		ldapAddr:    ldapAddr,
		ldapsAddr:   ldapsAddr,
	}, nil
}

// Start starts slapd again after Stop, on the same addresses and with the same data.
func (s *Server) Start() error {
	if s.proc != nil {
		return errors.New("slapd is already running")
	}
	proc, err := proctest.Start(exec.Command("slapd", "-f", filepath.Join(s.dir, "slapd.conf"),
		"-h", s.LDAPURL+"/ "+s.LDAPSURL+"/", "-d", "0"))
	if err != nil {
		return fmt.Errorf("starting slapd: %w", err)
	}
	s.proc = proc
	return s.waitReady()
}

func (s *Server) waitReady() error {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Exited():
			output := s.proc.Output()
			s.proc = nil
			return fmt.Errorf("slapd exited at start: %s", output)
		default:
		}
		if reachable(s.ldapAddr) && reachable(s.ldapsAddr) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("slapd did not listen within 20s")
}

// Stop stops slapd and waits until it exited; its data stays for Start.
func (s *Server) Stop() error {
	if s.proc == nil {
		return nil
	}
	_, _ = s.proc.Stop(10 * time.Second) // slapd's exit status after SIGTERM tells nothing
	s.proc = nil
	return nil
}

// Close stops slapd and removes its directory.
func (s *Server) Close() {
	if s == nil {
		return
	}
	_ = s.Stop()
	_ = os.RemoveAll(s.dir)
}

// Add loads LDIF entries as the root DN, through the running server so that overlays
// such as memberof see them.
func (s *Server) Add(ldif string) error {
	cmd := exec.Command("ldapadd", "-x", "-H", s.LDAPURL, "-D", AdminDN, "-y", s.adminPwFile)
	cmd.Stdin = strings.NewReader(ldif)
	// ldapadd echoes entry DNs only; the LDIF (with passwords) is not printed.
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ldapadd: %w: %s", err, out)
	}
	return nil
}

// RandomPassword returns a new password for a test account.
func RandomPassword() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

func reachable(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}
