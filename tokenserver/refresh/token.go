package refresh

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
)

const (
	familyIDBytes = 16
	secretBytes   = 32
)

// secret is the random part of a token, which only its holder knows.
type secret []byte

// newFamilyID returns 128 random bits as 32 lowercase hex characters.
func newFamilyID() string {
	return hex.EncodeToString(randomBytes(familyIDBytes))
}

func newSecret() secret { return randomBytes(secretBytes) }

func randomBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return b
}

// formatToken is the token of family id with s: "<family id>.<secret>".
func formatToken(id string, s secret) string {
	return id + "." + base64.RawURLEncoding.EncodeToString(s)
}

// parseToken splits a token into its family ID and secret, and reports whether it has
// the form formatToken gives.
func parseToken(token string) (id string, s secret, ok bool) {
	id, encoded, found := strings.Cut(token, ".")
	if !found || len(id) != 2*familyIDBytes || len(encoded) != base64.RawURLEncoding.EncodedLen(secretBytes) || !isLowerHex(id) {
		return "", nil, false
	}
	s, err := base64.RawURLEncoding.Strict().DecodeString(encoded)
	if err != nil {
		return "", nil, false
	}
	return id, s, true
}

func isLowerHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hash is what a store keeps of a secret.
func (s secret) hash() []byte {
	h := sha256.Sum256(s)
	return h[:]
}

// sameHash compares two hashes in constant time.
func sameHash(a, b []byte) bool {
	return len(a) == sha256.Size && subtle.ConstantTimeCompare(a, b) == 1
}

// sealInfo binds the sealing key to its use.
const sealInfo = "gatehouse refresh token successor v1"

// sealSuccessor seals next with a key derived from prev, the secret it replaces, for
// generation of family id: only a holder of prev opens it. The store keeps prev's
// SHA-256, from which the key cannot be derived.
func sealSuccessor(prev, next secret, id string, generation int) []byte {
	aead := successorAEAD(prev, id)
	nonce := randomBytes(aead.NonceSize())
	return aead.Seal(nonce, nonce, next, successorAAD(id, generation))
}

// openSuccessor opens what sealSuccessor sealed with prev.
func openSuccessor(prev secret, sealed []byte, id string, generation int) (secret, error) {
	aead := successorAEAD(prev, id)
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed successor too short")
	}
	nonce, box := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	return aead.Open(nil, nonce, box, successorAAD(id, generation))
}

func successorAEAD(prev secret, id string) cipher.AEAD {
	// The secret has 256 random bits, so HKDF needs no salt beyond the family ID.
	key, err := hkdf.Key(sha256.New, prev, []byte(id), sealInfo, 32)
	if err != nil {
		panic(err) // only for lengths over 255 hashes
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		panic(err) // only for a key length other than 16, 24 or 32
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		panic(err) // only for a block size other than 16
	}
	return aead
}

func successorAAD(id string, generation int) []byte {
	return []byte(id + "/" + strconv.Itoa(generation))
}
