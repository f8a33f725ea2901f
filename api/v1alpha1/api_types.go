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

// APISpec declares an audience: the identifier clients ask for, its scopes, and how its
// access tokens are signed.
// +kubebuilder:validation:XValidation:rule="!has(self.hs256SecretRef) || self.signingAlgorithm == 'HS256'",message="hs256SecretRef is only used with signingAlgorithm: HS256"
type APISpec struct {
	// tenantRef names the Tenant, in this namespace, that the API belongs to. Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantRef is immutable; delete and recreate the object to move it to another Tenant"
	// +required
	TenantRef TenantReference `json:"tenantRef"`

	// displayName is a human-readable name of the API.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// identifier is the audience: the `audience` a client asks for and the `aud` of the
	// tokens, usually the API's URL, such as https://someapi.com/api.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^\\\\S+$')",message="identifier must not contain whitespace"
	// +required
	Identifier string `json:"identifier"`

	// scopes the API defines. A token request's scopes that the API does not define are
	// dropped from the token.
	// +kubebuilder:validation:MaxItems=256
	// +listType=map
	// +listMapKey=name
	// +optional
	Scopes []Scope `json:"scopes,omitempty"`

	// signingAlgorithm of the API's access tokens: RS256 signs with the Tenant's keys (in
	// the Tenant's algorithm, RS256 unless the Tenant chose PS256 or ES256), so resource
	// servers verify through the JWKS; HS256 signs with a secret this API shares with its
	// resource server (generated, or hs256SecretRef).
	// +kubebuilder:validation:Enum=RS256;HS256
	// +kubebuilder:default=RS256
	// +optional
	SigningAlgorithm SigningAlgorithm `json:"signingAlgorithm,omitempty"`

	// hs256SecretRef selects an HS256 secret of at least 32 bytes to sign with. Without
	// it, the controller generates a 256-bit secret and names it in status.
	// +optional
	HS256SecretRef *SecretKeySelector `json:"hs256SecretRef,omitempty"`

	// tokenLifetime overrides the Tenant's accessTokenLifetime for this API. More than 0,
	// at most 720h (30 days).
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) > duration('0s') && duration(self) <= duration('720h')",message="tokenLifetime must be a duration such as 1h, more than 0s and at most 720h (30 days)"
	// +optional
	TokenLifetime *metav1.Duration `json:"tokenLifetime,omitempty"`

	// allowOfflineAccess lets Clients with the refresh_token grant get refresh tokens for
	// this audience by asking for the offline_access scope (Auth0's "Allow Offline
	// Access"). Off by default: offline_access is then dropped from the scope silently.
	// +optional
	AllowOfflineAccess bool `json:"allowOfflineAccess,omitempty"`
}

// Scope is a permission an API defines.
type Scope struct {
	// name of the scope as clients ask for it, such as read:sample. No whitespace.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^[\\\\x21\\\\x23-\\\\x5B\\\\x5D-\\\\x7E]+$')",message="scope names must not contain spaces, quotes or backslashes (RFC 6749 section 3.3)"
	// +required
	Name string `json:"name"`

	// description says what the scope allows.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Description string `json:"description,omitempty"`
}

// APIStatus is what the controller reports about an API.
type APIStatus struct {
	CommonStatus `json:",inline"`

	// hs256SecretName is the Secret, in this namespace, holding the generated HS256
	// secret under the key `secret`, for resource servers to mount.
	// +optional
	HS256SecretName string `json:"hs256SecretName,omitempty"`
}

// API is an audience that clients request tokens for, with its scopes and signing
// algorithm.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=gapi,categories=gatehouse
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantRef.name`
// +kubebuilder:printcolumn:name="Identifier",type=string,JSONPath=`.spec.identifier`
// +kubebuilder:printcolumn:name="Algorithm",type=string,JSONPath=`.spec.signingAlgorithm`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type API struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the API.
	// +required
	Spec APISpec `json:"spec"`
	// status is what the controller observed.
	// +optional
	Status APIStatus `json:"status,omitempty"`
}

// APIList is a list of APIs.
//
// +kubebuilder:object:root=true
type APIList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []API `json:"items"`
}
