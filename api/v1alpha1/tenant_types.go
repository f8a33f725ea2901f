/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// SigningAlgorithm is a JWS algorithm ("alg") that tokens are signed with.
type SigningAlgorithm string

// The signing algorithms Gatehouse supports.
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256.
	RS256 SigningAlgorithm = "RS256"
	// PS256 is RSASSA-PSS with SHA-256.
	PS256 SigningAlgorithm = "PS256"
	// ES256 is ECDSA with the P-256 curve and SHA-256.
	ES256 SigningAlgorithm = "ES256"
	// HS256 is HMAC with SHA-256, with a secret that the API and its resource server share.
	HS256 SigningAlgorithm = "HS256"
)

// RotateKeysAnnotation on a Tenant asks for a key rotation: when its value differs from
// the one last acted on (status.lastRotationRequest), the next key becomes current at once
// and a new next key is published. Any new value works, e.g. a timestamp.
const RotateKeysAnnotation = "identity.gatehouse.dev/rotate-keys"

// UnblockAnnotation on a Tenant clears failed-login counts before their cool-down ends:
// its value lists login names separated by commas (each is unblocked from every address
// and Connection), or is "*" for every count of the Tenant, suspicious IP throttling
// included. Anything after a ";" is ignored, so setting the value again with a new
// suffix repeats the request, e.g. "alice@example.com;1732612345".
const UnblockAnnotation = "identity.gatehouse.dev/unblock"

// Reasons a Tenant's spec.domain is not served. A host is served by one Tenant in the
// whole cluster; the Tenant keeps the Ready=False reason until the domain is its to serve.
const (
	// ReasonDomainConflict says that another Tenant already serves the domain: the one
	// serving it keeps it, and among new claims the oldest Tenant (creationTimestamp,
	// then UID) wins.
	ReasonDomainConflict = "DomainConflict"
	// ReasonDomainNotAllowed says that the Tenant's namespace may not claim the domain
	// (see AnnotationAllowedDomains and the controller's --allowed-domains).
	ReasonDomainNotAllowed = "DomainNotAllowed"
	// ReasonDomainReserved says that the domain is the token server's own host or one
	// the cluster admin reserved (the controller's --reserved-domains).
	ReasonDomainReserved = "DomainReserved"
)

// TenantSpec declares an issuer: where it is served, how it signs, how long tokens live.
type TenantSpec struct {
	// displayName is a human-readable name, shown in discovery as the service name.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// domain, when set, serves the Tenant at the root of this host name (matched on the
	// Host header), with issuer https://<domain>/. When empty, the Tenant is served under
	// the token server's external URL at /<namespace>/<name>/. A host is served by one
	// Tenant in the cluster, and only where the cluster admin allows the namespace to
	// claim it (the Namespace annotation identity.gatehouse.dev/allowed-domains); Ready
	// says DomainConflict, DomainNotAllowed or DomainReserved when it is not served.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="domain must be a lowercase host name such as login.example.com, without scheme, port or path"
	// +optional
	Domain string `json:"domain,omitempty"`

	// defaultDirectory names the Connection (in this namespace, of this Tenant) that
	// checks passwords for grant_type=password. Without it, clients must use the
	// password-realm grant and name the Connection in `realm`.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="defaultDirectory must be the name of a Connection, such as users"
	// +optional
	DefaultDirectory string `json:"defaultDirectory,omitempty"`

	// defaultAudience is the API identifier used when a token request names no audience.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\S+$')",message="defaultAudience must be an API identifier without whitespace"
	// +optional
	DefaultAudience string `json:"defaultAudience,omitempty"`

	// signingKeys chooses the algorithm and rotation of the Tenant's asymmetric signing keys.
	// +kubebuilder:default={}
	// +optional
	SigningKeys SigningKeysSpec `json:"signingKeys,omitzero"`

	// tokens sets how long issued tokens are valid.
	// +kubebuilder:default={}
	// +optional
	Tokens TokensSpec `json:"tokens,omitzero"`

	// attackProtection limits failed password logins, as Auth0's attack protection does.
	// Both of its protections are on by default. The client address is the TCP peer, or
	// the X-Forwarded-For address when the peer is a trusted proxy of the token server
	// (--trusted-proxies), or the auth0-forwarded-for header of a confidential Client
	// with trustForwardedFor. An administrator clears counts with the
	// identity.gatehouse.dev/unblock annotation.
	// +kubebuilder:default={}
	// +optional
	AttackProtection AttackProtectionSpec `json:"attackProtection,omitzero"`
}

