package systemtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// Credentials are the keys of a Client's credentials Secret: client_id, client_secret,
// token_url and issuer.
type Credentials map[string]string

// requestTimeout bounds one token request of PasswordToken.
const requestTimeout = 10 * time.Second

// PasswordToken gets a token with the password grant, as golang.org/x/oauth2 does it.
func (c Credentials) PasswordToken(username, password string) (*oauth2.Token, error) {
	ctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
	defer cancel()
	return c.PasswordTokenWith(ctx, username, password)
}

// PasswordTokenWith is PasswordToken with the caller's context, which may carry an
// *http.Client as oauth2.HTTPClient.
func (c Credentials) PasswordTokenWith(ctx context.Context, username, password string) (*oauth2.Token, error) {
	cfg := oauth2.Config{
		ClientID:     c["client_id"],
		ClientSecret: c["client_secret"],
		Endpoint:     oauth2.Endpoint{TokenURL: c["token_url"], AuthStyle: oauth2.AuthStyleInHeader},
		// Scopes an audience does not define are dropped, not refused.
		Scopes: []string{"openid", "profile", "email", "read:sample"},
	}
	return cfg.PasswordCredentialsToken(ctx, username, password)
}

// WithHTTPClient is ctx for PasswordTokenWith with client as the HTTP client.
func WithHTTPClient(ctx context.Context, client *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, client)
}

// JWKSURL is the JWKS of the issuer of c.
func (c Credentials) JWKSURL() string { return c["issuer"] + ".well-known/jwks.json" }

// CurrentKID is the kid of the Tenant's current signing key, as its status reports it.
func CurrentKID(tenant *identityv1alpha1.Tenant) string {
	for _, k := range tenant.Status.Keys {
		if k.State == identityv1alpha1.KeyStateCurrent {
			return k.KID
		}
	}
	return ""
}

// TokenKID reads the kid header of a JWT.
func TokenKID(t *testing.T, jwt string) string {
	t.Helper()
	header, _, _ := strings.Cut(jwt, ".")
	var h struct {
		KID string `json:"kid"`
	}
	data, err := base64.RawURLEncoding.DecodeString(header)
	if err == nil {
		err = json.Unmarshal(data, &h)
	}
	if err != nil {
		t.Fatalf("reading a token header: %v", err)
	}
	return h.KID
}
