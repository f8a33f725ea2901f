// Package upstream is the HTTP side of the connectors that ask another identity provider
// to check a password (OpenID, Azure AD, ADFS). Every request they make goes through
// NewClient's client, so that all of them share one policy: HTTPS only, the Connection's
// CA bundle, bounded time and bodies, no redirects, and no dials to addresses a
// namespace user must not reach through the token server.
package upstream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// MaxBody is the largest upstream answer read: discovery documents, key sets, token
// answers and federation metadata are all far smaller. A larger one is an error, so a
// hostile upstream cannot make a replica buffer without bound.
const MaxBody = 1 << 20

// DefaultTimeout bounds one upstream request when the Connection sets none.
const DefaultTimeout = 10 * time.Second

// ErrRedirect is returned for an upstream answer that redirects: a token endpoint that
// redirects a POST holding a password is misconfigured or hostile, and following it
// would send the password elsewhere.
var ErrRedirect = errors.New("the upstream answered with a redirect, which is never followed")

// ErrForbiddenAddress is the error of a dial to an address that is never dialled for an
// upstream (see refuseForbidden).
var ErrForbiddenAddress = errors.New("link-local, multicast and unspecified addresses are never dialled for an upstream")

// Options configure NewClient.
type Options struct {
	// CAPEM, when set, replaces the system roots.
	CAPEM string
	// Timeout bounds each request, dial to last byte; DefaultTimeout when zero.
	Timeout time.Duration
	// MaxConnections bounds idle connections kept per upstream host.
	MaxConnections int
}

// NewClient returns a pooled HTTPS client with o's policy.
func NewClient(o Options) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAPEM != "" {
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM([]byte(o.CAPEM)) {
			return nil, errors.New("the CA bundle holds no PEM certificate")
		}
		tlsConfig.RootCAs = roots
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	idle := o.MaxConnections
	if idle <= 0 {
		idle = 16
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: refuseForbidden}
	transport := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		MaxIdleConns:          idle * 4,
		MaxIdleConnsPerHost:   idle,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Transport: httpsOnly{transport},
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}, nil
}

// httpsOnly refuses plain-HTTP requests: they would carry passwords and upstream tokens
// in clear text. It also bounds every answer's body to MaxBody, so that libraries that
// read bodies whole themselves (MSAL, go-oidc's key sets) are bounded too.
type httpsOnly struct{ next http.RoundTripper }

func (h httpsOnly) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		return nil, fmt.Errorf("upstream URL %q: only https is allowed", r.URL.Redacted())
	}
	resp, err := h.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundedBody{ReadCloser: resp.Body, left: MaxBody}
	return resp, nil
}

// ErrBodyTooLarge is the read error of an upstream answer longer than MaxBody.
var ErrBodyTooLarge = fmt.Errorf("the upstream's answer is larger than %d bytes", MaxBody)

// boundedBody fails a read past its bound instead of truncating: a truncated answer
// could parse as a different, shorter one.
type boundedBody struct {
	io.ReadCloser
	left int64
}

func (b *boundedBody) Read(p []byte) (int, error) {
	if b.left < 0 {
		return 0, ErrBodyTooLarge
	}
	if int64(len(p)) > b.left+1 {
		p = p[:b.left+1]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	if b.left < 0 {
		return 0, ErrBodyTooLarge
	}
	return n, err
}

// CheckURL reports whether raw can name an upstream endpoint: an absolute https URL
// with a host and no user information. The controller uses it to refuse a Connection
// before any request is made; the client refuses the rest at request time.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return fmt.Errorf("not a URL: %w", err)
	case u.Scheme != "https":
		return errors.New("must be an https:// URL")
	case u.Host == "":
		return errors.New("must name a host")
	case u.User != nil:
		return errors.New("must not hold a user name or password")
	case u.Fragment != "":
		return errors.New("must not have a #fragment")
	}
	return nil
}

// refuseForbidden stops dials to link-local addresses (among them the cloud metadata
// service at 169.254.169.254, which hands out node credentials) and to unspecified or
// multicast ones: a namespace user who names such a host as its upstream would make
// the token server fetch it. It runs after name resolution, so a DNS name that resolves
// there is refused too.
func refuseForbidden(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return fmt.Errorf("dial %s: not an IP address", address)
	}
	if forbidden(ip) {
		return fmt.Errorf("dial %s: %w", address, ErrForbiddenAddress)
	}
	return nil
}

func forbidden(ip net.IP) bool {
	return ip.IsLinkLocalUnicast() || ip.IsMulticast() || ip.IsUnspecified()
}

// ReadBody reads at most MaxBody bytes of resp's body and closes it; a longer body is an
// error.
func ReadBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody+1))
	if err != nil {
		return nil, err
	}
	if len(body) > MaxBody {
		return nil, ErrBodyTooLarge
	}
	return body, nil
}

// Get fetches url with client and returns its body when the status is 200.
func Get(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json, application/xml;q=0.9")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	body, err := ReadBody(resp)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &StatusError{Code: resp.StatusCode}
	}
	return body, nil
}

// StatusError is an upstream answer with an unexpected HTTP status.
type StatusError struct{ Code int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("the upstream answered HTTP %d", e.Code)
}
