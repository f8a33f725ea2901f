package snapshot

import "time"

// StrategyAzureAD is the strategy of an azureAD connection: Microsoft Entra ID checks the
// password with the resource owner password credentials grant of its v2.0 endpoint.
const StrategyAzureAD = "azureAD"

// AzureAD is the resolved configuration of an azureAD connection.
type AzureAD struct {
	// AuthorityHost is the cloud's login origin, such as https://login.microsoftonline.com.
	AuthorityHost string `json:"authorityHost"`
	// Tenant is the directory's tenant ID or one of its verified domains.
	Tenant string `json:"tenant"`
	// ClientID is the application (client) ID of the app registration.
	ClientID string `json:"clientID"`
	// ClientSecret, when set, authenticates a confidential client; without it the
	// application is a public client.
	ClientSecret string `json:"clientSecret,omitempty"`
	// Scopes asked for; Microsoft's library adds openid, profile and offline_access.
	Scopes []string `json:"scopes"`
	// CAPEM, when set, replaces the system roots for the authority's certificate.
	CAPEM string `json:"caPEM,omitempty"`
	// Timeout bounds each request to the authority.
	Timeout time.Duration `json:"timeout"`
}

// Authority is the tenant's authority URL, under which its endpoints are.
func (a *AzureAD) Authority() string {
	return a.AuthorityHost + "/" + a.Tenant
}
