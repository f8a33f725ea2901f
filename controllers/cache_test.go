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
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// TestSlimSecretMetadata: what the controller keeps of a user's Secret is bounded,
// however large the labels and annotations its namespace gives it.
func TestSlimSecretMetadata(t *testing.T) {
	controller := metav1.OwnerReference{APIVersion: "identity.gatehouse.dev/v1alpha1", Kind: "Client", Name: "app", UID: "u1", Controller: ptr.To(true)}
	big := strings.Repeat("x", 200_000)
	in := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: "team-a", Name: "app-credentials", UID: "s1", ResourceVersion: "7",
		Labels:          map[string]string{snapshot.LabelComponent: snapshot.ComponentClientCredentials, "padding": "y"},
		Annotations:     map[string]string{snapshot.AnnotationTenant: "team-a/acme", "padding": big},
		OwnerReferences: []metav1.OwnerReference{{Kind: "Other", Name: "x", UID: "u2"}, controller},
		Finalizers:      []string{big},
	}}
	out, err := slimSecretMetadata(in)
	if err != nil {
		t.Fatal(err)
	}
	want := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{
		Namespace: "team-a", Name: "app-credentials", UID: "s1", ResourceVersion: "7",
		Annotations:     map[string]string{snapshot.AnnotationTenant: "team-a/acme"},
		OwnerReferences: []metav1.OwnerReference{controller},
	}}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("kept %+v, want %+v", out, want)
	}
}
