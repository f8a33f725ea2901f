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

// Package controllers turns what users declare (Tenant, Connection, API, Client) into
// the state the token server serves from: signing-key Secrets and one compiled snapshot
// per Tenant in the operator's namespace, plus client credentials and HS256 secrets in
// the users' namespaces. It keeps that state converged and says in status what is wrong.
//
// The reconcilers read and write; package compile, which reads nothing, decides. Each
// Connection, API and Client reconciler reads its object and the Secrets it references,
// validates it with compile, and writes its status. The Tenant reconciler owns the keys
// and the snapshot: it reads the Tenant's children and their Secrets again itself, so a
// snapshot never depends on how up to date the children's status is, and compiles them
// with the same functions.
//
// Caching: the manager's Secret informer holds only the operator's namespace's Secrets
// labelled with snapshot.LabelComponent, that is the Secrets this controller writes there
// (keys, snapshot parts, the token servers' peer key). Secrets of users' namespaces are
// never cached whole, so that no namespace can make the controller hold its Secrets: the
// ones this controller writes there (client credentials, HS256 secrets) and the ones users
// reference (users stores, bind passwords, CA bundles, HS256 secrets), which are read only
// when they carry the opt-in label identityv1alpha1.LabelReferable, are read uncached
// when a reconcile needs them and watched through metadata-only informers that keep a
// few fields of each (userSecrets): their changes re-enqueue the objects that own or
// reference them (owner references, field indexes).
package controllers

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// FieldManager is the one server-side apply field manager of everything this controller writes.
const FieldManager = "gatehouse-controller"

// Field indexes.
const (
	// indexTenantRef indexes Connections, APIs and Clients by spec.tenantRef.name.
	indexTenantRef = "spec.tenantRef.name"
	// indexSecretRefs indexes Connections and APIs by the names of the Secrets they reference.
	indexSecretRefs = "spec.secretRefs"
)

// Options configure the controllers.
type Options struct {
	// Namespace is the operator's namespace, where keys and snapshots are written.
	Namespace string
	// TokenServerURL is the token server's external URL; Tenants without a domain are
	// served under it at /<namespace>/<name>/.
	TokenServerURL string
	// Domains is the cluster admin's policy on Tenants' spec.domain.
	Domains DomainPolicy
	// Clock decides key transitions; tests inject a fake one.
	Clock clock.PassiveClock
	// MaxConcurrentReconciles of each controller.
	MaxConcurrentReconciles int
	// CheckDirectory binds to an LDAP or Active Directory connection's directory as its
	// service account; nil means CheckDirectory of this package.
	CheckDirectory func(context.Context, snapshot.Connection) error
	// PasswordCaps bound the hashes of users Secrets: the token server's, derived from
	// its memory limit. Zero means password.DefaultCaps.
	PasswordCaps password.Caps
}

// CacheOptions restrict the manager's cache: Secrets only in the operator's namespace
// and only when they carry snapshot.LabelComponent (what this controller writes there),
// and no managed fields. Secrets of users' namespaces are never held whole: see
// userSecrets.
func CacheOptions(operatorNamespace string) cache.Options {
	return cache.Options{
		ByObject: map[client.Object]cache.ByObject{
			&corev1.Secret{}: {
				Label:      hasLabel(snapshot.LabelComponent),
				Namespaces: map[string]cache.Config{operatorNamespace: {}},
			},
		},
		DefaultTransform: cache.TransformStripManagedFields(),
	}
}

func hasLabel(key string) labels.Selector {
	req, err := labels.NewRequirement(key, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant, valid key
	}
	return labels.NewSelector().Add(*req)
}

// userSecrets watch the Secrets of users' namespaces that the controller reads, by the
// little of their metadata that maps them to objects (see slimSecretMetadata), so that
// however many Secrets a namespace makes, or however large, the controller holds little
// of each; their data is read uncached when a reconcile needs it.
type userSecrets struct {
	// referenced are the Secrets that opted in to be referenced by Connections and APIs.
	referenced cache.Cache
	// generated are the Secrets the controller wrote there (client credentials, HS256
	// secrets); a namespace's users can label theirs alike, which costs them nothing more.
	generated cache.Cache
}

