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
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
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
		secrets, err := r.readSecrets(ctx, api.Namespace, compile.APISecretNames(api))
		if err != nil {
			return err
		}
		_, err = compile.API(api, secrets)
		return err
	}
	name := compile.HS256SecretName(api)
	existing, err := r.ownedSecret(ctx, api, name)
	if err != nil {
		return err
	}
	secret := existingValue(existing, compile.HS256SecretKey)
	if len(secret) < compile.MinHS256SecretBytes {
		secret = []byte(randomString(compile.MinHS256SecretBytes))
	}
	labels, annotations := userSecretMeta(snapshot.ComponentHS256Secret, api.Namespace, tenant.Name)
	if err := r.write(ctx, desiredSecret{
		Namespace: api.Namespace, Name: name, Labels: labels, Annotations: annotations,
		Data:  map[string][]byte{compile.HS256SecretKey: secret},
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
		Complete(retryStale(r))
}

// existingValue is the value of key in s, nil when s is nil.
func existingValue(s *corev1.Secret, key string) []byte {
	if s == nil {
		return nil
	}
	return s.Data[key]
}
