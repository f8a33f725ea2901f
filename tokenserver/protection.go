package tokenserver

import (
	"context"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// headerForwardedFor is Auth0's header in which a trusted confidential client passes the
// end user's IP address.
const headerForwardedFor = "auth0-forwarded-for"

// loginOf is who logs in, against which Connection, from which address.
func (s *Server) loginOf(r *http.Request, t *store.Tenant, client *snapshot.Client, connName, username string) (attack.Login, *oauthError) {
	ip, oerr := s.clientIP(r, client)
	return attack.Login{Tenant: t.Snapshot.Tenant.UID, Connection: connName, Username: username, IP: ip}, oerr
}

// clientIP is the end user's address: the one a trusted confidential client passes in
// auth0-forwarded-for, or the TCP peer's, or the one trusted proxies forwarded for.
func (s *Server) clientIP(r *http.Request, client *snapshot.Client) (netip.Addr, *oauthError) {
	if values := r.Header.Values(headerForwardedFor); len(values) > 0 {
		if client.TrustForwardedFor && client.Type == "confidential" {
			ip, err := attack.ParseIP(values[0])
			if len(values) > 1 || err != nil {
				return netip.Addr{}, invalidRequest("auth0-forwarded-for must be one IP address.")
			}
			return ip, nil
		}
		s.log.Debug("ignoring auth0-forwarded-for: the client is not trusted with it", "client", client.Name)
	}
	return s.requestIP(r), nil
}

// requestIP is the address a request came from: the TCP peer's, or the one trusted
// proxies forwarded for.
func (s *Server) requestIP(r *http.Request) netip.Addr {
	peer, _ := netip.ParseAddrPort(r.RemoteAddr) // the zero address, trusted by no proxy, if the listener is not TCP
	return s.proxies.ClientIP(peer.Addr(), r.Header.Values("X-Forwarded-For"))
}

// beginLogin applies a new unblock request of the tenant, then asks the guard whether
// the login may be attempted, waiting while attempts in flight hold the rest of its
// budget.
func (s *Server) beginLogin(ctx context.Context, t *store.Tenant, client *snapshot.Client, l attack.Login) (*attack.Attempt, *oauthError) {
	if u := s.guard.Unblock(l.Tenant, t.Snapshot.Unblock); u != nil {
		s.log.Info("failed logins unblocked", "tenant", t.Name, "wholeTenant", u.All, "usernames", u.Users)
	}
	attempt, block, err := s.guard.Begin(ctx, policyOf(t.Snapshot.AttackProtection), l)
	switch {
	case err != nil:
		return nil, s.notChecked(t, client, l.Connection, err)
	case block != nil:
		return nil, s.blocked(t, client, l, block)
	}
	return attempt, nil
}

// overrun refuses a checked attempt when a burst over several replicas reserved more
// attempts than the limit allows; see attack.Attempt.Overrun.
func (s *Server) overrun(t *store.Tenant, client *snapshot.Client, l attack.Login, attempt *attack.Attempt) *oauthError {
	if attempt.WaitsForPeers() {
		s.metrics.peerWaits.WithLabelValues(t.Name).Inc()
	}
	block := attempt.Overrun()
	if block == nil {
		return nil
	}
	s.metrics.overruns.WithLabelValues(t.Name, string(block.Reason)).Inc()
	return s.blocked(t, client, l, block)
}

// blocked reports a refused attempt and returns its answer.
func (s *Server) blocked(t *store.Tenant, client *snapshot.Client, l attack.Login, block *attack.Block) *oauthError {
	s.metrics.blocked.WithLabelValues(t.Name, string(block.Reason)).Inc()
	s.log.Info("login blocked", "tenant", t.Name, "connection", l.Connection, "client", client.Name,
		"reason", block.Reason, "clientIP", l.IP.String(), "username", l.Username, "retryAfter", block.RetryAfter.Round(time.Second).String())
	if block.Reason == attack.ReasonCountersFull {
		return countersFull(block.RetryAfter)
	}
	return tooManyAttempts(block.RetryAfter)
}

// loginFailed counts a failed login, and reports the lockouts it causes.
func (s *Server) loginFailed(t *store.Tenant, client *snapshot.Client, l attack.Login, attempt *attack.Attempt, err error) {
	s.log.Info("login refused", "tenant", t.Name, "connection", l.Connection, "client", client.Name, "clientIP", l.IP.String(), "reason", err.Error())
	for _, reason := range attempt.Failed() {
		s.metrics.lockouts.WithLabelValues(t.Name, string(reason)).Inc()
		s.log.Warn("login locked out", "tenant", t.Name, "connection", l.Connection, "client", client.Name,
			"reason", reason, "clientIP", l.IP.String(), "username", l.Username)
	}
}

// policyOf is the guard's policy for a tenant's attack protection; a snapshot without one
// gets the defaults.
func policyOf(p *snapshot.AttackProtection) attack.Policy {
	if p == nil {
		defaults := snapshot.DefaultAttackProtection()
		p = &defaults
	}
	return attack.Policy{BruteForce: limitOf(p.BruteForce), IPThrottling: limitOf(p.SuspiciousIPThrottling)}
}

func limitOf(l snapshot.AttackLimit) attack.Limit {
	if !l.Enabled {
		return attack.Limit{}
	}
	return attack.Limit{MaxAttempts: l.MaxAttempts, CoolDown: l.CoolDown}
}
