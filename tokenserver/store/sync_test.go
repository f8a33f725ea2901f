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

// TestSyncWaitsForAgreeingParts checks the states a reader sees while the controller
// rewrites a snapshot part by part: until every part carries the new content hash, the
// last good view stays.
func TestSyncWaitsForAgreeingParts(t *testing.T) {
	const ns = "ops"
	st := store.New()
	loader := store.NewLoader(nil, ns, st, store.DefaultFactories(slog.New(slog.DiscardHandler), tokentest.PasswordChecks()), slog.New(slog.DiscardHandler))
	key := tokentest.NewKey(t, "k1", "ES256", "current")
	ft := tokentest.NewTenant(t, "uid-parts", "team-a", "acme", "http://tokens.example/team-a/acme/", "", bcrypt.MinCost, key)
	keySecret := tokentest.KeySecret(ns, "uid-parts", key)
	old := tokentest.SnapshotSecrets(t, ns, ft.Snapshot)

	ft.Snapshot.Clients = append(ft.Snapshot.Clients, snapshot.Client{ClientID: "added", Type: "public", GrantTypes: []string{"password"}})
	updated := tokentest.SnapshotSecrets(t, ns, ft.Snapshot)
	// Split the new snapshot into two parts by hand, as a large one would be.
	data := updated[0].Data[snapshot.DataKey]
	part1 := updated[0].DeepCopy()
	part1.Name = snapshot.SecretName("uid-parts", 1)
	part1.Data = map[string][]byte{snapshot.DataKey: data[len(data)/2:]}
	part0 := updated[0].DeepCopy()
	part0.Data = map[string][]byte{snapshot.DataKey: data[:len(data)/2]}
	part0.Annotations[snapshot.AnnotationParts], part1.Annotations[snapshot.AnnotationParts] = "2", "2"
	staleHash := part1.DeepCopy()
	staleHash.Annotations[snapshot.AnnotationContentHash] = old[0].Annotations[snapshot.AnnotationContentHash]

	serves := func(clientID string) bool {
		tenant, _, ok := st.Route("tokens.example", "/team-a/acme/userinfo")
		return ok && tenant.Clients[clientID] != nil
	}
	for _, step := range []struct {
		name      string
		secrets   []*corev1.Secret
		wantAdded bool
	}{
		{"first snapshot", []*corev1.Secret{keySecret, old[0]}, false},
		{"part 0 rewritten, part 1 not yet written", []*corev1.Secret{keySecret, part0}, false},
		{"part 1 of another content hash", []*corev1.Secret{keySecret, part0, staleHash}, false},
		{"both parts agree", []*corev1.Secret{keySecret, part0, part1}, true},
	} {
		loader.Sync(step.secrets)
		if !serves(tokentest.Public) || serves("added") != step.wantAdded {
			t.Errorf("%s: serving public client %v, added client %v; want true, %v", step.name, serves(tokentest.Public), serves("added"), step.wantAdded)
		}
	}
}
