// Package kubestore keeps refresh token families as RefreshTokenFamily objects in the
// operator's namespace (the kind of group tokenserver.gatehouse.dev, which only the
// token server reads and writes), one per family, written only when a family is
// created, rotated, revoked or collected.
//
// +groupName=tokenserver.gatehouse.dev
// +versionName=v1alpha1
package kubestore

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// GroupVersion is the group and version of RefreshTokenFamily.
var GroupVersion = schema.GroupVersion{Group: "tokenserver.gatehouse.dev", Version: "v1alpha1"}

// AddToScheme adds RefreshTokenFamily to a scheme.
func AddToScheme(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, &RefreshTokenFamily{}, &RefreshTokenFamilyList{})
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}

// RefreshTokenFamily is the token server's record of one chain of refresh tokens from
// one login: who it belongs to, when it expires, and the SHA-256 hashes of its tokens,
// never a token. The token server alone writes these, in its own namespace; delete one
// to revoke its family.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Namespaced,shortName=rtf,categories=gatehouse-internal
// +kubebuilder:printcolumn:name="Tenant",type=string,JSONPath=`.spec.tenant`
// +kubebuilder:printcolumn:name="Client",type=string,JSONPath=`.spec.clientID`
// +kubebuilder:printcolumn:name="Subject",type=string,JSONPath=`.spec.subject`
// +kubebuilder:printcolumn:name="Generation",type=integer,JSONPath=`.spec.generation`
// +kubebuilder:printcolumn:name="Revoked",type=string,JSONPath=`.spec.revokedReason`
// +kubebuilder:printcolumn:name="Expires",type=date,JSONPath=`.spec.expiresAt`
type RefreshTokenFamily struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec RefreshTokenFamilySpec `json:"spec"`
}

// RefreshTokenFamilySpec is a family, as refresh.Family describes it.
//
// +kubebuilder:object:generate=true
type RefreshTokenFamilySpec struct {
	// tenant is the Tenant's "<namespace>/<name>", for metrics and logs.
	Tenant string `json:"tenant"`
	// namespace is the Tenant's namespace, whose quota of families this one counts
	// against, with those of its other Tenants.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
	// tenantUID is the Tenant's UID, which owns the family.
	TenantUID string `json:"tenantUID"`
	// clientID is the Client the tokens were issued to.
	ClientID string `json:"clientID"`
	// subject is the user, "<connection>|<user id>".
	Subject string `json:"subject"`
	// connection and userID locate the user again at each refresh.
	Connection string `json:"connection,omitempty"`
	UserID     string `json:"userID,omitempty"`
	// audience is the API identifier of the login; scopes are the scopes it granted.
	// +optional
	Audience string `json:"audience,omitempty"`
	// +optional
	// +listType=atomic
	Scopes []string `json:"scopes,omitempty"`
	// credential identifies the credential the login's password was checked against,
	// where the connection holds it: a digest of a database user's password hash.
	// +optional
	Credential string `json:"credential,omitempty"`
	// created is the login's time; expiresAt its absolute expiry.
	Created   metav1.MicroTime `json:"created"`
	ExpiresAt metav1.MicroTime `json:"expiresAt"`
	// lastUsed is the last recorded refresh, idleExpiresAt the inactivity expiry.
	LastUsed      metav1.MicroTime `json:"lastUsed"`
	IdleExpiresAt metav1.MicroTime `json:"idleExpiresAt"`
	// generation counts rotations.
	Generation int `json:"generation"`
	// currentHash is the SHA-256 of the live token's secret.
	CurrentHash []byte `json:"currentHash"`
	// previousHash is the SHA-256 of the token currentHash replaced at rotatedAt, and
	// sealedSuccessor the live token sealed for a retry of that one.
	// +optional
	PreviousHash []byte `json:"previousHash,omitempty"`
	// +optional
	RotatedAt *metav1.MicroTime `json:"rotatedAt,omitempty"`
	// +optional
	SealedSuccessor []byte `json:"sealedSuccessor,omitempty"`
	// olderHashes are the hashes of the tokens rotated out before previousHash.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	OlderHashes [][]byte `json:"olderHashes,omitempty"`
	// revoked is when the family was revoked, and revokedReason why.
	// +optional
	Revoked *metav1.MicroTime `json:"revoked,omitempty"`
	// +optional
	RevokedReason string `json:"revokedReason,omitempty"`
}

// RefreshTokenFamilyList is a list of RefreshTokenFamily.
//
// +kubebuilder:object:generate=true
// +kubebuilder:object:root=true
type RefreshTokenFamilyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []RefreshTokenFamily `json:"items"`
}
