// Package snapshot is the contract between the controller and the token server: the
// compiled state of one Tenant, everything the token server needs to serve it, and how
// that state is stored in Secrets of the operator's namespace.
//
// The controller compiles a Snapshot from the Tenant's Connections, APIs, Clients and
// the Secrets they reference, and writes it with Encode into one or more Secrets (parts)
// named by SecretName. The token server reads the parts back with Decode. Private signing
// keys are not in the snapshot: it names the Secrets that hold them (see KeySecret*).
//
// Everything else the two halves must agree on is here too, so that neither defines it
// on its own: the operator's default namespace, the labels and annotations of the objects
// either half writes in it, the peer-key Secret, and the paths of the endpoints the token
// server serves below an issuer, which the controller publishes (see TokenURL).
package snapshot

import (
	"time"
)

// FormatVersion is the version of the snapshot format this package reads and writes.
// A token server refuses a snapshot of another version and keeps serving its last good one.
const FormatVersion = 1

// DefaultNamespace is the operator's namespace unless one is configured: where the
// controller writes snapshots, signing keys and the peer key, and the token server reads
// them and keeps its replicas' Leases. The chart's and config's YAML spell it too.
const DefaultNamespace = "gatehouse-system"

// Labels and annotations on the objects the controller and the token server write. Both
// watch the Secrets they write by LabelComponent: the token server those of the
// operator's namespace, the controller those and the ones it writes in users' namespaces.
const (
	// LabelComponent says what an object is; its values are the Component constants.
	LabelComponent = "identity.gatehouse.dev/component"
	// LabelTenantUID is the UID of the Tenant a Secret belongs to.
	LabelTenantUID = "identity.gatehouse.dev/tenant-uid"

	// ComponentSnapshot marks a Secret holding a part of a Tenant's snapshot.
	ComponentSnapshot = "snapshot"
	// ComponentSigningKey marks a Secret holding one private signing key of a Tenant.
	ComponentSigningKey = "signing-key"
	// ComponentPeerKey marks the Secret PeerKeySecretName.
	ComponentPeerKey = "peer-key"
	// ComponentPeer marks the Lease of one token-server replica.
	ComponentPeer = "tokenserver-peer"
	// ComponentClientCredentials marks a Client's credentials Secret, which the
	// controller writes in the Client's namespace.
	ComponentClientCredentials = "client-credentials"
	// ComponentHS256Secret marks the shared secret of an HS256 API, which the controller
	// writes in the API's namespace.
	ComponentHS256Secret = "hs256-secret"

	// AnnotationTenant is "<namespace>/<name>" of the Tenant, for people reading Secrets.
	AnnotationTenant = "identity.gatehouse.dev/tenant"
	// AnnotationContentHash is the hash of the whole encoded snapshot; every part of one
	// snapshot carries the same value, so a reader can tell when all parts agree.
	AnnotationContentHash = "identity.gatehouse.dev/content-hash"
	// AnnotationParts is the number of parts of the snapshot, on every part.
	AnnotationParts = "identity.gatehouse.dev/parts"

	// DataKey is the key of a snapshot part's bytes in Secret data.
	DataKey = "snapshot.json.gz"

	// KeySecretDataKey is the key in a signing-key Secret that holds the private key as a
	// PKCS#8 PEM block.
	KeySecretDataKey = "key.pem"
	// AnnotationKID is the key ID of the key in a signing-key Secret.
	AnnotationKID = "identity.gatehouse.dev/kid"
	// AnnotationAlgorithm is the JWS algorithm of the key in a signing-key Secret.
	AnnotationAlgorithm = "identity.gatehouse.dev/algorithm"

	// AnnotationPeerAddress is the host:port of a replica's peer listener, on its Lease.
	AnnotationPeerAddress = "identity.gatehouse.dev/peer-address"
)

// The peer-key Secret of the operator's namespace holds the key that authenticates the
// token-server replicas' messages to each other. The controller creates it, labelled
// ComponentPeerKey, and writes a new key when it is deleted or holds no usable one; the
// token server reads it.
const (
	PeerKeySecretName = "gatehouse-peer-key"
	// PeerKeyDataKey is the key of the peer key's bytes in the Secret's data.
	PeerKeyDataKey = "key"
	// MinPeerKeyLength is the shortest peer key accepted: 256 bits, the HMAC-SHA256
	// block of strength.
	MinPeerKeyLength = 32
)

// Strategies of a Connection.
const (
	StrategyDatabase        = "database"
	StrategyLDAP            = "ldap"
	StrategyActiveDirectory = "activeDirectory"
	StrategyOIDC            = "oidc"
)

// Key states, as in the Tenant API.
const (
	KeyStateNext     = "next"
	KeyStateCurrent  = "current"
	KeyStatePrevious = "previous"
)

