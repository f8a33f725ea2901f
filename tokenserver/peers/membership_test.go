package peers

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

var env *kubetest.Env

func TestMain(m *testing.M) { kubetest.Main(m, &env) }

func (c *Counters) peerAddrs() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	var addrs []string
	for a := range c.peers {
		addrs = append(addrs, a)
	}
	slices.Sort(addrs)
	return addrs
}

// TestMembership runs two replicas' Memberships against a real API server: they find
// each other and not a crashed replica's expired Lease, and one that stops deletes its
// Lease, which the other notices.
func TestMembership(t *testing.T) {
	client := kubernetes.NewForConfigOrDie(env.Config)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "peers-"}}
	ns, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	crashed := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: LeaseName("crashed"), Namespace: ns.Name,
			Labels:      map[string]string{snapshot.LabelComponent: snapshot.ComponentPeer},
			Annotations: map[string]string{snapshot.AnnotationPeerAddress: "127.0.0.1:1"}},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity:       ptr.To("crashed"),
			LeaseDurationSeconds: ptr.To(int32(30)),
			RenewTime:            ptr.To(metav1.NewMicroTime(time.Now().Add(-time.Minute))),
		},
	}
	if _, err := client.CoordinationV1().Leases(ns.Name).Create(ctx, crashed, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	key := newKey()
	a, b := newReplica(t, key), newReplica(t, key)
	run := func(r *replica, identity string) (stop func(), joined <-chan struct{}) {
		m := &Membership{Client: client, Namespace: ns.Name, Identity: identity, Address: r.addr,
			Counters: r.Counters, Log: slog.New(slog.DiscardHandler)}
		ctx, cancel := context.WithCancel(context.Background())
		done, j := make(chan error), make(chan struct{})
		go func() { done <- m.Run(ctx, func() { close(j) }) }()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}, j
	}
	stopA, joinedA := run(a, "a")
	defer stopA()
	mustAdd(t, a, "alice", 3, perMinute)
	<-joinedA // alone: nothing to take
	stopB, joinedB := run(b, "b")
	<-joinedB
	if n := b.count("alice"); n != 3 {
		t.Errorf("b joined with alice = %d, want a's 3", n)
	}
	waitFor(t, "a and b know each other only", func() bool {
		return slices.Equal(a.peerAddrs(), []string{b.addr}) && slices.Equal(b.peerAddrs(), []string{a.addr})
	})

	lease, err := client.CoordinationV1().Leases(ns.Name).Get(ctx, LeaseName("b"), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if lease.Annotations[snapshot.AnnotationPeerAddress] != b.addr || ptr.Deref(lease.Spec.HolderIdentity, "") != "b" || !live(lease, time.Now()) {
		t.Errorf("b's Lease: address %q holder %q renewed %v", lease.Annotations[snapshot.AnnotationPeerAddress], ptr.Deref(lease.Spec.HolderIdentity, ""), lease.Spec.RenewTime)
	}

	stopB()
	if _, err := client.CoordinationV1().Leases(ns.Name).Get(ctx, LeaseName("b"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("b's Lease after b stopped: %v, want NotFound", err)
	}
	waitFor(t, "a forgets b", func() bool { return len(a.peerAddrs()) == 0 })
}
