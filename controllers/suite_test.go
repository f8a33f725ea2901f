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
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers"
	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const (
	operatorNamespace = snapshot.DefaultNamespace
	tokenServerURL    = "http://tokens.test:8080"
	waitTimeout       = 60 * time.Second
)

var (
	env *kubetest.Env
	// k is the tests' own client: uncached, so it sees every write at once.
	k client.Client
	// fakeClock drives key transitions; tests step it.
	fakeClock = clocktesting.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	// writes counts the controller's writes to the API server.
	writes atomic.Int64
	// lastWrites names the most recent of them, for a failure to say what was written.
	lastWrites writeLog
	// stopManager stops the running controller manager.
	stopManager func()
)

func TestMain(m *testing.M) {
	var err error
	if env, err = kubetest.Start(kubetest.WithScheme(identityv1alpha1.NewScheme())); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	k = env.Client
	code := func() int {
		ctx := context.Background()
		if err := k.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: operatorNamespace}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		if stopManager, err = startManager(env.Config); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { stopManager() }()
		return m.Run()
	}()
	if err := env.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// startManager runs the controllers in-process, as `gatehouse controller` does, with the
// fake clock and a client that counts writes.
func startManager(cfg *rest.Config) (stop func(), err error) {
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 identityv1alpha1.NewScheme(),
		Cache:                  controllers.CacheOptions(operatorNamespace),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// A restarted manager registers the same controller names again.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
		NewClient:  countingClient,
	})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := controllers.Setup(ctx, mgr, controllers.Options{
		Namespace: operatorNamespace, TokenServerURL: tokenServerURL, Clock: fakeClock, MaxConcurrentReconciles: 4,
	}); err != nil {
		cancel()
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			fmt.Fprintln(os.Stderr, "manager:", err)
		}
	}, nil
}

func countingClient(cfg *rest.Config, opts client.Options) (client.Client, error) {
	c, err := client.NewWithWatch(cfg, opts)
	if err != nil {
		return nil, err
	}
	count := func(verb string, obj any) {
		writes.Add(1)
		lastWrites.add(verb, obj)
	}
	return interceptor.NewClient(c, interceptor.Funcs{
		Create: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.CreateOption) error {
			count("create", obj)
			return c.Create(ctx, obj, opts...)
		},
		Update: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.UpdateOption) error {
			count("update", obj)
			return c.Update(ctx, obj, opts...)
		},
		Patch: func(ctx context.Context, c client.WithWatch, obj client.Object, p client.Patch, opts ...client.PatchOption) error {
			count("patch", obj)
			return c.Patch(ctx, obj, p, opts...)
		},
		Apply: func(ctx context.Context, c client.WithWatch, obj runtime.ApplyConfiguration, opts ...client.ApplyOption) error {
			count("apply", obj)
			return c.Apply(ctx, obj, opts...)
		},
		Delete: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteOption) error {
			count("delete", obj)
			return c.Delete(ctx, obj, opts...)
		},
		DeleteAllOf: func(ctx context.Context, c client.WithWatch, obj client.Object, opts ...client.DeleteAllOfOption) error {
			count("delete-all-of", obj)
			return c.DeleteAllOf(ctx, obj, opts...)
		},
		SubResourcePatch: func(ctx context.Context, c client.Client, sub string, obj client.Object, p client.Patch, opts ...client.SubResourcePatchOption) error {
			count("status-patch", obj)
			return c.SubResource(sub).Patch(ctx, obj, p, opts...)
		},
		SubResourceUpdate: func(ctx context.Context, c client.Client, sub string, obj client.Object, opts ...client.SubResourceUpdateOption) error {
			count("status-update", obj)
			return c.SubResource(sub).Update(ctx, obj, opts...)
		},
	}), nil
}

// writeLog keeps the last few writes the controller made, by verb, kind and name.
type writeLog struct {
	mu      sync.Mutex
	entries []string
}

func (l *writeLog) add(verb string, obj any) {
	entry := fmt.Sprintf("%s %T", verb, obj)
	if o, ok := obj.(client.Object); ok {
		entry += " " + client.ObjectKeyFromObject(o).String()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.entries = append(l.entries, entry)
	if len(l.entries) > 10 {
		l.entries = l.entries[1:]
	}
}

func (l *writeLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.entries, "; ")
}

// restartManager stops the controllers and starts new ones, with empty caches and queues.
func restartManager(t *testing.T) {
	t.Helper()
	stopManager()
	var err error
	if stopManager, err = startManager(env.Config); err != nil {
		t.Fatal(err)
	}
}

// eventually retries check until it succeeds or waitTimeout passes.
func eventually(t *testing.T, what string, check func() error) {
	t.Helper()
	kubetest.Eventually(t, waitTimeout, 50*time.Millisecond, what, check)
}

// newNamespace creates a namespace of its own for a test.
func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "t-"}}
	create(t, ns)
	return ns.Name
}

func create(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		if err := k.Create(context.Background(), o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
}

func get(t *testing.T, o client.Object) {
	t.Helper()
	if err := k.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
		t.Fatalf("reading %T %s: %v", o, o.GetName(), err)
	}
}

// update reads o, applies change and writes it back, retrying on conflicts.
func update[T client.Object](t *testing.T, o T, change func(T)) {
	t.Helper()
	eventually(t, "updating "+o.GetName(), func() error {
		if err := k.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
			return err
		}
		change(o)
		return k.Update(context.Background(), o)
	})
}