// AttackProtectionSpec configures the protections of password logins against guessing.
type AttackProtectionSpec struct {
	// bruteForce blocks one login from one client address after too many failures.
	// +kubebuilder:default={}
	// +optional
	BruteForce BruteForceSpec `json:"bruteForce,omitzero"`

	// suspiciousIPThrottling blocks one client address after too many failures across
	// all logins of the Tenant.
	// +kubebuilder:default={}
	// +optional
	SuspiciousIPThrottling SuspiciousIPThrottlingSpec `json:"suspiciousIPThrottling,omitzero"`
}

// BruteForceSpec blocks a login (a username or email, per Connection) from one client
// address once maxAttempts failures have been counted, until coolDown has passed since
// the last failure; meanwhile every attempt, even with the right password, gets 429
// too_many_attempts with Retry-After. A successful login clears the count.
type BruteForceSpec struct {
	// enabled turns the protection on.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// maxAttempts is the number of failures that blocks a login from an address, 1 to 100.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +kubebuilder:default=10
	// +optional
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// coolDown is how long after its last failure a block lasts, at least 1m and at
	// most 24h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="bruteForce.coolDown must be a duration such as 15m, at least 1m and at most 24h"
	// +kubebuilder:default="15m"
	// +optional
	CoolDown metav1.Duration `json:"coolDown,omitzero"`
}

// SuspiciousIPThrottlingSpec blocks a client address once maxAttempts failed logins,
// across all users of the Tenant, have been counted, until coolDown has passed since the
// last failure. A successful login neither counts nor clears the count, so an attacker
// who knows one valid account cannot clear his address. Clients that log in on behalf of
// many users from one address should pass each user's address in auth0-forwarded-for.
type SuspiciousIPThrottlingSpec struct {
	// enabled turns the protection on.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// maxAttempts is the number of failed logins that blocks an address, 1 to 10000.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10000
	// +kubebuilder:default=100
	// +optional
	MaxAttempts int32 `json:"maxAttempts,omitempty"`

	// coolDown is how long after its last failure a block lasts, at least 1m and at
	// most 24h.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('24h')",message="suspiciousIPThrottling.coolDown must be a duration such as 1h, at least 1m and at most 24h"
	// +kubebuilder:default="1h"
	// +optional
	CoolDown metav1.Duration `json:"coolDown,omitzero"`
}

// SigningKeysSpec configures the Tenant's signing keys.
// +kubebuilder:validation:XValidation:rule="!has(self.rsaKeySize) || self.algorithm != 'ES256'",message="rsaKeySize applies to RS256 and PS256 only; ES256 keys are always P-256"
type SigningKeysSpec struct {
	// algorithm of the Tenant's keys: RS256, PS256 or ES256. HS256 is not a tenant
	// algorithm: it is chosen per API (API spec.signingAlgorithm), with the API's own secret.
	// +kubebuilder:validation:Enum=RS256;PS256;ES256
	// +kubebuilder:default=RS256
	// +optional
	Algorithm SigningAlgorithm `json:"algorithm,omitempty"`

	// rsaKeySize is the modulus size in bits of RS256 and PS256 keys.
	// +kubebuilder:validation:Enum=2048;3072;4096
	// +optional
	RSAKeySize *int32 `json:"rsaKeySize,omitempty"`

	// rotationPeriod is how often a new key becomes current. The key that will be next is
	// published in the JWKS ahead of time, and a retired key stays published until every
	// token it signed has expired. At least 1h, at most 8760h (one year).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1h') && duration(self) <= duration('8760h')",message="rotationPeriod must be a duration such as 2160h, at least 1h and at most 8760h"
	// +kubebuilder:default="2160h"
	// +optional
	RotationPeriod metav1.Duration `json:"rotationPeriod,omitzero"`
}

