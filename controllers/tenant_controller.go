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
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// tenantFinalizer makes a Tenant's deletion wait until its Secrets in the operator's
// namespace are deleted: cross-namespace owner references do not exist.
const tenantFinalizer = "identity.gatehouse.dev/cleanup"

// TenantReconciler keeps each Tenant's signing keys and compiled snapshot in the
// operator's namespace, and reports them in the Tenant's status.
type TenantReconciler struct {
	base
	// repairs holds, by Tenant UID, the KeyRepaired condition of a key repair whose
	// status write has not succeeded yet (refused as computed from a stale view): the
	// repair is done, the bad Secret gone, so the reconcile that retries finds nothing to
	// repair and would not report it.
	repairs sync.Map
}

// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=tenants/status,verbs=get;patch;update
// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=tenants/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups="",namespace=gatehouse-system,resources=secrets,verbs=delete;deletecollection
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=gatehouse-system,resources=leases,verbs=get;list;watch;create;update;patch;delete

// Reconcile converges one Tenant: finalizer, keys, snapshot, status.
func (r *TenantReconciler) Reconcile(ctx context.Context, req reconcile.Request) (result reconcile.Result, retErr error) {
	var tenant identityv1alpha1.Tenant
	if err := r.Client.Get(ctx, req.NamespacedName, &tenant); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	if !tenant.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, r.finalize(ctx, &tenant)
	}
	if err := r.addFinalizer(ctx, &tenant); err != nil {
		return reconcile.Result{}, err
	}
	before := tenant.DeepCopy()
	r.reportPendingRepair(&tenant)
	defer func() {
		err := r.patchStatus(ctx, before, &tenant)
		if err == nil {
			r.repairReported(&tenant)
		}
		if retErr = errors.Join(retErr, err); retErr != nil {
			// The error's backoff retries; a RequeueAfter beside it is ignored, with a
			// warning in the log.
			result = reconcile.Result{}
		}
	}()

	if err := r.checkDomain(ctx, &tenant); err != nil {
		return reconcile.Result{}, r.withdraw(ctx, &tenant, err)
	}
	children, err := r.listChildren(ctx, &tenant)
	if err != nil {
		return reconcile.Result{}, err
	}
	stated, retired, err := r.reconcileKeys(ctx, &tenant, children)
	if err != nil {
		return reconcile.Result{}, err
	}
	snap, err := r.compileSnapshot(ctx, &tenant, children, stated)
	if err != nil {
		return reconcile.Result{}, err
	}
	if err := r.writeSnapshot(ctx, &tenant, snap); err != nil {
		return reconcile.Result{}, r.setReady(&tenant, &tenant.Status.CommonStatus, "", err)
	}
	if err := r.deleteKeys(ctx, &tenant, retired); err != nil {
		return reconcile.Result{}, err
	}
	r.setTenantStatus(&tenant, snap, stated)
	err = r.setReady(&tenant, &tenant.Status.CommonStatus, "the tenant is served at "+snap.Issuer, compile.CheckDefaults(snap))
	// Key transitions are timed: come back for the next one.
	return reconcile.Result{RequeueAfter: keys.NextTransition(stated, r.now())}, err
}

// addFinalizer adds the Tenant's finalizer with a patch of the finalizers alone. An
// update sends back the whole spec as this controller's types serialise it, which the API
// server may count as a new generation (bench-reconcile saw Tenants go to generation 2),
// reconciling the Tenant and all its children again.
func (r *TenantReconciler) addFinalizer(ctx context.Context, tenant *identityv1alpha1.Tenant) error {
	patch := client.MergeFromWithOptions(tenant.DeepCopy(), client.MergeFromWithOptimisticLock{})
	if !controllerutil.AddFinalizer(tenant, tenantFinalizer) {
		return nil
	}
	return r.Client.Patch(ctx, tenant, patch)
}

func (r *TenantReconciler) finalize(ctx context.Context, tenant *identityv1alpha1.Tenant) error {
	if !controllerutil.ContainsFinalizer(tenant, tenantFinalizer) {
		return nil
	}
	if err := r.Client.DeleteAllOf(ctx, &corev1.Secret{}, client.InNamespace(r.opts.Namespace),
		client.MatchingLabels{snapshot.LabelTenantUID: string(tenant.UID)}); err != nil {
		return err
	}
	r.repairs.Delete(tenant.UID)
	controllerutil.RemoveFinalizer(tenant, tenantFinalizer)
	return client.IgnoreNotFound(r.Client.Update(ctx, tenant))
}

// withdraw stops serving a Tenant whose domain is not its to serve (err is the domain
// problem, or a transient error to retry): it deletes the Tenant's snapshot, so that
// the token server drops it, and clears the endpoints from its status. Its keys stay,
// ready for when the domain becomes its own.
func (r *TenantReconciler) withdraw(ctx context.Context, tenant *identityv1alpha1.Tenant, err error) error {
	if _, ok := compile.AsProblem(err); !ok {
		return err
	}
	var list corev1.SecretList
	if lerr := r.Client.List(ctx, &list, client.InNamespace(r.opts.Namespace), client.MatchingLabels{
		snapshot.LabelComponent: snapshot.ComponentSnapshot, snapshot.LabelTenantUID: string(tenant.UID),
	}); lerr != nil {
		return lerr
	}
	for i := range list.Items {
		if derr := client.IgnoreNotFound(r.Client.Delete(ctx, &list.Items[i])); derr != nil {
			return derr
		}
	}
	s := &tenant.Status
	s.Issuer, s.TokenEndpoint, s.UserinfoEndpoint, s.JWKSURI = "", "", "", ""
	return r.setReady(tenant, &s.CommonStatus, "", err)
}

