// Package pgtest runs a real PostgreSQL server for tests: a cluster that initdb creates
// in a temporary directory, listening on a loopback port only, with a generated password.
//
// The binaries come from the Debian package postgresql (hack/install-test-deps.sh
// installs it), under /usr/lib/postgresql/<major>/bin. PostgreSQL refuses to run as
// root: as root, the server runs as the package's postgres user.
package pgtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
)

// Server is a running PostgreSQL.
type Server struct {
	// Addr is the server's loopback address.
	Addr string

	dir      string
	password string
	cred     *syscall.Credential
	bin      string
	proc     *proctest.Process
}

// superuser is the cluster's one role.
const superuser = "gatehouse"

// Start creates a cluster in a new temporary directory and starts PostgreSQL on it.
// Close stops it and removes the directory.
func Start() (*Server, error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, err
	}
	s := &Server{dir: dir, bin: bin}
	if err := s.init(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := s.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// binDir is the newest /usr/lib/postgresql/<major>/bin holding postgres and initdb.
func binDir() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return major(dirs[i]) > major(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("no PostgreSQL under /usr/lib/postgresql/<major>/bin (run hack/install-test-deps.sh)")
}

func major(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// init runs initdb, as the postgres user when this process is root.
func (s *Server) init() error {
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, PostgreSQL needs the postgres user: %w", err)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		if err := os.Chown(s.dir, int(uid), int(gid)); err != nil {
			return err
		}
	}
	s.password = rand.Text()
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password), 0o600); err != nil {
		return err
	}
	if s.cred != nil {
		if err := os.Chown(pwfile, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return err
		}
	}
	cmd := s.command("initdb", "--pgdata", s.dataDir(), "--username", superuser, "--pwfile", pwfile,
		"--auth", "scram-sha-256", "--encoding", "UTF8", "--no-locale", "--no-sync")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, out)
	}
	return os.Remove(pwfile)
}

func (s *Server) dataDir() string { return filepath.Join(s.dir, "data") }

func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(context.Background(), filepath.Join(s.bin, name), args...) //nolint:gosec // PostgreSQL's own binaries
	cmd.Dir = s.dir
	if s.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	}
	return cmd
}

// Start starts the server, again after Stop on the same address, and waits until it
// accepts connections.
func (s *Server) Start() error {
	if s.Addr == "" {
		addr, err := proctest.FreeAddress()
		if err != nil {
			return err
		}
		s.Addr = addr
	}
	host, port, _ := net.SplitHostPort(s.Addr)
	proc, err := proctest.Start(s.command("postgres", "-D", s.dataDir(),
		"-c", "listen_addresses="+host, "-c", "port="+port,
		// A socket in the cluster's directory, not /var/run/postgresql, which a test
		// user may not write.
		"-c", "unix_socket_directories="+s.dir,
		"-c", "max_connections=200", "-c", "shared_buffers=32MB"))
	if err != nil {
		return err
	}
	s.proc = proc
	deadline := time.Now().Add(30 * time.Second)
	for {
		conn, err := (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "tcp", s.Addr)
		if err == nil {
			_ = conn.Close()
			// Accepting TCP is not yet accepting logins: ask pg_isready.
			if s.command("pg_isready", "-h", host, "-p", port, "-U", superuser).Run() == nil {
				return nil
			}
		}
		select {
		case <-proc.Exited():
			return fmt.Errorf("postgres exited: %w\n%s", proc.Wait(), proc.Output())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_, _ = proc.Stop(time.Second)
			return fmt.Errorf("postgres did not accept connections within 30s:\n%s", proc.Output())
		}
	}
}

// Stop stops the server, fast (open sessions are ended), keeping its data.
func (s *Server) Stop() error {
	if s.proc == nil {
		return nil
	}
	// SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart) would wait for every client.
	_ = s.proc.Signal(syscall.SIGINT)
	_, err := s.proc.Stop(10 * time.Second)
	s.proc = nil
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return nil // stopped by our signal
	}
	return err
}

// DSN is a connection string for the cluster's superuser to database.
func (s *Server) DSN(database string) string {
	u := url.URL{Scheme: "postgres", User: url.UserPassword(superuser, s.password), Host: s.Addr, Path: "/" + database, RawQuery: "sslmode=disable"}
	return u.String()
}

// Output is what the server has logged.
func (s *Server) Output() string {
	if s.proc == nil {
		return ""
	}
	return s.proc.Output()
}

// Close stops the server and removes its directory.
func (s *Server) Close() {
	_ = s.Stop()
	_ = os.RemoveAll(s.dir)
}
