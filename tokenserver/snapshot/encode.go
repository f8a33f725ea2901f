package snapshot

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

const (
	// MaxPartSize bounds the bytes of one snapshot part, well below the 1 MiB that the
	// API server allows for a Secret's data.
	MaxPartSize = 768 << 10
	// MaxParts bounds the parts of one snapshot, and so its compressed size (48 MiB).
	MaxParts = 64
	// maxDecodedSize bounds the uncompressed size a reader accepts, so that a corrupted
	// or hostile snapshot cannot exhaust memory.
	maxDecodedSize = 512 << 20
)

// Encoded is a snapshot ready to be written: its content hash and its parts, each the
// data of one Secret.
type Encoded struct {
	Hash  string
	Parts [][]byte
}

// Encode serializes s as gzip-compressed JSON and splits it into parts of at most
// MaxPartSize bytes. The same snapshot always encodes to the same hash, so a writer can
// skip writes whose hash has not changed.
func Encode(s *Snapshot) (Encoded, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return Encoded{}, fmt.Errorf("encoding snapshot: %w", err)
	}
	sum := sha256.Sum256(raw)

	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return Encoded{}, err
	}
	if _, err := zw.Write(raw); err != nil {
		return Encoded{}, err
	}
	if err := zw.Close(); err != nil {
		return Encoded{}, err
	}

	compressed := buf.Bytes()
	var parts [][]byte
	for len(compressed) > MaxPartSize {
		parts = append(parts, compressed[:MaxPartSize])
		compressed = compressed[MaxPartSize:]
	}
	parts = append(parts, compressed)
	if len(parts) > MaxParts {
		return Encoded{}, fmt.Errorf("snapshot is %d bytes compressed, more than the %d parts of %d bytes a snapshot may have",
			buf.Len(), MaxParts, MaxPartSize)
	}
	return Encoded{Hash: hex.EncodeToString(sum[:16]), Parts: parts}, nil
}

// Decode reassembles parts, in order, into a Snapshot and checks its format version.
func Decode(parts [][]byte) (*Snapshot, error) {
	if len(parts) == 0 {
		return nil, errors.New("snapshot has no parts")
	}
	readers := make([]io.Reader, len(parts))
	for i, p := range parts {
		readers[i] = bytes.NewReader(p)
	}
	zr, err := gzip.NewReader(io.MultiReader(readers...))
	if err != nil {
		return nil, fmt.Errorf("decompressing snapshot: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, maxDecodedSize+1))
	if err != nil {
		return nil, fmt.Errorf("decompressing snapshot: %w", err)
	}
	if len(raw) > maxDecodedSize {
		return nil, fmt.Errorf("snapshot is larger than %d bytes uncompressed", maxDecodedSize)
	}
	var s Snapshot
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, fmt.Errorf("decoding snapshot: %w", err)
	}
	if s.Version != FormatVersion {
		return nil, fmt.Errorf("snapshot format version %d, this server reads version %d", s.Version, FormatVersion)
	}
	return &s, nil
}

// SecretName is the name of part i of the snapshot of the Tenant with the given UID.
// Part 0 has no suffix, so a single-part snapshot lives in one predictable Secret.
func SecretName(tenantUID string, part int) string {
	if part == 0 {
		return "gatehouse-snapshot-" + tenantUID
	}
	return fmt.Sprintf("gatehouse-snapshot-%s-%d", tenantUID, part)
}

// HashClientSecret is what the snapshot stores of a client secret. Client secrets are
// 256 random bits, so a plain SHA-256 suffices: no dictionary can guess them, and
// unlike a password hash it costs nothing per request.
func HashClientSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ClientSecretMatches compares a presented secret with a stored hash in constant time.
func ClientSecretMatches(storedHash, presented string) bool {
	want, err := hex.DecodeString(storedHash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(presented))
	return subtle.ConstantTimeCompare(want, got[:]) == 1
}