// TokensSpec sets token lifetimes.
type TokensSpec struct {
	// accessTokenLifetime is how long an access token is valid, unless its API sets its own
	// tokenLifetime. More than 0, at most 720h (30 days).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('720h')",message="accessTokenLifetime must be a duration such as 24h, more than 0s and at most 720h (30 days)"
	// +kubebuilder:default="24h"
	// +optional
	AccessTokenLifetime metav1.Duration `json:"accessTokenLifetime,omitzero"`

	// idTokenLifetime is how long an id_token is valid. More than 0, at most 720h (30 days).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('720h')",message="idTokenLifetime must be a duration such as 10h, more than 0s and at most 720h (30 days)"
	// +kubebuilder:default="10h"
	// +optional
	IDTokenLifetime metav1.Duration `json:"idTokenLifetime,omitzero"`
}

// KeyState is where a signing key is in its lifecycle.
// +kubebuilder:validation:Enum=next;current;previous
type KeyState string

// The states of a signing key, in the order a key walks through them.
const (
	// KeyStateNext keys are published in the JWKS but do not sign yet.
	KeyStateNext KeyState = "next"
	// KeyStateCurrent is the one key that signs new tokens.
	KeyStateCurrent KeyState = "current"
	// KeyStatePrevious keys no longer sign; they stay published until the tokens they
	// signed have expired.
	KeyStatePrevious KeyState = "previous"
)

// KeyStatus describes one signing key of a Tenant.
type KeyStatus struct {
	// kid is the key ID, the `kid` header of tokens the key signs.
	KID string `json:"kid"`
	// state is next, current or previous.
	State KeyState `json:"state"`
	// algorithm the key signs with.
	Algorithm SigningAlgorithm `json:"algorithm"`
	// notBefore is when the key became, or will become, current.
	// +optional
	NotBefore *metav1.Time `json:"notBefore,omitempty"`
	// notAfter is when a previous key is removed from the JWKS.
	// +optional
	NotAfter *metav1.Time `json:"notAfter,omitempty"`
}

// TenantStatus is what the controller reports about a Tenant.
type TenantStatus struct {
	CommonStatus `json:",inline"`

	// issuer is the `iss` of tokens this Tenant issues; its endpoints hang under it.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// tokenEndpoint is where clients POST token requests.
	// +optional
	TokenEndpoint string `json:"tokenEndpoint,omitempty"`
	// userinfoEndpoint returns the claims of an access token's user.
	// +optional
	UserinfoEndpoint string `json:"userinfoEndpoint,omitempty"`
	// jwksURI serves the public halves of the Tenant's signing keys.
	// +optional
	JWKSURI string `json:"jwksURI,omitempty"`
	// keys lists the Tenant's signing keys and their states.
	// +optional
	Keys []KeyStatus `json:"keys,omitempty"`
	// connections counts the Connections of this Tenant.
	// +optional
	Connections int32 `json:"connections,omitempty"`
	// apis counts the APIs of this Tenant.
	// +optional
	APIs int32 `json:"apis,omitempty"`
	// clients counts the Clients of this Tenant.
	// +optional
	Clients int32 `json:"clients,omitempty"`
	// lastRotationRequest is the value of the rotate-keys annotation last acted on.
	// +optional
	LastRotationRequest string `json:"lastRotationRequest,omitempty"`
}

// Tenant is an identity issuer: signing keys, token lifetimes and a default directory.
// Connections, APIs and Clients of the same namespace belong to it through their tenantRef.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tnt,categories=gatehouse
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Issuer",type=string,JSONPath=`.status.issuer`
// +kubebuilder:printcolumn:name="Algorithm",type=string,JSONPath=`.spec.signingKeys.algorithm`,priority=1
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the Tenant.
	// +required
	Spec TenantSpec `json:"spec"`
	// status is what the controller observed.
	// +optional
	Status TenantStatus `json:"status,omitempty"`
}

// TenantList is a list of Tenants.
//
// +kubebuilder:object:root=true
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}
