package password

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

func argon2idHash(t *testing.T, password string, m, it uint32, p uint8) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(password), salt, it, m, p, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, it, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

func bcryptHash(t *testing.T, password string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func TestVerify(t *testing.T) {
	password := rand.Text()
	hashes := map[string]string{
		"bcrypt":   bcryptHash(t, password),
		"argon2id": argon2idHash(t, password, 64, 1, 1),
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			h, err := DefaultCaps().Parse(hash)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if ok, err := h.Verify(password); !ok || err != nil {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			if ok, err := h.Verify(password + "x"); ok || err != nil {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
			if ok, _ := h.Verify(""); ok {
				t.Error("Verify(empty password) = true")
			}
		})
	}
}

// TestLongPasswords checks that a bcrypt hash refuses a password longer than the 72
// bytes bcrypt reads, even one whose first 72 bytes are right (bcrypt alone accepts it),
// while argon2id checks every byte.
func TestLongPasswords(t *testing.T) {
	long := strings.Repeat("p", 72) + rand.Text()
	h, err := DefaultCaps().Parse(bcryptHash(t, long[:72])) // bcrypt refuses to hash more
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, tried string
		want        bool
		wantErr     error
	}{
		{"bcrypt, the 72 bytes", long[:72], true, nil},
		{"bcrypt, 73 bytes starting with the 72", long[:73], false, ErrPasswordTooLong},
		{"bcrypt, a wrong long password", strings.Repeat("x", 100), false, ErrPasswordTooLong},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if ok, err := h.Verify(tc.tried); ok != tc.want || !errors.Is(err, tc.wantErr) {
				t.Errorf("Verify = %v, %v; want %v, %v", ok, err, tc.want, tc.wantErr)
			}
		})
	}
	t.Run("argon2id", func(t *testing.T) {
		h, err := DefaultCaps().Parse(argon2idHash(t, long, 64, 1, 1))
		if err != nil {
			t.Fatal(err)
		}
		if ok, err := h.Verify(long); !ok || err != nil {
			t.Errorf("Verify(long right password) = %v, %v; want true, nil", ok, err)
		}
		if ok, err := h.Verify(long[:72]); ok || err != nil {
			t.Errorf("Verify(its first 72 bytes) = %v, %v; want false, nil", ok, err)
		}
	})
}

// TestCaps parses hashes with each capped parameter at its bound and one past it.
// Parsing computes nothing, so the hashes' values need not be real.
func TestCaps(t *testing.T) {
	caps := DefaultCaps()
	salt := base64.RawStdEncoding.EncodeToString(make([]byte, 16))
	argon := func(m, it, p uint64, keyLen int) string {
		return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, it, p, salt,
			base64.RawStdEncoding.EncodeToString(make([]byte, keyLen)))
	}
	bcryptAt := func(cost int) string {
		return fmt.Sprintf("$2a$%02d$%s", cost, strings.Repeat("a", 53))
	}
	maxM, maxT, maxP := uint64(caps.Argon2idMaxMemoryKiB), uint64(caps.Argon2idMaxTime), uint64(caps.Argon2idMaxParallelism)
	minKey, maxKey := caps.Argon2idMinKeyLen, caps.Argon2idMaxKeyLen
	for _, tc := range []struct {
		name, hash string
		// wantErr is the message of the CapError, "" when the hash is within the caps.
		wantErr string
	}{
		{"argon2id m at the cap", argon(maxM, 1, 1, 32), ""},
		{"argon2id m past the cap", argon(maxM+1, 1, 1, 32), "argon2id memory (m) 65537 KiB is over the cap 65536 KiB"},
		{"argon2id m zero", argon(0, 1, 1, 32), "argon2id memory (m) 0 KiB is under the minimum 1 KiB"},
		{"argon2id t at the cap", argon(64, maxT, 1, 32), ""},
		{"argon2id t past the cap", argon(64, maxT+1, 1, 32), "argon2id time (t) 11 is over the cap 10"},
		{"argon2id t zero", argon(64, 0, 1, 32), "argon2id time (t) 0 is under the minimum 1"},
		{"argon2id p at the cap", argon(64, 1, maxP, 32), ""},
		{"argon2id p past the cap", argon(64, 1, maxP+1, 32), "argon2id parallelism (p) 5 is over the cap 4"},
		{"argon2id p zero", argon(64, 1, 0, 32), "argon2id parallelism (p) 0 is under the minimum 1"},
		{"argon2id key at the minimum", argon(64, 1, 1, minKey), ""},
		{"argon2id key under the minimum", argon(64, 1, 1, minKey-1), "argon2id hash length 15 bytes is under the minimum 16 bytes"},
		{"argon2id key at the maximum", argon(64, 1, 1, maxKey), ""},
		{"argon2id key past the maximum", argon(64, 1, 1, maxKey+1), "argon2id hash length 129 bytes is over the cap 128 bytes"},
		{"bcrypt cost at the cap", bcryptAt(caps.BcryptMaxCost), ""},
		{"bcrypt cost past the cap", bcryptAt(caps.BcryptMaxCost + 1), "bcrypt cost 15 is over the cap 14"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := caps.Parse(tc.hash)
			if tc.wantErr == "" {
				if err != nil {
					t.Errorf("Parse: %v, want nil", err)
				}
				return
			}
			var capErr *CapError
			if !errors.As(err, &capErr) || err.Error() != tc.wantErr {
				t.Errorf("Parse: %v, want a CapError %q", err, tc.wantErr)
			}
		})
	}
}

func TestCapsFor(t *testing.T) {
	for _, tc := range []struct {
		memoryLimit int64
		wantMaxKiB  uint32
	}{
		{DefaultMemoryLimit, 64 << 10},
		{MinMemoryLimit, 8 << 10},
		{2 << 30, 256 << 10},
	} {
		if got := CapsFor(Budget(tc.memoryLimit)).Argon2idMaxMemoryKiB; got != tc.wantMaxKiB {
			t.Errorf("memory limit %d MiB: argon2id m cap %d KiB, want %d", tc.memoryLimit>>20, got, tc.wantMaxKiB)
		}
	}
}

func TestCost(t *testing.T) {
	for _, tc := range []struct {
		hash string
		want Cost
	}{
		{argon2idHash(t, "x", 1024, 2, 3), Cost{MemoryKiB: 1024, Threads: 3}},
		{bcryptHash(t, "x"), Cost{MemoryKiB: bcryptMemoryKiB, Threads: 1}},
	} {
		h, err := DefaultCaps().Parse(tc.hash)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Cost(); got != tc.want {
			t.Errorf("Cost of %.20s… = %+v, want %+v", tc.hash, got, tc.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := map[string]string{
		"plaintext":          "hunter2",
		"md5 crypt":          "$1$saltsalt$hash",
		"argon2i":            "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id v=16":      "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id bad salt":  "$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id bad key":   "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$!!!",
		"argon2id missing":   "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
		"argon2id unknown":   "$argon2id$v=19$m=64,t=1,p=1,x=2$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id huge m":    "$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"bcrypt truncated":   "$2a$10$abc",
		"bcrypt cost 31":     "$2a$31$" + strings.Repeat("a", 53),
		"bcrypt cost 99":     "$2a$99$" + strings.Repeat("a", 53),
		"argon2id short key": "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
	}
	for name, hash := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DefaultCaps().Parse(hash); err == nil {
				t.Errorf("Parse(%q) = nil error, want one", hash)
			}
		})
	}
	if _, err := DefaultCaps().Parse("hunter2"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Parse(plaintext) = %v, want ErrUnsupported", err)
	}
}
