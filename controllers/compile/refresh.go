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

package compile

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// RefreshTokens compiles the refresh-token settings of a Client with the refresh_token
// grant, the defaults of the Client kind filling what it leaves out; nil for a Client
// without the grant, which gets no refresh tokens whatever it sets.
func RefreshTokens(c *identityv1alpha1.Client) *snapshot.RefreshTokens {
	if !slices.Contains(c.Spec.GrantTypes, identityv1alpha1.GrantTypeRefreshToken) {
		return nil
	}
	spec := c.Spec.RefreshTokens
	if spec == nil {
		spec = &identityv1alpha1.RefreshTokensSpec{}
	}
	rotation := spec.RotationType
	if rotation == "" {
		rotation = identityv1alpha1.DefaultRefreshTokenRotation
	}
	out := &snapshot.RefreshTokens{
		Rotation:         rotation == identityv1alpha1.RefreshTokensRotating,
		ReuseInterval:    durationOr(spec.Leeway, identityv1alpha1.DefaultRefreshTokenLeeway),
		AbsoluteLifetime: durationOr(spec.TokenLifetime, identityv1alpha1.DefaultRefreshTokenLifetime),
		IdleLifetime:     durationOr(spec.IdleTokenLifetime, identityv1alpha1.DefaultRefreshTokenIdleTokenLifetime),
	}
	// The schema refuses what follows; a Client the schema did not see (an older CRD)
	// is held to it here, since the token server trusts the snapshot.
	if !out.Rotation {
		out.ReuseInterval = 0
	}
	out.IdleLifetime = min(out.IdleLifetime, out.AbsoluteLifetime)
	return out
}

func durationOr(d *metav1.Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Duration
}
