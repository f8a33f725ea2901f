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
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// AnnotationNotBefore on a signing-key Secret is when the key becomes, or became,
// current (RFC 3339). The key's state follows from it and the other keys' (see package keys).
const AnnotationNotBefore = "identity.gatehouse.dev/not-before"

// AnnotationRotationRequest on the key Secret that a manual rotation made current holds
// the rotate-keys value it acted on. The Tenant's status says the same, but a reconcile
// can read a Tenant from a cache that does not show its own last status write yet; the
// key, read from the API server before any rotation, makes a rotation happen only once.
const AnnotationRotationRequest = "identity.gatehouse.dev/rotation-request"

// ConditionKeyRepaired is True once a signing key Secret had to be replaced because it
// was deleted or tampered with; its message and lastTransitionTime tell the last repair.
const ConditionKeyRepaired = "KeyRepaired"

// storedKey is a verified signing key and the PEM it is stored as.
type storedKey struct {
	keys.Key
	pem []byte
	// rotation is the rotation request that made the key current, if any.
	rotation string
}

// reconcileKeys verifies the Tenant's key Secrets, repairs, rotates and generates keys
// as the lifecycle decides, and returns the keys with their states and the kids of the
// keys to remove. Those are deleted only once a snapshot without them is written
// (deleteKeys): the token server would otherwise see a snapshot naming a missing key.
func (r *TenantReconciler) reconcileKeys(ctx context.Context, tenant *identityv1alpha1.Tenant, ch compile.Children) (stated []keys.StatedKey, retired []string, err error) {
	now := r.now()
	policy := keyPolicy(tenant, ch.APIs)
	rotation := tenant.Annotations[identityv1alpha1.RotateKeysAnnotation]
	rotate := rotation != "" && rotation != tenant.Status.LastRotationRequest

	seen := map[string]bool{}
	stored, err := r.loadKeys(ctx, r.Client, tenant, seen)
	if err != nil {
		return nil, nil, err
	}
	rotate = rotate && !rotatedFor(stored, rotation)
	plan := keys.Decide(keyList(stored), now, policy, rotate)
	if len(plan.Generate) > 0 {
		// The cache may not show a key written moments ago; generating on a stale view
		// would replace keys, so confirm with the API server first. A rotation always
		// generates, so it is always confirmed here.
		if stored, err = r.loadKeys(ctx, r.APIReader, tenant, seen); err != nil {
			return nil, nil, err
		}
		rotate = rotate && !rotatedFor(stored, rotation)
		plan = keys.Decide(keyList(stored), now, policy, rotate)
		if len(plan.Generate) > 0 {
			// Only now, with the API server's view, is a key missing from status lost.
			r.reportLostKeys(tenant, seen)
		}
	}

	for _, k := range plan.Remove {
		retired = append(retired, k.KID)
		stored = slices.DeleteFunc(stored, func(s storedKey) bool { return s.KID == k.KID })
	}
	if p := plan.Promote; p != nil {
		i := slices.IndexFunc(stored, func(s storedKey) bool { return s.KID == p.KID })
		stored[i].NotBefore = p.NotBefore
		stored[i].rotation = rotation
		if err := r.apply(ctx, r.keySecret(tenant, stored[i]), nil); err != nil {
			return nil, nil, err
		}
	}
	// All keys are generated before any is written: generating an RSA key takes long
	// enough that another controller would otherwise see, and act on, half a plan.
	generated := make([]storedKey, len(plan.Generate))
	for i, notBefore := range plan.Generate {
		if generated[i], err = generateKey(policy, notBefore); err != nil {
			return nil, nil, err
		}
	}
	for _, k := range generated {
		if err := r.apply(ctx, r.keySecret(tenant, k), nil); err != nil {
			return nil, nil, err
		}
		stored = append(stored, k)
	}
	if rotatedFor(stored, rotation) {
		tenant.Status.LastRotationRequest = rotation
	}
	if rotate {
		r.Recorder.Eventf(tenant, nil, corev1.EventTypeNormal, ReasonKeyRotated, "RotateKeys",
			"rotation %q: the next signing key is now current and a new next key is published", rotation)
	}
	return keys.States(keyList(stored), now, policy.MaxTokenLifetime), retired, nil
}

