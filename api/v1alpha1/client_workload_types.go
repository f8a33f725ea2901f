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

// ClientAPIGrant is an API of the Client's Tenant that the Client may get access tokens
// for, and the scopes of it that the Client may be granted (Auth0's client grant).
type ClientAPIGrant struct {
	// name of the API object, in this namespace, that the Client may get tokens for. The
	// API must belong to the Client's Tenant.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="apis[].name must be the name of an API object, a lowercase DNS name such as sample"
	// +required
	Name string `json:"name"`

	// scopes of the API that the Client may be granted; each must be one the API
	// defines. A request for a scope of the API not listed here is refused with
	// invalid_scope. Empty: tokens for the API carry none of its scopes.
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:items:MinLength=1
	// +kubebuilder:validation:items:MaxLength=128
	// +listType=set
	// +optional
	Scopes []string `json:"scopes,omitempty"`
}

// ServiceAccountReference names a ServiceAccount of the Client's namespace.
type ServiceAccountReference struct {
	// name of the ServiceAccount in this namespace. Its `default` ServiceAccount, which
	// every Pod without one runs as, authenticates the Client only when named here.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:XValidation:rule="self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$')",message="serviceAccountRef.name must be a lowercase DNS name such as reporting-job"
	// +required
	Name string `json:"name"`
}
