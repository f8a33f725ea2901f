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

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/azuread"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/oidc"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// ConnectionReconciler validates Connections: their Tenant exists and the Secrets they
// reference resolve to usable users, passwords and CA bundles.
type ConnectionReconciler struct {
	base
}

// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=connections,verbs=get;list;watch
// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=connections/status,verbs=get;patch;update

// Reconcile validates one Connection and writes its status.
func (r *ConnectionReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return reconcileChild(ctx, &r.base, req, func(conn *identityv1alpha1.Connection, _ func() error) (reconcile.Result, error) {
		resolved, err := r.validate(ctx, conn)
		conn.Status.Strategy = compile.Strategy(conn)
		conn.Status.Users = count(resolved.Users)
		if conn.Spec.Database != nil {
			// A Connection switched from a directory to a database has no directory to reach.
			meta.RemoveStatusCondition(&conn.Status.Conditions, identityv1alpha1.ConditionDirectoryReachable)
		}
		err = r.setReady(conn, &conn.Status.CommonStatus, "the connection is served", err)
		if err != nil || resolved.Strategy == "" || resolved.Strategy == snapshot.StrategyDatabase {
			return reconcile.Result{}, err // not resolved (Ready says why), or a database
		}
		return reconcile.Result{RequeueAfter: r.reportDirectory(ctx, conn, resolved)}, nil
	})
}

// How often a directory is checked again: soon while it fails, so that the condition
// follows a recovery, and now and then while it works.
const (
	recheckUnreachableDirectory = 30 * time.Second
	recheckReachableDirectory   = 10 * time.Minute
)

// reportDirectory checks the directory of a Connection other than a database (see
// CheckDirectory), records the outcome in the DirectoryReachable condition (with an
// Event when it changes), and returns when to check again.
func (r *ConnectionReconciler) reportDirectory(ctx context.Context, conn *identityv1alpha1.Connection, resolved snapshot.Connection) time.Duration {
	check := r.opts.CheckDirectory
	if check == nil {
		check = CheckDirectory
	}
	cond := metav1.Condition{
		Type:               identityv1alpha1.ConditionDirectoryReachable,
		Status:             metav1.ConditionTrue,
		Reason:             identityv1alpha1.ReasonDirectoryReachable,
		Message:            reachableMessage(resolved),
		ObservedGeneration: conn.Generation,
	}
	recheck := recheckReachableDirectory
	if err := check(ctx, resolved); err != nil {
		// The operator's log keeps the whole error; the condition, which the namespace's
		// users read, says why in words of its own.
		ctrl.LoggerFrom(ctx).Info("directory check failed", "error", err)
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, identityv1alpha1.ReasonDirectoryUnreachable, describeCheckError(resolved, err)
		recheck = recheckUnreachableDirectory
	}
	if old := meta.FindStatusCondition(conn.Status.Conditions, cond.Type); old == nil || old.Reason != cond.Reason {
		eventType := corev1.EventTypeNormal
		if cond.Status == metav1.ConditionFalse {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(conn, nil, eventType, cond.Reason, "CheckDirectory", "%s", cond.Message)
	}
	meta.SetStatusCondition(&conn.Status.Conditions, cond)
	return recheck
}

// CheckDirectory binds to the directory of an LDAP or Active Directory connection as its
// service account and reads its base DN; of an upstream identity provider's connection
// (azureAD, adfs, oidc), it reads and checks the document its logins start from: within
// the connection's timeout.
func CheckDirectory(ctx context.Context, c snapshot.Connection) error {
	switch {
	case c.AzureAD != nil:
		ctx, cancel := context.WithTimeout(ctx, c.AzureAD.Timeout)
		defer cancel()
		return azuread.Check(ctx, *c.AzureAD)
	case c.OIDC != nil:
		return oidc.Check(ctx, *c.OIDC)
	case c.LDAP != nil:
		ctx, cancel := context.WithTimeout(ctx, c.LDAP.Timeout)
		defer cancel()
		return ldap.Check(ctx, *c.LDAP)
	case c.ActiveDirectory != nil:
		ctx, cancel := context.WithTimeout(ctx, c.ActiveDirectory.Timeout)
		defer cancel()
		return ldap.CheckActiveDirectory(ctx, *c.ActiveDirectory)
	case c.ADFS != nil:
		ctx, cancel := context.WithTimeout(ctx, c.ADFS.Timeout)
		defer cancel()
		return adfs.Check(ctx, *c.ADFS)
	}
	return nil
}

// validate compiles conn as its Tenant's snapshot does: with the Secrets it references.
func (r *ConnectionReconciler) validate(ctx context.Context, conn *identityv1alpha1.Connection) (snapshot.Connection, error) {
	if _, err := r.tenantOf(ctx, conn.Namespace, conn.Spec.TenantRef.Name); err != nil {
		return snapshot.Connection{}, err
	}
	secrets, err := r.readSecrets(ctx, conn.Namespace, compile.ConnectionSecretNames(conn))
	if err != nil {
		return snapshot.Connection{}, err
	}
	return compile.Connection(conn, secrets, r.opts.PasswordCaps)
}

func (r *ConnectionReconciler) setup(mgr ctrl.Manager, opts controller.Options, secrets userSecrets) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.Connection{}).
		Watches(&identityv1alpha1.Tenant{}, childrenOf(mgr.GetClient(), &identityv1alpha1.ConnectionList{}),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(secrets.referencedBy(referencing(mgr.GetClient(), &identityv1alpha1.ConnectionList{}, requestsFor))).
		WithOptions(opts).
		Named("connection").
		Complete(retryStale(r))
}