// keyPolicy is what a Tenant asks of its keys. The longest token lifetime counts API
// overrides, since a previous key must outlive every token it signed.
func keyPolicy(tenant *identityv1alpha1.Tenant, apis []identityv1alpha1.API) keys.Policy {
	p := keys.Policy{
		Algorithm:        string(tenant.Spec.SigningKeys.Algorithm),
		RotationPeriod:   tenant.Spec.SigningKeys.RotationPeriod.Duration,
		MaxTokenLifetime: max(tenant.Spec.Tokens.AccessTokenLifetime.Duration, tenant.Spec.Tokens.IDTokenLifetime.Duration),
	}
	if p.Algorithm == "" {
		p.Algorithm = keys.RS256
	}
	if p.Algorithm != keys.ES256 {
		p.Bits = keys.DefaultRSABits
		if b := tenant.Spec.SigningKeys.RSAKeySize; b != nil {
			p.Bits = int(*b)
		}
	}
	for _, api := range apis {
		if api.Spec.TokenLifetime != nil {
			p.MaxTokenLifetime = max(p.MaxTokenLifetime, api.Spec.TokenLifetime.Duration)
		}
	}
	return p
}

// loadKeys reads the Tenant's key Secrets and verifies them. A Secret that is unusable
// (unparseable, another algorithm, a kid or name that does not match its key) is
// deleted and reported, so that the lifecycle replaces the key it held. The names of
// all key Secrets found are added to seen.
func (r *TenantReconciler) loadKeys(ctx context.Context, reader client.Reader, tenant *identityv1alpha1.Tenant, seen map[string]bool) ([]storedKey, error) {
	var list corev1.SecretList
	if err := reader.List(ctx, &list, client.InNamespace(r.opts.Namespace), client.MatchingLabels{
		snapshot.LabelComponent: snapshot.ComponentSigningKey, snapshot.LabelTenantUID: string(tenant.UID),
	}); err != nil {
		return nil, err
	}
	var stored []storedKey
	for i := range list.Items {
		s := &list.Items[i]
		seen[s.Name] = true
		k, err := parseKeySecret(s, string(tenant.UID))
		if err == nil {
			stored = append(stored, k)
			continue
		}
		if err := client.IgnoreNotFound(r.Client.Delete(ctx, s, client.Preconditions{UID: &s.UID})); err != nil && !apierrors.IsConflict(err) {
			return nil, err
		}
		r.keyRepaired(tenant, "SecretTampered", fmt.Sprintf("signing key Secret %s was unusable (%v); it was deleted and its key replaced", s.Name, err))
	}
	return stored, nil
}

// reportLostKeys reports the next and current keys that status lists but whose Secrets
// were not seen: they were deleted, and the lifecycle replaces them.
func (r *TenantReconciler) reportLostKeys(tenant *identityv1alpha1.Tenant, seen map[string]bool) {
	for _, ks := range tenant.Status.Keys {
		if ks.State == identityv1alpha1.KeyStatePrevious || seen[keys.SecretName(string(tenant.UID), ks.KID)] {
			continue
		}
		r.keyRepaired(tenant, "SecretDeleted", fmt.Sprintf("the Secret of the %s signing key %s was deleted; the key is replaced", ks.State, ks.KID))
	}
}

func (r *TenantReconciler) keyRepaired(tenant *identityv1alpha1.Tenant, reason, message string) {
	r.Recorder.Eventf(tenant, nil, corev1.EventTypeWarning, ReasonKeyRepaired, "RepairKey", "%s", message)
	cond := metav1.Condition{
		Type: ConditionKeyRepaired, Status: metav1.ConditionTrue, Reason: reason, Message: message,
		ObservedGeneration: tenant.Generation, LastTransitionTime: metav1.NewTime(r.now()),
	}
	setKeyRepaired(tenant, cond)
	r.repairs.Store(tenant.UID, cond)
}

// setKeyRepaired sets the KeyRepaired condition, removing the old one first so that
// lastTransitionTime tells when the last repair happened.
func setKeyRepaired(tenant *identityv1alpha1.Tenant, cond metav1.Condition) {
	meta.RemoveStatusCondition(&tenant.Status.Conditions, ConditionKeyRepaired)
	meta.SetStatusCondition(&tenant.Status.Conditions, cond)
}

// reportPendingRepair puts back in status a repair whose status write was refused.
func (r *TenantReconciler) reportPendingRepair(tenant *identityv1alpha1.Tenant) {
	pending, ok := r.repairs.Load(tenant.UID)
	if !ok {
		return
	}
	cond := pending.(metav1.Condition)
	if old := meta.FindStatusCondition(tenant.Status.Conditions, ConditionKeyRepaired); old == nil || old.LastTransitionTime.Before(&cond.LastTransitionTime) {
		cond.ObservedGeneration = tenant.Generation
		setKeyRepaired(tenant, cond)
	}
}

