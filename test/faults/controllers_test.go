package faults_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

const (
	// racingTenants are applied at once while two controllers run.
	racingTenants = 3
	// settle is how long the written state must stay as it is.
	settle = 3 * time.Second
)

// TestControllersRacing runs two controllers at once, without leader election, on
// Tenants applied together. Both may generate keys for a new Tenant; they must settle on
// one current and one next key (a key that was current for a moment stays published as
// previous: it may have signed tokens) and on one client secret per Client, which works;
// then nothing is rewritten while both run. Then one controller is killed and another
// started: it changes nothing either.
func TestControllersRacing(t *testing.T) {
	tokenServer := sys.StartTokenServer(t)
	first := sys.StartController(t, tokenServer.URL)
	sys.StartController(t, tokenServer.URL)

	var samples []*sample
	for i := range racingTenants {
		samples = append(samples, createSample(t, fmt.Sprintf("race-%d", i)))
	}
	for _, s := range samples {
		s.waitServed(t)
	}
	var settled []written
	systemtest.Eventually(t, "the controllers settle", func() error {
		before, err := observeAll(t, samples)
		if err != nil {
			return err
		}
		time.Sleep(time.Second)
		if settled, err = observeAll(t, samples); err != nil {
			return err
		}
		if !slices.EqualFunc(before, settled, written.equal) {
			return errors.New("the controllers still write")
		}
		return nil
	})
	raced := 0
	for _, s := range samples {
		if slices.ContainsFunc(s.tenant.Status.Keys, func(k identityv1alpha1.KeyStatus) bool { return k.State == identityv1alpha1.KeyStatePrevious }) {
			raced++
		}
	}
	t.Logf("%d of %d Tenants got keys from both controllers", raced, len(samples))
	checkUnchanged := func(when string) {
		t.Helper()
		time.Sleep(settle)
		got, err := observeAll(t, samples)
		if err != nil {
			t.Errorf("%s: %v", when, err)
		}
		for i, s := range samples {
			if !got[i].equal(settled[i]) {
				t.Errorf("%s: the Secrets of %s changed\nfrom %+v\n  to %+v", when, s.tenant.Namespace, settled[i], got[i])
			}
			s.mustToken(t, when)
		}
	}
	checkUnchanged("with two controllers")

	first.Kill(t)
	third := sys.StartController(t, tokenServer.URL)
	systemtest.Eventually(t, "the new controller runs its reconcilers", func() error {
		if n := strings.Count(third.Output(), `"msg":"Starting workers"`); n < 4 {
			return fmt.Errorf("%d of 4 started", n)
		}
		return nil
	})
	checkUnchanged("after a controller was killed and another started")
}

// written is what the controllers wrote for a sample that must not change once written.
type written struct {
	// keys are the resource versions of the key Secrets by name.
	keys map[string]string
	// snapshot is the resource version of the snapshot's part 0.
	snapshot string
	// credentials is the resource version of the Client's credentials Secret.
	credentials string
	// secretsIssued counts the client secrets issued, by their Events.
	secretsIssued int
}

func (w written) equal(o written) bool {
	return maps.Equal(w.keys, o.keys) && w.snapshot == o.snapshot &&
		w.credentials == o.credentials && w.secretsIssued == o.secretsIssued
}

// observeAll observes every sample.
func observeAll(t *testing.T, samples []*sample) ([]written, error) {
	t.Helper()
	var all []written
	var problems []error
	for _, s := range samples {
		w, err := observe(t, s)
		all = append(all, w)
		problems = append(problems, err)
	}
	return all, errors.Join(problems...)
}

// observe reads what the controllers wrote for s, and says what is not as it should be
// once they settled: the key Secrets are those of the Tenant's status, with one current
// and one next key, and one client secret was issued.
func observe(t *testing.T, s *sample) (written, error) {
	t.Helper()
	ctx := context.Background()
	sys.Get(t, s.tenant)
	uid := string(s.tenant.UID)
	var keySecrets corev1.SecretList
	if err := sys.Env.Client.List(ctx, &keySecrets, client.InNamespace(systemtest.OperatorNamespace),
		client.MatchingLabels{snapshot.LabelComponent: snapshot.ComponentSigningKey, snapshot.LabelTenantUID: uid}); err != nil {
		t.Fatal(err)
	}
	w := written{keys: map[string]string{}}
	stored := map[string]bool{}
	for _, k := range keySecrets.Items {
		w.keys[k.Name] = k.ResourceVersion
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
			s.tenant.Namespace, slices.Sorted(maps.Keys(w.keys)), s.tenant.Status.Keys))
	}

	w.snapshot = resourceVersion(t, systemtest.OperatorNamespace, snapshot.SecretName(uid, 0))
	w.credentials = resourceVersion(t, s.client.Namespace, s.client.Status.CredentialsSecretName)

	var events eventsv1.EventList
	if err := sys.Env.Client.List(ctx, &events, client.InNamespace(s.client.Namespace)); err != nil {
		t.Fatal(err)
	}
	for _, e := range events.Items {
		if e.Regarding.Name == s.client.Name && e.Reason == controllers.ReasonClientSecretIssued {
			w.secretsIssued++
		}
	}
	if w.secretsIssued > 1 {
		problems = append(problems, fmt.Errorf("%s: %d client secrets issued for one Client: all but the last were lost", s.tenant.Namespace, w.secretsIssued))
	}
	return w, errors.Join(problems...)
}

func resourceVersion(t *testing.T, namespace, secret string) string {
	t.Helper()
	var s corev1.Secret
	if err := sys.Env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: secret}, &s); err != nil {
		t.Fatal(err)
	}
	return s.ResourceVersion
}
