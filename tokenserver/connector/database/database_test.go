package database

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/hashlimit"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// newConnector is New for tenant "uid-t" with the default caps and a limiter of its own.
func newConnector(users []snapshot.User) *Connector {
	return New(users, "uid-t", ChecksFor(password.DefaultMemoryLimit), slog.New(slog.DiscardHandler))
}

func randomPassword(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func bcryptHash(t *testing.T, password string) string {
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func argon2idHash(t *testing.T, password string) string {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, 1, 64, 1, 32)
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s",
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// overCapsHash is an argon2id hash whose memory is one KiB past the default cap. Its
// value is not a real hash: nothing may compute it.
func overCapsHash() string {
	zeros := base64.RawStdEncoding.EncodeToString(make([]byte, 16))
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", password.DefaultCaps().Argon2idMaxMemoryKiB+1, zeros, zeros)
}

func TestLogin(t *testing.T) {
	alicePass, bobPass, carolPass := randomPassword(t), randomPassword(t), randomPassword(t)
	// bcrypt reads 72 bytes: hashed is what bcrypt saw of long, which it would accept.
	long := strings.Repeat("l", 72) + randomPassword(t)
	c := newConnector([]snapshot.User{
		{ID: "a1", Username: "alice", Email: "Alice@Example.com", Name: "Alice", EmailVerified: true, PasswordHash: bcryptHash(t, alicePass), Claims: map[string]any{"team": "x"}},
		{ID: "b1", Username: "bob", PasswordHash: bcryptHash(t, bobPass), Blocked: true},
		{ID: "c1", Email: "carol@example.com", PasswordHash: argon2idHash(t, carolPass)},
		{ID: "d1", Username: "dave", PasswordHash: "not a hash"},
		{ID: "e1", Username: "erin", PasswordHash: overCapsHash()},
		{ID: "f1", Username: "frank", PasswordHash: bcryptHash(t, long[:72])},
		{ID: "g1", Username: "grace", PasswordHash: argon2idHash(t, long)},
	})
	for _, tc := range []struct {
		name, username, password, wantID string
	}{
		{"bcrypt by username", "alice", alicePass, "a1"},
		{"by email, any case and spacing", " ALICE@example.COM ", alicePass, "a1"},
		{"argon2id", "carol@example.com", carolPass, "c1"},
		{"wrong password", "alice", "wrong", ""},
		{"password of another user", "alice", carolPass, ""},
		{"unknown user", "nobody", alicePass, ""},
		{"blocked user with the right password", "bob", bobPass, ""},
		{"unusable hash", "dave", "anything", ""},
		{"hash over the caps", "erin", "anything", ""},
		{"empty password", "alice", "", ""},
		{"bcrypt, 72 bytes", "frank", long[:72], "f1"},
		{"bcrypt, over 72 bytes starting with the right 72", "frank", long, ""},
		{"argon2id, over 72 bytes", "grace", long, "g1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, err := c.Login(context.Background(), tc.username, tc.password)
			if tc.wantID == "" {
				if !errors.Is(err, connector.ErrInvalidCredentials) {
					t.Errorf("Login = %+v, %v; want ErrInvalidCredentials", id, err)
				}
				return
			}
			if err != nil || id.UserID != tc.wantID {
				t.Fatalf("Login = %+v, %v; want user %s", id, err, tc.wantID)
			}
		})
	}

	id, err := c.Login(context.Background(), "alice", alicePass)
	if err != nil || id.Email != "Alice@Example.com" || id.Name != "Alice" || !id.EmailVerified || id.Claims["team"] != "x" || id.Username != "alice" {
		t.Errorf("identity %+v, %v", id, err)
	}
}

func TestLookupUser(t *testing.T) {
	c := newConnector([]snapshot.User{
		{ID: "a1", Username: "alice", PasswordHash: "$2a$04$x"},
		{ID: "b1", Username: "bob", PasswordHash: "$2a$04$x", Blocked: true},
	})
	if id, ok, err := c.LookupUser(context.Background(), "a1"); !ok || err != nil || id.Username != "alice" {
		t.Errorf("LookupUser(a1) = %+v, %v, %v", id, ok, err)
	}
	for _, missing := range []string{"b1", "alice", "zz"} {
		if _, ok, err := c.LookupUser(context.Background(), missing); ok || err != nil {
			t.Errorf("LookupUser(%s) = found %v, %v", missing, ok, err)
		}
	}
}

// TestUnknownUserCostsAHashCheck checks that an unknown user is checked against a hash
// with the parameters most of the store's users have, so that timing does not tell
// unknown users from wrong passwords whatever cost the store is hashed at.
func TestUnknownUserCostsAHashCheck(t *testing.T) {
	hashAt := func(cost int) string {
		h, err := bcrypt.GenerateFromPassword([]byte(randomPassword(t)), cost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	users := func(hashes ...string) []snapshot.User {
		var out []snapshot.User
		for i, h := range hashes {
			out = append(out, snapshot.User{ID: fmt.Sprint(i), Username: fmt.Sprint("user-", i), PasswordHash: h})
		}
		return out
	}
	argon := argon2idHash(t, randomPassword(t))
	for _, tc := range []struct {
		name  string
		users []snapshot.User
		want  string // the parameters of the dummy hash
	}{
		{"no users: bcrypt's default cost", nil, "$2a$10"},
		{"all at cost 5", users(hashAt(5), hashAt(5)), "$2a$05"},
		{"mostly cost 6", users(hashAt(5), hashAt(6), hashAt(6)), "$2a$06"},
		{"mostly argon2id", users(hashAt(4), argon, argon2idHash(t, randomPassword(t))), "$argon2id$v=19$m=64,t=1,p=1"},
		{"mostly over the caps: the usable ones", users(hashAt(5), overCapsHash(), overCapsHash()), "$2a$05"},
		{"only over the caps: bcrypt's default cost", users(overCapsHash()), "$2a$10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := newConnector(tc.users).dummy.Parameters(); got != tc.want {
				t.Errorf("dummy hash parameters %q, want %q", got, tc.want)
			}
		})
	}
}

// TestHashesOverTheCapsAreLogged: the token server refuses, on its own, a hash the
// controller would have refused, and says which user in which connection.
func TestHashesOverTheCapsAreLogged(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil)).With("connection", "users")
	New([]snapshot.User{
		{ID: "a1", Username: "alice", PasswordHash: bcryptHash(t, randomPassword(t))},
		{ID: "e1", Username: "erin", PasswordHash: overCapsHash()},
	}, "uid-t", ChecksFor(password.DefaultMemoryLimit), log)
	for _, want := range []string{"connection=users", "users=1", "erin: argon2id memory (m) 65537 KiB is over the cap 65536 KiB"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log %q lacks %q", logs.String(), want)
		}
	}
	if strings.Contains(logs.String(), "alice") {
		t.Errorf("log %q names a user whose hash is usable", logs.String())
	}
}

