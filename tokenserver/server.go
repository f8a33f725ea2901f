// Package tokenserver serves the OAuth 2.0 password grants, userinfo, discovery and
// JWKS of every Tenant in the store, routed by Host or by path.
package tokenserver

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// Endpoints below a tenant's issuer.
const (
	pathToken          = "oauth/token"
	pathUserinfo       = "userinfo"
	pathJWKS           = ".well-known/jwks.json"
	pathOpenIDConfig   = ".well-known/openid-configuration"
	pathAuthServerMeta = ".well-known/oauth-authorization-server"
)

// Server is the token server's HTTP handler.
type Server struct {
	store    *store.Store
	log      *slog.Logger
	now      func() time.Time
	attempts attack.Counters
	guard    *attack.Guard
	proxies  attack.TrustedProxies
	metrics  *Metrics
}

// Option configures a Server.
type Option func(*Server)

// WithCounters makes failed logins count in c, which replicas may share, rather than in
// this process's memory.
func WithCounters(c attack.Counters) Option {
	return func(s *Server) { s.attempts = c }
}

// WithTrustedProxies makes the server believe the X-Forwarded-For header of requests
// whose TCP peer is one of proxies.
func WithTrustedProxies(proxies attack.TrustedProxies) Option {
	return func(s *Server) { s.proxies = proxies }
}

// WithClock replaces time.Now, for tests of expiry and attempt limits.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// NewServer returns a handler serving the tenants of st.
func NewServer(st *store.Store, log *slog.Logger, metrics *Metrics, opts ...Option) *Server {
	s := &Server{store: st, log: log, now: time.Now, metrics: metrics}
	for _, o := range opts {
		o(s)
	}
	if s.attempts == nil {
		s.attempts = attack.NewMemory(attack.MemoryOptions{Now: s.now, Report: CountersReporter(st, metrics, log)})
	}
	s.guard = attack.NewGuard(s.attempts, s.now)
	return s
}

// result is what a handler reports for metrics.
type result struct {
	grant   string
	outcome string
}

type tenantHandler func(http.ResponseWriter, *http.Request, *store.Tenant) result

// ServeHTTP routes a request to its tenant and endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t, rest, ok := s.store.Route(r.Host, r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		s.metrics.observe("", "unknown", "", "not_found", time.Since(start))
		return
	}
	endpoint, handler := s.endpoint(rest)
	if handler == nil {
		http.NotFound(w, r)
		s.metrics.observe(t.Name, "unknown", "", "not_found", time.Since(start))
		return
	}
	res := handler(w, r, t)
	s.metrics.observe(t.Name, endpoint, res.grant, res.outcome, time.Since(start))
}

func (s *Server) endpoint(path string) (string, tenantHandler) {
	switch path {
	case pathToken:
		return "token", s.token
	case pathUserinfo:
		return "userinfo", s.userinfo
	case pathJWKS:
		return "jwks", s.jwks
	case pathOpenIDConfig, pathAuthServerMeta:
		return "discovery", s.discovery
	default:
		return "", nil
	}
}

// allowMethods answers 405 unless r uses one of methods.
func allowMethods(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	for _, m := range methods {
		if r.Method == m {
			return true
		}
	}
	allow := methods[0]
	for _, m := range methods[1:] {
		allow += ", " + m
	}
	w.Header().Set("Allow", allow)
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