// Snapshot is the compiled state of one Tenant.
type Snapshot struct {
	// Version is FormatVersion of the writer.
	Version int `json:"version"`
	// Tenant identifies the Tenant the snapshot was compiled from.
	Tenant TenantRef `json:"tenant"`
	// DisplayName of the Tenant.
	DisplayName string `json:"displayName,omitempty"`
	// Issuer is the exact `iss` of issued tokens, ending in "/"; endpoints hang under it.
	Issuer string `json:"issuer"`
	// Domain, when set, routes requests whose Host is this name to the Tenant at the root
	// path. When empty the Tenant is routed by the path /<namespace>/<name>/.
	Domain string `json:"domain,omitempty"`
	// DefaultDirectory is the Connection name that grant_type=password uses ("" for none).
	DefaultDirectory string `json:"defaultDirectory,omitempty"`
	// DefaultAudience is the API identifier used when a request names none.
	DefaultAudience string `json:"defaultAudience,omitempty"`
	// AccessTokenLifetime is the Tenant's access token lifetime; an API may override it.
	AccessTokenLifetime time.Duration `json:"accessTokenLifetime"`
	// IDTokenLifetime is the lifetime of id_tokens.
	IDTokenLifetime time.Duration `json:"idTokenLifetime"`
	// Keys are the Tenant's asymmetric signing keys: exactly one current, any number of
	// next and previous ones. All are published in the JWKS.
	Keys []Key `json:"keys"`
	// Connections of the Tenant that are ready to check passwords.
	Connections []Connection `json:"connections,omitempty"`
	// APIs of the Tenant that are ready.
	APIs []API `json:"apis,omitempty"`
	// Clients of the Tenant that are ready.
	Clients []Client `json:"clients,omitempty"`
	// AttackProtection limits failed logins. The controller always writes it; a snapshot
	// without it, written before it existed, gets DefaultAttackProtection.
	AttackProtection *AttackProtection `json:"attackProtection,omitempty"`
	// Unblock is the value of the Tenant's unblock annotation. A token server that sees
	// it change clears the failed-login counts it names (see attack.ParseUnblock).
	Unblock string `json:"unblock,omitempty"`
	// RevokeRefreshTokens is the value of the Tenant's revoke-refresh-tokens annotation.
	// A token server that sees it change revokes the refresh tokens it names.
	RevokeRefreshTokens string `json:"revokeRefreshTokens,omitempty"`
}

// AttackProtection is the Tenant's protection of password logins against guessing.
type AttackProtection struct {
	// BruteForce limits the failures of one login from one client address.
	BruteForce AttackLimit `json:"bruteForce"`
	// SuspiciousIPThrottling limits the failures from one client address across logins.
	SuspiciousIPThrottling AttackLimit `json:"suspiciousIPThrottling"`
}

// AttackLimit blocks further attempts once MaxAttempts failures were counted, until
// CoolDown has passed since the last of them.
type AttackLimit struct {
	Enabled     bool          `json:"enabled"`
	MaxAttempts int           `json:"maxAttempts"`
	CoolDown    time.Duration `json:"coolDown"`
}

// DefaultAttackProtection is the protection of a Tenant that sets none, as the Tenant
// API defaults it.
func DefaultAttackProtection() AttackProtection {
	return AttackProtection{
		BruteForce:             AttackLimit{Enabled: true, MaxAttempts: 10, CoolDown: 15 * time.Minute},
		SuspiciousIPThrottling: AttackLimit{Enabled: true, MaxAttempts: 100, CoolDown: time.Hour},
	}
}

// TenantRef identifies a Tenant.
type TenantRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// Created is the Tenant's creationTimestamp. With UID it orders the claims of
	// Tenants on one domain that the token server did not serve before, should it
	// ever hold two snapshots for one host (the controller writes one).
	Created time.Time `json:"created,omitzero"`
}

// Key names one signing key and the Secret, in the operator's namespace, that holds it.
type Key struct {
	KID        string `json:"kid"`
	Algorithm  string `json:"algorithm"`
	State      string `json:"state"`
	SecretName string `json:"secretName"`
}

// Connection is a directory of the Tenant, with its credentials resolved.
type Connection struct {
	Name     string `json:"name"`
	Strategy string `json:"strategy"`
	// Users of a database connection.
	Users []User `json:"users,omitempty"`
	// LDAP configuration of an ldap connection.
	LDAP *LDAP `json:"ldap,omitempty"`
	// ActiveDirectory configuration of an activeDirectory connection.
	ActiveDirectory *ActiveDirectory `json:"activeDirectory,omitempty"`
	// ADFS configuration of an adfs connection.
	ADFS *ADFS `json:"adfs,omitempty"`
	// AzureAD configuration of an azureAD connection.
	AzureAD *AzureAD `json:"azureAD,omitempty"`
	// OIDC configuration of an oidc connection.
	OIDC *OIDC `json:"oidc,omitempty"`
}

