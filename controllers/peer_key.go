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
	"crypto/rand"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// peerKeyReconciler keeps the key that authenticates the token-server replicas' peer
// messages (snapshot.PeerKeySecretName in the operator's namespace): it creates it at start,
// and again when it is deleted or holds no usable key. It never replaces a usable key,
// since replicas refuse each other's messages until they all have the new one.
type peerKeyReconciler struct {
	base
}

func (r *peerKeyReconciler) setup(mgr ctrl.Manager, opts controller.Options) error {
	key := types.NamespacedName{Namespace: r.opts.Namespace, Name: snapshot.PeerKeySecretName}
	isKey := predicate.NewPredicateFuncs(func(o client.Object) bool { return client.ObjectKeyFromObject(o) == key })
	// The Secret may not exist yet, so no event would start the first reconcile.
	atStart := source.Func(func(_ context.Context, q workqueue.TypedRateLimitingInterface[reconcile.Request]) error {
		q.Add(reconcile.Request{NamespacedName: key})
		return nil
	})
	return ctrl.NewControllerManagedBy(mgr).
		For(&corev1.Secret{}, builder.WithPredicates(isKey)).
		WatchesRawSource(atStart).
		WithOptions(opts).
		Named("peerkey").
		Complete(retryStale(r))
}

// Reconcile writes the peer key Secret unless it holds a usable key and its label.
func (r *peerKeyReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	// Read uncached: the cache only holds the Secret once it carries the label.
	var existing corev1.Secret
	err := r.APIReader.Get(ctx, req.NamespacedName, &existing)
	if err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, err
	}
	key := existing.Data[snapshot.PeerKeyDataKey]
	if len(key) < snapshot.MinPeerKeyLength {
		key = make([]byte, snapshot.MinPeerKeyLength)
		_, _ = rand.Read(key) // crypto/rand.Read never fails
		ctrl.LoggerFrom(ctx).Info("writing a new peer key")
	}
	return ctrl.Result{}, r.apply(ctx, desiredSecret{
		Namespace: req.Namespace, Name: req.Name,
		Labels: map[string]string{snapshot.LabelComponent: snapshot.ComponentPeerKey},
		Data:   map[string][]byte{snapshot.PeerKeyDataKey: key},
	}, &existing)
}