func newUserSecrets(mgr ctrl.Manager) (userSecrets, error) {
	watch := func(selector labels.Selector) (cache.Cache, error) {
		c, err := cache.New(mgr.GetConfig(), cache.Options{
			Scheme:               mgr.GetScheme(),
			Mapper:               mgr.GetRESTMapper(),
			DefaultTransform:     slimSecretMetadata,
			DefaultLabelSelector: selector,
		})
		if err != nil {
			return nil, err
		}
		return c, mgr.Add(c)
	}
	referenced, err := watch(labels.SelectorFromSet(labels.Set{identityv1alpha1.LabelReferable: "true"}))
	if err != nil {
		return userSecrets{}, err
	}
	generated, err := watch(hasLabel(snapshot.LabelComponent))
	return userSecrets{referenced: referenced, generated: generated}, err
}

// referencedBy is a source of the opted-in Secrets' events for h.
func (u userSecrets) referencedBy(h handler.TypedEventHandler[*metav1.PartialObjectMetadata, reconcile.Request]) source.Source {
	return source.Kind(u.referenced, secretMetadata(), h)
}

// generatedFor is a source of the generated Secrets' events for h.
func (u userSecrets) generatedFor(h handler.TypedEventHandler[*metav1.PartialObjectMetadata, reconcile.Request]) source.Source {
	return source.Kind(u.generated, secretMetadata(), h)
}

// slimSecretMetadata keeps of a watched Secret what the event handlers read: its name,
// its controller and the Tenant annotation of the Secrets this controller writes.
func slimSecretMetadata(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	slim := &metav1.PartialObjectMetadata{TypeMeta: m.TypeMeta, ObjectMeta: metav1.ObjectMeta{
		Namespace: m.Namespace, Name: m.Name, UID: m.UID, ResourceVersion: m.ResourceVersion,
	}}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		slim.OwnerReferences = []metav1.OwnerReference{*ref}
	}
	if tenant, ok := m.Annotations[snapshot.AnnotationTenant]; ok {
		slim.Annotations = map[string]string{snapshot.AnnotationTenant: tenant}
	}
	return slim, nil
}

// Setup registers the field indexes, the four reconcilers and the one that keeps the
// token servers' peer key with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, opts Options) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.PasswordCaps == (password.Caps{}) {
		opts.PasswordCaps = password.DefaultCaps()
	}
	if err := addIndexes(ctx, mgr); err != nil {
		return err
	}
	secrets, err := newUserSecrets(mgr)
	if err != nil {
		return err
	}
	b := base{
		Client:    mgr.GetClient(),
		APIReader: mgr.GetAPIReader(),
		Recorder:  mgr.GetEventRecorder(FieldManager),
		Clock:     opts.Clock,
		opts:      opts,
	}
	// Each controller gets its own rate limiter: a shared one would mix up the failures
	// of a Tenant and a Client of the same name, and share one bucket.
	ctrlOpts := func() controller.Options {
		return controller.Options{
			MaxConcurrentReconciles: max(opts.MaxConcurrentReconciles, 1),
			RateLimiter:             rateLimiter(),
		}
	}
	for _, setup := range []func() error{
		func() error { return (&TenantReconciler{base: b}).setup(mgr, ctrlOpts(), secrets) },
		func() error { return (&ConnectionReconciler{base: b}).setup(mgr, ctrlOpts(), secrets) },
		func() error { return (&APIReconciler{base: b}).setup(mgr, ctrlOpts(), secrets) },
		func() error { return (&ClientReconciler{base: b}).setup(mgr, ctrlOpts(), secrets) },
		func() error { return (&peerKeyReconciler{base: b}).setup(mgr, ctrlOpts()) },
	} {
		if err := setup(); err != nil {
			return err
		}
	}
	return nil
}

// rateLimiter retries a failing object after 5ms, doubling up to 5m, and bounds the
// retries of one controller together to 20/s with bursts of 200.
func rateLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, 5*time.Minute),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(20), 200)},
	)
}

func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

