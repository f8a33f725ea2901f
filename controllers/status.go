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
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
)

// Reasons this package adds to those of api/v1alpha1 and compile.
const (
	// ReasonSnapshotTooLarge says that the Tenant does not fit in a snapshot.
	ReasonSnapshotTooLarge = "SnapshotTooLarge"
	// ReasonKeyRepaired is the Event of a signing key Secret that was deleted or
	// tampered with and has been replaced.
	ReasonKeyRepaired = "KeyRepaired"
	// ReasonKeyRotated is the Event of a manual key rotation.
	ReasonKeyRotated = "KeyRotated"
	// ReasonClientSecretIssued is the Event of a client secret issued, first or anew
	// after its credentials Secret was deleted.
	ReasonClientSecretIssued = "ClientSecretIssued"
)

// setReady records the outcome of a reconcile in status: Ready from err (nil or a
// compile.Problem) and observedGeneration. It reports the problem when its condition is
// new, so that a broken object raises one Event rather than one per reconcile. It
// returns the error to hand to controller-runtime: nil for a problem, err otherwise.
func (b *base) setReady(obj client.Object, status *identityv1alpha1.CommonStatus, readyMessage string, err error) error {
	cond := metav1.Condition{
		Type:               identityv1alpha1.ConditionReady,
		Status:             metav1.ConditionTrue,
		Reason:             identityv1alpha1.ReasonReconciled,
		Message:            readyMessage,
		ObservedGeneration: obj.GetGeneration(),
		LastTransitionTime: metav1.NewTime(b.now()),
	}
	if err != nil {
		p, ok := compile.AsProblem(err)
		if !ok {
			return err // transient: retried with backoff, status unchanged
		}
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, p.Reason, p.Message
		old := meta.FindStatusCondition(status.Conditions, identityv1alpha1.ConditionReady)
		if old == nil || old.Reason != p.Reason || old.Message != p.Message {
			b.Recorder.Eventf(obj, nil, corev1.EventTypeWarning, p.Reason, "Reconcile", "%s", p.Message)
		}
	}
	meta.SetStatusCondition(&status.Conditions, cond)
	status.ObservedGeneration = obj.GetGeneration()
	return nil
}

// patchStatus writes obj's status when obj differs from before. Reconcilers change
// nothing but status in the objects they patch, so any difference is a status change.
// The patch holds before's resourceVersion: a status computed from a view older than the
// stored one (another controller's, or a stale cache's) is refused and recomputed, where
// it would otherwise overwrite a newer one, and status changes trigger no reconcile to
// correct it.
func (b *base) patchStatus(ctx context.Context, before, obj client.Object) error {
	if equality.Semantic.DeepEqual(before, obj) {
		return nil
	}
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := b.Client.Status().Patch(ctx, obj, patch); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("writing status: %w", err)
	}
	return nil
}

// childObject is a pointer to a Connection, API or Client.
type childObject[T any] interface {
	*T
	client.Object
}

// reconcileChild is the frame of the Connection, API and Client reconcilers: it loads the
// object that req names (a deleted one is nothing to do), runs reconcileFn on it, and
// then writes what reconcileFn left in its status, once, when that changed. reconcileFn
// may call checkpoint to write its status at once, before it acts on it (the Client
// records the credentials it issues before writing them).
func reconcileChild[T any, P childObject[T]](ctx context.Context, b *base, req reconcile.Request,
	reconcileFn func(obj P, checkpoint func() error) (reconcile.Result, error)) (_ reconcile.Result, retErr error) {
	obj := P(new(T))
	if err := b.Client.Get(ctx, req.NamespacedName, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	before := obj.DeepCopyObject().(client.Object)
	checkpoint := func() error {
		if err := b.patchStatus(ctx, before, obj); err != nil {
			return err
		}
		before = obj.DeepCopyObject().(client.Object)
		return nil
	}
	defer func() {
		retErr = errors.Join(retErr, b.patchStatus(ctx, before, obj))
	}()
	return reconcileFn(obj, checkpoint)
}

// tenantOf returns the Tenant an object of namespace belongs to, or a TenantNotFound problem.
func (b *base) tenantOf(ctx context.Context, namespace, name string) (*identityv1alpha1.Tenant, error) {
	var tenant identityv1alpha1.Tenant
	err := b.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &tenant)
	switch {
	case apierrors.IsNotFound(err):
		return nil, compile.Problemf(identityv1alpha1.ReasonTenantNotFound, "Tenant %q does not exist in namespace %q", name, namespace)
	case err != nil:
		return nil, err
	case !tenant.DeletionTimestamp.IsZero():
		return nil, compile.Problemf(identityv1alpha1.ReasonTenantNotFound, "Tenant %q is being deleted", name)
	}
	return &tenant, nil
}

// randomString is n random bytes, base64url without padding.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand documents it)
	return base64.RawURLEncoding.EncodeToString(b)
}

// now is the controller's clock, at the precision of the timestamps it stores (RFC 3339
// seconds), so that what it computes compares equal to what it reads back.
func (b *base) now() time.Time {
	return b.Clock.Now().UTC().Truncate(time.Second)
}

// count is a length as a status counter. Lengths here are bounded far below MaxInt32
// (a connection holds at most snapshot.MaxUsers users), so clamping never shows.
func count[T any](s []T) int32 {
	return int32(min(len(s), math.MaxInt32)) //nolint:gosec // clamped to MaxInt32 just above
}
