package snapshot

// Paths of the token server's endpoints below a Tenant's issuer (which ends in "/"). The
// token server routes exactly these, and the controller publishes URLs built from them
// in the Tenant's status and in Clients' credentials Secrets.
const (
	PathToken                       = "oauth/token"
	PathRevoke                      = "oauth/revoke"
	PathUserinfo                    = "userinfo"
	PathJWKS                        = ".well-known/jwks.json"
	PathOpenIDConfiguration         = ".well-known/openid-configuration"
	PathAuthorizationServerMetadata = ".well-known/oauth-authorization-server"
)

// TokenURL is the token endpoint of issuer.
func TokenURL(issuer string) string { return issuer + PathToken }

// RevokeURL is the refresh token revocation endpoint (RFC 7009) of issuer.
func RevokeURL(issuer string) string { return issuer + PathRevoke }

// UserinfoURL is the userinfo endpoint of issuer; it is also the audience that lets an
// access token call it.
func UserinfoURL(issuer string) string { return issuer + PathUserinfo }

// JWKSURL is where issuer publishes its public signing keys.
func JWKSURL(issuer string) string { return issuer + PathJWKS }

// DiscoveryURL is issuer's OpenID Provider metadata.
func DiscoveryURL(issuer string) string { return issuer + PathOpenIDConfiguration }
