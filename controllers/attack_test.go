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
	"fmt"
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// TestAttackProtectionIsCompiled checks that the snapshot carries the Tenant's attack
// protection, each value of its unblock annotation, and a Client's trustForwardedFor.
func TestAttackProtectionIsCompiled(t *testing.T) {
	s := newSample(t, func(tn *identityv1alpha1.Tenant) {
		tn.Spec.AttackProtection.BruteForce = identityv1alpha1.BruteForceSpec{MaxAttempts: 3, CoolDown: metav1.Duration{Duration: 5 * time.Minute}}
		tn.Spec.AttackProtection.SuspiciousIPThrottling.Enabled = ptr.To(false)
	})
	update(t, s.client, func(c *identityv1alpha1.Client) { c.Spec.TrustForwardedFor = true })
	waitReady(t, s.objects()...)

	want := &snapshot.AttackProtection{
		BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 3, CoolDown: 5 * time.Minute},
		SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: false, MaxAttempts: 100, CoolDown: time.Hour},
	}
	expectSnapshot := func(what string, check func(*snapshot.Snapshot) error) {
		t.Helper()
		eventually(t, what, func() error {
			snap, err := readSnapshot(s.tenant)
			if err != nil {
				return err
			}
			return check(snap)
		})
	}
	expectSnapshot("attack protection and trusted client", func(snap *snapshot.Snapshot) error {
		if !reflect.DeepEqual(snap.AttackProtection, want) {
			return fmt.Errorf("attack protection %+v, want %+v", snap.AttackProtection, want)
		}
		if len(snap.Clients) != 1 || !snap.Clients[0].TrustForwardedFor {
			return fmt.Errorf("clients %+v, want one that trusts auth0-forwarded-for", snap.Clients)
		}
		if snap.Unblock != "" {
			return fmt.Errorf("unblock %q before any was asked", snap.Unblock)
		}
		return nil
	})

	for _, value := range []string{"alice@example.com,bob", "alice@example.com,bob;2", "*"} {
		update(t, s.tenant, func(tn *identityv1alpha1.Tenant) {
			metav1.SetMetaDataAnnotation(&tn.ObjectMeta, identityv1alpha1.UnblockAnnotation, value)
		})
		expectSnapshot("unblock "+value, func(snap *snapshot.Snapshot) error {
			if snap.Unblock != value {
				return fmt.Errorf("unblock %q, want %q", snap.Unblock, value)
			}
			return nil
		})
	}
}