// repairReported forgets a pending repair once a status holding it is written.
func (r *TenantReconciler) repairReported(tenant *identityv1alpha1.Tenant) {
	pending, ok := r.repairs.Load(tenant.UID)
	if !ok {
		return
	}
	cond := pending.(metav1.Condition)
	if written := meta.FindStatusCondition(tenant.Status.Conditions, ConditionKeyRepaired); written != nil && !written.LastTransitionTime.Before(&cond.LastTransitionTime) {
		r.repairs.CompareAndDelete(tenant.UID, pending)
	}
}

// deleteKeys deletes the Secrets of retired keys.
func (r *TenantReconciler) deleteKeys(ctx context.Context, tenant *identityv1alpha1.Tenant, kids []string) error {
	for _, kid := range kids {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: r.opts.Namespace, Name: keys.SecretName(string(tenant.UID), kid)}}
		if err := client.IgnoreNotFound(r.Client.Delete(ctx, s)); err != nil {
			return err
		}
	}
	return nil
}

func (r *TenantReconciler) keySecret(tenant *identityv1alpha1.Tenant, k storedKey) desiredSecret {
	uid := string(tenant.UID)
	d := desiredSecret{
		Namespace: r.opts.Namespace,
		Name:      keys.SecretName(uid, k.KID),
		Labels:    map[string]string{snapshot.LabelComponent: snapshot.ComponentSigningKey, snapshot.LabelTenantUID: uid},
		Annotations: map[string]string{
			snapshot.AnnotationTenant:    tenantKey(tenant),
			snapshot.AnnotationKID:       k.KID,
			snapshot.AnnotationAlgorithm: k.Algorithm,
			AnnotationNotBefore:          k.NotBefore.UTC().Format(time.RFC3339),
		},
		Data: map[string][]byte{snapshot.KeySecretDataKey: k.pem},
	}
	if k.rotation != "" {
		d.Annotations[AnnotationRotationRequest] = k.rotation
	}
	return d
}

// parseKeySecret verifies a key Secret: the key parses, suits its algorithm, and its
// kid (a thumbprint of its public half) matches both the annotation and the name.
func parseKeySecret(s *corev1.Secret, tenantUID string) (storedKey, error) {
	alg := s.Annotations[snapshot.AnnotationAlgorithm]
	signer, err := jwt.ParsePrivateKey(s.Data[snapshot.KeySecretDataKey], jose.SignatureAlgorithm(alg))
	if err != nil {
		return storedKey{}, err
	}
	kid, err := keys.KID(signer)
	if err != nil {
		return storedKey{}, err
	}
	if kid != s.Annotations[snapshot.AnnotationKID] || s.Name != keys.SecretName(tenantUID, kid) {
		return storedKey{}, errors.New("its kid does not match its key")
	}
	notBefore, err := time.Parse(time.RFC3339, s.Annotations[AnnotationNotBefore])
	if err != nil {
		return storedKey{}, fmt.Errorf("annotation %s: %w", AnnotationNotBefore, err)
	}
	return storedKey{
		Key:      keys.Key{KID: kid, Algorithm: alg, Bits: keys.Size(signer), NotBefore: notBefore.UTC()},
		pem:      s.Data[snapshot.KeySecretDataKey],
		rotation: s.Annotations[AnnotationRotationRequest],
	}, nil
}

func generateKey(policy keys.Policy, notBefore time.Time) (storedKey, error) {
	signer, err := keys.Generate(policy.Algorithm, policy.Bits)
	if err != nil {
		return storedKey{}, err
	}
	pemBytes, err := keys.EncodePEM(signer)
	if err != nil {
		return storedKey{}, err
	}
	kid, err := keys.KID(signer)
	if err != nil {
		return storedKey{}, err
	}
	return storedKey{
		Key: keys.Key{KID: kid, Algorithm: policy.Algorithm, Bits: keys.Size(signer), NotBefore: notBefore},
		pem: pemBytes,
	}, nil
}

// rotatedFor reports whether a key was made current by the rotation request.
func rotatedFor(stored []storedKey, rotation string) bool {
	return rotation != "" && slices.ContainsFunc(stored, func(s storedKey) bool { return s.rotation == rotation })
}

func keyList(stored []storedKey) []keys.Key {
	out := make([]keys.Key, len(stored))
	for i, s := range stored {
		out[i] = s.Key
	}
	return out
}
