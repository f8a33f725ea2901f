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
	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const (
	// HS256SecretKey is the key of the HS256 secret in the Secret the controller generates.
	HS256SecretKey = "secret"
	// MinHS256SecretBytes is the least HS256 secret accepted: 256 bits, as RFC 7518
	// section 3.2 requires of HS256 keys.
	MinHS256SecretBytes = 32
)

// API compiles an API with the Secrets of its namespace: an HS256 API takes its secret
// from the Secret it references, or else from the one the controller generates for it
// (HS256SecretName). A secret that does not resolve is a Problem.
func API(api *identityv1alpha1.API, secrets Secrets) (snapshot.API, error) {
	out := snapshot.API{
		Identifier: api.Spec.Identifier,
		Name:       api.Name,
		Algorithm:  string(identityv1alpha1.RS256),

		AllowOfflineAccess: api.Spec.AllowOfflineAccess,
	}
	for _, s := range api.Spec.Scopes {
		out.Scopes = append(out.Scopes, s.Name)
	}
	if api.Spec.TokenLifetime != nil {
		out.AccessTokenLifetime = api.Spec.TokenLifetime.Duration
	}
	if api.Spec.SigningAlgorithm != identityv1alpha1.HS256 {
		return out, nil
	}
	out.Algorithm = string(identityv1alpha1.HS256)
	if ref := api.Spec.HS256SecretRef; ref != nil {
		secret, err := secrets.value(api.Namespace, *ref)
		if err != nil {
			return snapshot.API{}, err
		}
		if len(secret) < MinHS256SecretBytes {
			return snapshot.API{}, Problemf(identityv1alpha1.ReasonInvalidSecret,
				"Secret %q key %q holds %d bytes; an HS256 secret needs at least %d", ref.Name, ref.Key, len(secret), MinHS256SecretBytes)
		}
		out.HS256Secret = secret
		return out, nil
	}
	generated, err := secrets.Owned(api, HS256SecretName(api))
	if err != nil {
		return snapshot.API{}, err
	}
	if generated != nil {
		out.HS256Secret = generated.Data[HS256SecretKey]
	}
	if len(out.HS256Secret) < MinHS256SecretBytes {
		return snapshot.API{}, Problemf(identityv1alpha1.ReasonSecretNotFound, "the HS256 secret of this API is not generated yet")
	}
	return out, nil
}

// APISecretNames lists the Secrets of its namespace that API reads for an API.
func APISecretNames(api *identityv1alpha1.API) []string {
	switch {
	case api.Spec.SigningAlgorithm != identityv1alpha1.HS256:
		return nil
	case api.Spec.HS256SecretRef != nil:
		return []string{api.Spec.HS256SecretRef.Name}
	}
	return []string{HS256SecretName(api)}
}

// HS256SecretName is the Secret in which the controller generates the HS256 secret of an
// API that references none.
func HS256SecretName(api *identityv1alpha1.API) string {
	return api.Name + "-hs256"
}
