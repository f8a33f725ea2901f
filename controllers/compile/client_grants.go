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

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// ClientGrants compiles a Client's spec.apis with the APIs of its namespace, whatever
// their Tenant: each names an API of the Client's Tenant and scopes that API defines, or
// it is an InvalidReference Problem. A Client with a grant that does not compile is left
// out whole rather than served without it: serving it with fewer grants could leave it
// with none, which means every API.
func ClientGrants(c *identityv1alpha1.Client, apis []identityv1alpha1.API) ([]snapshot.ClientGrant, error) {
	var grants []snapshot.ClientGrant
	for _, g := range c.Spec.APIs {
		i := slices.IndexFunc(apis, func(api identityv1alpha1.API) bool { return api.Name == g.Name })
		if i < 0 {
			return nil, Problemf(identityv1alpha1.ReasonInvalidReference, "spec.apis names API %q, which does not exist in this namespace", g.Name)
		}
		api := &apis[i]
		if api.Spec.TenantRef.Name != c.Spec.TenantRef.Name {
			return nil, Problemf(identityv1alpha1.ReasonInvalidReference,
				"spec.apis names API %q of Tenant %q; a Client may only be granted APIs of its own Tenant %q", g.Name, api.Spec.TenantRef.Name, c.Spec.TenantRef.Name)
		}
		for _, scope := range g.Scopes {
			if !slices.ContainsFunc(api.Spec.Scopes, func(s identityv1alpha1.Scope) bool { return s.Name == scope }) {
				return nil, Problemf(identityv1alpha1.ReasonInvalidReference, "spec.apis grants scope %q of API %q, which the API does not define", scope, g.Name)
			}
		}
		grants = append(grants, snapshot.ClientGrant{Identifier: api.Spec.Identifier, Scopes: slices.Clone(g.Scopes)})
	}
	return grants, nil
}
