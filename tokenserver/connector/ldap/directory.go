package ldap

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const (
	defaultTimeout        = 5 * time.Second
	defaultMaxConnections = 16
	defaultIdleTimeout    = 2 * time.Minute
	// failedServerBackoff is how long a server that failed to connect is tried only after
	// the others.
	failedServerBackoff = 30 * time.Second
)

// directory reaches the servers of one connection: it dials its URLs in order, secures
// the connections, and keeps two pools: one of connections bound as the service account,
// for searches, and one for user binds, whose identity changes with every bind and which
// therefore never search.
type directory struct {
	servers   []*server
	tlsConfig *tls.Config
	startTLS  bool
	timeout   time.Duration
	bindName  string
	bindPass  string
	log       *slog.Logger
	now       func() time.Time

	service *pool
	users   *pool
}

// newDirectory checks the transport settings. Its pools are built by openPools, so that
// Check can use a directory without keeping connections.
func newDirectory(t snapshot.Transport, bindName string, log *slog.Logger, now func() time.Time) (*directory, error) {
	if len(t.URLs) == 0 {
		return nil, errors.New("no URLs")
	}
	d := &directory{
		startTLS: t.StartTLS,
		timeout:  t.Timeout,
		bindName: bindName,
		bindPass: t.BindPassword,
		log:      log,
		now:      now,
	}
	if d.timeout <= 0 {
		d.timeout = defaultTimeout
	}
	for _, raw := range t.URLs {
		u, err := url.Parse(raw)
		if err != nil {
			return nil, fmt.Errorf("URL %q: %w", raw, err)
		}
		if err := checkURLSecurity(u, t); err != nil {
			return nil, err
		}
		d.servers = append(d.servers, &server{url: u})
	}
	d.tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAPEM != "" {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(t.CAPEM)) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		d.tlsConfig.RootCAs = roots
	}
	return d, nil
}

// checkURLSecurity refuses a URL that would send passwords in clear text unless the
// connection explicitly accepts that.
func checkURLSecurity(u *url.URL, t snapshot.Transport) error {
	switch {
	case u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "":
		return fmt.Errorf("URL %q: want ldap://host[:port] or ldaps://host[:port]", u.Redacted())
	case u.Scheme == "ldaps" && t.StartTLS:
		return fmt.Errorf("URL %q: startTLS applies to ldap:// URLs only", u.Redacted())
	case u.Scheme == "ldaps":
		return nil
	case u.Scheme != "ldap":
		return fmt.Errorf("URL %q: scheme must be ldap or ldaps", u.Redacted())
	case !t.StartTLS && !t.InsecureNoTLS:
		return fmt.Errorf("URL %q: plain ldap:// needs startTLS, or insecureNoTLS to accept clear-text passwords", u.Redacted())
	}
	return nil
}

// openPools builds the two pools. Without keepIdle every step dials a new connection.
func (d *directory) openPools(maxConnections int, keepIdle bool, idleTimeout time.Duration) {
	settings := poolSettings{keepIdle: keepIdle, idleTimeout: idleTimeout, maxWait: d.timeout, now: d.now}
	if maxConnections <= 0 {
		maxConnections = defaultMaxConnections
	}
	// A login holds one connection of one pool at a time, so the bound is split evenly.
	serviceSize := (maxConnections + 1) / 2
	userSize := max(1, maxConnections/2)
	d.service = newPool(serviceSize, settings, d.dialService)
	d.users = newPool(userSize, settings, d.dial)
}

func (d *directory) close() {
	d.service.close()
	d.users.close()
}

// dial connects to the first server that answers, in order, and secures the connection.
// Each server has the whole timeout, so that one that hangs does not use up the next
// one's; and servers that failed recently are tried last, so that it does not delay every
// new connection either.
func (d *directory) dial(ctx context.Context) (*ldap.Conn, error) {
	now := d.now()
	var errs []error
	for _, s := range d.serversByPreference(now) {
		conn, err := d.dialURL(ctx, s.url)
		if err == nil {
			s.setFailedUntil(time.Time{})
			return conn, nil
		}
		// Logged when a server starts failing and then once per backoff, not for every login.
		if !s.failedRecently(now) {
			d.log.Warn("LDAP server unreachable", "url", s.url.Redacted(), "error", err)
		}
		s.setFailedUntil(now.Add(failedServerBackoff))
		errs = append(errs, err)
	}
	return nil, unavailable("connecting", errors.Join(errs...))
}

