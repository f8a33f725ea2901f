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

package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// peerKey waits until the peer key Secret exists with a usable key and returns it.
func peerKey(t *testing.T, unlike []byte) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	eventually(t, "a usable peer key", func() error {
		if err := k.Get(context.Background(), client.ObjectKey{Namespace: operatorNamespace, Name: snapshot.PeerKeySecretName}, s); err != nil {
			return err
		}
		key := s.Data[snapshot.PeerKeyDataKey]
		switch {
		case len(key) < snapshot.MinPeerKeyLength:
			return fmt.Errorf("key of %d bytes", len(key))
		case unlike != nil && bytes.Equal(key, unlike):
			return fmt.Errorf("still the old key")
		case s.Labels[snapshot.LabelComponent] != snapshot.ComponentPeerKey:
			return fmt.Errorf("labels %v", s.Labels)
		}
		return nil
	})
	return s
}

// TestPeerKeyIsRecreated checks that the controller writes the token servers' peer key
// at start, and a new one when it is deleted or unusable.
func TestPeerKeyIsRecreated(t *testing.T) {
	first := peerKey(t, nil)

	if err := k.Delete(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	second := peerKey(t, first.Data[snapshot.PeerKeyDataKey])

	second.Data[snapshot.PeerKeyDataKey] = []byte("too short")
	if err := k.Update(context.Background(), second); err != nil {
		t.Fatal(err)
	}
	// An unusable key is replaced.
	peerKey(t, []byte("too short"))
}
