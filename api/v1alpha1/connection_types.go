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

// ConnectionSpec declares where passwords are checked: exactly one of database, ldap,
// activeDirectory, azureAD, adfs or oidc.
// +kubebuilder:validation:XValidation:rule="[has(self.database), has(self.ldap), has(self.activeDirectory), has(self.azureAD), has(self.adfs), has(self.oidc)].filter(x, x).size() == 1",message="set exactly one of database, ldap, activeDirectory, azureAD, adfs or oidc"
type ConnectionSpec struct {
	// tenantRef names the Tenant, in this namespace, that the Connection belongs to.
	// Immutable.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="tenantRef is immutable; delete and recreate the object to move it to another Tenant"
	// +required
	TenantRef TenantReference `json:"tenantRef"`

	// displayName is a human-readable name of the directory.
	// +kubebuilder:validation:MaxLength=128
	// +optional
	DisplayName string `json:"displayName,omitempty"`

	// database keeps users in a Secret of this namespace.
	// +optional
	Database *DatabaseConnection `json:"database,omitempty"`

	// ldap checks passwords against an LDAP directory.
	// +optional
	LDAP *LDAPConnection `json:"ldap,omitempty"`

	// activeDirectory checks passwords against Active Directory domain controllers.
	// +optional
	ActiveDirectory *ActiveDirectoryConnection `json:"activeDirectory,omitempty"`

	// adfs checks passwords against an on-premises ADFS.
	// +optional
	ADFS *ADFSConnection `json:"adfs,omitempty"`
	// azureAD checks passwords against Microsoft Entra ID (Azure AD).
	// +optional
	AzureAD *AzureADConnection `json:"azureAD,omitempty"`
	// oidc checks passwords at an OpenID Connect provider with the password grant.
	// +optional
	OIDC *OIDCConnection `json:"oidc,omitempty"`
}

// DatabaseConnection keeps users in a Secret. The Secret's key holds a YAML or JSON list
// of users: {username, email, id, name, passwordHash, blocked, claims}. passwordHash is a
// bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$ PHC string) hash; Gatehouse never
// stores a plaintext password.
type DatabaseConnection struct {
	// usersSecretRef selects the Secret key that holds the users.
	// +required
	UsersSecretRef SecretKeySelector `json:"usersSecretRef"`
}

// LDAPSearchScope is how deep an LDAP search goes below its base DN.
// +kubebuilder:validation:Enum=sub;one
type LDAPSearchScope string

// The LDAP search scopes.
const (
	// LDAPScopeSubtree searches the base DN and everything below it.
	LDAPScopeSubtree LDAPSearchScope = "sub"
	// LDAPScopeOneLevel searches the direct children of the base DN only.
	LDAPScopeOneLevel LDAPSearchScope = "one"
)

// DirectoryTransport is how Gatehouse reaches a directory: its URLs and TLS.
// +kubebuilder:validation:XValidation:rule="!self.startTLS || self.urls.all(u, u.startsWith('ldap://'))",message="startTLS upgrades ldap:// connections; it cannot be used with ldaps:// URLs"
// +kubebuilder:validation:XValidation:rule="self.startTLS || self.insecureNoTLS || self.urls.all(u, u.startsWith('ldaps://'))",message="ldap:// URLs send passwords in clear text: set startTLS: true, use ldaps://, or set insecureNoTLS: true to accept that"
type DirectoryTransport struct {
	// urls of the directory servers, tried in order: the next one is used when one is
	// down. Each is ldap://host[:port] or ldaps://host[:port].
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +kubebuilder:validation:XValidation:rule="self.all(u, u.matches('^ldaps?://[^/?#\\\\s]+/?$'))",message="each URL must be ldap://host[:port] or ldaps://host[:port], without path or query"
	// +listType=atomic
	// +required
	URLs []string `json:"urls"`

	// startTLS upgrades ldap:// connections to TLS with the StartTLS extended operation.
	// +kubebuilder:default=false
	// +optional
	StartTLS bool `json:"startTLS"`

	// caSecretRef selects a PEM bundle of certificate authorities that the directory's
	// certificate must chain to. Without it, the system roots are used.
	// +optional
	CASecretRef *SecretKeySelector `json:"caSecretRef,omitempty"`

	// insecureNoTLS allows plain ldap:// without StartTLS, which sends passwords
	// unencrypted. Only for directories on a trusted network.
	// +kubebuilder:default=false
	// +optional
	InsecureNoTLS bool `json:"insecureNoTLS"`

	// timeout bounds connecting to the directory and each request to it. A directory that
	// does not answer in time makes token requests fail with temporarily_unavailable.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('100ms') && duration(self) <= duration('60s')",message="timeout must be a duration between 100ms and 60s, such as 5s"
	// +kubebuilder:default="5s"
	// +optional
	Timeout metav1.Duration `json:"timeout,omitzero"`

	// maxConnections bounds the pooled connections the token server keeps to the directory.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	// +kubebuilder:default=16
	// +optional
	MaxConnections int32 `json:"maxConnections,omitempty"`

	// bindPasswordSecretRef selects the service account's password.
	// +required
	BindPasswordSecretRef SecretKeySelector `json:"bindPasswordSecretRef"`
}

