package peers

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Headers of a signed peer message. The signature covers what the message is for, the
// timestamp, the nonce and the SHA-256 digest of the body, all in headers: a receiver
// verifies a message before it reads a byte of its body, and then reads only as many
// bytes as were signed.
const (
	headerTimestamp = "Gatehouse-Peer-Timestamp"
	headerNonce     = "Gatehouse-Peer-Nonce"
	headerDigest    = "Gatehouse-Peer-Body-Sha256"
	headerSignature = "Gatehouse-Peer-Signature"
)

// MaxMessageAge is how far a message's timestamp may be from the receiver's clock. The
// receiver remembers the nonces it accepted for that long, so a captured message cannot
// be replayed, now or later.
const MaxMessageAge = 30 * time.Second

// maxNonces bounds the replay cache; past it, fresh messages are refused until nonces
// age out, which only a holder of the key can cause.
const maxNonces = 100_000

var (
	errNoKey        = errors.New("no peer key yet")
	errBadSignature = errors.New("signature does not verify")
	errStale        = errors.New("timestamp too far from now")
	errReplayed     = errors.New("nonce already seen")
	errBadBody      = errors.New("body does not match its signed digest")
)

// authenticator signs and verifies peer messages with the current key; it also accepts
// the previous key, so that messages in flight while replicas learn a new key verify.
type authenticator struct {
	now func() time.Time

	mu                sync.Mutex
	current, previous []byte
	seen              map[string]time.Time // accepted nonce -> when it may be forgotten
}

func newAuthenticator(now func() time.Time) *authenticator {
	return &authenticator{now: now, seen: map[string]time.Time{}}
}

// setKey makes key the signing key; a key shorter than snapshot.MinPeerKeyLength is ignored.
func (a *authenticator) setKey(key []byte) bool {
	if len(key) < snapshot.MinPeerKeyLength {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if hmac.Equal(key, a.current) {
		return true
	}
	a.previous, a.current = a.current, append([]byte(nil), key...)
	return true
}

func (a *authenticator) hasKey() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.current != nil
}

// sign sets the headers that authenticate body for purpose. A request gets a fresh
// nonce; a response passes the nonce of its request, which binds it to that request.
func (a *authenticator) sign(h http.Header, purpose, nonce string, body []byte) error {
	a.mu.Lock()
	key := a.current
	a.mu.Unlock()
	if key == nil {
		return errNoKey
	}
	if nonce == "" {
		nonce = rand.Text()
	}
	ts := strconv.FormatInt(a.now().UnixMilli(), 10)
	digest := sha256.Sum256(body)
	h.Set(headerTimestamp, ts)
	h.Set(headerNonce, nonce)
	h.Set(headerDigest, base64.RawURLEncoding.EncodeToString(digest[:]))
	h.Set(headerSignature, base64.RawURLEncoding.EncodeToString(signature(key, purpose, ts, nonce, digest[:])))
	return nil
}

// verify checks, from the headers alone, that h signs a message for purpose with nonce,
// under the current or the previous key, with a fresh timestamp. It returns the body
// digest the signature covers, for signedBody.
func (a *authenticator) verify(h http.Header, purpose, nonce string) (digest []byte, err error) {
	a.mu.Lock()
	keys := [][]byte{a.current, a.previous}
	a.mu.Unlock()
	if keys[0] == nil {
		return nil, errNoKey
	}
	got, err := base64.RawURLEncoding.DecodeString(h.Get(headerSignature))
	if err != nil || nonce == "" || h.Get(headerNonce) != nonce {
		return nil, errBadSignature
	}
	digest, err = base64.RawURLEncoding.DecodeString(h.Get(headerDigest))
	if err != nil || len(digest) != sha256.Size {
		return nil, errBadSignature
	}
	ts := h.Get(headerTimestamp)
	valid := false
	for _, key := range keys {
		if key != nil && hmac.Equal(got, signature(key, purpose, ts, nonce, digest)) {
			valid = true
		}
	}
	if !valid {
		return nil, errBadSignature
	}
	ms, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return nil, errBadSignature
	}
	if age := a.now().Sub(time.UnixMilli(ms)); age > MaxMessageAge || age < -MaxMessageAge {
		return nil, errStale
	}
	return digest, nil
}

// verifyRequest verifies a request's headers and remembers its nonce, refusing one seen
// before.
func (a *authenticator) verifyRequest(h http.Header, purpose string) (digest []byte, err error) {
	nonce := h.Get(headerNonce)
	if digest, err = a.verify(h, purpose, nonce); err != nil {
		return nil, err
	}
	return digest, a.remember(nonce)
}

func (a *authenticator) remember(nonce string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if _, ok := a.seen[nonce]; ok {
		return errReplayed
	}
	if len(a.seen) >= maxNonces {
		for n, forget := range a.seen {
			if now.After(forget) {
				delete(a.seen, n)
			}
		}
		if len(a.seen) >= maxNonces {
			return errReplayed
		}
	}
	// A message is accepted up to MaxMessageAge after its timestamp, which is at most
	// MaxMessageAge ahead of now.
	a.seen[nonce] = now.Add(2 * MaxMessageAge)
	return nil
}

// errTooLarge is a body longer than its bound.
type errTooLarge struct{ length, limit int64 }

func (e errTooLarge) Error() string {
	return fmt.Sprintf("body of %d bytes exceeds the bound of %d", e.length, e.limit)
}

// signedBody reads a body whose digest verify returned: length bytes when it is known
// (-1 when not), never more than limit, and only if they are what was signed.
func signedBody(r io.Reader, length, limit int64, digest []byte) ([]byte, error) {
	if length > limit {
		return nil, errTooLarge{length, limit}
	}
	if length < 0 {
		length = limit + 1 // read up to the bound, and one more byte to tell it was passed
	}
	body, err := io.ReadAll(io.LimitReader(r, length))
	if err != nil {
		return nil, err
	}
	if int64(len(body)) > limit {
		return nil, errTooLarge{int64(len(body)), limit}
	}
	if sum := sha256.Sum256(body); !hmac.Equal(sum[:], digest) {
		return nil, errBadBody
	}
	return body, nil
}

func signature(key []byte, purpose, timestamp, nonce string, digest []byte) []byte {
	m := hmac.New(sha256.New, key)
	// Each field is length-prefixed, so no two messages sign the same bytes.
	for _, field := range [][]byte{[]byte(purpose), []byte(timestamp), []byte(nonce), digest} {
		m.Write(binary.BigEndian.AppendUint64(nil, uint64(len(field))))
		m.Write(field)
	}
	return m.Sum(nil)
}
