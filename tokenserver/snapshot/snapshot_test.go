package snapshot

import (
	"crypto/rand"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sample() *Snapshot {
	return &Snapshot{
		Version:             FormatVersion,
		Tenant:              TenantRef{Namespace: "team-a", Name: "acme", UID: "0f6c"},
		Issuer:              "http://gatehouse.example/team-a/acme/",
		DefaultDirectory:    "users",
		AccessTokenLifetime: 24 * time.Hour,
		IDTokenLifetime:     10 * time.Hour,
		Keys:                []Key{{KID: "k1", Algorithm: "RS256", State: KeyStateCurrent, SecretName: "gatehouse-key-1"}},
		Connections: []Connection{{Name: "users", Strategy: StrategyDatabase, Users: []User{
			{ID: "1", Username: "alice", PasswordHash: "$2a$10$x", Claims: map[string]any{"team": "a"}},
		}}},
		APIs:    []API{{Identifier: "https://someapi.com/api", Name: "sample", Scopes: []string{"read:sample"}, Algorithm: "RS256"}},
		Clients: []Client{{ClientID: "abc", Name: "job", Type: "confidential", GrantTypes: []string{"password"}, SecretHash: HashClientSecret("s"), TrustForwardedFor: true}},
		AttackProtection: &AttackProtection{
			BruteForce:             AttackLimit{Enabled: true, MaxAttempts: 3, CoolDown: time.Minute},
			SuspiciousIPThrottling: AttackLimit{MaxAttempts: 100, CoolDown: time.Hour},
		},
		Unblock: "alice;1",
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	s := sample()
	enc, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc.Parts) != 1 {
		t.Fatalf("a small snapshot encodes to %d parts, want 1", len(enc.Parts))
	}
	again, err := Encode(sample())
	if err != nil || again.Hash != enc.Hash {
		t.Fatalf("encoding the same snapshot twice gave hashes %q and %q (%v)", enc.Hash, again.Hash, err)
	}
	got, err := Decode(enc.Parts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Errorf("round trip changed the snapshot:\n got %+v\nwant %+v", got, s)
	}
	s.Clients[0].Name = "other"
	changed, _ := Encode(s)
	if changed.Hash == enc.Hash {
		t.Error("a changed snapshot kept its hash")
	}
}

// TestLargeSnapshotSplitsIntoParts: 50,000 users with random bcrypt-like hashes do not
// fit one Secret; the parts must each fit and reassemble in order.
func TestLargeSnapshotSplitsIntoParts(t *testing.T) {
	s := sample()
	s.Connections[0].Users = nil
	for i := range 50_000 {
		s.Connections[0].Users = append(s.Connections[0].Users, User{
			ID: fmt.Sprint(i), Username: fmt.Sprintf("user%d@example.com", i),
			PasswordHash: "$2a$10$" + rand.Text() + rand.Text()[:5],
		})
	}
	enc, err := Encode(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(enc.Parts) < 2 {
		t.Fatalf("%d parts; want the test to exercise several", len(enc.Parts))
	}
	for i, p := range enc.Parts {
		if len(p) > MaxPartSize {
			t.Errorf("part %d is %d bytes, over %d", i, len(p), MaxPartSize)
		}
	}
	got, err := Decode(enc.Parts)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Connections[0].Users) != 50_000 {
		t.Errorf("decoded %d users, want 50000", len(got.Connections[0].Users))
	}
	if _, err := Decode([][]byte{enc.Parts[1], enc.Parts[0]}); err == nil {
		t.Error("parts out of order decoded without error")
	}
}

func TestDecodeRefuses(t *testing.T) {
	good, err := Encode(sample())
	if err != nil {
		t.Fatal(err)
	}
	future := sample()
	future.Version = FormatVersion + 1
	newer, err := Encode(future)
	if err != nil {
		t.Fatal(err)
	}
	truncated := good.Parts[0][:len(good.Parts[0])/2]
	tests := map[string][][]byte{
		"no parts":       nil,
		"not gzip":       {[]byte(`{"version":1}`)},
		"truncated":      {truncated},
		"newer version":  newer.Parts,
		"an empty part":  {{}},
		"trailing bytes": {append(append([]byte{}, good.Parts[0]...), 0x1f, 0x8b, 0, 0)},
	}
	for name, parts := range tests {
		if _, err := Decode(parts); err == nil {
			t.Errorf("%s: Decode succeeded, want an error", name)
		}
	}
}

func TestClientSecretMatches(t *testing.T) {
	secret := rand.Text()
	hash := HashClientSecret(secret)
	if !ClientSecretMatches(hash, secret) {
		t.Error("the right secret does not match")
	}
	for _, wrong := range []string{"", secret + "x", secret[1:]} {
		if ClientSecretMatches(hash, wrong) {
			t.Errorf("%q matches", wrong)
		}
	}
	if ClientSecretMatches("not hex", secret) || ClientSecretMatches("", "") {
		t.Error("a malformed stored hash matches")
	}
}

func TestParseUsers(t *testing.T) {
	users, err := ParseUsers([]byte(`
- username: alice
  email: Alice@Example.com
  passwordHash: "$2a$10$abc"
  claims: {team: a}
- email: bob@example.com
  id: b-1
  passwordHash: "$2a$10$def"
  blocked: true
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(users) != 2 || users[0].ID != "alice" || users[1].ID != "b-1" || !users[1].Blocked || users[0].Claims["team"] != "a" {
		t.Errorf("parsed %+v", users)
	}
	jsonUsers, err := ParseUsers([]byte(`[{"username":"carol","passwordHash":"$2a$10$x"}]`))
	if err != nil || len(jsonUsers) != 1 || jsonUsers[0].ID != "carol" {
		t.Errorf("JSON users: %+v, %v", jsonUsers, err)
	}
}

func TestParseUsersRefuses(t *testing.T) {
	tests := map[string]struct{ data, message string }{
		"not a list":       {`username: alice`, "must be a YAML or JSON list"},
		"misspelt field":   {`[{username: a, pasword: x}]`, `unknown field "pasword"`},
		"no login":         {`[{passwordHash: x}]`, "user 1: needs a username or an email"},
		"no hash":          {`[{username: a}]`, `user "a": passwordHash is missing`},
		"duplicate id":     {`[{username: a, id: 1, passwordHash: x}, {username: b, id: 1, passwordHash: x}]`, `id "1" is also the id of user "a"`},
		"email twice":      {`[{username: a, email: A@x.io, passwordHash: x}, {username: b, email: a@x.io, passwordHash: x}]`, `"a@x.io" is also the username or email of user "a"`},
		"username = email": {`[{username: a@x.io, passwordHash: x}, {username: b, email: A@x.io, passwordHash: x}]`, "is also the username or email"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := ParseUsers([]byte(tc.data))
			if err == nil || !strings.Contains(err.Error(), tc.message) {
				t.Errorf("ParseUsers: %v; want an error containing %q", err, tc.message)
			}
		})
	}
}