// listChildren lists the Connections, APIs and Clients of a Tenant.
func (r *TenantReconciler) listChildren(ctx context.Context, tenant *identityv1alpha1.Tenant) (compile.Children, error) {
	opts := []client.ListOption{client.InNamespace(tenant.Namespace), client.MatchingFields{indexTenantRef: tenant.Name}}
	var conns identityv1alpha1.ConnectionList
	var apis identityv1alpha1.APIList
	var clients identityv1alpha1.ClientList
	for _, l := range []client.ObjectList{&conns, &apis, &clients} {
		if err := r.Client.List(ctx, l, opts...); err != nil {
			return compile.Children{}, err
		}
	}
	return compile.Children{Connections: conns.Items, APIs: apis.Items, Clients: clients.Items}, nil
}

func (r *TenantReconciler) setTenantStatus(tenant *identityv1alpha1.Tenant, snap *snapshot.Snapshot, stated []keys.StatedKey) {
	s := &tenant.Status
	s.Issuer = snap.Issuer
	s.TokenEndpoint = snapshot.TokenURL(snap.Issuer)
	s.UserinfoEndpoint = snapshot.UserinfoURL(snap.Issuer)
	s.JWKSURI = snapshot.JWKSURL(snap.Issuer)
	s.Keys = nil
	for _, k := range stated {
		ks := identityv1alpha1.KeyStatus{
			KID:       k.KID,
			State:     identityv1alpha1.KeyState(k.State),
			Algorithm: identityv1alpha1.SigningAlgorithm(k.Algorithm),
			NotBefore: &metav1.Time{Time: k.NotBefore},
		}
		if !k.NotAfter.IsZero() {
			ks.NotAfter = &metav1.Time{Time: k.NotAfter}
		}
		s.Keys = append(s.Keys, ks)
	}
	s.Connections = count(snap.Connections)
	s.APIs = count(snap.APIs)
	s.Clients = count(snap.Clients)
}

func (r *TenantReconciler) setup(mgr ctrl.Manager, opts controller.Options, secrets userSecrets) error {
	toTenant := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: o.GetNamespace(), Name: tenantRefName(o)}}}
	})
	// Secrets this controller wrote carry their Tenant in an annotation: keys and
	// snapshots in the operator's namespace, credentials and HS256 secrets in the users'.
	tenantOfSecret := func(o metav1.Object) []reconcile.Request {
		ns, name, ok := strings.Cut(o.GetAnnotations()[snapshot.AnnotationTenant], "/")
		if !ok {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: ns, Name: name}}}
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.Tenant{}, builder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Watches(&identityv1alpha1.Connection{}, toTenant, builder.WithPredicates(compiledChange)).
		Watches(&identityv1alpha1.API{}, toTenant, builder.WithPredicates(compiledChange)).
		Watches(&identityv1alpha1.Client{}, toTenant, builder.WithPredicates(compiledChange)).
		Watches(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(func(_ context.Context, o client.Object) []reconcile.Request {
			return tenantOfSecret(o)
		})).
		// A Secret of a user's namespace maps only to a Tenant of that namespace: anyone
		// there can label and annotate one, and must not make another's Tenant busy.
		WatchesRawSource(secrets.generatedFor(handler.TypedEnqueueRequestsFromMapFunc(func(_ context.Context, o *metav1.PartialObjectMetadata) []reconcile.Request {
			reqs := tenantOfSecret(o)
			if len(reqs) == 1 && reqs[0].Namespace != o.Namespace {
				return nil
			}
			return reqs
		}))).
		Watches(&identityv1alpha1.Tenant{}, sameDomain(mgr.GetClient())).
		Watches(&corev1.Namespace{}, tenantsOfNamespace(mgr.GetClient()),
			builder.OnlyMetadata, builder.WithPredicates(predicate.AnnotationChangedPredicate{})).
		WatchesRawSource(secrets.referencedBy(referencing(mgr.GetClient(), &identityv1alpha1.ConnectionList{}, tenantsOf))).
		WatchesRawSource(secrets.referencedBy(referencing(mgr.GetClient(), &identityv1alpha1.APIList{}, tenantsOf))).
		WithOptions(opts).
		Named("tenant").
		Complete(retryStale(r))
}

// compiledChange passes the updates of a child that change what its Tenant compiles:
// its spec, and a Client's client_id and credentials digest. Conditions do not matter, since the Tenant resolves
// its children itself; the Secrets they reference have watches of their own.
var compiledChange = predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
	if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
		return true
	}
	oldClient, ok := e.ObjectOld.(*identityv1alpha1.Client)
	newClient, _ := e.ObjectNew.(*identityv1alpha1.Client)
	return ok && newClient != nil && (oldClient.Status.ClientID != newClient.Status.ClientID ||
		oldClient.Status.CredentialsDigest != newClient.Status.CredentialsDigest)
}}
