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
	"fmt"
	"maps"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	corev1ac "k8s.io/client-go/applyconfigurations/core/v1"
	metav1ac "k8s.io/client-go/applyconfigurations/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// desiredSecret is a Secret as this controller means it to be.
type desiredSecret struct {
	Namespace, Name string
	Labels          map[string]string
	Annotations     map[string]string
	Data            map[string][]byte
	// Owner, when set, controls the Secret so that it is garbage-collected with it.
	Owner client.Object
}

// upToDate reports whether existing already holds everything desired declares.
func (d desiredSecret) upToDate(existing *corev1.Secret) bool {
	return existing != nil &&
		containsAll(existing.Labels, d.Labels) &&
		containsAll(existing.Annotations, d.Annotations) &&
		maps.EqualFunc(existing.Data, d.Data, func(a, b []byte) bool { return string(a) == string(b) })
}

func containsAll(have, want map[string]string) bool {
	for k, v := range want {
		if got, ok := have[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// apply writes the Secret with server-side apply, unless existing is already up to date.
func (b *base) apply(ctx context.Context, d desiredSecret, existing *corev1.Secret) error {
	if d.upToDate(existing) {
		return nil
	}
	ac := corev1ac.Secret(d.Name, d.Namespace).
		WithType(corev1.SecretTypeOpaque).
		WithLabels(d.Labels).
		WithAnnotations(d.Annotations).
		WithData(d.Data)
	if d.Owner != nil {
		ref, err := b.controllerReference(d.Owner)
		if err != nil {
			return err
		}
		ac.WithOwnerReferences(metav1ac.OwnerReference().
			WithAPIVersion(ref.APIVersion).
			WithKind(ref.Kind).
			WithName(ref.Name).
			WithUID(ref.UID).
			WithController(true))
	}
	return b.Client.Apply(ctx, ac, client.FieldOwner(FieldManager), client.ForceOwnership)
}

// write writes a Secret whose content this controller generated (a client secret, an
// HS256 secret): it creates it when existing is nil, else applies d. Two controllers
// that generate the content at once cannot both create it: the second fails, retries,
// and keeps the first one's, which a workload may already use.
func (b *base) write(ctx context.Context, d desiredSecret, existing *corev1.Secret) error {
	if existing != nil {
		return b.apply(ctx, d, existing)
	}
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: d.Namespace, Name: d.Name, Labels: d.Labels, Annotations: d.Annotations},
		Type:       corev1.SecretTypeOpaque,
		Data:       d.Data,
	}
	if d.Owner != nil {
		ref, err := b.controllerReference(d.Owner)
		if err != nil {
			return err
		}
		s.OwnerReferences = []metav1.OwnerReference{ref}
	}
	if err := b.Client.Create(ctx, s, client.FieldOwner(FieldManager)); err != nil {
		return fmt.Errorf("creating Secret %s (written meanwhile by another controller?): %w", d.Name, err)
	}
	return nil
}

// controllerReference makes owner the controller of an object, without blocking the
// owner's deletion.
func (b *base) controllerReference(owner client.Object) (metav1.OwnerReference, error) {
	gvk, err := apiutil.GVKForObject(owner, b.Client.Scheme())
	if err != nil {
		return metav1.OwnerReference{}, err
	}
	return metav1.OwnerReference{
		APIVersion: gvk.GroupVersion().String(), Kind: gvk.Kind,
		Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true),
	}, nil
}

// ownedSecret returns the Secret name of owner's namespace when owner controls it, nil
// when it does not exist, and a SecretConflict problem when it is someone else's
// (compile.Secrets.Owned): a Secret a user made is never overwritten.
func (b *base) ownedSecret(ctx context.Context, owner client.Object, name string) (*corev1.Secret, error) {
	secrets, err := b.readSecrets(ctx, owner.GetNamespace(), []string{name})
	if err != nil {
		return nil, err
	}
	return secrets.Owned(owner, name)
}

// readSecrets reads the Secrets of namespace that names lists, for compile to check,
// uncached: the cache holds no Secret of a user's namespace. One that does not exist is
// left out, and compile reports it; any other error is returned.
func (b *base) readSecrets(ctx context.Context, namespace string, names []string) (compile.Secrets, error) {
	secrets := make(compile.Secrets, len(names))
	for _, name := range names {
		var s corev1.Secret
		err := b.APIReader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &s)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, err
		}
		secrets[name] = &s
	}
	return secrets, nil
}

// userSecretMeta is the labels and annotations of a Secret written in a user's
// namespace: the label puts it in the cache, the annotation maps it back to its Tenant.
func userSecretMeta(component, namespace, tenant string) (labels, annotations map[string]string) {
	return map[string]string{snapshot.LabelComponent: component},
		map[string]string{snapshot.AnnotationTenant: namespace + "/" + tenant}
}

// tenantKey is the snapshot.AnnotationTenant value of a Tenant.
func tenantKey(t *identityv1alpha1.Tenant) string {
	return t.Namespace + "/" + t.Name
}
