package tokenserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

func TestRevocationsOf(t *testing.T) {
	users := func(us ...snapshot.User) *snapshot.Snapshot {
		return &snapshot.Snapshot{Connections: []snapshot.Connection{
			{Name: "users", Strategy: snapshot.StrategyDatabase, Users: us},
			{Name: "corp", Strategy: snapshot.StrategyLDAP},
		}}
	}
	alice := snapshot.User{ID: "a1", PasswordHash: "$2a$old"}
	bob := snapshot.User{ID: "b1", PasswordHash: "$2a$bob"}
	changed := func(u snapshot.User, change func(*snapshot.User)) snapshot.User { change(&u); return u }
	annotated := func(s *snapshot.Snapshot, value string) *snapshot.Snapshot { s.RevokeRefreshTokens = value; return s }
	for _, tc := range []struct {
		name       string
		prev, next *snapshot.Snapshot
		want       []revocation
	}{
		{"nothing changed", users(alice, bob), users(alice, bob), nil},
		{"name changed", users(alice), users(changed(alice, func(u *snapshot.User) { u.Name = "Alice" })), nil},
		{"password changed", users(alice, bob), users(changed(alice, func(u *snapshot.User) { u.PasswordHash = "$2a$new" }), bob),
			[]revocation{{"users|a1", reasonPasswordChanged}}},
		{"blocked", users(alice), users(changed(alice, func(u *snapshot.User) { u.Blocked = true })),
			[]revocation{{"users|a1", reasonUserBlocked}}},
		{"unblocked", users(changed(alice, func(u *snapshot.User) { u.Blocked = true })), users(alice), nil},
		{"removed", users(alice, bob), users(bob), []revocation{{"users|a1", reasonUserRemoved}}},
		{"added", users(bob), users(alice, bob), nil},
		{"connection gone", users(alice), &snapshot.Snapshot{}, nil},
		{"annotation names subjects", users(alice), annotated(users(alice), "users|a1, corp|x ;2"),
			[]revocation{{"users|a1", reasonAdministrator}, {"corp|x", reasonAdministrator}}},
		{"annotation names the tenant", users(alice), annotated(users(changed(alice, func(u *snapshot.User) { u.Blocked = true })), "*"),
			[]revocation{{"", reasonAdministrator}}},
		{"annotation unchanged", annotated(users(alice), "users|a1"), annotated(users(alice), "users|a1"), nil},
		{"annotation removed", annotated(users(alice), "users|a1"), users(alice), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := revocationsOf(tc.prev, tc.next); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("revocationsOf = %v, want %v", got, tc.want)
			}
		})
	}
}

// runRevocations runs Revocations over tokens until the test ends, retrying quickly.
func runRevocations(t *testing.T, tokens *refresh.Tokens) *Revocations {
	revocations := NewRevocations(tokens, slog.New(slog.DiscardHandler))
	revocations.retry = 10 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() { defer close(done); _ = revocations.Run(ctx) }()
	return revocations
}

// revokedEventually waits until token refreshes no more.
func revokedEventually(t *testing.T, ft *tokentest.Tenant, token string) {
	t.Helper()
	eventually(t, func() error {
		resp, body := refreshAs(t, ft, token)
		if resp.StatusCode == http.StatusOK {
			token = body["refresh_token"].(string)
			return fmt.Errorf("the family still refreshes")
		}
		return nil
	})
}

// TestPasswordChangeRevokes: a changed password revokes its user's families and no
// other's, once the store can be reached again.
func TestPasswordChangeRevokes(t *testing.T) {
	ts, st, tokens := refreshServer(t, rotating)
	revocations := runRevocations(t, tokens)
	aliceToken := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	betaToken := refreshTokenIn(t)(offlineLogin(t, ts.beta, "offline_access"))

	st.down.Store(true)
	prev := ts.acme.Snapshot
	ts.republish(t, func(s *snapshot.Snapshot) {
		s.Connections = slices.Clone(s.Connections)
		s.Connections[0].Users = slices.Clone(s.Connections[0].Users)
		s.Connections[0].Users[0].PasswordHash = tokentest.Hash(t, tokentest.Random(t), 4)
	})
	revocations.Changed(prev, ts.acme.Snapshot)
	time.Sleep(50 * time.Millisecond) // some tries fail
	st.down.Store(false)
	revokedEventually(t, ts.acme, aliceToken)
	refreshTokenIn(t)(refreshAs(t, ts.beta, betaToken)) // another tenant's user of the same id
}

// TestAnnotationRevokesTheTenant: the revoke-refresh-tokens annotation's "*" revokes
// every family of the tenant, of every client, and none issued afterwards nor of
// another tenant.
func TestAnnotationRevokesTheTenant(t *testing.T) {
	ts, _, tokens := refreshServer(t, rotating)
	revocations := runRevocations(t, tokens)
	confidential := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	public := refreshTokenIn(t)(post(t, snapshot.TokenURL(ts.acme.Snapshot.Issuer), "", formType, form("grant_type", "password", "client_id", tokentest.Public,
		"username", tokentest.AliceEmail, "password", ts.acme.AlicePassword, "scope", "offline_access"), nil))
	betaToken := refreshTokenIn(t)(offlineLogin(t, ts.beta, "offline_access"))

	prev := ts.acme.Snapshot
	ts.republish(t, func(s *snapshot.Snapshot) { s.RevokeRefreshTokens = "*;1" })
	revocations.Changed(prev, ts.acme.Snapshot)
	revokedEventually(t, ts.acme, confidential)
	resp, body := refreshWith(t, ts.acme, nil, "client_id", tokentest.Public, "refresh_token", public)
	assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_grant")
	refreshTokenIn(t)(refreshAs(t, ts.beta, betaToken))

	// The same value seen again, by this replica or one that starts now, revokes nothing.
	after := refreshTokenIn(t)(offlineLogin(t, ts.acme, "offline_access"))
	revocations.Changed(ts.acme.Snapshot, ts.acme.Snapshot)
	time.Sleep(50 * time.Millisecond)
	refreshTokenIn(t)(refreshAs(t, ts.acme, after))
}

// eventually retries check until it returns nil, for up to ten seconds.
func eventually(t *testing.T, check func() error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestManyUsersRevokeTheTenant: past maxSubjectRevocations users waiting, a tenant's
// revocations become one of the whole tenant, so that one namespace's edits of its users
// cost the store a bounded number of operations.
func TestManyUsersRevokeTheTenant(t *testing.T) {
	p := &tenantRevocations{subjects: map[string]string{}}
	for i := range maxSubjectRevocations {
		p.add(revocation{fmt.Sprintf("users|%d", i), reasonPasswordChanged})
	}
	if p.allReason != "" || len(p.subjects) != maxSubjectRevocations {
		t.Fatalf("%d subjects waiting became %q with %d subjects", maxSubjectRevocations, p.allReason, len(p.subjects))
	}
	p.add(revocation{"users|one-more", reasonPasswordChanged})
	if p.allReason != reasonManyUsers || len(p.subjects) != 0 {
		t.Errorf("one more: all %q with %d subjects, want the tenant's revocation alone", p.allReason, len(p.subjects))
	}
}
