// Package tokenserver serves the OAuth 2.0 password grants, userinfo, discovery and
// JWKS of every Tenant in the store, routed by Host or by path.
package tokenserver

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/hashlimit"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
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
	// refresh issues and refreshes refresh tokens; nil without WithRefreshTokens.
	refresh *refresh.Tokens
	// refreshLimiter shares the refresh token store among tenants; see storeTurn.
	refreshLimiter *hashlimit.Limiter
	// serviceAccounts verifies client assertions; nil refuses them.
	serviceAccounts AssertionVerifier
	// routes are the endpoints by their path below a tenant's issuer.
	routes map[string]route
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

// WithRefreshTokens makes the server issue, refresh and revoke refresh tokens with t.
func WithRefreshTokens(t *refresh.Tokens) Option {
	return func(s *Server) { s.refresh = t }
}

// WithClock replaces time.Now, for tests of expiry and attempt limits.
func WithClock(now func() time.Time) Option {
	return func(s *Server) { s.now = now }
}

// NewServer returns a handler serving the tenants of st.
func NewServer(st *store.Store, log *slog.Logger, metrics *Metrics, opts ...Option) *Server {
	s := &Server{store: st, log: log, now: time.Now, metrics: metrics, refreshLimiter: newRefreshLimiter()}
	for _, o := range opts {
		o(s)
	}
	if s.attempts == nil {
		s.attempts = attack.NewMemory(attack.MemoryOptions{Now: s.now, Report: CountersReporter(st, metrics, log)})
	}
	s.guard = attack.NewGuard(s.attempts, s.now)
	s.routes = map[string]route{
		snapshot.PathToken:                       {"token", s.token},
		snapshot.PathRevoke:                      {"revoke", s.revoke},
		snapshot.PathUserinfo:                    {"userinfo", s.userinfo},
		snapshot.PathJWKS:                        {"jwks", s.jwks},
		snapshot.PathOpenIDConfiguration:         {"discovery", s.discovery},
		snapshot.PathAuthorizationServerMetadata: {"discovery", s.discovery},
	}
	return s
}

// result is what a handler reports for metrics.
type result struct {
	grant   string
	outcome string
}

type tenantHandler func(http.ResponseWriter, *http.Request, *store.Tenant) result

// route is an endpoint: its handler, and its name in metrics.
type route struct {
	endpoint string
	handler  tenantHandler
}

// ServeHTTP routes a request to its tenant and endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	t, rest, ok := s.store.Route(r.Host, r.URL.Path)
	if !ok {
		http.NotFound(w, r)
		s.metrics.observe("", "unknown", "", "not_found", time.Since(start))
		return
	}
	route, ok := s.routes[rest]
	if !ok {
		http.NotFound(w, r)
		s.metrics.observe(t.Name, "unknown", "", "not_found", time.Since(start))
		return
	}
	res := route.handler(w, r, t)
	s.metrics.observe(t.Name, route.endpoint, res.grant, res.outcome, time.Since(start))
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
