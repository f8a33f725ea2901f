package store

import (
	"context"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Loader watches the labelled Secrets of one namespace and publishes a view of every
// Tenant whose snapshot is complete and whose keys are present. A Tenant whose new
// snapshot is incomplete, fails to decode or names a missing key keeps its last good
// view; so does everything while the API server is unreachable, since the informer's
// cache only changes when the API server says so.
type Loader struct {
	client    kubernetes.Interface
	namespace string
	store     *Store
	cache     *connectorCache
	log       *slog.Logger
	now       func() time.Time
	reloads   *prometheus.CounterVec
	refusals  *prometheus.GaugeVec
	// refused are the domain refusals of the last publish, so that each is logged once.
	refused map[DomainRefusal]bool
	// changed, when set, is told of each Tenant's snapshot that replaces another.
	changed func(prev, next *snapshot.Snapshot)
}

// OnChange makes the loader call changed with the old and new snapshot of a Tenant each
// time it replaces a view that it served by a new one; not for the first view of a
// Tenant, nor on a process start. Call it before Run. changed runs on the loader's
// goroutine, so it must not block.
func (l *Loader) OnChange(changed func(prev, next *snapshot.Snapshot)) { l.changed = changed }

// NewLoader returns a loader that publishes into store. Register its metrics with
// Collectors.
func NewLoader(client kubernetes.Interface, namespace string, s *Store, factories map[string]Factory, log *slog.Logger) *Loader {
	return &Loader{
		client:    client,
		namespace: namespace,
		store:     s,
		cache:     newConnectorCache(factories, log),
		log:       log,
		now:       time.Now,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_snapshot_reloads_total",
			Help: "Snapshot loads by tenant and result (loaded, or kept the last good view because of an error).",
		}, []string{"tenant", "result"}),
		refusals: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_tokenserver_domain_refusals",
			Help: "Tenants whose snapshot claims a host the token server does not serve them at, by tenant and reason (conflict: another Tenant holds it; reserved: the token server's own host).",
		}, []string{"tenant", "reason"}),
	}
}

// Collectors are the loader's metrics: reloads, and the age of each published view.
func (l *Loader) Collectors() []prometheus.Collector {
	return []prometheus.Collector{l.reloads, l.refusals, ageCollector{l.store, l.now}}
}

