package database

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

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

func TestLogin(t *testing.T) {
	alicePass, bobPass, carolPass := randomPassword(t), randomPassword(t), randomPassword(t)
	c := New([]snapshot.User{
		{ID: "a1", Username: "alice", Email: "Alice@Example.com", Name: "Alice", EmailVerified: true, PasswordHash: bcryptHash(t, alicePass), Claims: map[string]any{"team": "x"}},
		{ID: "b1", Username: "bob", PasswordHash: bcryptHash(t, bobPass), Blocked: true},
		{ID: "c1", Email: "carol@example.com", PasswordHash: argon2idHash(t, carolPass)},
		{ID: "d1", Username: "dave", PasswordHash: "not a hash"},
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
		{"empty password", "alice", "", ""},
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
	c := New([]snapshot.User{
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
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hashParameters(New(tc.users).dummyHash); got != tc.want {
				t.Errorf("dummy hash parameters %q, want %q", got, tc.want)
			}
		})
	}
}
