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
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// TestRetryStale: a reconcile that failed only on stale views runs again soon without
// counting as a failure; any other error, alone or among stale views, stays an error.
func TestRetryStale(t *testing.T) {
	conflict := apierrors.NewConflict(schema.GroupResource{Group: "identity.gatehouse.dev", Resource: "tenants"}, "acme", errors.New("the object has been modified"))
	other := errors.New("connection refused")
	for _, tc := range []struct {
		name  string
		err   error
		stale bool
	}{
		{"a refused status write", fmt.Errorf("writing status: %w", conflict), true},
		{"a stale Client", errStaleClient, true},
		{"both, joined", errors.Join(errStaleClient, fmt.Errorf("writing status: %w", conflict)), true},
		{"another error", other, false},
		{"another error beside a conflict", errors.Join(conflict, other), false},
		{"a wrapped join with another error", fmt.Errorf("reconciling: %w", errors.Join(conflict, other)), false},
		{"not found", apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, "x"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			inner := reconcile.Func(func(context.Context, reconcile.Request) (reconcile.Result, error) {
				return reconcile.Result{RequeueAfter: time.Hour}, tc.err
			})
			result, err := retryStale(inner).Reconcile(context.Background(), reconcile.Request{})
			if tc.stale && (err != nil || result.RequeueAfter != staleRetry) {
				t.Errorf("got %+v, %v; want a retry after %v and no error", result, err, staleRetry)
			}
			if !tc.stale && !errors.Is(err, tc.err) {
				t.Errorf("got %+v, %v; want the error", result, err)
			}
		})
	}
}
