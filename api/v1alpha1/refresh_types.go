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

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RevokeRefreshTokensAnnotation on a Tenant revokes refresh tokens: its value lists
// subjects (the `sub` of the users' tokens, "<connection>|<user id>") separated by
// commas, whose refresh tokens of every Client are revoked, or is "*" for every refresh
// token of the Tenant. Anything after a ";" is ignored, so setting the value again with
// a new suffix repeats the request, e.g. "users|a1;1732612345". The token server
// revokes when it sees the value change, so tokens issued afterwards are not revoked.
const RevokeRefreshTokensAnnotation = "identity.gatehouse.dev/revoke-refresh-tokens"

// RefreshTokenRotation says whether a refresh grant replaces the refresh token it was
// given, as Auth0's rotation_type.
// +kubebuilder:validation:Enum=rotating;non-rotating
type RefreshTokenRotation string

// The rotation types.
const (
	// RefreshTokensRotating answers each refresh with a new refresh token; presenting a
	// replaced one after leeway revokes every token descended from the same login.
	RefreshTokensRotating RefreshTokenRotation = "rotating"
	// RefreshTokensNonRotating keeps one refresh token for the whole lifetime.
	RefreshTokensNonRotating RefreshTokenRotation = "non-rotating"
)

// Defaults of RefreshTokensSpec, which a Client with the refresh_token grant and no
// refreshTokens gets too. The lifetimes are Auth0's; rotation is on, as RFC 9700
// section 4.14 recommends, where Auth0's applications start non-rotating.
const (
	DefaultRefreshTokenRotation          = RefreshTokensRotating
	DefaultRefreshTokenLeeway            = 0 * time.Second
	DefaultRefreshTokenLifetime          = 720 * time.Hour
	DefaultRefreshTokenIdleTokenLifetime = 360 * time.Hour
)

// RefreshTokensSpec configures a Client's refresh tokens with Auth0's settings.
// +kubebuilder:validation:XValidation:rule="duration(self.idleTokenLifetime) <= duration(self.tokenLifetime)",message="idleTokenLifetime must not exceed tokenLifetime: no refresh token outlives tokenLifetime"
// +kubebuilder:validation:XValidation:rule="self.rotationType == 'rotating' || duration(self.leeway) == duration('0s')",message="leeway applies to rotating refresh tokens only: a non-rotating token is never replaced"
type RefreshTokensSpec struct {
	// rotationType is rotating (each refresh answers a new refresh token and the one
	// presented stops working; reusing it after leeway revokes all the tokens of that
	// login, which detects a stolen token) or non-rotating (one refresh token for the
	// whole lifetime).
	// +kubebuilder:default=rotating
	// +optional
	RotationType RefreshTokenRotation `json:"rotationType,omitempty"`

	// leeway is how long a replaced refresh token still gets the same successor, so that
	// a client that lost the answer to a refresh can retry it without setting off reuse
	// detection (Auth0's reuse interval). At most 5m; 0s by default.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('0s') && duration(self) <= duration('5m')",message="leeway must be a duration such as 30s, at least 0s and at most 5m"
	// +kubebuilder:default="0s"
	// +optional
	Leeway *metav1.Duration `json:"leeway,omitempty"`

	// tokenLifetime is the absolute lifetime: how long after the login its refresh tokens
	// work, however often they are used. At least 1m, at most 43830h (5 years, Auth0's
	// bound); 720h (30 days) by default.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1m') && duration(self) <= duration('43830h')",message="tokenLifetime must be a duration such as 720h, at least 1m and at most 43830h (5 years)"
	// +kubebuilder:default="720h"
	// +optional
	TokenLifetime *metav1.Duration `json:"tokenLifetime,omitempty"`

	// idleTokenLifetime is the inactivity lifetime: a refresh token not used for this long
	// stops working. At least 1m, at most tokenLifetime; 360h (15 days) by default.
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:MaxLength=32
	// +kubebuilder:validation:XValidation:rule="self.matches('^([0-9]+(\\\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$') && duration(self) >= duration('1m')",message="idleTokenLifetime must be a duration such as 360h, at least 1m"
	// +kubebuilder:default="360h"
	// +optional
	IdleTokenLifetime *metav1.Duration `json:"idleTokenLifetime,omitempty"`
}
