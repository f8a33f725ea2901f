package snapshot

import "time"

// OIDC is the resolved configuration of an oidc connection: an OpenID Connect provider
// that checks passwords with the password grant.
type OIDC struct {
	// Issuer is the provider's issuer URL; discovery is at Issuer/.well-known/openid-configuration.
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientID"`
	// ClientSecret is empty for a public client.
	ClientSecret string     `json:"clientSecret,omitempty"`
	Scopes       []string   `json:"scopes"`
	Claims       OIDCClaims `json:"claims"`
	// CAPEM, when set, replaces the system roots for the provider's certificate.
	CAPEM string `json:"caPEM,omitempty"`
	// Timeout bounds each request to the provider.
	Timeout time.Duration `json:"timeout"`
}

// OIDCClaims names the id_token claims that become the user's.
type OIDCClaims struct {
	Subject string `json:"subject"`
	Email   string `json:"email"`
	Name    string `json:"name"`
	Groups  string `json:"groups"`
}
