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
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clocktesting "k8s.io/utils/clock/testing"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// TestPendingRepairSurvivesARefusedStatusWrite: a key repair whose status write was
// refused is reported by the next reconcile, which finds nothing to repair, and is
// forgotten once a status holding it is written.
func TestPendingRepairSurvivesARefusedStatusWrite(t *testing.T) {
	r := &TenantReconciler{base: base{Recorder: discardEvents{}, Clock: clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))}}
	repaired := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{UID: "t1", Generation: 3}}
	r.keyRepaired(repaired, "SecretTampered", "replaced")
	// The write of that status was refused; the retry starts from the stored status.
	retry := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{UID: "t1", Generation: 3}}
	r.reportPendingRepair(retry)
	if c := meta.FindStatusCondition(retry.Status.Conditions, ConditionKeyRepaired); c == nil || c.Reason != "SecretTampered" {
		t.Fatalf("the retry reports %+v, want the repair", c)
	}
	r.repairReported(retry)
	again := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{UID: "t1", Generation: 3}}
	r.reportPendingRepair(again)
	if c := meta.FindStatusCondition(again.Status.Conditions, ConditionKeyRepaired); c != nil {
		t.Errorf("a repair whose status was written is reported again: %+v", c)
	}
}

// discardEvents is an EventRecorder that records nothing.
type discardEvents struct{}

func (discardEvents) Eventf(runtime.Object, runtime.Object, string, string, string, string, ...any) {}
