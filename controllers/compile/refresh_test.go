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

package compile_test

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func TestRefreshTokens(t *testing.T) {
	d := func(v time.Duration) *metav1.Duration { return &metav1.Duration{Duration: v} }
	refreshing := []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword, identityv1alpha1.GrantTypeRefreshToken}
	defaults := &snapshot.RefreshTokens{Rotation: true, AbsoluteLifetime: 720 * time.Hour, IdleLifetime: 360 * time.Hour}
	for _, tc := range []struct {
		name   string
		grants []identityv1alpha1.GrantType
		spec   *identityv1alpha1.RefreshTokensSpec
		want   *snapshot.RefreshTokens
	}{
		{name: "no refresh grant", grants: []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword}, want: nil},
		{name: "settings without the grant", grants: []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword},
			spec: &identityv1alpha1.RefreshTokensSpec{TokenLifetime: d(time.Hour)}, want: nil},
		{name: "grant without settings", grants: refreshing, want: defaults},
		{name: "empty settings", grants: refreshing, spec: &identityv1alpha1.RefreshTokensSpec{}, want: defaults},
		{name: "every setting", grants: refreshing, spec: &identityv1alpha1.RefreshTokensSpec{
			RotationType: identityv1alpha1.RefreshTokensRotating, Leeway: d(30 * time.Second), TokenLifetime: d(8 * time.Hour), IdleTokenLifetime: d(time.Hour),
		}, want: &snapshot.RefreshTokens{Rotation: true, ReuseInterval: 30 * time.Second, AbsoluteLifetime: 8 * time.Hour, IdleLifetime: time.Hour}},
		{name: "non-rotating never reuses", grants: refreshing, spec: &identityv1alpha1.RefreshTokensSpec{
			RotationType: identityv1alpha1.RefreshTokensNonRotating, Leeway: d(30 * time.Second),
		}, want: &snapshot.RefreshTokens{AbsoluteLifetime: 720 * time.Hour, IdleLifetime: 360 * time.Hour}},
		{name: "idle bounded by absolute", grants: refreshing, spec: &identityv1alpha1.RefreshTokensSpec{TokenLifetime: d(time.Hour)},
			want: &snapshot.RefreshTokens{Rotation: true, AbsoluteLifetime: time.Hour, IdleLifetime: time.Hour}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &identityv1alpha1.Client{Spec: identityv1alpha1.ClientSpec{GrantTypes: tc.grants, RefreshTokens: tc.spec}}
			if got := compile.RefreshTokens(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("RefreshTokens = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestRefreshSettingsReachTheSnapshot: the Client's settings, the API's offline access
// and the Tenant's revoke-refresh-tokens annotation are in what the token server reads.
func TestRefreshSettingsReachTheSnapshot(t *testing.T) {
	ch, secrets := children(t)
	for i := range ch.Clients {
		ch.Clients[i].Spec.GrantTypes = append(ch.Clients[i].Spec.GrantTypes, identityv1alpha1.GrantTypeRefreshToken)
	}
	for i := range ch.APIs {
		ch.APIs[i].Spec.AllowOfflineAccess = true
	}
	tenant := acme()
	tenant.Annotations[identityv1alpha1.RevokeRefreshTokensAnnotation] = "staff|alice;1"
	snap, _ := config.Tenant(compile.Inputs{Tenant: tenant, Children: ch, Secrets: secrets})

	if snap.RevokeRefreshTokens != "staff|alice;1" {
		t.Errorf("RevokeRefreshTokens = %q, want the annotation's value", snap.RevokeRefreshTokens)
	}
	if len(snap.APIs) != 1 || !snap.APIs[0].AllowOfflineAccess {
		t.Errorf("APIs = %+v, want the one that compiles with AllowOfflineAccess", snap.APIs)
	}
	want := &snapshot.RefreshTokens{Rotation: true, AbsoluteLifetime: 720 * time.Hour, IdleLifetime: 360 * time.Hour}
	if len(snap.Clients) != 1 || !reflect.DeepEqual(snap.Clients[0].RefreshTokens, want) {
		t.Errorf("Clients = %+v, want the one that compiles with the default refresh tokens", snap.Clients)
	}
}