// server is one URL of a directory.
type server struct {
	url *url.URL

	mu          sync.Mutex
	failedUntil time.Time
}

func (s *server) setFailedUntil(t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failedUntil = t
}

func (s *server) failedRecently(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return now.Before(s.failedUntil)
}

// serversByPreference is the servers in configured order, those that failed recently last.
func (d *directory) serversByPreference(now time.Time) []*server {
	var healthy, failed []*server
	for _, s := range d.servers {
		if s.failedRecently(now) {
			failed = append(failed, s)
		} else {
			healthy = append(healthy, s)
		}
	}
	return append(healthy, failed...)
}

func (d *directory) dialURL(ctx context.Context, u *url.URL) (*ldap.Conn, error) {
	dialer := &net.Dialer{Timeout: d.timeout}
	if deadline, ok := ctx.Deadline(); ok {
		dialer.Deadline = deadline
	}
	tlsConfig := d.tlsConfig.Clone()
	tlsConfig.ServerName = u.Hostname()
	conn, err := ldap.DialURL(u.String(), ldap.DialWithDialer(dialer), ldap.DialWithTLSConfig(tlsConfig))
	if err != nil {
		return nil, err
	}
	conn.SetTimeout(d.requestTimeout(ctx))
	if d.startTLS {
		if err := conn.StartTLS(tlsConfig); err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	return conn, nil
}

// dialService dials a connection bound as the service account.
func (d *directory) dialService(ctx context.Context) (*ldap.Conn, error) {
	conn, err := d.dial(ctx)
	if err != nil {
		return nil, err
	}
	if err := conn.Bind(d.bindName, d.bindPass); err != nil {
		_ = conn.Close()
		return nil, unavailable("binding as the service account", err)
	}
	return conn, nil
}

// requestTimeout is the connection's timeout, shortened to the caller's deadline.
func (d *directory) requestTimeout(ctx context.Context) time.Duration {
	timeout := d.timeout
	if deadline, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(deadline))
	}
	return max(timeout, time.Millisecond)
}

// do runs op on a connection of p. When op fails because a reused connection broke (the
// server restarted or dropped it), it runs once more on a new connection, so logins
// recover by themselves once a directory is back. Errors of op other than connection
// failures are returned as they are.
func (d *directory) do(ctx context.Context, p *pool, what string, op func(*ldap.Conn) error) error {
	allowIdle := true
	for {
		c, reused, err := p.get(ctx, allowIdle)
		if err != nil {
			if errors.Is(err, connector.ErrUnavailable) {
				return err
			}
			return unavailable("waiting for a connection", err)
		}
		c.SetTimeout(d.requestTimeout(ctx))
		err = op(c.Conn)
		if !isConnectionError(err) {
			p.put(c)
			return err
		}
		p.discard(c)
		if !reused {
			return unavailable(what, err)
		}
		allowIdle = false
	}
}

// search runs req on a service connection. A size limit the request set is not an error:
// the entries up to the limit are returned.
func (d *directory) search(ctx context.Context, what string, req *ldap.SearchRequest) (*ldap.SearchResult, error) {
	var res *ldap.SearchResult
	err := d.do(ctx, d.service, what, func(conn *ldap.Conn) error {
		var err error
		res, err = conn.Search(req)
		if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
			return nil
		}
		return err
	})
	if err != nil && !errors.Is(err, connector.ErrUnavailable) {
		// The server answered with an error, such as noSuchObject for a base DN that is
		// gone: it cannot serve logins as configured, whoever logs in.
		return nil, unavailable(what, err)
	}
	return res, err
}

// isConnectionError tells whether err means the connection or server failed, rather than
// the server answering the request.
func isConnectionError(err error) bool {
	if err == nil {
		return false
	}
	var e *ldap.Error
	if !errors.As(err, &e) {
		return true
	}
	switch e.ResultCode {
	case ldap.ErrorNetwork, ldap.ErrorUnexpectedMessage, ldap.ErrorUnexpectedResponse,
		ldap.LDAPResultBusy, ldap.LDAPResultUnavailable, ldap.LDAPResultServerDown,
		ldap.LDAPResultTimeout, ldap.LDAPResultTimeLimitExceeded, ldap.LDAPResultConnectError:
		return true
	}
	return false
}

func unavailable(what string, err error) error {
	return fmt.Errorf("%w: %s: %w", connector.ErrUnavailable, what, err)
}

func refused(reason string, args ...any) error {
	return fmt.Errorf("%w: %s", connector.ErrInvalidCredentials, fmt.Sprintf(reason, args...))
}