// readyCondition returns the Ready condition of o when the controller has reconciled
// o's current generation.
func readyCondition(o client.Object) (*metav1.Condition, error) {
	if err := k.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
		return nil, err
	}
	var status identityv1alpha1.CommonStatus
	switch o := o.(type) {
	case *identityv1alpha1.Tenant:
		status = o.Status.CommonStatus
	case *identityv1alpha1.Connection:
		status = o.Status.CommonStatus
	case *identityv1alpha1.API:
		status = o.Status.CommonStatus
	case *identityv1alpha1.Client:
		status = o.Status.CommonStatus
	}
	c := meta.FindStatusCondition(status.Conditions, identityv1alpha1.ConditionReady)
	if c == nil || status.ObservedGeneration != o.GetGeneration() {
		return nil, fmt.Errorf("%s not reconciled yet (observedGeneration %d, generation %d)", o.GetName(), status.ObservedGeneration, o.GetGeneration())
	}
	return c, nil
}

// waitReady waits until every object is Ready=True.
func waitReady(t *testing.T, objs ...client.Object) {
	t.Helper()
	for _, o := range objs {
		waitCondition(t, o, metav1.ConditionTrue, identityv1alpha1.ReasonReconciled)
	}
}

func waitCondition(t *testing.T, o client.Object, status metav1.ConditionStatus, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, fmt.Sprintf("%T %s Ready=%s %s", o, o.GetName(), status, reason), func() error {
		c, err := readyCondition(o)
		if err != nil {
			return err
		}
		if c.Status != status || c.Reason != reason {
			return fmt.Errorf("Ready=%s %s: %s", c.Status, c.Reason, c.Message)
		}
		got = c
		return nil
	})
	return got
}

// poke makes the controller reconcile a Tenant now, as a timed requeue would after a
// step of the fake clock, and waits until it has: it changes the display name, a new
// generation, which only a reconcile that read it reports as observed.
func poke(t *testing.T, tenant *identityv1alpha1.Tenant) {
	t.Helper()
	update(t, tenant, func(tn *identityv1alpha1.Tenant) {
		tn.Spec.DisplayName = "poked at " + strconv.FormatInt(time.Now().UnixNano(), 10)
	})
	poked := tenant.Generation
	eventually(t, "the reconcile of the poke", func() error {
		get(t, tenant)
		if tenant.Status.ObservedGeneration < poked {
			return fmt.Errorf("observedGeneration %d, poked generation %d", tenant.Status.ObservedGeneration, poked)
		}
		return nil
	})
}

// readSnapshot decodes the snapshot of a Tenant from its Secrets.
func readSnapshot(tenant *identityv1alpha1.Tenant) (*snapshot.Snapshot, error) {
	var list corev1.SecretList
	if err := k.List(context.Background(), &list, client.InNamespace(operatorNamespace), client.MatchingLabels{
		snapshot.LabelComponent: snapshot.ComponentSnapshot, snapshot.LabelTenantUID: string(tenant.UID),
	}); err != nil {
		return nil, err
	}
	if len(list.Items) == 0 {
		return nil, fmt.Errorf("no snapshot of %s", tenant.Name)
	}
	byName := map[string][]byte{}
	for _, s := range list.Items {
		byName[s.Name] = s.Data[snapshot.DataKey]
	}
	var parts [][]byte
	for i := 0; ; i++ {
		p, ok := byName[snapshot.SecretName(string(tenant.UID), i)]
		if !ok {
			break
		}
		parts = append(parts, p)
	}
	return snapshot.Decode(parts)
}

// keySecrets lists the signing-key Secrets of a Tenant by kid.
func keySecrets(t *testing.T, tenant *identityv1alpha1.Tenant) map[string]corev1.Secret {
	t.Helper()
	var list corev1.SecretList
	if err := k.List(context.Background(), &list, client.InNamespace(operatorNamespace), client.MatchingLabels{
		snapshot.LabelComponent: snapshot.ComponentSigningKey, snapshot.LabelTenantUID: string(tenant.UID),
	}); err != nil {
		t.Fatal(err)
	}
	out := map[string]corev1.Secret{}
	for _, s := range list.Items {
		out[s.Annotations[snapshot.AnnotationKID]] = s
	}
	return out
}

// keyStates renders a Tenant's status keys as "kid=state" in notBefore order.
func keyStates(tenant *identityv1alpha1.Tenant) []string {
	var out []string
	for _, ks := range tenant.Status.Keys {
		out = append(out, ks.KID+"="+string(ks.State))
	}
	return out
}

// events lists the Events about an object with a reason.
func events(t *testing.T, o client.Object, reason string) []string {
	t.Helper()
	var list corev1.EventList
	if err := k.List(context.Background(), &list, client.InNamespace(o.GetNamespace())); err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == o.GetName() && e.Reason == reason {
			notes = append(notes, e.Message)
		}
	}
	sort.Strings(notes)
	return notes
}

// metricValue sums a controller-runtime metric over the series whose label has value;
// it is an error when the metrics cannot be gathered or no such series exists.
func metricValue(name, label, value string) (float64, error) {
	families, err := metrics.Registry.Gather()
	if err != nil {
		return 0, fmt.Errorf("gathering the metrics: %w", err)
	}
	var sum float64
	found := false
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if labelIs(m, label, value) {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
				found = true
			}
		}
	}
	if !found {
		return 0, fmt.Errorf("no metric %s{%s=%q}", name, label, value)
	}
	return sum, nil
}

func labelIs(m *dto.Metric, name, value string) bool {
	for _, l := range m.GetLabel() {
		if l.GetName() == name && l.GetValue() == value {
			return true
		}
	}
	return false
}

// isNotFound is nil when o does not exist.
func isGone(o client.Object) error {
	err := k.Get(context.Background(), client.ObjectKeyFromObject(o), o)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%s still exists", o.GetName())
}
