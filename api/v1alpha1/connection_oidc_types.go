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

// OIDCConnection checks passwords at an OpenID Connect provider with the resource owner
// password grant (RFC 6749 §4.3): the token server sends the username and password to the
// provider's token endpoint, found through its discovery document, and verifies the
// id_token it answers with the provider's keys. The provider must have a client that may
// use the password grant. The provider's tokens are never stored; the claims of the
// id_token become the user's claims in Gatehouse's own tokens.
type OIDCConnection struct {
	// issuer is the provider's issuer URL, exactly as its tokens' iss claim spells it.
	// Its discovery document is read from <issuer>/.well-known/openid-configuration.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^https://[^/?#@\\\\s]+(/[^?#\\\\s]*)?$')",message="issuer must be an https:// URL without user information, query or fragment, such as https://login.example.com/realms/corp"
	// +required
	Issuer string `json:"issuer"`

	// clientID is the client, registered at the provider, that the token server asks
	// for tokens as. id_tokens must be issued to it (their aud claim).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +required
	ClientID string `json:"clientID"`

	// clientSecretRef selects the client's secret. Leave it out for a public client.
	// +optional
	ClientSecretRef *SecretKeySelector `json:"clientSecretRef,omitempty"`

	// scopes asked for at the provider; they must include openid, for which it answers
	// with an id_token. Add groups (or your provider's equivalent) to get groups.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=128
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	// +kubebuilder:validation:XValidation:rule="self.exists(s, s == 'openid')",message="scopes must include openid: without it the provider answers with no id_token"
	// +listType=set
	// +kubebuilder:default={"openid","email","profile"}
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// claims map the id_token's claims to the user's.
	// +kubebuilder:default={}
	// +optional
	Claims OIDCClaims `json:"claims,omitzero"`

	// caSecretRef selects a PEM bundle of certificate authorities that the provider's
	// certificate must chain to. Without it, the system roots are used.
	// +optional
	CASecretRef *SecretKeySelector `json:"caSecretRef,omitempty"`

	// timeout bounds each request to the provider. A provider that does not answer in
	// time makes token requests fail with temporarily_unavailable.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('100ms') && duration(self) <= duration('60s')",message="timeout must be a duration between 100ms and 60s, such as 10s"
	// +kubebuilder:default="10s"
	// +optional
	Timeout metav1.Duration `json:"timeout,omitzero"`
}

// OIDCClaims names the id_token claims that become the user's.
type OIDCClaims struct {
	// subject is a stable, unique claim that becomes the user id in `sub`.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^\S+$`
	// +kubebuilder:default=sub
	// +optional
	Subject string `json:"subject,omitempty"`
	// email becomes the `email` claim; the provider's email_verified comes with it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^\S+$`
	// +kubebuilder:default=email
	// +optional
	Email string `json:"email,omitempty"`
	// name becomes the `name` claim.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^\S+$`
	// +kubebuilder:default=name
	// +optional
	Name string `json:"name,omitempty"`
	// groups, a list of strings (or one string), becomes the `groups` claim.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +kubebuilder:validation:Pattern=`^\S+$`
	// +kubebuilder:default=groups
	// +optional
	Groups string `json:"groups,omitempty"`
}
