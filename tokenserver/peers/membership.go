package peers

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Lease timing: a replica renews every RenewInterval; one that has not renewed for
// LeaseDuration (it crashed, or cannot reach the API server) is no longer a peer.
const (
	RenewInterval = 10 * time.Second
	LeaseDuration = 30 * time.Second
)

// Membership keeps this replica's Lease and tells Counters which replicas hold a live
// one. It watches the Leases rather than listing them periodically, so that a replica
// that starts is sent ops within milliseconds rather than a period; it still
// re-evaluates them every RenewInterval, since nothing deletes a crashed replica's Lease
// at once and its expiry is a matter of time, not of an event.
type Membership struct {
	Client    kubernetes.Interface
	Namespace string
	// Identity names this replica: its pod name.
	Identity string
	// Address is where peers reach this replica's peer listener, host:port.
	Address string
	// PodUID, when set, makes the pod own the Lease, so that the garbage collector
	// deletes the Lease of a pod that is gone without having deleted it.
	PodUID   types.UID
	Counters *Counters
	Log      *slog.Logger
}

// LeaseName is the name of a replica's Lease.
func LeaseName(identity string) string {
	return "gatehouse-tokenserver-peer-" + strings.ToLower(identity)
}

// Run holds the Lease and updates the peers of Counters until ctx ends, then deletes
// the Lease. It calls joined once, after it first knew the peers and the key and either
// took the counts of one of them or found none.
func (m *Membership) Run(ctx context.Context, joined func()) error {
	factory := informers.NewSharedInformerFactoryWithOptions(m.Client, 0,
		informers.WithNamespace(m.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = snapshot.LabelComponent + "=" + snapshot.ComponentPeer }))
	leases := factory.Coordination().V1().Leases()
	changed := make(chan struct{}, 1)
	notify := func(any) {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := leases.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify, UpdateFunc: func(_, obj any) { notify(obj) }, DeleteFunc: notify,
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	defer m.release()

	m.renew(ctx)
	if !cache.WaitForCacheSync(ctx.Done(), leases.Informer().HasSynced) {
		return nil
	}
	m.Log.Info("peer membership: watching token-server Leases", "namespace", m.Namespace, "identity", m.Identity, "address", m.Address)
	renew := time.NewTicker(RenewInterval)
	defer renew.Stop()
	// Joining waits for the key; the key watch does not tell this loop, so it retries.
	retryJoin := time.NewTicker(time.Second)
	defer retryJoin.Stop()
	loggedJoinFailure := false
	for {
		addrs := m.peers(leases.Lister())
		m.Counters.SetPeers(addrs)
		if joined != nil {
			done, err := m.join(ctx, addrs)
			switch {
			case done:
				joined()
				joined = nil
				retryJoin.Stop()
			case err != nil && !loggedJoinFailure:
				m.Log.Error("joining peers: no peer gave its counts; retrying every second", "error", err)
				loggedJoinFailure = true
			}
		}
		select {
		case <-ctx.Done():
			m.Counters.Close()
			return nil
		case <-changed:
		case <-retryJoin.C:
		case <-renew.C:
			m.renew(ctx)
		}
	}
}

// join reports whether this replica is done joining: it has the key, and it took the
// counts of a peer or has none.
func (m *Membership) join(ctx context.Context, addrs []string) (bool, error) {
	if !m.Counters.auth.hasKey() {
		return false, nil
	}
	if len(addrs) == 0 {
		return true, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 2*DefaultTimeout)
	defer cancel()
	if err := m.Counters.Join(ctx, addrs); err != nil {
		return false, err
	}
	return true, nil
}

// peers are the addresses of the live Leases other than this replica's.
func (m *Membership) peers(lister coordinationlisters.LeaseLister) []string {
	list, err := lister.Leases(m.Namespace).List(labels.Everything())
	if err != nil {
		m.Log.Error("listing peer Leases from the cache", "error", err)
		return nil
	}
	now := time.Now()
	var addrs []string
	for _, l := range list {
		addr := l.Annotations[snapshot.AnnotationPeerAddress]
		if l.Name == LeaseName(m.Identity) || addr == "" || addr == m.Address || !live(l, now) {
			continue
		}
		addrs = append(addrs, addr)
	}
	slices.Sort(addrs)
	return slices.Compact(addrs)
}

// live reports whether l was renewed within its duration.
func live(l *coordinationv1.Lease, now time.Time) bool {
	if l.Spec.RenewTime == nil || l.Spec.LeaseDurationSeconds == nil {
		return false
	}
	return now.Before(l.Spec.RenewTime.Add(time.Duration(*l.Spec.LeaseDurationSeconds) * time.Second))
}

// renew creates or renews this replica's Lease; a failure is logged and retried at the
// next renewal, while this replica keeps counting.
func (m *Membership) renew(ctx context.Context) {
	if err := m.writeLease(ctx); err != nil {
		m.Log.Error("renewing this replica's peer Lease", "lease", LeaseName(m.Identity), "error", err)
	}
}

func (m *Membership) writeLease(ctx context.Context) error {
	leases := m.Client.CoordinationV1().Leases(m.Namespace)
	now := metav1.NewMicroTime(time.Now())
	existing, err := leases.Get(ctx, LeaseName(m.Identity), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l := m.desiredLease(&coordinationv1.Lease{}, now)
		l.Spec.AcquireTime = &now
		_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	_, err = leases.Update(ctx, m.desiredLease(existing, now), metav1.UpdateOptions{})
	return err
}

// desiredLease sets on l what this replica's Lease says.
func (m *Membership) desiredLease(l *coordinationv1.Lease, now metav1.MicroTime) *coordinationv1.Lease {
	l.Name, l.Namespace = LeaseName(m.Identity), m.Namespace
	metav1.SetMetaDataLabel(&l.ObjectMeta, snapshot.LabelComponent, snapshot.ComponentPeer)
	metav1.SetMetaDataAnnotation(&l.ObjectMeta, snapshot.AnnotationPeerAddress, m.Address)
	if m.PodUID != "" {
		l.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: "v1", Kind: "Pod", Name: m.Identity, UID: m.PodUID,
		}}
	}
	l.Spec.HolderIdentity = ptr.To(m.Identity)
	l.Spec.LeaseDurationSeconds = ptr.To(int32(LeaseDuration / time.Second))
	l.Spec.RenewTime = &now
	return l
}

// release deletes this replica's Lease, so peers stop sending to it at once.
func (m *Membership) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := m.Client.CoordinationV1().Leases(m.Namespace).Delete(ctx, LeaseName(m.Identity), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		m.Log.Error("deleting this replica's peer Lease", "error", err)
	}
}
