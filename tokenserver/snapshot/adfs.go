package snapshot

import "time"

// StrategyADFS names an adfs connection: passwords are checked by an on-premises ADFS.
const StrategyADFS = "adfs"

// The protocols an adfs connection asks ADFS with.
const (
	// ADFSModeOAuth2 is the OAuth 2.0 password grant at /adfs/oauth2/token (ADFS 2016+),
	// whose id_token is verified with the keys of ADFS's OpenID discovery.
	ADFSModeOAuth2 = "oauth2"
	// ADFSModeWSTrust is WS-Trust 1.3 usernamemixed, whose SAML assertion is verified
	// with the token-signing certificates of ADFS's federation metadata.
	ADFSModeWSTrust = "wsTrust"
)

// ADFS is the resolved configuration of an adfs connection.
type ADFS struct {
	// URL of the federation service, https://host[:port] without a path.
	URL string `json:"url"`
	// RelyingParty is the identifier of the relying party trust: the AppliesTo of
	// WS-Trust requests and the audience their assertions must name, or the resource
	// of OAuth 2.0 requests.
	RelyingParty string `json:"relyingParty"`
	// Mode is ADFSModeOAuth2 or ADFSModeWSTrust.
	Mode string `json:"mode"`
	// ClientID and ClientSecret of the ADFS application, in oauth2 mode; ClientSecret
	// is empty for a public (native) application.
	ClientID     string `json:"clientID,omitempty"`
	ClientSecret string `json:"clientSecret,omitempty"`
	// CAPEM, when set, replaces the system roots for the federation service's certificate.
	CAPEM string `json:"caPEM,omitempty"`
	// Timeout bounds each request to ADFS.
	Timeout time.Duration `json:"timeout"`
	// Claims name the claims the user's identity is read from: claim type URIs in
	// wsTrust mode, id_token claim names in oauth2 mode.
	Claims ADFSClaims `json:"claims"`
}

// ADFSClaims name the claims an adfs connection reads.
type ADFSClaims struct {
	// UserID is the stable claim `sub` is built from.
	UserID string `json:"userID"`
	// Username is the login name reported for the user (the UPN by default).
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
	Name     string `json:"name,omitempty"`
	Groups   string `json:"groups,omitempty"`
}

// Claim types of ADFS, as its claim rules issue them in SAML assertions.
const (
	ClaimTypeUPN            = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	ClaimTypeEmail          = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	ClaimTypeName           = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	ClaimTypeGroup          = "http://schemas.xmlsoap.org/claims/Group"
	ClaimTypeNameIdentifier = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
)

// DefaultADFSClaims are the claims an adfs connection reads in mode unless its
// Connection names others. In wsTrust mode they are the claim types that ADFS's "Send
// LDAP Attributes as Claims" rule issues for User-Principal-Name, E-Mail-Addresses,
// Display-Name and Token-Groups (unqualified names); the user is identified by the UPN,
// which every ADFS user has and ADFS issues without a custom rule. In oauth2 mode they
// are the id_token claims ADFS maps those claim types to (upn, email, unique_name,
// group), and the user is identified by `sub`, the identifier ADFS keeps for the user
// and the application (OpenID Connect Core §2), which survives a change of UPN.
func DefaultADFSClaims(mode string) ADFSClaims {
	if mode == ADFSModeOAuth2 {
		return ADFSClaims{UserID: "sub", Username: "upn", Email: "email", Name: "unique_name", Groups: "group"}
	}
	return ADFSClaims{UserID: ClaimTypeUPN, Username: ClaimTypeUPN, Email: ClaimTypeEmail, Name: ClaimTypeName, Groups: ClaimTypeGroup}
}
