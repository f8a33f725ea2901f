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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func TestClientGrants(t *testing.T) {
	api := func(name, tenant, identifier string, scopes ...string) identityv1alpha1.API {
		a := identityv1alpha1.API{
			ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name},
			Spec:       identityv1alpha1.APISpec{TenantRef: identityv1alpha1.TenantReference{Name: tenant}, Identifier: identifier},
		}
		for _, s := range scopes {
			a.Spec.Scopes = append(a.Spec.Scopes, identityv1alpha1.Scope{Name: s})
		}
		return a
	}
	apis := []identityv1alpha1.API{
		api("sample", "acme", "https://someapi.com/api", "read:sample", "write:sample"),
		api("billing", "acme", "https://billing.example/api", "read:invoices"),
		api("other", "beta", "https://other.example/api", "read:other"),
	}
	for _, tc := range []struct {
		name            string
		grants          []identityv1alpha1.ClientAPIGrant
		want            []snapshot.ClientGrant
		reason, message string
	}{
		{name: "no grants", grants: nil, want: nil},
		{
			name:   "grants in the Client's order, with their scopes",
			grants: []identityv1alpha1.ClientAPIGrant{{Name: "billing"}, {Name: "sample", Scopes: []string{"read:sample"}}},
			want: []snapshot.ClientGrant{
				{Identifier: "https://billing.example/api"},
				{Identifier: "https://someapi.com/api", Scopes: []string{"read:sample"}},
			},
		},
		{
			name:   "an API that does not exist",
			grants: []identityv1alpha1.ClientAPIGrant{{Name: "sample"}, {Name: "missing"}},
			reason: identityv1alpha1.ReasonInvalidReference, message: `spec.apis names API "missing", which does not exist in this namespace`,
		},
		{
			name:    "an API of another Tenant",
			grants:  []identityv1alpha1.ClientAPIGrant{{Name: "other"}},
			reason:  identityv1alpha1.ReasonInvalidReference,
			message: `spec.apis names API "other" of Tenant "beta"; a Client may only be granted APIs of its own Tenant "acme"`,
		},
		{
			name:    "a scope the API does not define",
			grants:  []identityv1alpha1.ClientAPIGrant{{Name: "sample", Scopes: []string{"read:sample", "read:invoices"}}},
			reason:  identityv1alpha1.ReasonInvalidReference,
			message: `spec.apis grants scope "read:invoices" of API "sample", which the API does not define`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := appClient(identityv1alpha1.ClientConfidential, "id1", "s1")
			c.Spec.TenantRef.Name = "acme"
			c.Spec.APIs = tc.grants
			got, err := compile.ClientGrants(c, apis)
			checkProblem(t, err, tc.reason, tc.message)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("grants = %+v, want %+v", got, tc.want)
			}
		})
	}
}
