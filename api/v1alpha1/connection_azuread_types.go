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

// AzureCloud names a Microsoft cloud by its login host.
// +kubebuilder:validation:Enum=AzurePublic;AzureUSGovernment;AzureChina
type AzureCloud string

// The Microsoft clouds.
const (
	// AzurePublic is the global cloud, login.microsoftonline.com.
	AzurePublic AzureCloud = "AzurePublic"
	// AzureUSGovernment is Azure Government, login.microsoftonline.us.
	AzureUSGovernment AzureCloud = "AzureUSGovernment"
	// AzureChina is Azure operated by 21Vianet, login.chinacloudapi.cn.
	AzureChina AzureCloud = "AzureChina"
)

// AzureADConnection checks passwords against Microsoft Entra ID (Azure AD) with the
// resource owner password credentials grant of its v2.0 endpoint. Users of a domain
// federated to AD FS are checked by their federation server, as Microsoft's libraries
// do. The app registration must allow public client flows unless clientSecretRef is set.
// Users log in with their UPN; `sub` is built from the token's `oid`, and `tid`, `oid`,
// `email`, `name`, `preferred_username` and `groups` (when the app registration emits
// them) become claims. Users who must use multi-factor authentication cannot log in.
// +kubebuilder:validation:XValidation:rule="!(has(self.cloud) && has(self.authorityHost))",message="set cloud or authorityHost, not both: authorityHost replaces the cloud's login host"
type AzureADConnection struct {
	// tenant is the directory: its tenant ID (a GUID) or one of its verified domains,
	// such as contoso.onmicrosoft.com. The multi-tenant names common, organizations and
	// consumers are not accepted: users are identified within one tenant.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$') || self.matches('^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+$')",message="tenant must be a tenant ID (a GUID) or a verified domain such as contoso.onmicrosoft.com; common, organizations and consumers are not tenants"
	// +required
	Tenant string `json:"tenant"`

	// clientID is the application (client) ID of the app registration, a GUID.
	// +kubebuilder:validation:MaxLength=36
	// +kubebuilder:validation:XValidation:rule="self.matches('^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$')",message="clientID must be the application (client) ID of the app registration, a GUID"
	// +required
	ClientID string `json:"clientID"`

	// clientSecretRef selects a client secret of the app registration, for a
	// confidential client. Without it the application is a public client, and its
	// registration must allow public client flows.
	// +optional
	ClientSecretRef *SecretKeySelector `json:"clientSecretRef,omitempty"`

	// cloud is the Microsoft cloud of the tenant: AzurePublic (the default),
	// AzureUSGovernment or AzureChina.
	// +optional
	Cloud AzureCloud `json:"cloud,omitempty"`

	// authorityHost replaces the cloud's login host, as https://host[:port], for a cloud
	// not listed or a stand-in.
	// +kubebuilder:validation:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.matches('^https://[^/?#@\\\\s]+/?$')",message="authorityHost must be https://host[:port], without path, query or user information"
	// +optional
	AuthorityHost string `json:"authorityHost,omitempty"`

	// scopes asked for. Entra ID's library always adds openid, profile and offline_access;
	// email adds the email claim.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=256
	// +kubebuilder:validation:items:Pattern=`^[!#-\[\]-~]+$`
	// +listType=set
	// +kubebuilder:default={"openid","profile","email"}
	// +optional
	Scopes []string `json:"scopes,omitempty"`

	// caSecretRef selects a PEM bundle of certificate authorities that the authority's
	// certificate must chain to. Without it, the system roots are used.
	// +optional
	CASecretRef *SecretKeySelector `json:"caSecretRef,omitempty"`

	// timeout bounds each request to Entra ID (a federated user's login makes several).
	// An authority that does not answer in time makes token requests fail with
	// temporarily_unavailable.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('100ms') && duration(self) <= duration('60s')",message="timeout must be a duration between 100ms and 60s, such as 10s"
	// +kubebuilder:default="10s"
	// +optional
	Timeout metav1.Duration `json:"timeout,omitzero"`
}
