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

// ADFSMode is the protocol Gatehouse asks ADFS to check a password with.
// +kubebuilder:validation:Enum=oauth2;wsTrust
type ADFSMode string

// The ADFS modes.
const (
	// ADFSModeOAuth2 is the OAuth 2.0 password grant at /adfs/oauth2/token (ADFS 2016
	// and later), for an application of an ADFS application group.
	ADFSModeOAuth2 ADFSMode = "oauth2"
	// ADFSModeWSTrust is WS-Trust 1.3 at /adfs/services/trust/13/usernamemixed, for a
	// relying party trust.
	ADFSModeWSTrust ADFSMode = "wsTrust"
)

// ADFSConnection checks passwords against an on-premises ADFS (2016 and later). ADFS
// answers with a signed token (an id_token in oauth2 mode, a SAML assertion in wsTrust
// mode) that Gatehouse verifies before it reads the user's claims.
// +kubebuilder:validation:XValidation:rule="self.mode != 'oauth2' || has(self.clientID)",message="oauth2 mode needs clientID: the client identifier of the ADFS application group's application"
// +kubebuilder:validation:XValidation:rule="self.mode == 'oauth2' || !has(self.clientSecretRef)",message="clientSecretRef is for oauth2 mode; wsTrust mode authenticates with the user's password alone"
type ADFSConnection struct {
	// url of the federation service, such as https://adfs.corp.example: https, with
	// no path (the ADFS endpoints hang below it).
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^https://[^/?#@\\\\s]+/?$')",message="url must be https://host[:port] of the federation service, without path, query or user name"
	// +required
	URL string `json:"url"`

	// relyingParty is the identifier of the relying party trust (wsTrust mode: the
	// AppliesTo of the request, which the assertion's audience must name) or of the
	// Web API (oauth2 mode: the resource asked for), such as urn:gatehouse.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z][A-Za-z0-9+.-]*:[^\\\\s]+$')",message="relyingParty must be an absolute URI such as urn:gatehouse or https://gatehouse.corp.example/"
	// +required
	RelyingParty string `json:"relyingParty"`

	// mode is the protocol: oauth2 (the OAuth 2.0 password grant, ADFS 2016 and later)
	// or wsTrust (WS-Trust 1.3 usernamemixed, for an ADFS where the password grant is
	// not enabled). Gatehouse never falls back from one to the other: each needs its
	// own configuration in ADFS, and trying both would count a wrong password twice
	// against ADFS's extranet lockout.
	// +kubebuilder:default=oauth2
	// +optional
	Mode ADFSMode `json:"mode,omitempty"`

	// clientID is the client identifier of the ADFS application (oauth2 mode).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	// +optional
	ClientID string `json:"clientID,omitempty"`

	// clientSecretRef selects the secret of a confidential ADFS application (oauth2
	// mode); without it, the application is a public (native) one.
	// +optional
	ClientSecretRef *SecretKeySelector `json:"clientSecretRef,omitempty"`

	// caSecretRef selects a PEM bundle of certificate authorities that the federation
	// service's TLS certificate must chain to. Without it, the system roots are used.
	// +optional
	CASecretRef *SecretKeySelector `json:"caSecretRef,omitempty"`

	// timeout bounds each request to ADFS. An ADFS that does not answer in time makes
	// token requests fail with temporarily_unavailable.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('100ms') && duration(self) <= duration('60s')",message="timeout must be a duration between 100ms and 60s, such as 5s"
	// +kubebuilder:default="5s"
	// +optional
	Timeout metav1.Duration `json:"timeout,omitzero"`

	// claims name the claims the user is read from. Empty fields take the mode's
	// defaults.
	// +optional
	Claims ADFSClaims `json:"claims,omitzero"`
}

// ADFSClaims name the claims an adfs connection reads: claim type URIs in wsTrust mode
// (as the relying party trust's claim rules issue them), id_token claim names in oauth2
// mode. The defaults are, in wsTrust mode, userID and username
// http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn, email
// …/claims/emailaddress, name …/claims/name, groups
// http://schemas.xmlsoap.org/claims/Group; in oauth2 mode userID sub, username upn,
// email email, name unique_name, groups group.
type ADFSClaims struct {
	// userID is the stable claim that becomes the user id in `sub`. wsTrust mode
	// defaults to the UPN, which ADFS issues without a custom rule but which changes
	// when the user is renamed; a claim rule issuing objectGUID (and naming its claim
	// type here) survives renames. oauth2 mode defaults to the id_token's sub.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	UserID string `json:"userID,omitempty"`
	// username is the claim reported as the user's login name.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Username string `json:"username,omitempty"`
	// email becomes the `email` claim.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Email string `json:"email,omitempty"`
	// name becomes the `name` claim.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Name string `json:"name,omitempty"`
	// groups, all of its values, become the `groups` claim.
	// +kubebuilder:validation:MaxLength=256
	// +optional
	Groups string `json:"groups,omitempty"`
}
