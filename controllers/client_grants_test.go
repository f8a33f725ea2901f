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

package controllers_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// TestClientGrantsAreCheckedAndServed: a Client's valid grants reach the snapshot; a
// grant of another Tenant's API or of a scope the API does not define makes the Client
// Ready=False with an Event and leaves it out, until the API defines the scope.
func TestClientGrantsAreCheckedAndServed(t *testing.T) {
	s := newSample(t, nil)
	ns := s.tenant.Namespace
	grantedClient := func(name string, grants ...identityv1alpha1.ClientAPIGrant) *identityv1alpha1.Client {
		return &identityv1alpha1.Client{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: identityv1alpha1.ClientSpec{
				TenantRef:  identityv1alpha1.TenantReference{Name: "acme"},
				GrantTypes: []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword},
				APIs:       grants,
			},
		}
	}
	otherTenantsAPI := &identityv1alpha1.API{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "beta-api"},
		Spec:       identityv1alpha1.APISpec{TenantRef: identityv1alpha1.TenantReference{Name: "beta"}, Identifier: "https://beta.example/api"},
	}
	good := grantedClient("good", identityv1alpha1.ClientAPIGrant{Name: "sample", Scopes: []string{"read:sample"}})
	crossTenant := grantedClient("cross-tenant", identityv1alpha1.ClientAPIGrant{Name: "beta-api"})
	undefinedScope := grantedClient("undefined-scope", identityv1alpha1.ClientAPIGrant{Name: "sample", Scopes: []string{"write:sample"}})
	create(t, otherTenantsAPI, good, crossTenant, undefinedScope)

	waitReady(t, good)
	for _, tc := range []struct {
		client  *identityv1alpha1.Client
		message string
	}{
		{crossTenant, `API "beta-api" of Tenant "beta"`},
		{undefinedScope, `scope "write:sample" of API "sample", which the API does not define`},
	} {
		c := waitCondition(t, tc.client, metav1.ConditionFalse, identityv1alpha1.ReasonInvalidReference)
		if !strings.Contains(c.Message, tc.message) {
			t.Errorf("%s: message %q, want it to say %s", tc.client.Name, c.Message, tc.message)
		}
		if len(events(t, tc.client, identityv1alpha1.ReasonInvalidReference)) == 0 {
			t.Errorf("%s: no InvalidReference event", tc.client.Name)
		}
	}
	servedGrants := func() (map[string][]snapshot.ClientGrant, error) {
		snap, err := readSnapshot(s.tenant)
		if err != nil {
			return nil, err
		}
		out := map[string][]snapshot.ClientGrant{}
		for _, c := range snap.Clients {
			out[c.Name] = c.APIs
		}
		return out, nil
	}
	eventually(t, "the good client served with its grant, the broken ones left out", func() error {
		grants, err := servedGrants()
		if err != nil {
			return err
		}
		want := map[string][]snapshot.ClientGrant{
			"reporting-job": nil,
			"good":          {{Identifier: "https://someapi.com/api", Scopes: []string{"read:sample"}}},
		}
		if !reflect.DeepEqual(grants, want) {
			return fmt.Errorf("served %+v, want %+v", grants, want)
		}
		return nil
	})

	// Defining the scope on the API makes the Client that grants it Ready and served.
	update(t, s.api, func(a *identityv1alpha1.API) {
		a.Spec.Scopes = append(a.Spec.Scopes, identityv1alpha1.Scope{Name: "write:sample"})
	})
	waitReady(t, undefinedScope)
	eventually(t, "the fixed client served", func() error {
		grants, err := servedGrants()
		if err != nil {
			return err
		}
		if _, ok := grants["undefined-scope"]; !ok {
			return fmt.Errorf("served %+v", grants)
		}
		return nil
	})
}
