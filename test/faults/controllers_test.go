package faults_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const (
	// racingTenants are applied at once while two controllers run.
	racingTenants = 3
	// quietFor is how long the watches must see no write to the samples' objects before
	// the controllers count as settled: longer than a controller takes to answer a write
	// with one of its own.
	quietFor = 2 * time.Second
	// unchangedFor is how long the watches must then see no write to them at all.
	unchangedFor = 3 * time.Second
)

// TestControllersRacing runs two controllers at once, without leader election, on
// Tenants applied while both were paused, so that both reconcile every new Tenant at
// the same moment: both generate keys for at least one of them (the test requires it).
// They must settle on one current and one next key (a key that was current for a
// moment stays published as previous: it may have signed tokens) and on one client
// secret per Client, which works; then nothing is written while both run. Then one
// controller is killed and another started: it writes nothing either. Every write is
// seen through watches, from before the Tenants were applied.
func TestControllersRacing(t *testing.T) {
	tokenServer := sys.StartTokenServer(t)
	first := sys.StartController(t, tokenServer.URL)
	second := sys.StartController(t, tokenServer.URL)
	waitWorkers(t, first)
	waitWorkers(t, second)
	writes := watchWrites(t)

	first.Pause(t)
	second.Pause(t)
	var samples []*sample
	run := strings.ToLower(rand.Text()[:6]) // namespaces of this run's own, for -count
	for i := range racingTenants {
		s := createSample(t, fmt.Sprintf("race-%s-%d", run, i))
		sys.Get(t, s.tenant) // its UID marks the Secrets written for it
		samples = append(samples, s)
	}
	first.Resume(t)
	second.Resume(t)
	for _, s := range samples {
		s.waitServed(t)
	}
	systemtest.Eventually(t, "the controllers settle", func() error {
		if err := writes.quiet(samples, quietFor); err != nil {
			return err
		}
		var problems []error
		for _, s := range samples {
			problems = append(problems, settled(s, writes))
		}
		return errors.Join(problems...)
	})
	raced, issuedTwice := 0, 0
	for _, s := range samples {
		if writes.keysCreated(s) > 2 {
			raced++
		}
		if writes.digestsRecorded(s) > 1 {
			issuedTwice++
		}
	}
	t.Logf("%d of %d Tenants got keys from both controllers, %d Clients got credentials from both", raced, len(samples), issuedTwice)
	if raced == 0 {
		t.Fatal("no Tenant got keys from both controllers: the controllers did not race")
	}

	writes.expectNone(t, samples, unchangedFor, "with two controllers")
	first.Kill(t)
	third := sys.StartController(t, tokenServer.URL)
	waitWorkers(t, third)
	writes.expectNone(t, samples, unchangedFor, "after a controller was killed and another started")
}

// waitWorkers waits until every reconciler of controller has started its workers.
func waitWorkers(t *testing.T, controller *systemtest.Process) {
	t.Helper()
	systemtest.Eventually(t, "the controller runs its reconcilers", func() error {
		if n := strings.Count(controller.Output(), `"msg":"Starting workers"`); n < 4 {
			return fmt.Errorf("%d of 4 started", n)
		}
		return nil
	})
}