// Run watches Secrets until ctx ends. It publishes the first views once the informer
// has listed the namespace, which makes the store ready.
func (l *Loader) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(l.client, 0,
		informers.WithNamespace(l.namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = snapshot.LabelComponent }))
	secrets := factory.Core().V1().Secrets()
	changed := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := secrets.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    notify,
		UpdateFunc: func(_, obj any) { notify(obj) },
		DeleteFunc: notify,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), secrets.Informer().HasSynced) {
		return fmt.Errorf("listing Secrets of namespace %s: %w", l.namespace, ctx.Err())
	}
	l.log.Info("watching snapshot and key Secrets", "namespace", l.namespace)
	for {
		if err := l.reload(secrets.Lister()); err != nil {
			l.log.Error("listing Secrets from the cache", "error", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func (l *Loader) reload(lister corelisters.SecretLister) error {
	list, err := lister.Secrets(l.namespace).List(labels.Everything())
	if err != nil {
		return err
	}
	l.Sync(list)
	return nil
}

// Sync builds views from the given Secrets and publishes them.
func (l *Loader) Sync(secrets []*corev1.Secret) {
	parts, keys := classify(secrets)
	uids := make([]string, 0, len(parts))
	for uid := range parts {
		uids = append(uids, uid)
	}
	sort.Strings(uids)

	inUse := map[string]bool{}
	var tenants []*Tenant
	for _, uid := range uids {
		t := l.tenant(uid, parts[uid], keys, inUse)
		if t != nil {
			tenants = append(tenants, t)
		}
	}
	l.report(l.store.Publish(tenants))
	l.cache.sweep(inUse)
}

// report logs each domain refusal once, when it first appears, and keeps the metric.
func (l *Loader) report(refused []DomainRefusal) {
	l.refusals.Reset()
	now := make(map[DomainRefusal]bool, len(refused))
	for _, r := range refused {
		now[r] = true
		l.refusals.WithLabelValues(r.Tenant, r.Reason).Set(1)
		if !l.refused[r] {
			l.log.Error("not serving tenant at its domain: another tenant holds it, or it is the token server's own host",
				"tenant", r.Tenant, "domain", r.Domain, "reason", r.Reason)
		}
	}
	l.refused = now
}

// tenant returns the view to publish for one Tenant UID: the previous one when nothing
// changed or the new snapshot cannot be used, else a new one.
func (l *Loader) tenant(uid string, parts map[string]*corev1.Secret, keys map[string]*corev1.Secret, inUse map[string]bool) *Tenant {
	prev := l.store.ByUID(uid)
	keepPrevious := func(reason string, err error) *Tenant {
		if prev == nil {
			l.log.Info("not serving tenant yet: "+reason, "tenantUID", uid, "error", err)
			return nil
		}
		l.log.Error("keeping the last good view of tenant: "+reason, "tenant", prev.Name, "error", err)
		l.reloads.WithLabelValues(prev.Name, "error").Inc()
		markInUse(prev.Snapshot, inUse)
		return prev
	}

	hash, ordered, err := completeSnapshot(uid, parts)
	if err != nil {
		return keepPrevious("snapshot incomplete", err)
	}
	if prev != nil && prev.contentHash == hash && sameKeyVersions(prev.keyVersions, keys) {
		markInUse(prev.Snapshot, inUse)
		return prev
	}
	snap, err := snapshot.Decode(ordered)
	if err != nil {
		return keepPrevious("snapshot does not decode", err)
	}
	if snap.Tenant.UID != uid {
		return keepPrevious("snapshot is of another tenant", fmt.Errorf("snapshot names tenant UID %s", snap.Tenant.UID))
	}
	material, versions := keyMaterial(snap, keys)
	t, err := NewTenant(snap, material, nil, l.now())
	if err != nil {
		return keepPrevious("signing keys not usable", err)
	}
	t.Connectors = l.cache.connectors(snap, inUse)
	t.contentHash, t.keyVersions = hash, versions
	if prev != nil && l.changed != nil {
		l.changed(prev.Snapshot, snap)
	}
	l.reloads.WithLabelValues(t.Name, "loaded").Inc()
	l.log.Info("loaded tenant snapshot", "tenant", t.Name, "issuer", t.Issuer(), "contentHash", hash,
		"clients", len(snap.Clients), "apis", len(snap.APIs), "connections", len(snap.Connections))
	return t
}

// classify groups snapshot parts by Tenant UID and signing keys by Secret name.
func classify(secrets []*corev1.Secret) (parts map[string]map[string]*corev1.Secret, keys map[string]*corev1.Secret) {
	parts = map[string]map[string]*corev1.Secret{}
	keys = map[string]*corev1.Secret{}
	for _, s := range secrets {
		switch s.Labels[snapshot.LabelComponent] {
		case snapshot.ComponentSnapshot:
			uid := s.Labels[snapshot.LabelTenantUID]
			if parts[uid] == nil {
				parts[uid] = map[string]*corev1.Secret{}
			}
			parts[uid][s.Name] = s
		case snapshot.ComponentSigningKey:
			keys[s.Name] = s
		}
	}
	return parts, keys
}

// completeSnapshot returns the content hash and the ordered bytes of a snapshot when all
// its parts are present and agree on the hash: the controller writes parts one by one,
// so a reader can see some of a new snapshot and some of the old.
func completeSnapshot(uid string, parts map[string]*corev1.Secret) (string, [][]byte, error) {
	first, ok := parts[snapshot.SecretName(uid, 0)]
	if !ok {
		return "", nil, fmt.Errorf("part 0 (%s) is missing", snapshot.SecretName(uid, 0))
	}
	hash := first.Annotations[snapshot.AnnotationContentHash]
	n, err := strconv.Atoi(first.Annotations[snapshot.AnnotationParts])
	if err != nil || n < 1 || n > snapshot.MaxParts {
		return "", nil, fmt.Errorf("part 0 has no valid %s annotation", snapshot.AnnotationParts)
	}
	ordered := make([][]byte, n)
	for i := range n {
		name := snapshot.SecretName(uid, i)
		p, ok := parts[name]
		switch {
		case !ok:
			return "", nil, fmt.Errorf("part %d (%s) is missing", i, name)
		case p.Annotations[snapshot.AnnotationContentHash] != hash:
			return "", nil, fmt.Errorf("part %d (%s) is of another snapshot version", i, name)
		}
		ordered[i] = p.Data[snapshot.DataKey]
	}
	return hash, ordered, nil
}

// keyMaterial collects the PEM of the keys snap names, with the Secrets' resource
// versions, so that an unchanged snapshot with a rewritten key Secret is rebuilt too.
func keyMaterial(snap *snapshot.Snapshot, keys map[string]*corev1.Secret) (KeyMaterial, map[string]string) {
	material := KeyMaterial{}
	versions := map[string]string{}
	for _, k := range snap.Keys {
		if s, ok := keys[k.SecretName]; ok {
			material[k.SecretName] = s.Data[snapshot.KeySecretDataKey]
			versions[k.SecretName] = s.ResourceVersion
		}
	}
	return material, versions
}

func sameKeyVersions(versions map[string]string, keys map[string]*corev1.Secret) bool {
	for name, v := range versions {
		if s, ok := keys[name]; !ok || s.ResourceVersion != v {
			return false
		}
	}
	return true
}

func markInUse(snap *snapshot.Snapshot, inUse map[string]bool) {
	for _, c := range snap.Connections {
		inUse[snap.Tenant.UID+"/"+c.Name] = true
	}
}

// ageCollector reports how old each published view is, so that an alert can fire when
// a token server stops picking up snapshots.
type ageCollector struct {
	store *Store
	now   func() time.Time
}

var ageDesc = prometheus.NewDesc("gatehouse_tokenserver_snapshot_age_seconds",
	"Seconds since the served view of each tenant was loaded.", []string{"tenant"}, nil)

func (ageCollector) Describe(ch chan<- *prometheus.Desc) { ch <- ageDesc }

func (c ageCollector) Collect(ch chan<- prometheus.Metric) {
	now := c.now()
	for _, t := range c.store.Tenants() {
		ch <- prometheus.MustNewConstMetric(ageDesc, prometheus.GaugeValue, now.Sub(t.LoadedAt).Seconds(), t.Name)
	}
}
