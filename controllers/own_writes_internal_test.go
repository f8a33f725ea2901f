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
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// TestNotOwnWrites: the events of a controller's own writes are dropped, whether they
// arrive before or after the write's response; any other change passes.
func TestNotOwnWrites(t *testing.T) {
	stored := &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "app", Generation: 1, ResourceVersion: "1"}}
	checkpoint := stored.DeepCopy()
	checkpoint.Status.ClientID, checkpoint.ResourceVersion = "id", "2"
	ready := checkpoint.DeepCopy()
	ready.Status.ObservedGeneration, ready.ResourceVersion = 1, "3"
	key := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "key", ResourceVersion: "4", Labels: map[string]string{"c": "key", "added": "x"}},
		Data:       map[string][]byte{"pem": []byte("k")},
	}
	tampered := key.DeepCopy()
	tampered.Data["pem"], tampered.ResourceVersion = []byte("other"), "5"

	own := &ownWrites{}
	own.writingStatus(checkpoint) // recorded before the write, as patchStatus does
	own.writingStatus(ready)
	desired := desiredSecret{Namespace: "ops", Name: "key", Labels: map[string]string{"c": "key"}, Data: map[string][]byte{"pem": []byte("k")}}
	own.writing(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ops", Name: "key"}}, desired.asWritten())
	p := notOwnWrites(own)

	specChanged := ready.DeepCopy()
	specChanged.Generation, specChanged.ResourceVersion = 2, "6"
	othersStatus := ready.DeepCopy()
	othersStatus.Status.ClientID, othersStatus.ResourceVersion = "planted", "7"
	annotated := ready.DeepCopy()
	annotated.Annotations, annotated.ResourceVersion = map[string]string{"poke": "1"}, "8"
	for _, tc := range []struct {
		name     string
		old, new client.Object
		want     bool
	}{
		{"the checkpoint, after the Ready write was recorded", stored, checkpoint, false},
		{"the Ready write", checkpoint, ready, false},
		{"a new generation", ready, specChanged, true},
		{"a status someone else wrote", ready, othersStatus, true},
		{"an annotation", ready, annotated, true},
		{"a resync", ready, ready, true},
		{"a Secret as written, beside a label of someone else's", tampered, key, false},
		{"a Secret tampered with", key, tampered, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := p.Update(event.UpdateEvent{ObjectOld: tc.old, ObjectNew: tc.new}); got != tc.want {
				t.Errorf("passed %v, want %v", got, tc.want)
			}
		})
	}
	if p.Create(event.CreateEvent{Object: key}) {
		t.Error("the creation of a Secret as written passed")
	}
	if !notOwnWrites(&ownWrites{}).Create(event.CreateEvent{Object: key}) {
		t.Error("another controller dropped the creation of a Secret it did not write")
	}
	if !p.Delete(event.DeleteEvent{Object: key}) {
		t.Error("a deletion was dropped")
	}
	if !p.Create(event.CreateEvent{Object: key}) {
		t.Error("a Secret created again after its deletion was dropped")
	}
}
