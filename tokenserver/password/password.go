// Package password checks passwords against the hashes a database connection stores:
// bcrypt ($2a$, $2b$, $2y$) and argon2id in PHC string form
// ($argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>).
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

// Bounds on argon2id parameters. A hash outside them is refused when the controller
// validates the users Secret, so that a hostile or mistaken hash cannot make one
// login cost gigabytes of memory or minutes of CPU.
const (
	maxArgonMemoryKiB = 1 << 20 // 1 GiB
	maxArgonTime      = 16
	maxArgonThreads   = 16
	minArgonKeyLen    = 16
	maxArgonKeyLen    = 128
	maxBcryptCost     = 16
)

// ErrUnsupported means a hash is not a bcrypt or argon2id hash this package can verify.
var ErrUnsupported = errors.New("unsupported password hash: want bcrypt ($2a$, $2b$, $2y$) or argon2id ($argon2id$v=19$m=...,t=...,p=...$salt$hash)")

// Validate reports whether hash is a well-formed hash that Verify accepts.
func Validate(hash string) error {
	switch {
	case isBcrypt(hash):
		return validateBcrypt(hash)
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2id(hash)
		return err
	default:
		return ErrUnsupported
	}
}

// Verify reports whether password matches hash. It returns an error only for a hash
// that Validate would refuse.
func Verify(hash, password string) (bool, error) {
	switch {
	case isBcrypt(hash):
		if err := validateBcrypt(hash); err != nil {
			return false, err
		}
		err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
		if errors.Is(err, bcrypt.ErrMismatchedHashAndPassword) {
			return false, nil
		}
		return err == nil, err
	case strings.HasPrefix(hash, "$argon2id$"):
		p, err := parseArgon2id(hash)
		if err != nil {
			return false, err
		}
		got := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key))) //nolint:gosec // parseArgon2id bounds len(p.key) by maxArgonKeyLen
		return subtle.ConstantTimeCompare(got, p.key) == 1, nil
	default:
		return false, ErrUnsupported
	}
}

// validateBcrypt refuses malformed hashes and costs that would make one login take
// minutes: bcrypt's work doubles with each step of cost.
func validateBcrypt(hash string) error {
	cost, err := bcrypt.Cost([]byte(hash))
	if err != nil {
		return fmt.Errorf("malformed bcrypt hash: %w", err)
	}
	if cost > maxBcryptCost {
		return fmt.Errorf("bcrypt cost %d is above the supported maximum %d", cost, maxBcryptCost)
	}
	return nil
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
// implementation write them.
func parseArgon2id(hash string) (argon2idParams, error) {
	fields := strings.Split(hash, "$")
	if len(fields) != 6 || fields[1] != "argon2id" {
		return argon2idParams{}, errors.New("malformed argon2id hash: want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if fields[2] != "v=19" {
		return argon2idParams{}, fmt.Errorf("argon2id version %q is not supported: want v=19", fields[2])
	}
	var p argon2idParams
	for _, kv := range strings.Split(fields[3], ",") {
		name, value, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(value, 10, 32)
		if err != nil {
			return argon2idParams{}, fmt.Errorf("malformed argon2id parameter %q", kv)
		}
		switch name {
		case "m":
			p.memory = uint32(n)
		case "t":
			p.time = uint32(n)
		case "p":
			if n > 255 {
				return argon2idParams{}, fmt.Errorf("argon2id parallelism %d is out of range", n)
			}
			p.threads = uint8(n)
		default:
			return argon2idParams{}, fmt.Errorf("unknown argon2id parameter %q", name)
		}
	}
	switch {
	case p.memory == 0 || p.memory > maxArgonMemoryKiB:
		return argon2idParams{}, fmt.Errorf("argon2id memory m=%d KiB is outside 1..%d", p.memory, maxArgonMemoryKiB)
	case p.time == 0 || p.time > maxArgonTime:
		return argon2idParams{}, fmt.Errorf("argon2id iterations t=%d is outside 1..%d", p.time, maxArgonTime)
	case p.threads == 0 || p.threads > maxArgonThreads:
		return argon2idParams{}, fmt.Errorf("argon2id parallelism p=%d is outside 1..%d", p.threads, maxArgonThreads)
	}
	var err error
	if p.salt, err = base64.RawStdEncoding.DecodeString(fields[4]); err != nil || len(p.salt) < 8 {
		return argon2idParams{}, errors.New("malformed argon2id salt: want at least 8 bytes in unpadded base64")
	}
	if p.key, err = base64.RawStdEncoding.DecodeString(fields[5]); err != nil || len(p.key) < minArgonKeyLen || len(p.key) > maxArgonKeyLen {
		return argon2idParams{}, fmt.Errorf("malformed argon2id hash value: want %d to %d bytes in unpadded base64", minArgonKeyLen, maxArgonKeyLen)
	}
	return p, nil
}
