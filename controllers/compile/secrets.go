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
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// Secrets are the Secrets of one namespace that compiling its objects reads, by name: the
// ones users reference and the ones the controller generated there. A name they lack is a
// Secret that does not exist.
type Secrets map[string]*corev1.Secret

// value is the value of ref's key in the Secret of namespace that ref names. A missing
// Secret or key is a SecretNotFound problem; a Secret without the opt-in label
// LabelReferable is a SecretNotReferable problem, and its data is not looked at.
func (s Secrets) value(namespace string, ref identityv1alpha1.SecretKeySelector) ([]byte, error) {
	secret, ok := s[ref.Name]
	if !ok {
		return nil, Problemf(identityv1alpha1.ReasonSecretNotFound, "Secret %q does not exist", ref.Name)
	}
	if secret.Labels[identityv1alpha1.LabelReferable] != "true" {
		return nil, Problemf(identityv1alpha1.ReasonSecretNotReferable,
			"Secret %q is not labelled %s=true, so Gatehouse does not read it; if it is meant for this object, label it: kubectl label secret %s -n %s %s=true",
			ref.Name, identityv1alpha1.LabelReferable, ref.Name, namespace, identityv1alpha1.LabelReferable)
	}
	value, ok := secret.Data[ref.Key]
	if !ok {
		return nil, Problemf(identityv1alpha1.ReasonSecretNotFound, "Secret %q has no key %q", ref.Name, ref.Key)
	}
	return value, nil
}

// Owned returns the Secret name that the controller generates for owner, nil when it is
// not written yet, and a SecretConflict problem when owner does not control it: a Secret
// someone else made is never overwritten, nor read as the controller's.
func (s Secrets) Owned(owner metav1.Object, name string) (*corev1.Secret, error) {
	secret := s[name]
	if secret != nil && !metav1.IsControlledBy(secret, owner) {
		return nil, Problemf(ReasonSecretConflict, "Secret %q exists and does not belong to this object; delete it or choose another name", name)
	}
	return secret, nil
}
