package store_test

import (
	"log/slog"
	"testing"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestOnChangeSeesReplacedSnapshots: the loader tells of a snapshot that replaces a
// served one, with both, and of nothing else: not the first load, not an unchanged
// snapshot, not a snapshot it refuses.
func TestOnChangeSeesReplacedSnapshots(t *testing.T) {
	const ns = "ops"
	discard := slog.New(slog.DiscardHandler)
	loader := store.NewLoader(nil, ns, store.New(), store.DefaultFactories(discard, tokentest.PasswordChecks()), discard)
	var seen [][2]string
	loader.OnChange(func(prev, next *snapshot.Snapshot) { seen = append(seen, [2]string{prev.Unblock, next.Unblock}) })

	key := tokentest.NewKey(t, "k1", "ES256", "current")
	ft := tokentest.NewTenant(t, "uid-change", "team-a", "acme", "http://tokens.example/team-a/acme/", "", bcrypt.MinCost, key)
	keySecret := tokentest.KeySecret(ns, "uid-change", key)
	version := func(unblock string) []*corev1.Secret {
		ft.Snapshot.Unblock = unblock
		return tokentest.SnapshotSecrets(t, ns, ft.Snapshot)
	}
	first, second := version("first"), version("second")
	broken := version("broken")
	broken[0].Data[snapshot.DataKey] = []byte("not a snapshot")

	loader.Sync(append(first, keySecret))
	loader.Sync(append(first, keySecret))
	loader.Sync(append(broken, keySecret))
	loader.Sync(append(second, keySecret))
	if want := [][2]string{{"first", "second"}}; len(seen) != 1 || seen[0] != want[0] {
		t.Errorf("OnChange saw %v, want %v", seen, want)
	}
}
