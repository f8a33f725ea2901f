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
	"crypto/sha256"
	"encoding/json"
	"reflect"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
)

// ownWrites remembers what one controller last wrote of each object (a status, a
// Secret's content), so that the watch event of its own write, which tells it nothing it
// does not know, does not make it reconcile again. A write is recorded before it is made:
// its event often arrives before its response does. An event passes when the object
// differs from what the controller wrote: its spec changed, or anyone else changed what
// the controller wrote (a status, a key), or deleted it. Each controller has its own:
// another controller's writes are news to it (a Client's status is the Tenant's input).
//
// An object keeps the checks of its last two writes (a Client records its credentials,
// then reports Ready), until it is deleted: their number is bounded by the objects the
// controller writes, and each is a digest or a few labels.
type ownWrites struct {
	mu     sync.Mutex
	writes map[writtenKey][2]func(client.Object) bool
}

// writtenKey names an object of one kind.
type writtenKey struct {
	kind reflect.Type
	types.NamespacedName
}

func keyOf(o client.Object) writtenKey {
	return writtenKey{kind: reflect.TypeOf(o), NamespacedName: client.ObjectKeyFromObject(o)}
}

// writing records a write that o is about to make, by a check of whether an object is
// as it leaves it.
func (w *ownWrites) writing(o client.Object, asWritten func(client.Object) bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.writes == nil {
		w.writes = map[writtenKey][2]func(client.Object) bool{}
	}
	k := keyOf(o)
	w.writes[k] = [2]func(client.Object) bool{asWritten, w.writes[k][0]}
}

// writingStatus records the status write of obj, as it is now.
func (w *ownWrites) writingStatus(obj client.Object) {
	if want, ok := statusDigest(obj); ok {
		w.writing(obj, func(o client.Object) bool {
			got, ok := statusDigest(o)
			return ok && got == want
		})
	}
}

// isOwn reports whether o is as one of the last two writes of this controller left it.
func (w *ownWrites) isOwn(o client.Object) bool {
	w.mu.Lock()
	checks := w.writes[keyOf(o)]
	w.mu.Unlock()
	for _, asWritten := range checks {
		if asWritten != nil && asWritten(o) {
			return true
		}
	}
	return false
}

func (w *ownWrites) forget(o client.Object) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.writes, keyOf(o))
}

// notOwnWrites passes every event but those of the controller's own writes. A resync
// (an update to the same resourceVersion) passes: it is the informers' periodic safety
// net, not news of a write.
func notOwnWrites(w *ownWrites) predicate.Funcs {
	return predicate.Funcs{
		CreateFunc: func(e event.CreateEvent) bool { return !w.isOwn(e.Object) },
		UpdateFunc: func(e event.UpdateEvent) bool {
			return e.ObjectOld.GetResourceVersion() == e.ObjectNew.GetResourceVersion() || !w.isOwn(e.ObjectNew)
		},
		DeleteFunc: func(e event.DeleteEvent) bool {
			w.forget(e.Object)
			return true
		},
	}
}

// statusDigest digests an object's status and what else the status write leaves as it
// found it: the generation (the spec), labels, annotations, finalizers, owners and
// deletion. So an event passes for any change but the status write's own. It is false
// for an object without status.
func statusDigest(o client.Object) ([sha256.Size]byte, bool) {
	status := reflect.Indirect(reflect.ValueOf(o)).FieldByName("Status")
	if !status.IsValid() {
		return [sha256.Size]byte{}, false
	}
	raw, err := json.Marshal(struct {
		Generation        int64                   `json:"generation"`
		Labels            map[string]string       `json:"labels"`
		Annotations       map[string]string       `json:"annotations"`
		Finalizers        []string                `json:"finalizers"`
		OwnerReferences   []metav1.OwnerReference `json:"ownerReferences"`
		DeletionTimestamp *metav1.Time            `json:"deletionTimestamp"`
		Status            any                     `json:"status"`
	}{o.GetGeneration(), o.GetLabels(), o.GetAnnotations(), o.GetFinalizers(), o.GetOwnerReferences(), o.GetDeletionTimestamp(), status.Interface()})
	return sha256.Sum256(raw), err == nil
}
