package snapshot

import (
	"testing"
)

// FuzzDecode: whatever bytes a snapshot Secret holds, Decode returns an error or a
// snapshot of the supported version; it never panics or allocates without bound.
func FuzzDecode(f *testing.F) {
	enc, err := Encode(sample())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(enc.Parts[0])
	f.Add([]byte{0x1f, 0x8b, 0x08, 0x00})
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Decode([][]byte{data})
		if err == nil && s.Version != FormatVersion {
			t.Fatalf("decoded version %d", s.Version)
		}
	})
}

// FuzzParseUsers: whatever a user puts in a users Secret, ParseUsers returns an error or
// users that each have an id, a password hash and a login, with unique ids.
func FuzzParseUsers(f *testing.F) {
	f.Add([]byte("- username: alice\n  passwordHash: \"$2a$10$x\"\n"))
	f.Add([]byte(`[{"email":"a@b.c","passwordHash":"x","claims":{"a":[1,2]}}]`))
	f.Add([]byte("- {username: a, id: 1, passwordHash: x}\n- {username: b, id: 1, passwordHash: x}\n"))
	f.Add([]byte("&a [*a, *a]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := ParseUsers(data)
		if err != nil {
			return
		}
		ids := map[string]bool{}
		for _, u := range users {
			if u.ID == "" || u.PasswordHash == "" || u.Login() == "" {
				t.Fatalf("accepted an incomplete user %+v", u)
			}
			if ids[u.ID] {
				t.Fatalf("accepted the id %q twice", u.ID)
			}
			ids[u.ID] = true
		}
	})
}