// TestChecksGoThroughTheLimiter: every check, an unknown user's dummy one included,
// waits for the limiter, and a refusal is ErrUnavailable with the limiter's error rather
// than a wrong password.
func TestChecksGoThroughTheLimiter(t *testing.T) {
	const budget = 1 << 20
	limiter := hashlimit.New(hashlimit.Config{Budget: budget, Threads: 2, MaxWait: time.Millisecond, MaxQueued: 10})
	pass := randomPassword(t)
	c := New([]snapshot.User{{ID: "a1", Username: "alice", PasswordHash: bcryptHash(t, pass)}}, "uid-t",
		Checks{Caps: password.DefaultCaps(), Limiter: limiter}, slog.New(slog.DiscardHandler))
	// Two other tenants fill the budget: a thread weighs half of it.
	for _, other := range []string{"uid-x", "uid-y"} {
		release, err := limiter.Acquire(context.Background(), other, password.Cost{MemoryKiB: 5, Threads: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer release()
	}
	for _, username := range []string{"alice", "nobody"} {
		_, err := c.Login(context.Background(), username, pass)
		var refused *hashlimit.RefusedError
		if !errors.Is(err, connector.ErrUnavailable) || !errors.As(err, &refused) || errors.Is(err, connector.ErrInvalidCredentials) {
			t.Errorf("login of %s with the budget full: %v, want ErrUnavailable and a RefusedError", username, err)
		}
	}
}
