package password

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
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

func TestVerify(t *testing.T) {
	password := rand.Text()
	bc, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	hashes := map[string]string{
		"bcrypt":   string(bc),
		"argon2id": argon2idHash(t, password, 64, 1, 1),
	}
	for name, hash := range hashes {
		t.Run(name, func(t *testing.T) {
			if err := Validate(hash); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if ok, err := Verify(hash, password); !ok || err != nil {
				t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
			}
			if ok, err := Verify(hash, password+"x"); ok || err != nil {
				t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
			}
			if ok, _ := Verify(hash, ""); ok {
				t.Error("Verify(empty password) = true")
			}
		})
	}
}

func TestValidateRefuses(t *testing.T) {
	tests := map[string]string{
		"plaintext":          "hunter2",
		"md5 crypt":          "$1$saltsalt$hash",
		"argon2i":            "$argon2i$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id v=16":      "$argon2id$v=16$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id huge m":    "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id zero t":    "$argon2id$v=19$m=64,t=0,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id bad salt":  "$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2hoYXNoaGFzaA",
		"argon2id short key": "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA",
		"argon2id missing":   "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ",
		"bcrypt truncated":   "$2a$10$abc",
		"bcrypt cost 31":     "$2a$31$" + "abcdefghijklmnopqrstuvABCDEFGHIJKLMNOPQRSTUVWXYZ01234",
	}
	for name, hash := range tests {
		t.Run(name, func(t *testing.T) {
			if err := Validate(hash); err == nil {
				t.Errorf("Validate(%q) = nil, want an error", hash)
			}
			if ok, err := Verify(hash, "anything"); ok || err == nil {
				t.Errorf("Verify(%q) = %v, %v; want false and an error", hash, ok, err)
			}
		})
	}
	if err := Validate("hunter2"); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Validate(plaintext) = %v, want ErrUnsupported", err)
	}
}
