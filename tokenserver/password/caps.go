package password

import (
	"fmt"
	"math"
)

// DefaultMemoryLimit is the memory limit of a token server replica in the chart's
// default values (tokenServer.resources.limits.memory: 512Mi).
const DefaultMemoryLimit = 512 << 20

// MinMemoryLimit is the smallest memory limit caps are derived from: a quarter of half
// of it is 8 MiB, about the least memory an argon2id hash is recommended to use.
const MinMemoryLimit = 64 << 20

// Budget is the memory, in bytes, that the password checks of a token server replica
// whose memory limit is memoryLimit may hold at once: half of it. The other half is the
// rest of the process (snapshots, connections, requests) and the garbage collector's
// room to collect a finished check's memory before the next one allocates.
func Budget(memoryLimit int64) int64 { return memoryLimit / 2 }

// Caps bound the parameters of the hashes a token server checks, so that no users
// Secret can make one login cost more memory or CPU than a replica can afford. The
// controller refuses a users Secret with a hash over the caps, and the token server
// refuses such a hash on its own too; both must derive the caps from the same memory
// limit.
type Caps struct {
	// Argon2idMaxMemoryKiB bounds m: the memory one check allocates.
	Argon2idMaxMemoryKiB uint32
	// Argon2idMaxTime bounds t: how many times a check fills its memory.
	Argon2idMaxTime uint32
	// Argon2idMaxParallelism bounds p: how many goroutines one check computes on.
	Argon2idMaxParallelism uint8
	// Argon2idMinKeyLen and Argon2idMaxKeyLen bound the length of the hash value, in bytes.
	Argon2idMinKeyLen, Argon2idMaxKeyLen int
	// BcryptMaxCost bounds the cost: each step doubles the work of a check.
	BcryptMaxCost int
}

// Caps that do not depend on memory: a check at any of them costs about a second of one
// core (bcrypt cost 14 took 1.15 s, argon2id m=64 MiB t=10 about 1 s, on a shared
// 2-core machine), longer than any login should take and well within the token
// server's 30 s write timeout.
const (
	maxArgon2idTime        = 10
	maxArgon2idParallelism = 4 // RFC 9106's recommended parameters use p=4
	minArgon2idKeyLen      = 16
	maxArgon2idKeyLen      = 128
	maxBcryptCost          = 14
)

// checksAtMemoryCap is how many argon2id checks at the memory cap fit in a budget at
// once. With four, a tenant alone, which may hold half the budget (see package
// hashlimit), has the memory for two, and the other half stays free for the others.
const checksAtMemoryCap = 4

// CapsFor returns the caps of hashes whose checks fit a budget (see Budget): an
// argon2id hash may use a quarter of it, 64 MiB for the chart's 512Mi.
func CapsFor(budget int64) Caps {
	return Caps{
		Argon2idMaxMemoryKiB:   uint32(min(budget/checksAtMemoryCap>>10, math.MaxUint32)), //nolint:gosec // bounded by MaxUint32
		Argon2idMaxTime:        maxArgon2idTime,
		Argon2idMaxParallelism: maxArgon2idParallelism,
		Argon2idMinKeyLen:      minArgon2idKeyLen,
		Argon2idMaxKeyLen:      maxArgon2idKeyLen,
		BcryptMaxCost:          maxBcryptCost,
	}
}

// DefaultCaps are the caps of a replica with DefaultMemoryLimit.
func DefaultCaps() Caps { return CapsFor(Budget(DefaultMemoryLimit)) }

// CapError is a hash parameter outside the caps.
type CapError struct {
	// Parameter names it, such as "argon2id memory (m)".
	Parameter string
	// Unit follows the numbers in the message, such as "KiB"; empty for none.
	Unit     string
	Value    uint64
	Min, Max uint64
}

func (e *CapError) Error() string {
	if e.Value < e.Min {
		return fmt.Sprintf("%s %s is under the minimum %s", e.Parameter, e.with(e.Value), e.with(e.Min))
	}
	return fmt.Sprintf("%s %s is over the cap %s", e.Parameter, e.with(e.Value), e.with(e.Max))
}

func (e *CapError) with(n uint64) string {
	if e.Unit == "" {
		return fmt.Sprint(n)
	}
	return fmt.Sprintf("%d %s", n, e.Unit)
}

// check returns a CapError unless min <= value <= max.
func check(parameter, unit string, value, minimum, maximum uint64) error {
	if value < minimum || value > maximum {
		return &CapError{Parameter: parameter, Unit: unit, Value: value, Min: minimum, Max: maximum}
	}
	return nil
}
