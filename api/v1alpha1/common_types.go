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

// Condition types and reasons shared by every kind.
const (
	// ConditionReady is True when the object is reconciled and served by the token server.
	ConditionReady = "Ready"

	// ReasonReconciled says that everything the object declares is in place.
	ReasonReconciled = "Reconciled"
	// ReasonTenantNotFound says that the Tenant named in tenantRef does not exist.
	ReasonTenantNotFound = "TenantNotFound"
	// ReasonSecretNotFound says that a referenced Secret or key in it is missing.
	ReasonSecretNotFound = "SecretNotFound"
	// ReasonInvalidSecret says that a referenced Secret exists but its content is unusable.
	ReasonInvalidSecret = "InvalidSecret"
	// ReasonInvalidReference says that a name the object refers to does not resolve.
	ReasonInvalidReference = "InvalidReference"
	// ReasonSecretNotReferable says that a referenced Secret does not carry
	// LabelReferable, so the controller does not read it.
	ReasonSecretNotReferable = "SecretNotReferable"

	// ConditionDirectoryReachable is True when the controller could bind to an LDAP or
	// Active Directory connection's directory as its service account and read its base DN,
	// or read an oidc connection's provider's discovery document, naming its issuer.
	// It does not affect Ready: a directory that is down makes logins answer
	// temporarily_unavailable until it returns.
	ConditionDirectoryReachable = "DirectoryReachable"
	// ReasonDirectoryReachable says the service account bound and the base DN was read.
	ReasonDirectoryReachable = "Reachable"
	// ReasonDirectoryUnreachable says the directory could not be reached or refused the
	// service account; the message says why.
	ReasonDirectoryUnreachable = "Unreachable"
)

// Labels and annotations that users and cluster admins set on their own objects.
const (
	// LabelReferable, set to "true" on a Secret, allows Connections and APIs of its
	// namespace to reference it. Without it the controller does not read the Secret: a
	// Secret of a namespace is read through a Connection or API only when whoever made
	// the Secret agreed, so referencing cannot read a Secret one could not read oneself,
	// nor send it to a directory of one's choosing.
	LabelReferable = "identity.gatehouse.dev/referable"

	// AnnotationAllowedDomains, on a Namespace, lists the domains that Tenants of that
	// namespace may claim as spec.domain: comma-separated host names, each exact
	// (login.acme.example) or a wildcard for every host below a suffix (*.acme.example).
	// It is the cluster admin's to set: namespace users cannot update their Namespace.
	AnnotationAllowedDomains = "identity.gatehouse.dev/allowed-domains"
)

// TenantReference names the Tenant, in the same namespace, that an object belongs to.
type TenantReference struct {
	// name of the Tenant in this namespace. Immutable: to move an object to another
	// Tenant, delete and recreate it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="tenantRef.name must be a lowercase DNS name such as acme"
	// +required
	Name string `json:"name"`
}

// SecretKeySelector selects one key of a Secret in the object's own namespace.
type SecretKeySelector struct {
	// name of the Secret, in the same namespace as the object that refers to it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +required
	Name string `json:"name"`

	// key in the Secret's data.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[-._a-zA-Z0-9]+$`
	// +required
	Key string `json:"key"`
}

// CommonStatus is the part of status every kind shares.
type CommonStatus struct {
	// observedGeneration is the metadata.generation that the controller last reconciled
	// successfully. When it is lower than metadata.generation, the status describes an
	// older version of the spec.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions describe the state of the object. Ready is True when the token server
	// serves what the object declares.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}
