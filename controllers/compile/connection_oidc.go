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
	"cmp"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// defaultOIDCScopes are the scopes asked for when a Connection names none, as the API
// defaults them.
var defaultOIDCScopes = []string{"openid", "email", "profile"}

// oidcOf resolves an oidc Connection: its client secret, when it has one, and its CA
// bundle come from Secrets of its namespace. Fields the API server defaults are
// defaulted here too, for objects that did not pass through it.
func oidcOf(secrets Secrets, namespace string, spec *identityv1alpha1.OIDCConnection) (*snapshot.OIDC, error) {
	out := &snapshot.OIDC{
		Issuer:   spec.Issuer,
		ClientID: spec.ClientID,
		Scopes:   spec.Scopes,
		Claims: snapshot.OIDCClaims{
			Subject: cmp.Or(spec.Claims.Subject, "sub"),
			Email:   cmp.Or(spec.Claims.Email, "email"),
			Name:    cmp.Or(spec.Claims.Name, "name"),
			Groups:  cmp.Or(spec.Claims.Groups, "groups"),
		},
		Timeout: spec.Timeout.Duration,
	}
	if len(out.Scopes) == 0 {
		out.Scopes = defaultOIDCScopes
	}
	var err error
	if out.ClientSecret, err = clientSecret(secrets, namespace, spec.ClientSecretRef); err != nil {
		return nil, err
	}
	out.CAPEM, err = caBundle(secrets, namespace, spec.CASecretRef)
	return out, err
}