// settled says what is not as it must be once the controllers settled on s: the Tenant
// and the Client are Ready at their generation; the key Secrets are those of the
// Tenant's status, one current and one next; and the credentials Secret was only ever
// written with one client secret, the one the Client's status records.
func settled(s *sample, writes *writeLog) error {
	ctx := context.Background()
	for _, o := range []client.Object{s.tenant, s.client} {
		if err := readyAtGeneration(o); err != nil {
			return err
		}
	}
	uid := string(s.tenant.UID)
	var keySecrets corev1.SecretList
	if err := sys.Env.Client.List(ctx, &keySecrets, client.InNamespace(systemtest.OperatorNamespace),
		client.MatchingLabels{snapshot.LabelComponent: snapshot.ComponentSigningKey, snapshot.LabelTenantUID: uid}); err != nil {
		return err
	}
	stored := map[string]bool{}
	for _, k := range keySecrets.Items {
		stored[k.Name] = true
	}
	inStatus := map[string]bool{}
	states := map[identityv1alpha1.KeyState]int{}
	for _, k := range s.tenant.Status.Keys {
		states[k.State]++
		inStatus[keys.SecretName(uid, k.KID)] = true
	}
	var problems []error
	if !maps.Equal(inStatus, stored) ||
		states[identityv1alpha1.KeyStateCurrent] != 1 || states[identityv1alpha1.KeyStateNext] != 1 {
		problems = append(problems, fmt.Errorf("%s: key Secrets %v, keys in status %v; want the same keys, one current and one next",
			s.tenant.Namespace, slices.Sorted(maps.Keys(stored)), s.tenant.Status.Keys))
	}
	if n := writes.clientSecretsWritten(s); n != 1 {
		problems = append(problems, fmt.Errorf("%s: the credentials Secret was written with %d client secrets, want 1: all but the last were lost",
			s.tenant.Namespace, n))
	}
	return errors.Join(problems...)
}

// readyAtGeneration reads o and says whether the controller reported it Ready for its
// current generation.
func readyAtGeneration(o client.Object) error {
	if err := sys.Env.Client.Get(context.Background(), client.ObjectKeyFromObject(o), o); err != nil {
		return err
	}
	var status identityv1alpha1.CommonStatus
	switch o := o.(type) {
	case *identityv1alpha1.Tenant:
		status = o.Status.CommonStatus
	case *identityv1alpha1.Client:
		status = o.Status.CommonStatus
	}
	if status.ObservedGeneration != o.GetGeneration() || !meta.IsStatusConditionTrue(status.Conditions, identityv1alpha1.ConditionReady) {
		return fmt.Errorf("%s/%s: not Ready at generation %d (observed %d)", o.GetNamespace(), o.GetName(), o.GetGeneration(), status.ObservedGeneration)
	}
	return nil
}

// writeLog holds every write to Secrets, Tenants and Clients that its watches saw.
type writeLog struct {
	mu     sync.Mutex
	writes []write
	// ended says why a watch ended before the test did.
	ended error
}

// write is one watch event: the object as written, or as it was when deleted.
type write struct {
	at   time.Time
	kind watch.EventType
	obj  client.Object
}

