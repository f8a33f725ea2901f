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

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
)

// indexGrantedAPIs indexes Clients by the names of the APIs their spec.apis grant.
const indexGrantedAPIs = "spec.apis.name"

// grantedAPINames lists the APIs a Client's spec.apis names.
func grantedAPINames(o client.Object) []string {
	var names []string
	for _, g := range o.(*identityv1alpha1.Client).Spec.APIs {
		names = append(names, g.Name)
	}
	return names
}

// indexClientGrants lets an API find the Clients granted it.
func indexClientGrants(ctx context.Context, mgr ctrl.Manager) error {
	return mgr.GetFieldIndexer().IndexField(ctx, &identityv1alpha1.Client{}, indexGrantedAPIs, grantedAPINames)
}

// clientsGranted maps an API to the Clients of its namespace that name it in spec.apis,
// whose grants it may make valid or invalid.
func clientsGranted(c client.Reader) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, api client.Object) []reconcile.Request {
		var l identityv1alpha1.ClientList
		if err := c.List(ctx, &l, client.InNamespace(api.GetNamespace()), client.MatchingFields{indexGrantedAPIs: api.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the Clients granted an API", "api", client.ObjectKeyFromObject(api))
			return nil
		}
		return requestsFor(&l)
	})
}

// checkGrants is the Problem of a Client's spec.apis, if it has one: compile.ClientGrants
// with the APIs of its namespace.
func (r *ClientReconciler) checkGrants(ctx context.Context, c *identityv1alpha1.Client) error {
	if len(c.Spec.APIs) == 0 {
		return nil
	}
	var apis identityv1alpha1.APIList
	if err := r.Client.List(ctx, &apis, client.InNamespace(c.Namespace)); err != nil {
		return err
	}
	_, err := compile.ClientGrants(c, apis.Items)
	return err
}
