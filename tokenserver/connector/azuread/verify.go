package azuread

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// clockSkew is how long after its expiry an id_token is still accepted, for clocks that
// differ a little from Entra ID's.
const clockSkew = time.Minute

// discovery is what the connector reads of a tenant's OpenID configuration.
type discovery struct {
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"token_endpoint"`
	JWKSURI       string `json:"jwks_uri"`
}

// discover fetches and checks the v2.0 OpenID configuration of the tenant at authority.
func discover(ctx context.Context, client *http.Client, authority string) (discovery, error) {
	url := authority + "/v2.0/.well-known/openid-configuration"
	body, err := upstream.Get(ctx, client, url)
	if err != nil {
		return discovery{}, fmt.Errorf("fetching %s: %w", url, err)
	}
	var d discovery
	if err := json.Unmarshal(body, &d); err != nil {
		return discovery{}, fmt.Errorf("%s is not an OpenID configuration: %w", url, err)
	}
	for name, v := range map[string]string{"issuer": d.Issuer, "token_endpoint": d.TokenEndpoint, "jwks_uri": d.JWKSURI} {
		if err := upstream.CheckURL(v); err != nil {
			return discovery{}, fmt.Errorf("%s: %s %q %w", url, name, v, err)
		}
	}
	return d, nil
}

// verifier checks id_tokens against the tenant's issuer and keys, which it discovers
// once and keeps; go-oidc's key set fetches the keys again for an unknown key ID, so
// that a rotation upstream needs no restart.
type verifier struct {
	client    *http.Client
	authority string
	clientID  string

	mu     sync.Mutex
	issuer string
	idt    *oidc.IDTokenVerifier // nil until discovery succeeds
}

func newVerifier(client *http.Client, cfg snapshot.AzureAD) *verifier {
	return &verifier{client: client, authority: cfg.Authority(), clientID: cfg.ClientID}
}

// ready returns the tenant's verifier, discovering it the first time.
func (v *verifier) ready(ctx context.Context) (*oidc.IDTokenVerifier, string, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.idt != nil {
		return v.idt, v.issuer, nil
	}
	d, err := discover(ctx, v.client, v.authority)
	if err != nil {
		return nil, "", err
	}
	// The key set keeps the context for its later fetches: only for the client in it.
	keys := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), v.client), d.JWKSURI)
	v.idt = oidc.NewVerifier(d.Issuer, keys, &oidc.Config{
		ClientID:             v.clientID,
		SupportedSigningAlgs: []string{oidc.RS256},
		Now:                  func() time.Time { return time.Now().Add(-clockSkew) },
	})
	v.issuer = d.Issuer
	return v.idt, v.issuer, nil
}

// idClaims are the claims of Entra ID's v2.0 id_token that become the identity
// (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference).
type idClaims struct {
	TenantID          string   `json:"tid"`
	ObjectID          string   `json:"oid"`
	PreferredUsername string   `json:"preferred_username"`
	Email             string   `json:"email"`
	Name              string   `json:"name"`
	Groups            []string `json:"groups"`
}

// verify checks rawIDToken's signature, issuer, audience and expiry, and that it names
// a user of the issuer's tenant.
func (v *verifier) verify(ctx context.Context, rawIDToken string) (idClaims, error) {
	if rawIDToken == "" {
		return idClaims{}, errors.New("the answer holds no id_token (is openid among the scopes?)")
	}
	idt, issuer, err := v.ready(ctx)
	if err != nil {
		return idClaims{}, err
	}
	token, err := idt.Verify(ctx, rawIDToken)
	if err != nil {
		return idClaims{}, err
	}
	var c idClaims
	if err := token.Claims(&c); err != nil {
		return idClaims{}, err
	}
	switch {
	case c.ObjectID == "":
		return idClaims{}, errors.New("the id_token has no oid")
	case c.TenantID == "" || !strings.Contains(issuer, "/"+c.TenantID+"/"):
		// The v2.0 issuer of a tenant is https://<authority host>/<tid>/v2.0.
		return idClaims{}, fmt.Errorf("the id_token's tid %q is not the tenant of its issuer %q", c.TenantID, issuer)
	}
	return c, nil
}

// identity is the user of c. UserID is the oid alone: the Connection names one tenant,
// whose issuer and tid every accepted id_token carries, so the oid is already the user
// within that tenant, and sub stays the same whether the Connection names the tenant by
// ID or by domain. tid and oid are claims too, for APIs that key users by both as
// Microsoft recommends.
func (c idClaims) identity() connector.Identity {
	return connector.Identity{
		UserID:   c.ObjectID,
		Username: c.PreferredUsername,
		Email:    c.Email,
		Name:     c.Name,
		Groups:   c.Groups,
		Claims:   map[string]any{"tid": c.TenantID, "oid": c.ObjectID},
	}
}
