// Package password checks passwords against the hashes a database connection stores:
// bcrypt ($2a$, $2b$, $2y$) and argon2id in PHC string form
// ($argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>), within Caps on their parameters that a
// token server replica can afford, and says what checking each costs.
package password

import (
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// ErrUnsupported means a hash is not a bcrypt or argon2id hash this package can verify.
var ErrUnsupported = errors.New("unsupported password hash: want bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")

// ErrPasswordTooLong means a password is longer than the 72 bytes bcrypt reads: bcrypt
// ignores the rest, so a check would accept any password that starts with the right
// one. Like Auth0, Gatehouse refuses it as a wrong password.
var ErrPasswordTooLong = errors.New("password longer than the 72 bytes bcrypt checks")

// bcryptMaxPasswordLen is how many bytes of a password bcrypt reads.
const bcryptMaxPasswordLen = 72

// bcryptMemoryKiB is what one bcrypt check allocates: its Blowfish state, 5,236 bytes
// per check measured with golang.org/x/crypto v0.59.0, whatever the cost.
const bcryptMemoryKiB = 5

// Hash is a parsed hash within the caps it was parsed with.
type Hash struct {
	raw    string
	argon  *argon2idParams // nil for bcrypt
	bcrypt bool
}

// Cost is what checking a hash holds while it runs.
type Cost struct {
	// MemoryKiB is the memory a check allocates.
	MemoryKiB int64
	// Threads is how many goroutines a check computes on at once.
	Threads int
}

// Parse parses hash and checks its parameters against c. A parameter outside the caps
// is a *CapError.
func (c Caps) Parse(hash string) (Hash, error) {
	switch {
	case isBcrypt(hash):
		return Hash{raw: hash, bcrypt: true}, c.checkBcrypt(hash)
	case strings.HasPrefix(hash, "$argon2id$"):
		p, err := c.parseArgon2id(hash)
		if err != nil {
			return Hash{}, err
		}
		return Hash{raw: hash, argon: &p}, nil
	default:
		return Hash{}, ErrUnsupported
	}
}

// Cost is what checking h holds while it runs.
func (h Hash) Cost() Cost {
	if h.argon != nil {
		return Cost{MemoryKiB: int64(h.argon.memory), Threads: int(h.argon.threads)}
	}
	return Cost{MemoryKiB: bcryptMemoryKiB, Threads: 1}
}

// Parameters is the part of h that sets its cost: bcrypt's "$2a$10", or argon2id's
// "$argon2id$v=19$m=...,t=...,p=..."; what follows is salt and digest.
func (h Hash) Parameters() string {
	fields := strings.Split(h.raw, "$")
	keep := len(fields) - 1 // bcrypt: salt and digest are one field
	if h.argon != nil {
		keep = len(fields) - 2 // argon2id: the salt, then the digest
	}
	return strings.Join(fields[:keep], "$")
}

// Verify reports whether password matches h. A password longer than bcrypt checks
// costs a check and returns false with ErrPasswordTooLong, so that it takes as long as
// a wrong password.
func (h Hash) Verify(password string) (bool, error) {
	if h.argon != nil {
		p := h.argon
		got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key))) //nolint:gosec // Parse bounds len(p.key) by the caps
		return subtle.ConstantTimeCompare(got, p.key) == 1, nil
	}
	err := bcrypt.CompareHashAndPassword([]byte(h.raw), []byte(password))
	switch {
	case len(password) > bcryptMaxPasswordLen:
		return false, ErrPasswordTooLong
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	}
	return err == nil, err
}

// checkBcrypt refuses malformed hashes and costs over the cap.
func (c Caps) checkBcrypt(hash string) error {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return fmt.Errorf("malformed bcrypt hash: %w", err)
	}
	return check("bcrypt cost", "", uint64(cost), uint64(bcrypt.MinCost), uint64(c.BcryptMaxCost)) //nolint:gosec // bcrypt.Cost is at least MinCost
}

func isBcrypt(hash string) bool {
	return strings.HasPrefix(hash, "$2a$") || strings.HasPrefix(hash, "$2b$") || strings.HasPrefix(hash, "$2y$")
}

type argon2idParams struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgon2id parses "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<key>", with salt and key
// in unpadded standard base64, as the PHC string format and the reference
// implementation write them, and checks its parameters against c.
func (c Caps) parseArgon2id(hash string) (argon2idParams, error) {
	fields := strings.Split(hash, "$")
	if len(fields) != 6 || fields[1] != "argon2id" {
		return argon2idParams{}, errors.New("malformed argon2id hash: want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if fields[2] != "v=19" {
		return argon2idParams{}, fmt.Errorf("argon2id version %q is not supported: want v=19", fields[2])
	}
	var m, t, p uint64
	for _, kv := range strings.Split(fields[3], ",") {
		name, value, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return argon2idParams{}, fmt.Errorf("malformed argon2id parameter %q", kv)
		}
		switch name {
		case "m":
			m = n
		case "t":
			t = n
		case "p":
			p = n
		default:
			return argon2idParams{}, fmt.Errorf("unknown argon2id parameter %q", name)
		}
	}
	if err := check("argon2id memory (m)", "KiB", m, 1, uint64(c.Argon2idMaxMemoryKiB)); err != nil {
		return argon2idParams{}, err
	}
	if err := check("argon2id time (t)", "", t, 1, uint64(c.Argon2idMaxTime)); err != nil {
		return argon2idParams{}, err
	}
	if err := check("argon2id parallelism (p)", "", p, 1, uint64(c.Argon2idMaxParallelism)); err != nil {
		return argon2idParams{}, err
	}
	params := argon2idParams{memory: uint32(m), time: uint32(t), threads: uint8(p)} //nolint:gosec // checked against caps of these types
	var err error
	if params.salt, err = base64.RawStdEncoding.DecodeString(fields[4]); err != nil || len(params.salt) < 8 {
		return argon2idParams{}, errors.New("malformed argon2id salt: want at least 8 bytes in unpadded base64")
	}
	if params.key, err = base64.RawStdEncoding.DecodeString(fields[5]); err != nil {
		return argon2idParams{}, errors.New("malformed argon2id hash value: want unpadded base64")
	}
	if err := check("argon2id hash length", "bytes", uint64(len(params.key)), uint64(c.Argon2idMinKeyLen), uint64(c.Argon2idMaxKeyLen)); err != nil { //nolint:gosec // lengths are not negative
		return argon2idParams{}, err
	}
	return params, nil
}