func addIndexes(ctx context.Context, mgr ctrl.Manager) error {
	indexer := mgr.GetFieldIndexer()
	for _, obj := range []client.Object{&identityv1alpha1.Connection{}, &identityv1alpha1.API{}, &identityv1alpha1.Client{}} {
		if err := indexer.IndexField(ctx, obj, indexTenantRef, func(o client.Object) []string {
			return []string{tenantRefName(o)}
		}); err != nil {
			return fmt.Errorf("indexing %T by tenant: %w", obj, err)
		}
	}
	if err := indexer.IndexField(ctx, &identityv1alpha1.Tenant{}, indexDomain, func(o client.Object) []string {
		if d := o.(*identityv1alpha1.Tenant).Spec.Domain; d != "" {
			return []string{d}
		}
		return nil
	}); err != nil {
		return fmt.Errorf("indexing Tenants by domain: %w", err)
	}
	for _, obj := range []client.Object{&identityv1alpha1.Connection{}, &identityv1alpha1.API{}} {
		if err := indexer.IndexField(ctx, obj, indexSecretRefs, secretRefNames); err != nil {
			return fmt.Errorf("indexing %T by referenced Secrets: %w", obj, err)
		}
	}
	if err := indexClientGrants(ctx, mgr); err != nil {
		return fmt.Errorf("indexing Clients by granted APIs: %w", err)
	}
	return nil
}

// tenantRefName is the Tenant a Connection, API or Client belongs to.
func tenantRefName(o client.Object) string {
	switch o := o.(type) {
	case *identityv1alpha1.Connection:
		return o.Spec.TenantRef.Name
	case *identityv1alpha1.API:
		return o.Spec.TenantRef.Name
	case *identityv1alpha1.Client:
		return o.Spec.TenantRef.Name
	}
	return ""
}

// secretRefNames lists the Secrets, in its own namespace, that a Connection or API references.
func secretRefNames(o client.Object) []string {
	switch o := o.(type) {
	case *identityv1alpha1.Connection:
		return compile.ConnectionSecretNames(o)
	case *identityv1alpha1.API:
		if ref := o.Spec.HS256SecretRef; ref != nil {
			return []string{ref.Name}
		}
	}
	return nil
}

// ownedBy maps a watched Secret to the object of owner's kind that controls it.
func ownedBy(mgr ctrl.Manager, owner client.Object) handler.TypedEventHandler[*metav1.PartialObjectMetadata, reconcile.Request] {
	return handler.TypedEnqueueRequestForOwner[*metav1.PartialObjectMetadata](mgr.GetScheme(), mgr.GetRESTMapper(), owner, handler.OnlyControllerOwner())
}

// childrenOf maps a Tenant to the objects of list's kind that belong to it.
func childrenOf(c client.Reader, list client.ObjectList) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, tenant client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(tenant.GetNamespace()), client.MatchingFields{indexTenantRef: tenant.GetName()}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the objects of a Tenant", "tenant", client.ObjectKeyFromObject(tenant))
			return nil
		}
		return requestsFor(l)
	})
}

// referencing maps a Secret to the objects of list's kind, in its namespace, that
// reference it.
func referencing(c client.Reader, list client.ObjectList, toRequests func(client.ObjectList) []reconcile.Request) handler.TypedEventHandler[*metav1.PartialObjectMetadata, reconcile.Request] {
	return handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, s *metav1.PartialObjectMetadata) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		if err := c.List(ctx, l, client.InNamespace(s.Namespace), client.MatchingFields{indexSecretRefs: s.Name}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the objects that reference a Secret", "secret", client.ObjectKeyFromObject(s))
			return nil
		}
		return toRequests(l)
	})
}

// base is what every reconciler shares.
type base struct {
	Client client.Client
	// APIReader reads, uncached, the user Secrets that the manager's cache does not hold.
	APIReader client.Reader
	Recorder  events.EventRecorder
	Clock     clock.PassiveClock
	opts      Options
}

// compiler is the configuration compile takes from opts.
func (b *base) compiler() compile.Config {
	return compile.Config{TokenServerURL: b.opts.TokenServerURL, OperatorNamespace: b.opts.Namespace, PasswordCaps: b.opts.PasswordCaps}
}

// requestsFor maps a list of objects to requests for themselves.
func requestsFor(list client.ObjectList) []reconcile.Request {
	return mapItems(list, client.ObjectKeyFromObject)
}

// tenantsOf maps a list of Connections, APIs or Clients to requests for their Tenants.
func tenantsOf(list client.ObjectList) []reconcile.Request {
	return mapItems(list, func(o client.Object) types.NamespacedName {
		return types.NamespacedName{Namespace: o.GetNamespace(), Name: tenantRefName(o)}
	})
}

func mapItems(list client.ObjectList, key func(client.Object) types.NamespacedName) []reconcile.Request {
	var reqs []reconcile.Request
	_ = meta.EachListItem(list, func(o runtime.Object) error {
		reqs = append(reqs, reconcile.Request{NamespacedName: key(o.(client.Object))})
		return nil
	})
	return reqs
}
