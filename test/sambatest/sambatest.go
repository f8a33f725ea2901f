// Package sambatest runs a real Samba Active Directory domain controller for tests: a
// domain provisioned in a temporary directory, serving LDAP and LDAPS on 127.0.0.1:389
// and :636 with a certificate from a certificate authority generated at start.
//
// Samba needs root, the Debian packages samba, samba-ad-dc and winbind
// (hack/install-test-deps.sh installs them), and the fixed LDAP ports, so only one Server
// runs at a time: start it once per test package, from TestMain. Provisioning and start
// take about 15 seconds.
package sambatest

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/test/ldaptest"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
)

// The test domain.
const (
	Realm  = "GATEHOUSE.TEST"
	Domain = "gatehouse.test"
	BaseDN = "DC=gatehouse,DC=test"
	// LDAPURL and LDAPSURL are where the domain controller serves.
	LDAPURL  = "ldap://127.0.0.1:389"
	LDAPSURL = "ldaps://127.0.0.1:636"
)

// Server is a running Samba AD DC.
type Server struct {
	// CAPEM is the certificate authority that signed the server's LDAPS certificate.
	CAPEM string
	// AdminUPN and AdminPassword are the domain administrator's credentials.
	AdminUPN, AdminPassword string

	dir  string
	conf string
	proc *proctest.Process
}

// Start provisions a new domain in a temporary directory and starts Samba on it. Close
// stops Samba and removes the directory.
func Start() (*Server, error) {
	for _, bin := range []string{"samba", "samba-tool"} {
		if _, err := exec.LookPath(bin); err != nil {
			return nil, fmt.Errorf("%s not found (run hack/install-test-deps.sh): %w", bin, err)
		}
	}
	if os.Geteuid() != 0 {
		return nil, errors.New("a Samba domain controller needs root")
	}
	dir, err := os.MkdirTemp("", "sambatest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, conf: filepath.Join(dir, "etc", "smb.conf"), AdminUPN: "Administrator@" + Domain}
	if err := s.provision(); err != nil {
		s.Close()
		return nil, err
	}
	if err := s.start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) provision() error {
	var err error
	if s.AdminPassword, err = Password(); err != nil {
		return err
	}
	cmd := exec.Command("samba-tool", "domain", "provision",
		"--realm="+Realm, "--domain=GATEHOUSE", "--server-role=dc", "--dns-backend=NONE",
		"--targetdir="+s.dir, "--adminpass="+s.AdminPassword,
		"--option=interfaces=lo", "--option=bind interfaces only=yes")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("samba-tool domain provision: %w: %s", err, tail(out))
	}
	tlsFiles, err := ldaptest.WriteServerTLS(s.dir)
	if err != nil {
		return err
	}
	s.CAPEM = tlsFiles.CAPEM
	// Simple binds over plain LDAP are for the tests of insecure connections. Only the
	// LDAP service is asked for, since nothing else is tested (Samba still starts its KDC
	// and RPC endpoints).
	extra := strings.Join([]string{
		"server services = ldap",
		// Samba still starts RPC endpoints on dynamic ports, 49152-65535 by default: that
		// range overlaps the kernel's ephemeral ports (32768-60999), which the tests of
		// other packages, run in parallel, bind to. Ports below it cannot collide.
		"rpc server dynamic port range = 20100-20199",
		"ldap server require strong auth = no",
		"log file = " + filepath.Join(s.dir, "log.%m"),
		"tls enabled = yes",
		"tls keyfile = " + tlsFiles.KeyFile,
		"tls certfile = " + tlsFiles.CertFile,
		"tls cafile = " + tlsFiles.CAFile,
	}, "\n\t")
	conf, err := os.ReadFile(s.conf)
	if err != nil {
		return err
	}
	conf = bytes.Replace(conf, []byte("[global]"), []byte("[global]\n\t"+extra), 1)
	return os.WriteFile(s.conf, conf, 0o600)
}

func (s *Server) start() error {
	proc, err := proctest.Start(exec.Command("samba", "-s", s.conf, "-i", "-M", "single"))
	if err != nil {
		return fmt.Errorf("starting samba: %w", err)
	}
	s.proc = proc
	return s.waitReady()
}

// waitReady waits until the administrator can bind over LDAPS.
func (s *Server) waitReady() error {
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(s.CAPEM))
	var lastErr error
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		select {
		case <-s.proc.Exited():
			output := s.proc.Output()
			s.proc = nil
			return fmt.Errorf("samba exited at start: %s", tail([]byte(output)))
		default:
		}
		conn, err := ldap.DialURL(LDAPSURL, ldap.DialWithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}))
		if err != nil {
			lastErr = err
			continue
		}
		lastErr = conn.Bind(s.AdminUPN, s.AdminPassword)
		_ = conn.Close()
		if lastErr == nil {
			return nil
		}
	}
	return fmt.Errorf("samba did not accept an LDAPS bind within 60s: %w", lastErr)
}

// Tool runs samba-tool with the domain's configuration, such as
// Tool("user", "disable", "bob").
func (s *Server) Tool(args ...string) error {
	cmd := exec.Command("samba-tool", append(args, "--configfile="+s.conf)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("samba-tool %s: %w: %s", args[0], err, tail(out))
	}
	return nil
}

// ConfigFile is the path of the domain controller's smb.conf, for samba-tool.
func (s *Server) ConfigFile() string {
	return s.conf
}

// Close stops Samba and removes its directory.
func (s *Server) Close() {
	if s.proc != nil {
		_, _ = s.proc.Stop(10 * time.Second) // samba's exit status after SIGTERM tells nothing
		s.proc = nil
	}
	_ = os.RemoveAll(s.dir)
}

// Password returns a new random password that meets the domain's complexity rules.
func Password() (string, error) {
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return "Gh1-" + hex.EncodeToString(b), nil
}

// tail keeps the end of a tool's output for an error message.
func tail(out []byte) string {
	const keep = 2000
	if len(out) > keep {
		out = out[len(out)-keep:]
	}
	return string(out)
}
