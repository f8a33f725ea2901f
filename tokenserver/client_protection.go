package tokenserver

import (
	"net/http"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// clientSecretConnection stands for the Connection in the attack counts of client
// secrets: a guessed secret is counted as a failed login of the client_id against it,
// from the request's address, under the tenant's limits. Connection names are DNS
// names, so no Connection has this one.
const clientSecretConnection = "@client-secret"

// Client authentication methods, as metrics name them.
const (
	methodClientSecret    = "client_secret"
	methodClientAssertion = "client_assertion"
)

// checkClientSecret checks the secret of a confidential client under attack protection;
// client is nil when id names none (see unknownClient). The address counted is the
// request's: auth0-forwarded-for is the client's to set once it is authenticated.
func (s *Server) checkClientSecret(r *http.Request, t *store.Tenant, id string, client *snapshot.Client, secret, realm string) (*snapshot.Client, *oauthError) {
	if client == nil {
		return nil, s.unknownClient(t, methodClientSecret, invalidClient("Unknown client or wrong client secret.", realm))
	}
	l := attack.Login{Tenant: t.Snapshot.Tenant.UID, Connection: clientSecretConnection, Username: id, IP: s.requestIP(r)}
	attempt, oerr := s.beginLogin(r.Context(), t, client, l)
	if oerr != nil {
		return nil, oerr
	}
	matches := secret != "" && snapshot.ClientSecretMatches(client.SecretHash, secret)
	if oerr := s.overrun(t, client, l, attempt); oerr != nil {
		return nil, oerr
	}
	if !matches {
		s.clientAuthenticationFailed(t, client, methodClientSecret, l, attempt)
		return nil, invalidClient("Unknown client or wrong client secret.", realm)
	}
	attempt.Succeeded()
	return client, nil
}

// unknownClient refuses a client_id that names no Client of the tenant with refusal,
// counted in the metrics but not against the address: no secret was checked, so there
// was nothing to guess, and a workload that asks before its new Client is served (as a
// Helm release or a GitOps sync applies both at once) must not lock itself out.
func (s *Server) unknownClient(t *store.Tenant, method string, refusal *oauthError) *oauthError {
	s.metrics.clientAuthFailures.WithLabelValues(t.Name, method).Inc()
	return refusal
}

// clientAuthenticationFailed counts a failed client authentication, and reports the
// lockouts it causes.
func (s *Server) clientAuthenticationFailed(t *store.Tenant, client *snapshot.Client, method string, l attack.Login, attempt *attack.Attempt) {
	s.metrics.clientAuthFailures.WithLabelValues(t.Name, method).Inc()
	s.log.Info("client authentication refused", "tenant", t.Name, "client", client.Name, "method", method, "clientIP", l.IP.String())
	for _, reason := range attempt.Failed() {
		s.metrics.lockouts.WithLabelValues(t.Name, string(reason)).Inc()
		s.log.Warn("client locked out", "tenant", t.Name, "client", client.Name, "method", method, "reason", reason, "clientIP", l.IP.String())
	}
}