// LDAPConnection checks passwords against an LDAP directory: it searches for the user with
// a service account, then binds as the user found.
type LDAPConnection struct {
	DirectoryTransport `json:",inline"`

	// bindDN is the service account that searches for users.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	BindDN string `json:"bindDN"`

	// userSearch finds the entry of the user who logs in.
	// +required
	UserSearch LDAPUserSearch `json:"userSearch"`

	// groupSearch finds the groups of a user, for directories without memberOf.
	// +optional
	GroupSearch *LDAPGroupSearch `json:"groupSearch,omitempty"`

	// attributes map directory attributes to claims.
	// +kubebuilder:default={}
	// +optional
	Attributes LDAPAttributes `json:"attributes,omitzero"`
}

// LDAPUserSearch finds a user's entry.
type LDAPUserSearch struct {
	// baseDN the search starts at.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	BaseDN string `json:"baseDN"`

	// scope of the search: sub (the whole subtree) or one (direct children).
	// +kubebuilder:default=sub
	// +optional
	Scope LDAPSearchScope `json:"scope,omitempty"`

	// filter that every user entry matches, ANDed with the username match.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('(') && self.endsWith(')')",message="filter must be an LDAP filter in parentheses, such as (objectClass=person)"
	// +kubebuilder:default="(objectClass=person)"
	// +optional
	Filter string `json:"filter,omitempty"`

	// usernameAttributes are matched against the username that logs in; any may match.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=8
	// +kubebuilder:validation:items:Pattern=`^[A-Za-z][A-Za-z0-9-]*$`
	// +kubebuilder:validation:items:MaxLength=64
	// +listType=set
	// +kubebuilder:default={"uid"}
	// +optional
	UsernameAttributes []string `json:"usernameAttributes,omitempty"`
}

// LDAPGroupSearch finds the groups a user belongs to.
type LDAPGroupSearch struct {
	// baseDN the search starts at.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	BaseDN string `json:"baseDN"`

	// filter that every group entry matches, ANDed with the membership match.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:XValidation:rule="self.startsWith('(') && self.endsWith(')')",message="filter must be an LDAP filter in parentheses, such as (objectClass=groupOfNames)"
	// +kubebuilder:default="(objectClass=groupOfNames)"
	// +optional
	Filter string `json:"filter,omitempty"`

	// memberAttribute of a group entry that holds its members' DNs.
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]*$`
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:default=member
	// +optional
	MemberAttribute string `json:"memberAttribute,omitempty"`

	// nameAttribute of a group entry that names it in the groups claim.
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]*$`
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:default=cn
	// +optional
	NameAttribute string `json:"nameAttribute,omitempty"`
}

// LDAPAttributes maps directory attributes to token claims.
type LDAPAttributes struct {
	// subject is a stable, unique attribute that becomes the user id in `sub`.
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]*$`
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:default=entryUUID
	// +optional
	Subject string `json:"subject,omitempty"`
	// email becomes the `email` claim.
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]*$`
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:default=mail
	// +optional
	Email string `json:"email,omitempty"`
	// name becomes the `name` claim.
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]*$`
	// +kubebuilder:validation:MaxLength=64
	// +kubebuilder:default=cn
	// +optional
	Name string `json:"name,omitempty"`
	// groups, when set, is an attribute of the user entry listing its groups' DNs (such
	// as memberOf); their first RDN values become the `groups` claim.
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9-]*$`
	// +kubebuilder:validation:MaxLength=64
	// +optional
	Groups string `json:"groups,omitempty"`
}

// ActiveDirectoryConnection checks passwords against Active Directory. Users log in with
// their sAMAccountName, their userPrincipalName (user@domain) or their mail; `sub` is
// built from objectGUID and `groups` from memberOf. Disabled, locked and expired accounts
// are refused.
type ActiveDirectoryConnection struct {
	DirectoryTransport `json:",inline"`

	// domain is the AD DNS domain, such as corp.example.com.
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\\\\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+$')",message="domain must be a DNS domain such as corp.example.com"
	// +required
	Domain string `json:"domain"`

	// bindUsername is the service account, as a UPN (svc-gatehouse@corp.example.com) or a
	// DN, that searches for users.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	// +required
	BindUsername string `json:"bindUsername"`

	// baseDN the user search starts at. Defaults to the domain's DN (DC=corp,DC=example,DC=com).
	// +kubebuilder:validation:MaxLength=1024
	// +optional
	BaseDN string `json:"baseDN,omitempty"`
}

// ConnectionStatus is what the controller reports about a Connection.
type ConnectionStatus struct {
	CommonStatus `json:",inline"`

	// strategy is database, ldap, activeDirectory, azureAD, adfs or oidc.
	// +optional
	Strategy string `json:"strategy,omitempty"`
	// users counts the users of a database connection.
	// +optional
	Users int32 `json:"users,omitempty"`
}

// Connection is a directory that checks passwords: a Secret-backed user store, LDAP,
// Active Directory or an OpenID Connect provider. The password-realm grant names it in `realm`; a Tenant's
// defaultDirectory names the one that grant_type=password uses.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=conn,categories=gatehouse
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenantRef.name`
// +kubebuilder:printcolumn:name="Strategy",type=string,JSONPath=`.status.strategy`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Connection struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec declares the Connection.
	// +required
	Spec ConnectionSpec `json:"spec"`
	// status is what the controller observed.
	// +optional
	Status ConnectionStatus `json:"status,omitempty"`
}

// ConnectionList is a list of Connections.
//
// +kubebuilder:object:root=true
type ConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Connection `json:"items"`
}
