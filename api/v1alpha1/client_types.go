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

// GrantType is an OAuth 2.0 grant type a Client may use.
// +kubebuilder:validation:Enum=password;"http://auth0.com/oauth/grant-type/password-realm";refresh_token;client_credentials
type GrantType string

// The grant types Gatehouse supports.
const (
	// GrantTypePassword is the Resource Owner Password grant (RFC 6749 section 4.3),
	// checked by the Tenant's defaultDirectory.
	GrantTypePassword GrantType = "password"
	// GrantTypePasswordRealm is Auth0's password grant that names the Connection in `realm`.
	GrantTypePasswordRealm GrantType = "http://auth0.com/oauth/grant-type/password-realm"
	// GrantTypeRefreshToken exchanges a refresh token for new tokens (RFC 6749 section
	// 6); see refreshTokens.
	GrantTypeRefreshToken GrantType = "refresh_token"
	// GrantTypeClientCredentials is the Client Credentials grant (RFC 6749 section 4.4):
	// a confidential Client gets a token for itself, for an API listed in spec.apis.
	GrantTypeClientCredentials GrantType = "client_credentials"
)

// ClientType says whether a Client can keep a secret (RFC 6749 section 2.1).
// +kubebuilder:validation:Enum=confidential;public
type ClientType string

// The client types.
const (
	// ClientConfidential clients authenticate with a generated client secret.
	ClientConfidential ClientType = "confidential"
	// ClientPublic clients have no secret; they identify with client_id alone.
	ClientPublic ClientType = "public"
)

// ClientSpec declares an application that requests tokens.
// +kubebuilder:validation:XValidation:rule="!has(self.trustForwardedFor) || !self.trustForwardedFor || !has(self.type) || self.type == 'confidential'",message="trustForwardedFor needs a confidential client: a public client has no secret, so anyone could claim to be it and choose the address that attack protection counts"
// +kubebuilder:validation:XValidation:rule="!has(self.refreshTokens) || (has(self.grantTypes) && 'refresh_token' in self.grantTypes)",message="refreshTokens configures the refresh_token grant: add refresh_token to grantTypes"
// +kubebuilder:validation:XValidation:rule="!has(self.grantTypes) || !('refresh_token' in self.grantTypes) || 'password' in self.grantTypes || 'http://auth0.com/oauth/grant-type/password-realm' in self.grantTypes",message="the refresh_token grant needs a password grant too: refresh tokens are issued by password logins"
// +kubebuilder:validation:XValidation:rule="!has(self.type) || self.type != 'public' || !has(self.refreshTokens) || self.refreshTokens.rotationType == 'rotating'",message="a public client's refresh tokens must rotate (RFC 9700 section 4.14): it cannot keep them secret, so reuse detection is what protects them"
// +kubebuilder:validation:XValidation:rule="!has(self.serviceAccountRef) || !has(self.type) || self.type == 'confidential'",message="serviceAccountRef needs a confidential client: its ServiceAccount's tokens are what it authenticates with"
// +kubebuilder:validation:XValidation:rule="!has(self.grantTypes) || !self.grantTypes.exists(g, g == 'client_credentials') || !has(self.type) || self.type == 'confidential'",message="client_credentials needs a confidential client: a public client has no secret, so anyone could get its tokens"
type ClientSpec struct {
	// tenantRef names the Tenant, in this namespace, that the Client belongs to. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantRef is immutable; delete and recreate the object to move it to another Tenant"
	// +required
	TenantRef TenantReference `json:"tenantRef"`

	// displayName is a human-readable name of the application.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// type is confidential (authenticates with a generated secret) or public (no secret).
	// +kubebuilder:default=confidential
	// +optional
	Type ClientType `json:"type,omitempty"`

	// grantTypes the Client may use: password and
	// http://auth0.com/oauth/grant-type/password-realm (a user's password),
	// refresh_token (see refreshTokens), and client_credentials (a token for the Client
	// itself, for an API of spec.apis; only confidential Clients).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +listType=set
	// +kubebuilder:default={"password"}
	// +optional
	GrantTypes []GrantType `json:"grantTypes,omitempty"`

	// credentialsSecretName is the Secret, in this namespace, that the controller writes
	// with client_id, client_secret (confidential clients), token_url and issuer for
	// workloads to mount. Defaults to <name>-credentials. Deleting the Secret issues a new
	// client secret.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="credentialsSecretName must be a lowercase DNS name such as reporting-job-credentials"
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`

	// trustForwardedFor lets this confidential Client pass the end user's IP address in
	// the auth0-forwarded-for header of token requests (Auth0's "Trust Token Endpoint IP
	// Header"), for a backend that logs users in from its own address. Attack protection
	// then counts that address; a malformed header is refused with invalid_request. The
	// header of a Client without it is ignored.
	// +optional
	TrustForwardedFor bool `json:"trustForwardedFor,omitempty"`

	// refreshTokens configures the refresh tokens of a Client with the refresh_token
	// grant; without it, the defaults below apply.
	// +optional
	RefreshTokens *RefreshTokensSpec `json:"refreshTokens,omitempty"`

	// apis are the Client's grants: the APIs of its Tenant it may get access tokens for,
	// each with the scopes it may be granted. An audience not listed is refused with
	// access_denied, a scope not listed with invalid_scope. A Client that lists none
	// keeps the password grants' default: tokens for any API of its Tenant, with the
	// scopes that API defines. The client_credentials grant needs the API listed.
	// +kubebuilder:validation:MaxItems=64
	// +listType=map
	// +listMapKey=name
	// +optional
	APIs []ClientAPIGrant `json:"apis,omitempty"`

	// serviceAccountRef authenticates the Client by the tokens of this ServiceAccount of
	// its namespace (RFC 7523 client assertions) instead of a client secret: a Pod
	// running as it presents its projected token, whose audience is the Tenant's issuer
	// or token endpoint, as client_assertion with client_assertion_type
	// urn:ietf:params:oauth:client-assertion-type:jwt-bearer and its client_id. No client
	// secret is issued; the credentials Secret holds client_id, token_url and issuer.
	// +optional
	ServiceAccountRef *ServiceAccountReference `json:"serviceAccountRef,omitempty"`
}

// ClientStatus is what the controller reports about a Client.
type ClientStatus struct {
	CommonStatus `json:",inline"`

	// clientID is the Client's client_id. It is generated once and never changes.
	// +optional
	ClientID string `json:"clientID,omitempty"`
	// credentialsSecretName is the Secret that holds the Client's credentials.
	// +optional
	CredentialsSecretName string `json:"credentialsSecretName,omitempty"`
	// credentialsDigest is the SHA-256, in hex, of the credentials the controller issued
	// (client_id and client secret). It is recorded before the credentials Secret is
	// written, so that a credentials Secret that does not match it, whoever made it and
	// whatever its owner references say, is known not to be the controller's.
	// +optional
	CredentialsDigest string `json:"credentialsDigest,omitempty"`
}

// Client is an application that requests tokens: for users with the password grants, or
// for itself with client_credentials.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gcl,categories=gatehouse
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantRef.name`
// +kubebuilder:printcolumn:name="Type",type=string,JSONPath=`.spec.type`
// +kubebuilder:printcolumn:name="Client ID",type=string,JSONPath=`.status.clientID`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Client struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the Client.
	// +required
	Spec ClientSpec `json:"spec"`
	// status is what the controller observed.
	// +optional
	Status ClientStatus `json:"status,omitempty"`
}

// ClientList is a list of Clients.
//
// +kubebuilder:object:root=true
type ClientList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Client `json:"items"`
}