// User is one user of a database connection, in the form users write in their users
// Secret (see ParseUsers).
type User struct {
	// ID is the stable user id; `sub` is "<connection>|<id>".
	ID string `json:"id"`
	// Username logs in; so does Email.
	Username string `json:"username,omitempty"`
	Email    string `json:"email,omitempty"`
	// EmailVerified becomes the email_verified claim.
	EmailVerified bool   `json:"emailVerified,omitempty"`
	Name          string `json:"name,omitempty"`
	// PasswordHash is a bcrypt or argon2id (PHC) hash.
	PasswordHash string `json:"passwordHash"`
	// Blocked users cannot log in.
	Blocked bool `json:"blocked,omitempty"`
	// Claims are added to the id_token and userinfo of the user.
	Claims map[string]any `json:"claims,omitempty"`
}

// Transport is how the token server reaches a directory.
type Transport struct {
	URLs           []string      `json:"urls"`
	StartTLS       bool          `json:"startTLS,omitempty"`
	CAPEM          string        `json:"caPEM,omitempty"`
	InsecureNoTLS  bool          `json:"insecureNoTLS,omitempty"`
	Timeout        time.Duration `json:"timeout"`
	MaxConnections int           `json:"maxConnections"`
	BindPassword   string        `json:"bindPassword"`
}

// LDAP is the resolved configuration of an ldap connection.
type LDAP struct {
	Transport   `json:",inline"`
	BindDN      string           `json:"bindDN"`
	UserSearch  LDAPUserSearch   `json:"userSearch"`
	GroupSearch *LDAPGroupSearch `json:"groupSearch,omitempty"`
	Attributes  LDAPAttributes   `json:"attributes"`
}

// LDAPUserSearch finds a user's entry.
type LDAPUserSearch struct {
	BaseDN             string   `json:"baseDN"`
	Scope              string   `json:"scope"`
	Filter             string   `json:"filter"`
	UsernameAttributes []string `json:"usernameAttributes"`
}

// LDAPGroupSearch finds the groups of a user.
type LDAPGroupSearch struct {
	BaseDN          string `json:"baseDN"`
	Filter          string `json:"filter"`
	MemberAttribute string `json:"memberAttribute"`
	NameAttribute   string `json:"nameAttribute"`
}

// LDAPAttributes maps directory attributes to claims.
type LDAPAttributes struct {
	Subject string `json:"subject"`
	Email   string `json:"email,omitempty"`
	Name    string `json:"name,omitempty"`
	Groups  string `json:"groups,omitempty"`
}

// ActiveDirectory is the resolved configuration of an activeDirectory connection.
type ActiveDirectory struct {
	Transport    `json:",inline"`
	Domain       string `json:"domain"`
	BindUsername string `json:"bindUsername"`
	BaseDN       string `json:"baseDN"`
}

// API is an audience of the Tenant.
type API struct {
	// Identifier is the audience.
	Identifier string `json:"identifier"`
	// Name is the API object's name, for logs and metrics.
	Name   string   `json:"name"`
	Scopes []string `json:"scopes,omitempty"`
	// Algorithm is "RS256" for the Tenant's keys or "HS256" for HS256Secret.
	Algorithm string `json:"algorithm"`
	// HS256Secret is the shared secret of an HS256 API.
	HS256Secret []byte `json:"hs256Secret,omitempty"`
	// AccessTokenLifetime overrides the Tenant's when non-zero.
	AccessTokenLifetime time.Duration `json:"accessTokenLifetime,omitempty"`
	// AllowOfflineAccess lets Clients with RefreshTokens get refresh tokens for the API.
	AllowOfflineAccess bool `json:"allowOfflineAccess,omitempty"`
}

// Client is an application of the Tenant.
type Client struct {
	ClientID string `json:"clientID"`
	// Name is the Client object's name, for logs and metrics.
	Name string `json:"name"`
	// Type is "confidential" or "public".
	Type       string   `json:"type"`
	GrantTypes []string `json:"grantTypes"`
	// SecretHash is HashClientSecret of a confidential client's secret.
	SecretHash string `json:"secretHash,omitempty"`
	// TrustForwardedFor lets a confidential client pass the end user's IP address in
	// the auth0-forwarded-for header, which attack protection then counts.
	TrustForwardedFor bool `json:"trustForwardedFor,omitempty"`
	// RefreshTokens of a Client with the refresh_token grant; nil for any other.
	RefreshTokens *RefreshTokens `json:"refreshTokens,omitempty"`
	// APIs are the client's grants (see ClientGrant); none leaves the password grants
	// every API of the tenant.
	APIs []ClientGrant `json:"apis,omitempty"`
	// ServiceAccount, when set, authenticates the client by that ServiceAccount's tokens
	// instead of a secret.
	ServiceAccount *ServiceAccountRef `json:"serviceAccount,omitempty"`
}