// watchWrites watches Secrets, Tenants and Clients of every namespace until the test
// ends; a watch that ends before is an error of every wait on the log.
func watchWrites(t *testing.T) *writeLog {
	t.Helper()
	wc, err := client.NewWithWatch(sys.Env.Config, client.Options{Scheme: sys.Env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var watching sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		watching.Wait()
	})
	l := &writeLog{}
	for _, newList := range []func() client.ObjectList{
		func() client.ObjectList { return &corev1.SecretList{} },
		func() client.ObjectList { return &identityv1alpha1.TenantList{} },
		func() client.ObjectList { return &identityv1alpha1.ClientList{} },
	} {
		list := newList()
		if err := wc.List(ctx, list); err != nil {
			t.Fatal(err)
		}
		w, err := watchtools.NewRetryWatcherWithContext(ctx, list.GetResourceVersion(), &cache.ListWatch{
			WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
				return wc.Watch(ctx, newList(), &client.ListOptions{Raw: &opts})
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		watching.Go(func() {
			defer w.Stop()
			l.record(ctx, fmt.Sprintf("%T", list), w.ResultChan())
		})
	}
	return l
}

// record appends the writes of events until they end.
func (l *writeLog) record(ctx context.Context, what string, events <-chan watch.Event) {
	for ev := range events {
		if ev.Type == watch.Error {
			l.end(fmt.Errorf("the watch of %s failed: %v", what, ev.Object))
			return
		}
		if o, ok := ev.Object.(client.Object); ok && ev.Type != watch.Bookmark {
			l.mu.Lock()
			l.writes = append(l.writes, write{at: time.Now(), kind: ev.Type, obj: o})
			l.mu.Unlock()
		}
	}
	if ctx.Err() == nil {
		l.end(fmt.Errorf("the watch of %s ended", what))
	}
}

func (l *writeLog) end(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ended = errors.Join(l.ended, err)
}

// of returns the writes to the objects of samples from the mark-th write on, and the
// number of writes so far, the mark of the next call.
func (l *writeLog) of(samples []*sample, mark int) ([]write, int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []write
	for _, w := range l.writes[mark:] {
		if slices.ContainsFunc(samples, func(s *sample) bool { return s.owns(w.obj) }) {
			out = append(out, w)
		}
	}
	return out, len(l.writes), l.ended
}

// owns reports whether o is of s's namespace or a Secret written for s's Tenant.
func (s *sample) owns(o client.Object) bool {
	return o.GetNamespace() == s.tenant.Namespace || o.GetLabels()[snapshot.LabelTenantUID] == string(s.tenant.UID)
}

// quiet is nil once the watches have seen no write to the objects of samples for d.
func (l *writeLog) quiet(samples []*sample, d time.Duration) error {
	writes, _, err := l.of(samples, 0)
	if err != nil {
		return err
	}
	if len(writes) > 0 {
		if since := time.Since(writes[len(writes)-1].at); since < d {
			return fmt.Errorf("the last write was %v ago", since.Round(time.Millisecond))
		}
	}
	return nil
}

// expectNone watches the objects of samples for d and fails the test at the first write
// to them, or if the watches end; and then checks that each sample still issues tokens.
func (l *writeLog) expectNone(t *testing.T, samples []*sample, d time.Duration, when string) {
	t.Helper()
	_, mark, _ := l.of(nil, 0)
	for deadline := time.Now().Add(d); ; time.Sleep(100 * time.Millisecond) {
		writes, _, err := l.of(samples, mark)
		if err != nil {
			t.Fatalf("%s: %v", when, err)
		}
		if len(writes) > 0 {
			w := writes[0]
			t.Fatalf("%s: %s %T %s/%s (resourceVersion %s), and %d writes more", when,
				w.kind, w.obj, w.obj.GetNamespace(), w.obj.GetName(), w.obj.GetResourceVersion(), len(writes)-1)
		}
		if time.Now().After(deadline) {
			break
		}
	}
	for _, s := range samples {
		s.mustToken(t, when)
	}
}

// keysCreated counts the key Secrets created for s's Tenant: 2 when one controller
// generated its first keys, more when both did.
func (l *writeLog) keysCreated(s *sample) int {
	writes, _, _ := l.of([]*sample{s}, 0)
	names := map[string]bool{}
	for _, w := range writes {
		if w.kind == watch.Added && w.obj.GetLabels()[snapshot.LabelComponent] == snapshot.ComponentSigningKey {
			names[w.obj.GetName()] = true
		}
	}
	return len(names)
}

// clientSecretsWritten counts the different credentials the credentials Secret of s's
// Client was written with, comparing their digests: no secret reaches the output.
func (l *writeLog) clientSecretsWritten(s *sample) int {
	writes, _, _ := l.of([]*sample{s}, 0)
	credentials := map[[sha256.Size]byte]bool{}
	for _, w := range writes {
		if secret, ok := w.obj.(*corev1.Secret); ok && w.kind != watch.Deleted && secret.Name == s.client.Status.CredentialsSecretName {
			credentials[sha256.Sum256(slices.Concat(secret.Data["client_id"], []byte{0}, secret.Data["client_secret"]))] = true
		}
	}
	return len(credentials)
}

// digestsRecorded counts the credentials digests the status of s's Client recorded,
// each once: more than one when both controllers issued credentials.
func (l *writeLog) digestsRecorded(s *sample) int {
	writes, _, _ := l.of([]*sample{s}, 0)
	digests := map[string]bool{}
	for _, w := range writes {
		if c, ok := w.obj.(*identityv1alpha1.Client); ok && c.Name == s.client.Name && c.Status.CredentialsDigest != "" {
			digests[c.Status.CredentialsDigest] = true
		}
	}
	return len(digests)
}
