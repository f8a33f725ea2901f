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
	"cmp"
	"context"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// compile builds the snapshot of a Tenant from its keys and the children that resolve.
// A child whose references do not resolve is left out (its own status says why); any
// other error aborts the compile, so a transient failure never drops a child.
func (r *TenantReconciler) compile(ctx context.Context, tenant *identityv1alpha1.Tenant, ch children, stated []keys.StatedKey) (*snapshot.Snapshot, error) {
	snap := &snapshot.Snapshot{
		Version:             snapshot.FormatVersion,
		Tenant:              snapshot.TenantRef{Namespace: tenant.Namespace, Name: tenant.Name, UID: string(tenant.UID), Created: tenant.CreationTimestamp.UTC()},
		DisplayName:         tenant.Spec.DisplayName,
		Issuer:              issuerOf(tenant, r.opts.TokenServerURL, r.opts.Namespace),
		Domain:              tenant.Spec.Domain,
		DefaultDirectory:    tenant.Spec.DefaultDirectory,
		DefaultAudience:     tenant.Spec.DefaultAudience,
		AccessTokenLifetime: tenant.Spec.Tokens.AccessTokenLifetime.Duration,
		IDTokenLifetime:     tenant.Spec.Tokens.IDTokenLifetime.Duration,
		AttackProtection:    attackProtectionOf(tenant.Spec.AttackProtection),
		Unblock:             tenant.Annotations[identityv1alpha1.UnblockAnnotation],
	}
	for _, k := range stated {
		snap.Keys = append(snap.Keys, snapshot.Key{
			KID: k.KID, Algorithm: k.Algorithm, State: k.State, SecretName: keys.SecretName(string(tenant.UID), k.KID),
		})
	}
	var err error
	if snap.Connections, err = resolveAll(ctx, ch.connections, r.resolveConnection); err != nil {
		return nil, err
	}
	if snap.APIs, err = resolveAll(ctx, ch.apis, r.resolveAPI); err != nil {
		return nil, err
	}
	if snap.Clients, err = resolveAll(ctx, ch.clients, r.resolveClient); err != nil {
		return nil, err
	}
	return snap, nil
}

// attackProtectionOf compiles the Tenant's attack protection. The API server defaults
// every field; a field left unset, by a client that bypassed defaulting, is on.
func attackProtectionOf(spec identityv1alpha1.AttackProtectionSpec) *snapshot.AttackProtection {
	defaults := snapshot.DefaultAttackProtection()
	limit := func(enabled *bool, maxAttempts int32, coolDown metav1.Duration, def snapshot.AttackLimit) snapshot.AttackLimit {
		return snapshot.AttackLimit{
			Enabled:     ptr.Deref(enabled, true),
			MaxAttempts: cmp.Or(int(maxAttempts), def.MaxAttempts),
			CoolDown:    cmp.Or(coolDown.Duration, def.CoolDown),
		}
	}
	bf, ip := spec.BruteForce, spec.SuspiciousIPThrottling
	return &snapshot.AttackProtection{
		BruteForce:             limit(bf.Enabled, bf.MaxAttempts, bf.CoolDown, defaults.BruteForce),
		SuspiciousIPThrottling: limit(ip.Enabled, ip.MaxAttempts, ip.CoolDown, defaults.SuspiciousIPThrottling),
	}
}

// resolveAll resolves each object, leaving out those with a problem.
func resolveAll[T any, PT interface{ *T }, Out any](ctx context.Context, objs []T, resolve func(context.Context, PT) (Out, error)) ([]Out, error) {
	var out []Out
	for i := range objs {
		o, err := resolve(ctx, PT(&objs[i]))
		if _, isProblem := asProblem(err); isProblem {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}

// writeSnapshot writes the snapshot's parts when its content hash differs from the one
// stored: extra parts first, then part 0 (which readers start from), then it deletes
// parts the snapshot no longer has. An unchanged snapshot costs no write.
func (r *TenantReconciler) writeSnapshot(ctx context.Context, tenant *identityv1alpha1.Tenant, snap *snapshot.Snapshot) error {
	enc, err := snapshot.Encode(snap)
	if err != nil {
		return newProblem(ReasonSnapshotTooLarge, "the Tenant cannot be compiled: %v", err)
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
