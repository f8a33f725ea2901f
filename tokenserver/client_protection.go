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
// client is nil when id names none, which is counted the same. The address counted is
// the request's: auth0-forwarded-for is the client's to set once it is authenticated.
func (s *Server) checkClientSecret(r *http.Request, t *store.Tenant, id string, client *snapshot.Client, secret, realm string) (*snapshot.Client, *oauthError) {
	known := client != nil
	if !known {
		client = &snapshot.Client{ClientID: id, Name: "(unknown)"}
	}
	l := attack.Login{Tenant: t.Snapshot.Tenant.UID, Connection: clientSecretConnection, Username: id, IP: s.requestIP(r)}
	attempt, oerr := s.beginLogin(r.Context(), t, client, l)
	if oerr != nil {
		return nil, oerr
	}
	matches := known && secret != "" && snapshot.ClientSecretMatches(client.SecretHash, secret)
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
