package tokenserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/serviceaccount"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// assertionTypeJWTBearer is RFC 7523 §2.2's client_assertion_type, the only one served:
// the assertion is a projected ServiceAccount token of the client's ServiceAccount.
const assertionTypeJWTBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// clientAssertionConnection stands for the Connection in the attack counts of client
// assertions, as clientSecretConnection does for secrets.
const clientAssertionConnection = "@client-assertion"

// AssertionVerifier checks that a token is a live ServiceAccount token of account for one
// of audiences (see serviceaccount.Verifier).
type AssertionVerifier interface {
	Verify(ctx context.Context, token string, audiences []string, account serviceaccount.Account) error
}

// WithServiceAccounts authenticates clients bound to a ServiceAccount by its tokens,
// verified by v.
func WithServiceAccounts(v AssertionVerifier) Option {
	return func(s *Server) { s.serviceAccounts = v }
}

var (
	assertionRefused = invalidClient("The client assertion is not a valid token of the client's ServiceAccount.", "")
	// assertionNotChecked answers an assertion whose keys the cluster cannot give.
	assertionNotChecked = &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable",
		description: "The cluster's ServiceAccount keys cannot be read; try again later.", retryAfter: 10 * time.Second}
)

// authenticateAssertion authenticates a client by a ServiceAccount token (RFC 7523
// §2.2), under attack protection like a secret. The token's audience must be the
// tenant's issuer or token endpoint, so that a token meant for the API server, or for
// another tenant, authenticates nothing here. client_id is required: several Clients
// may name one ServiceAccount.
func (s *Server) authenticateAssertion(r *http.Request, t *store.Tenant, params map[string]string) (*snapshot.Client, *oauthError) {
	_, _, basic := r.BasicAuth()
	_, secret := params["client_secret"]
	switch {
	case params["client_assertion_type"] != assertionTypeJWTBearer:
		return nil, invalidRequest("client_assertion_type must be " + assertionTypeJWTBearer + ".")
	case basic || secret:
		return nil, invalidRequest("Authenticate the client with a client assertion or a secret, not both.")
	case params["client_assertion"] == "" || params["client_id"] == "":
		return nil, invalidRequest("client_assertion and client_id are required.")
	}
	id := params["client_id"]
	client, known := t.Clients[id]
	if !known {
		return nil, s.unknownClient(t, methodClientAssertion, assertionRefused)
	}
	l := attack.Login{Tenant: t.Snapshot.Tenant.UID, Connection: clientAssertionConnection, Username: id, IP: s.requestIP(r)}
	attempt, oerr := s.beginLogin(r.Context(), t, client, l)
	if oerr != nil {
		return nil, oerr
	}
	err := s.verifyAssertion(r.Context(), t, client, params["client_assertion"])
	if errors.Is(err, serviceaccount.ErrUnavailable) {
		attempt.Unavailable()
		s.log.Error("client assertion not checked", "tenant", t.Name, "client", client.Name, "error", err)
		return nil, assertionNotChecked
	}
	if oerr := s.overrun(t, client, l, attempt); oerr != nil {
		return nil, oerr
	}
	if err != nil {
		s.log.Info("client assertion refused", "tenant", t.Name, "client", client.Name, "reason", err.Error())
		s.clientAuthenticationFailed(t, client, methodClientAssertion, l, attempt)
		return nil, assertionRefused
	}
	attempt.Succeeded()
	return client, nil
}

// verifyAssertion checks the assertion against the client's ServiceAccount.
func (s *Server) verifyAssertion(ctx context.Context, t *store.Tenant, client *snapshot.Client, assertion string) error {
	if client.ServiceAccount == nil || s.serviceAccounts == nil {
		return errors.New("the client is not bound to a ServiceAccount")
	}
	audiences := []string{t.Issuer(), snapshot.TokenURL(t.Issuer())}
	return s.serviceAccounts.Verify(ctx, assertion, audiences, serviceaccount.Account{Namespace: client.ServiceAccount.Namespace, Name: client.ServiceAccount.Name})
}
