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
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func TestAPI(t *testing.T) {
	secret32 := strings.Repeat("s", 32)
	api := func(algorithm identityv1alpha1.SigningAlgorithm, ref *identityv1alpha1.SecretKeySelector) *identityv1alpha1.API {
		return &identityv1alpha1.API{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "orders", UID: "api-uid"},
			Spec: identityv1alpha1.APISpec{
				Identifier:       "https://orders.example.com",
				Scopes:           []identityv1alpha1.Scope{{Name: "read:orders"}, {Name: "write:orders"}},
				SigningAlgorithm: algorithm,
				HS256SecretRef:   ref,
				TokenLifetime:    &metav1.Duration{Duration: 10 * time.Minute},
			},
		}
	}
	ref := &identityv1alpha1.SecretKeySelector{Name: "orders-key", Key: "key"}
	generated := func(value string) *corev1.Secret {
		return controlledBy(api("", nil), unlabelled("orders-hs256", map[string]string{compile.HS256SecretKey: value}))
	}
	want := func(algorithm, secret string) snapshot.API {
		out := snapshot.API{
			Identifier: "https://orders.example.com", Name: "orders", Scopes: []string{"read:orders", "write:orders"},
			Algorithm: algorithm, AccessTokenLifetime: 10 * time.Minute,
		}
		if secret != "" {
			out.HS256Secret = []byte(secret)
		}
		return out
	}
	for _, tc := range []struct {
		name            string
		api             *identityv1alpha1.API
		secrets         []*corev1.Secret
		want            snapshot.API
		reason, message string
	}{
		{name: "RS256, signed with the Tenant's keys", api: api(identityv1alpha1.RS256, nil), want: want("RS256", "")},
		{name: "no algorithm is RS256", api: api("", nil), want: want("RS256", "")},
		{name: "RS256 reads no HS256 secret it references", api: api(identityv1alpha1.RS256, ref), want: want("RS256", "")},
		{
			name: "HS256 with the secret it references", api: api(identityv1alpha1.HS256, ref),
			secrets: []*corev1.Secret{referable("orders-key", map[string]string{"key": secret32})},
			want:    want("HS256", secret32),
		},
		{
			name: "HS256: a referenced secret too short", api: api(identityv1alpha1.HS256, ref),
			secrets: []*corev1.Secret{referable("orders-key", map[string]string{"key": secret32[:31]})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "orders-key" key "key" holds 31 bytes; an HS256 secret needs at least 32`,
		},
		{
			name: "HS256: the referenced Secret missing", api: api(identityv1alpha1.HS256, ref),
			reason: identityv1alpha1.ReasonSecretNotFound, message: `Secret "orders-key" does not exist`,
		},
		{
			name: "HS256: the referenced Secret not opted in", api: api(identityv1alpha1.HS256, ref),
			secrets: []*corev1.Secret{unlabelled("orders-key", map[string]string{"key": secret32})},
			reason:  identityv1alpha1.ReasonSecretNotReferable,
			message: `Secret "orders-key" is not labelled identity.gatehouse.dev/referable=true, so Gatehouse does not read it; ` +
				`if it is meant for this object, label it: kubectl label secret orders-key -n team-a identity.gatehouse.dev/referable=true`,
		},
		{
			name: "HS256 with the secret the controller generated", api: api(identityv1alpha1.HS256, nil),
			secrets: []*corev1.Secret{generated(secret32)},
			want:    want("HS256", secret32),
		},
		{
			name: "HS256: the secret not generated yet", api: api(identityv1alpha1.HS256, nil),
			reason: identityv1alpha1.ReasonSecretNotFound, message: "the HS256 secret of this API is not generated yet",
		},
		{
			name: "HS256: a generated secret too short is not generated yet", api: api(identityv1alpha1.HS256, nil),
			secrets: []*corev1.Secret{generated(secret32[:31])},
			reason:  identityv1alpha1.ReasonSecretNotFound, message: "the HS256 secret of this API is not generated yet",
		},
		{
			name: "HS256: the generated secret's name taken by someone else's Secret", api: api(identityv1alpha1.HS256, nil),
			secrets: []*corev1.Secret{referable("orders-hs256", map[string]string{compile.HS256SecretKey: secret32})},
			reason:  compile.ReasonSecretConflict, message: `Secret "orders-hs256" exists and does not belong to this object; delete it or choose another name`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compile.API(tc.api, secretsOf(tc.secrets...))
			checkProblem(t, err, tc.reason, tc.message)
			if tc.reason == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestAPISecretNames(t *testing.T) {
	ref := &identityv1alpha1.SecretKeySelector{Name: "orders-key", Key: "key"}
	for _, tc := range []struct {
		name      string
		algorithm identityv1alpha1.SigningAlgorithm
		ref       *identityv1alpha1.SecretKeySelector
		want      []string
	}{
		{"RS256", identityv1alpha1.RS256, ref, nil},
		{"HS256 referencing a secret", identityv1alpha1.HS256, ref, []string{"orders-key"}},
		{"HS256 generated", identityv1alpha1.HS256, nil, []string{"orders-hs256"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &identityv1alpha1.API{ObjectMeta: metav1.ObjectMeta{Name: "orders"},
				Spec: identityv1alpha1.APISpec{SigningAlgorithm: tc.algorithm, HS256SecretRef: tc.ref}}
			if got := compile.APISecretNames(api); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
