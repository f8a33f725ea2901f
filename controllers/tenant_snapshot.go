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
	"strconv"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// compileSnapshot reads the Secrets the Tenant's children reference and compiles its
// snapshot from its keys and the children that compile. A child that does not is left
// out (its own status says why); an error reading aborts the compile, so a transient
// failure never drops a child.
func (r *TenantReconciler) compileSnapshot(ctx context.Context, tenant *identityv1alpha1.Tenant, ch compile.Children, stated []keys.StatedKey) (*snapshot.Snapshot, error) {
	secrets, err := r.readSecrets(ctx, tenant.Namespace, ch.SecretNames())
	if err != nil {
		return nil, err
	}
	if err := r.confirmConflicts(ctx, ch.Clients, secrets); err != nil {
		return nil, err
	}
	snap, leftOut := r.compiler().Tenant(compile.Inputs{Tenant: tenant, Keys: stated, Children: ch, Secrets: secrets})
	// The child's own status says why, in words its namespace's users read; the log, at
	// -v=1, lists what a Tenant leaves out, without the messages (they name users).
	log := ctrl.LoggerFrom(ctx).V(1)
	for _, l := range leftOut {
		log.Info("left out of the snapshot", "kind", l.Kind, "name", l.Name, "reason", l.Problem.Reason)
	}
	return snap, nil
}

// confirmConflicts confirms against the API server the credentials of the Clients that
// compile would leave out because their Secret looks planted (credentialsOf): the cache
// may not have seen the digest of credentials just issued, and such a Client must not
// drop out of the snapshot.
func (r *TenantReconciler) confirmConflicts(ctx context.Context, clients []identityv1alpha1.Client, secrets compile.Secrets) error {
	for i := range clients {
		c := &clients[i]
		existing, err := secrets.Owned(c, compile.CredentialsSecretName(c))
		if err != nil {
			continue // someone else's Secret, whatever the Client's status
		}
		if _, _, err := r.credentialsOf(ctx, c, existing); err != nil {
			if _, conflict := compile.AsProblem(err); !conflict {
				return err
			}
		}
	}
	return nil
}

// writeSnapshot writes the snapshot's parts when its content hash differs from the one
// stored: extra parts first, then part 0 (which readers start from), then it deletes
// parts the snapshot no longer has. An unchanged snapshot costs no write.
func (r *TenantReconciler) writeSnapshot(ctx context.Context, tenant *identityv1alpha1.Tenant, snap *snapshot.Snapshot) error {
	enc, err := snapshot.Encode(snap)
	if err != nil {
		return compile.Problemf(ReasonSnapshotTooLarge, "the Tenant cannot be compiled: %v", err)
	}
	uid := string(tenant.UID)
	var list corev1.SecretList
	if err := r.Client.List(ctx, &list, client.InNamespace(r.opts.Namespace), client.MatchingLabels{
		snapshot.LabelComponent: snapshot.ComponentSnapshot, snapshot.LabelTenantUID: uid,
	}); err != nil {
		return err
	}
	existing := make(map[string]*corev1.Secret, len(list.Items))
	for i := range list.Items {
		existing[list.Items[i].Name] = &list.Items[i]
	}
	// Part 0 last: a reader that sees its new hash finds the other parts already written.
	for i := len(enc.Parts) - 1; i >= 0; i-- {
		name := snapshot.SecretName(uid, i)
		d := desiredSecret{
			Namespace: r.opts.Namespace,
			Name:      name,
			Labels:    map[string]string{snapshot.LabelComponent: snapshot.ComponentSnapshot, snapshot.LabelTenantUID: uid},
			Annotations: map[string]string{
				snapshot.AnnotationTenant:      tenantKey(tenant),
				snapshot.AnnotationContentHash: enc.Hash,
				snapshot.AnnotationParts:       strconv.Itoa(len(enc.Parts)),
			},
			Data: map[string][]byte{snapshot.DataKey: enc.Parts[i]},
		}
		if err := r.apply(ctx, d, existing[name]); err != nil {
			return err
		}
		delete(existing, name)
	}
	for _, stale := range existing {
		if err := client.IgnoreNotFound(r.Client.Delete(ctx, stale)); err != nil {
			return err
		}
	}
	return nil
}
