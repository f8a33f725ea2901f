package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/gatehouse-dev/gatehouse/test/kubetest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

var env *kubetest.Env

func TestMain(m *testing.M) {
	kubetest.Main(m, &env)
}

// namespacedClient creates a namespace and a ServiceAccount whose Role may only read
// Secrets there, as the token server's chart grants, and returns a client that
// impersonates it.
func namespacedClient(t testing.TB, ctx context.Context, namespace string) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(tokentest.TokenServerConfig(t, env.Client, env.Config, namespace))
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// runLoader starts a loader of namespace with credentials limited to it.
func runLoader(t testing.TB, namespace string) (*store.Store, *store.Loader, kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cs := namespacedClient(t, ctx, namespace)
	st := store.New()
	loader := store.NewLoader(cs, namespace, st, store.DefaultFactories(slog.New(slog.DiscardHandler), tokentest.PasswordChecks()), slog.New(slog.DiscardHandler))
	done := make(chan error, 1)
	go func() { done <- loader.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("loader: %v", err)
		}
	})
	return st, loader, cs
}

func loaderReloads(l *store.Loader) *prometheus.CounterVec {
	return l.Collectors()[0].(*prometheus.CounterVec)
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// apply creates or updates Secrets.
func apply(t testing.TB, secrets ...*corev1.Secret) {
	t.Helper()
	ctx := context.Background()
	for _, s := range secrets {
		s = s.DeepCopy()
		err := env.Client.Create(ctx, s)
		if apierrors.IsAlreadyExists(err) {
			var existing corev1.Secret
			if err = env.Client.Get(ctx, client.ObjectKeyFromObject(s), &existing); err == nil {
				s.ResourceVersion = existing.ResourceVersion
				err = env.Client.Update(ctx, s)
			}
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func served(st *store.Store, namespace, name string) *store.Tenant {
	t, _, ok := st.Route("tokens.example", "/"+namespace+"/"+name+"/oauth/token")
	if !ok {
		return nil
	}
	return t
}

func TestLoaderFollowsSecretsOfItsNamespace(t *testing.T) {
	const ns, other = snapshot.DefaultNamespace, "elsewhere"
	st, loader, cs := runLoader(t, ns)
	reloadErrors := func() float64 {
		var m dto.Metric
		if err := loaderReloads(loader).WithLabelValues("team-a/acme", "error").Write(&m); err != nil {
			t.Fatal(err)
		}
		return m.GetCounter().GetValue()
	}

	// A tenant's Secrets in another namespace are never served, and cannot even be read.
	strayNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: other}}
	if err := env.Client.Create(context.Background(), strayNS); err != nil {
		t.Fatal(err)
	}
	stray := tokentest.NewTenant(t, "uid-stray", "team-z", "stray", "http://tokens.example/team-z/stray/", "", bcrypt.MinCost,
		tokentest.NewKey(t, "stray", "ES256", "current"))
	apply(t, append(tokentest.SnapshotSecrets(t, other, stray.Snapshot), tokentest.KeySecret(other, "uid-stray", stray.Keys[0]))...)

	eventually(t, "the store is ready", st.Ready)
	if n := len(st.Tenants()); n != 0 {
		t.Fatalf("%d tenants served before any was written", n)
	}

	current := tokentest.NewKey(t, "acme-1", "RS256", "current")
	ft := tokentest.NewTenant(t, "uid-acme", "team-a", "acme", "http://tokens.example/team-a/acme/", "", bcrypt.MinCost, current)
	apply(t, tokentest.KeySecret(ns, "uid-acme", current))
	apply(t, tokentest.SnapshotSecrets(t, ns, ft.Snapshot)...)
	eventually(t, "the tenant is served", func() bool { return served(st, "team-a", "acme") != nil })
	first := served(st, "team-a", "acme")

	t.Run("a changed snapshot is swapped in, reusing unchanged connectors", func(t *testing.T) {
		ft.Snapshot.Clients = append(ft.Snapshot.Clients, snapshot.Client{ClientID: "new-client", Type: "public", GrantTypes: []string{"password"}})
		apply(t, tokentest.SnapshotSecrets(t, ns, ft.Snapshot)...)
		eventually(t, "the new client is served", func() bool { return served(st, "team-a", "acme").Clients["new-client"] != nil })
		if served(st, "team-a", "acme").Connectors[tokentest.Connection] != first.Connectors[tokentest.Connection] {
			t.Errorf("the unchanged database connection's connector was rebuilt")
		}
	})

	t.Run("a corrupted part keeps the last good view", func(t *testing.T) {
		before := reloadErrors()
		good := served(st, "team-a", "acme")
		corrupt := tokentest.SnapshotSecrets(t, ns, ft.Snapshot)[0]
		corrupt.Annotations[snapshot.AnnotationContentHash] = "corrupted"
		corrupt.Data[snapshot.DataKey] = []byte("not gzip")
		apply(t, corrupt)
		eventually(t, "the failed reload is counted", func() bool { return reloadErrors() > before })
		if served(st, "team-a", "acme") != good {
			t.Errorf("the view changed after a corrupted snapshot")
		}
	})

	t.Run("a snapshot naming a missing key waits for the key", func(t *testing.T) {
		good := served(st, "team-a", "acme")
		before := reloadErrors()
		next := tokentest.NewKey(t, "acme-2", "RS256", "current")
		current.Entry.State = "previous"
		ft.Snapshot.Keys = []snapshot.Key{current.Entry, next.Entry}
		apply(t, tokentest.SnapshotSecrets(t, ns, ft.Snapshot)...)
		eventually(t, "the failed reload is counted", func() bool { return served(st, "team-a", "acme") == good && reloadErrors() > before })
		apply(t, tokentest.KeySecret(ns, "uid-acme", next))
		eventually(t, "the rotated key is current", func() bool {
			v := served(st, "team-a", "acme")
			return len(v.PublicKeys) == 2 && strings.Contains(string(v.JWKS), "acme-2")
		})
	})

	t.Run("a snapshot in several parts is loaded once all parts agree", func(t *testing.T) {
		// Random hashes do not compress, so these users need more than one part.
		users := make([]snapshot.User, 20000)
		for i := range users {
			users[i] = snapshot.User{ID: fmt.Sprint(i), Username: fmt.Sprintf("user%d", i), PasswordHash: "$2a$04$" + tokentest.Random(t) + tokentest.Random(t)}
		}
		ft.Snapshot.Connections[0].Users = append(ft.Snapshot.Connections[0].Users, users...)
		parts := tokentest.SnapshotSecrets(t, ns, ft.Snapshot)
		if len(parts) < 2 {
			t.Fatalf("the snapshot has %d part, want several", len(parts))
		}
		apply(t, parts...)
		eventually(t, "the big snapshot is served", func() bool {
			c := served(st, "team-a", "acme").Connectors[tokentest.Connection]
			_, err := c.Login(context.Background(), "user19999", "x")
			return err != nil && !strings.Contains(err.Error(), "unknown user")
		})
	})

	t.Run("a deleted snapshot stops the tenant", func(t *testing.T) {
		for _, s := range tokentest.SnapshotSecrets(t, ns, ft.Snapshot) {
			if err := env.Client.Delete(context.Background(), s); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "the tenant is gone", func() bool { return served(st, "team-a", "acme") == nil })
	})

	if served(st, "team-z", "stray") != nil {
		t.Errorf("a tenant of another namespace is served")
	}
	_, err := cs.CoreV1().Secrets(other).List(context.Background(), metav1.ListOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("listing Secrets of another namespace: %v, want Forbidden", err)
	}
}
