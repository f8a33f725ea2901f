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
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// staleRetry is how soon a reconcile that read a stale view runs again.
const staleRetry = 250 * time.Millisecond

// retryStale wraps a reconciler so that a reconcile that failed only because it read
// an object older than the API server's (a write refused by its resourceVersion, or
// errStaleClient) runs again after staleRetry, without counting as a failure. Counted,
// a burst of them, one for each event that the reconcile's own writes cause while the
// cache catches up, drove an object's backoff past a minute before anything retried it
// (a key rotation waited that long under load). The view is fresh again within
// moments, so the retry needs no backoff of its own.
func retryStale(r reconcile.Reconciler) reconcile.Reconciler {
	return reconcile.Func(func(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
		result, err := r.Reconcile(ctx, req)
		if err != nil && onlyStale(err) {
			ctrl.LoggerFrom(ctx).V(1).Info("retrying on a fresher view", "reason", err.Error())
			return reconcile.Result{RequeueAfter: staleRetry}, nil
		}
		return result, err
	})
}

// onlyStale reports whether err is a stale view and nothing else: every error it joins
// or wraps is one. It walks the tree itself, since errors.Is and errors.As find one
// stale view among others.
func onlyStale(err error) bool {
	switch e := err.(type) { //nolint:errorlint // each node of the tree, not the first match
	case apierrors.APIStatus:
		return apierrors.IsConflict(err)
	case interface{ Unwrap() []error }:
		parts := e.Unwrap()
		for _, part := range parts {
			if !onlyStale(part) {
				return false
			}
		}
		return len(parts) > 0
	case interface{ Unwrap() error }:
		return e.Unwrap() != nil && onlyStale(e.Unwrap())
	}
	return err == errStaleClient //nolint:errorlint // a leaf of the tree
}
