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
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// TestIssuedCredentials: a credentials Secret is the controller's only when status's
// digest says so; a Client of a release without the digest keeps its client_id but not
// a secret that anyone could have planted beside it.
func TestIssuedCredentials(t *testing.T) {
	secretOf := func(id, secret string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-credentials"},
			Data: map[string][]byte{credentialsClientID: []byte(id), credentialsClientSecret: []byte(secret)}}
	}
	status := func(id, digest string) *identityv1alpha1.Client {
		return &identityv1alpha1.Client{Status: identityv1alpha1.ClientStatus{ClientID: id, CredentialsDigest: digest}}
	}
	issued := credentialsDigest("id1", "s1")
	for _, tc := range []struct {
		name               string
		client             *identityv1alpha1.Client
		existing           *corev1.Secret
		wantID, wantSecret string
		conflict           bool
	}{
		{"no Secret", status("id1", issued), nil, "", "", false},
		{"the Secret the digest names", status("id1", issued), secretOf("id1", "s1"), "id1", "s1", false},
		{"another secret", status("id1", issued), secretOf("id1", "chosen"), "", "", true},
		{"another client_id", status("id1", issued), secretOf("chosen", "s1"), "", "", true},
		{"planted before anything was issued", status("", ""), secretOf("chosen", "chosen"), "", "", true},
		{"an older release's Client keeps its client_id, not the secret", status("id1", ""), secretOf("id1", "s1"), "id1", "", false},
		{"an older release's Client with another client_id", status("id1", ""), secretOf("chosen", "s1"), "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, err := issuedCredentials(tc.client, tc.existing)
			if p, ok := asProblem(err); ok != tc.conflict || (ok && p.reason != ReasonSecretConflict) {
				t.Fatalf("err = %v, want a conflict: %v", err, tc.conflict)
			}
			if id != tc.wantID || secret != tc.wantSecret {
				t.Errorf("got client_id %q, secret %q; want %q, %q", id, secret, tc.wantID, tc.wantSecret)
			}
		})
	}
}
