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

package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const (
	// hs256SecretKey is the key of the HS256 secret in the Secret the controller generates.
	hs256SecretKey = "secret"
	// minHS256SecretBytes is the least HS256 secret accepted: 256 bits, as RFC 7518
	// section 3.2 requires of HS256 keys.
	minHS256SecretBytes = 32
)

// APIReconciler validates APIs and generates the secret of HS256 APIs.
type APIReconciler struct {
	base
}

// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=apis,verbs=get;list;watch
// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=apis/status,verbs=get;patch;update

// Reconcile validates one API, generates its HS256 secret when it needs one, and writes
// its status.
func (r *APIReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return reconcileChild(ctx, &r.base, req, func(api *identityv1alpha1.API, _ func() error) (reconcile.Result, error) {
		err := r.reconcileAPI(ctx, api)
		return reconcile.Result{}, r.setReady(api, &api.Status.CommonStatus, "the API is served", err)
	})
}

func (r *APIReconciler) reconcileAPI(ctx context.Context, api *identityv1alpha1.API) error {
	tenant, err := r.tenantOf(ctx, api.Namespace, api.Spec.TenantRef.Name)
	if err != nil {
		return err
	}
	api.Status.HS256SecretName = ""
	if api.Spec.SigningAlgorithm != identityv1alpha1.HS256 || api.Spec.HS256SecretRef != nil {
		_, err := r.resolveAPI(ctx, api)
		return err
	}
	name := generatedHS256SecretName(api)
	existing, err := r.ownedSecret(ctx, api, name)
	if err != nil {
		return err
	}
	secret := existingValue(existing, hs256SecretKey)
	if len(secret) < minHS256SecretBytes {
		secret = []byte(randomString(minHS256SecretBytes))
	}
	labels, annotations := userSecretMeta(snapshot.ComponentHS256Secret, api.Namespace, tenant.Name)
	if err := r.write(ctx, desiredSecret{
		Namespace: api.Namespace, Name: name, Labels: labels, Annotations: annotations,
		Data:  map[string][]byte{hs256SecretKey: secret},
		Owner: api,
	}, existing); err != nil {
		return err
	}
	api.Status.HS256SecretName = name
	return nil
}

func (r *APIReconciler) setup(mgr ctrl.Manager, opts controller.Options, secrets userSecrets) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.API{}).
		WatchesRawSource(secrets.generatedFor(ownedBy(mgr, &identityv1alpha1.API{}))).
		Watches(&identityv1alpha1.Tenant{}, childrenOf(mgr.GetClient(), &identityv1alpha1.APIList{}),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(secrets.referencedBy(referencing(mgr.GetClient(), &identityv1alpha1.APIList{}, requestsFor))).
		WithOptions(opts).
		Named("api").
		Complete(r)
}

// generatedHS256SecretName is the Secret holding the generated HS256 secret of api.
func generatedHS256SecretName(api *identityv1alpha1.API) string {
	return api.Name + "-hs256"
}

// resolveAPI returns an API as the token server needs it, with its HS256 secret.
func (b *base) resolveAPI(ctx context.Context, api *identityv1alpha1.API) (snapshot.API, error) {
	out := snapshot.API{
		Identifier: api.Spec.Identifier,
		Name:       api.Name,
		Algorithm:  string(identityv1alpha1.RS256),
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
		secret, err := b.readSecretKey(ctx, api.Namespace, *ref)
		if err != nil {
			return snapshot.API{}, err
		}
		if len(secret) < minHS256SecretBytes {
			return snapshot.API{}, newProblem(identityv1alpha1.ReasonInvalidSecret,
				"Secret %q key %q holds %d bytes; an HS256 secret needs at least %d", ref.Name, ref.Key, len(secret), minHS256SecretBytes)
		}
		out.HS256Secret = secret
		return out, nil
	}
	// The generated secret, written by this controller.
	existing, err := b.ownedSecret(ctx, api, generatedHS256SecretName(api))
	if err != nil {
		return snapshot.API{}, err
	}
	out.HS256Secret = existingValue(existing, hs256SecretKey)
	if len(out.HS256Secret) < minHS256SecretBytes {
		return snapshot.API{}, newProblem(identityv1alpha1.ReasonSecretNotFound, "the HS256 secret of this API is not generated yet")
	}
	return out, nil
}

// existingValue is the value of key in s, nil when s is nil.
func existingValue(s *corev1.Secret, key string) []byte {
	if s == nil {
		return nil
	}
	return s.Data[key]
}
