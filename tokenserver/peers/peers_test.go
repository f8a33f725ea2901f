package peers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newKey() []byte {
	k := make([]byte, snapshot.MinPeerKeyLength)
	_, _ = rand.Read(k)
	return k
}

func TestSignatures(t *testing.T) {
	key, other := newKey(), newKey()
	body := []byte(`{"ops":[{"k":"uid/u/alice/","d":1,"t":900000,"b":10}]}`)
	const p = "POST " + PathOps
	for _, tc := range []struct {
		name string
		// receiverKeys are set on the receiver in order; nil means the sender's key.
		receiverKeys [][]byte
		// advance moves the receiver's clock past the sender's.
		advance time.Duration
		tamper  func(h http.Header, body []byte) []byte
		// want is what verifying the headers returns, wantBody what reading the body does.
		want, wantBody error
	}{
		{name: "as signed"},
		{name: "tampered body", wantBody: errBadBody, tamper: func(_ http.Header, body []byte) []byte {
			return bytes.Replace(body, []byte(`"d":1`), []byte(`"d":9`), 1)
		}},
		{name: "tampered digest", want: errBadSignature, tamper: func(h http.Header, body []byte) []byte {
			sum := sha256.Sum256([]byte("another body"))
			h.Set(headerDigest, base64.RawURLEncoding.EncodeToString(sum[:]))
			return []byte("another body")
		}},
		{name: "tampered timestamp", want: errBadSignature, tamper: func(h http.Header, body []byte) []byte {
			h.Set(headerTimestamp, h.Get(headerTimestamp)+"0")
			return body
		}},
		{name: "another nonce", want: errBadSignature, tamper: func(h http.Header, body []byte) []byte {
			h.Set(headerNonce, "another")
			return body
		}},
		{name: "unsigned", want: errBadSignature, tamper: func(h http.Header, body []byte) []byte {
			h.Del(headerSignature)
			return body
		}},
		{name: "wrong key", receiverKeys: [][]byte{other, newKey()}, want: errBadSignature},
		{name: "receiver already moved to a new key", receiverKeys: [][]byte{key, other}},
		{name: "receiver has no key", receiverKeys: [][]byte{}, want: errNoKey},
		{name: "stale", advance: MaxMessageAge + time.Millisecond, want: errStale},
		{name: "from the future", advance: -MaxMessageAge - time.Millisecond, want: errStale},
		{name: "just within age", advance: MaxMessageAge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &clock{t: time.Unix(1_800_000_000, 0)}
			sender, receiver := newAuthenticator(c.now), newAuthenticator(c.now)
			sender.setKey(key)
			if tc.receiverKeys == nil {
				tc.receiverKeys = [][]byte{key}
			}
			for _, k := range tc.receiverKeys {
				receiver.setKey(k)
			}
			h := http.Header{}
			if err := sender.sign(h, p, "", body); err != nil {
				t.Fatal(err)
			}
			got := bytes.Clone(body)
			if tc.tamper != nil {
				got = tc.tamper(h, got)
			}
			c.advance(tc.advance)
			digest, err := receiver.verifyRequest(h, p)
			if !errors.Is(err, tc.want) {
				t.Fatalf("verify = %v, want %v", err, tc.want)
			}
			if err != nil {
				return
			}
			if _, err := signedBody(bytes.NewReader(got), int64(len(got)), maxOpsBody, digest); !errors.Is(err, tc.wantBody) {
				t.Errorf("reading the body = %v, want %v", err, tc.wantBody)
			}
		})
	}
}

func TestSignaturesBindPurposeAndRefuseReplays(t *testing.T) {
	c := &clock{t: time.Unix(1_800_000_000, 0)}
	a := newAuthenticator(c.now)
	if err := a.sign(http.Header{}, "GET "+pathCounts, "", nil); !errors.Is(err, errNoKey) {
		t.Fatalf("signing without a key: %v, want errNoKey", err)
	}
	if a.setKey([]byte("short")) {
		t.Fatal("a key shorter than snapshot.MinPeerKeyLength was taken")
	}
	a.setKey(newKey())
	h := http.Header{}
	if err := a.sign(h, "GET "+pathCounts, "", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := a.verifyRequest(h, "POST "+PathOps); !errors.Is(err, errBadSignature) {
		t.Errorf("a counts request taken as ops: %v, want errBadSignature", err)
	}
	if _, err := a.verifyRequest(h, "GET "+pathCounts); err != nil {
		t.Fatalf("first delivery: %v", err)
	}
	c.advance(time.Second)
	if _, err := a.verifyRequest(h, "GET "+pathCounts); !errors.Is(err, errReplayed) {
		t.Errorf("replay: %v, want errReplayed", err)
	}
	// A response is bound to its request's nonce.
	resp := http.Header{}
	if err := a.sign(resp, "response "+pathCounts, h.Get(headerNonce), []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := a.verify(resp, "response "+pathCounts, "another request"); !errors.Is(err, errBadSignature) {
		t.Errorf("a response to another request: %v, want errBadSignature", err)
	}
	if _, err := a.verify(resp, "response "+pathCounts, h.Get(headerNonce)); err != nil {
		t.Errorf("the response to this request: %v", err)
	}
}

// TestCoalesce checks that a batch coalesces to ops with the same effect on a receiver:
// applying either to a copy of one replica's counts gives the same counts.
func TestCoalesce(t *testing.T) {
	add := func(key string, d int) op { return op{Key: key, Delta: d, TTLMillis: 60_000, MaxAttempts: 10} }
	reset := func(prefix string) op { return op{Key: prefix, Reset: true} }
	for _, tc := range []struct {
		name  string
		batch []op
		want  []op
	}{
		{"a success within the linger: its reservations and their resolution",
			[]op{add("t/u", 1), add("t/ip", 1), reset("t/u"), add("t/ip", -1)}, []op{reset("t/u")}},
		{"a failure: its reservations stay", []op{add("t/u", 1), add("t/ip", 1)}, []op{add("t/u", 1), add("t/ip", 1)}},
		{"adds to one key merge", []op{add("k", 1), add("j", 1), add("k", 1)}, []op{add("k", 2), add("j", 1)}},
		{"a resolution whose reservation left earlier", []op{add("k", -1)}, []op{add("k", -1)}},
		{"an add after a reset is not merged across it", []op{add("k", 1), reset("k"), add("k", 1)}, []op{reset("k"), add("k", 1)}},
		{"a reset clears the keys below its prefix only", []op{add("t/a", 1), add("s/a", 1), reset("t/")}, []op{add("s/a", 1), reset("t/")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := coalesce(slices.Clone(tc.batch)); !slices.Equal(got, tc.want) {
				t.Errorf("coalesce(%v) = %v, want %v", tc.batch, got, tc.want)
			}
			if got, want := applied(t, coalesce(slices.Clone(tc.batch))), applied(t, tc.batch); !maps.Equal(got, want) {
				t.Errorf("counts after the coalesced batch %v, after the batch %v", got, want)
			}
		})
	}
}

// applied is the non-zero counts of a replica, holding a count of 3 for every key the
// tests use, after receiving ops.
func applied(t *testing.T, ops []op) map[string]int {
	t.Helper()
	c := New(attack.NewMemory(attack.MemoryOptions{}), slog.New(slog.DiscardHandler), Options{})
	keys := []string{"t/u", "t/ip", "k", "j", "t/a", "s/a"}
	for _, k := range keys {
		mustAdd(t, c.local, k, 3, perMinute)
	}
	c.apply(ops)
	counts := map[string]int{}
	for _, k := range keys {
		if n, _ := c.local.Get(k, perMinute); n != 0 {
			counts[k] = n
		}
	}
	return counts
}

func TestNextBatch(t *testing.T) {
	fired := make(chan time.Time)
	close(fired)
	linger := func() <-chan time.Time { return fired }
	for _, tc := range []struct {
		queued, max int
		want        []int
	}{
		{queued: 1, max: 10, want: []int{1}},
		{queued: 10, max: 10, want: []int{10}},
		{queued: 25, max: 10, want: []int{10, 10, 5}},
	} {
		queue := make(chan op, tc.queued)
		for i := range tc.queued {
			queue <- op{Key: string(rune('a' + i))}
		}
		var sizes []int
		next := 0
		for range tc.want {
			batch := nextBatch(context.Background(), queue, tc.max, linger)
			sizes = append(sizes, len(batch))
			for _, o := range batch {
				if o.Key != string(rune('a'+next)) {
					t.Fatalf("op %q out of order, want %q", o.Key, string(rune('a'+next)))
				}
				next++
			}
		}
		if !slices.Equal(sizes, tc.want) {
			t.Errorf("%d queued, batches of at most %d: sizes %v, want %v", tc.queued, tc.max, sizes, tc.want)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if batch := nextBatch(ctx, make(chan op), 10, linger); batch != nil {
		t.Errorf("a stopped sender got a batch %v", batch)
	}
}

func TestQueueBound(t *testing.T) {
	for _, tc := range []struct {
		queueSize, ops, wantDropped int
		key                         bool
	}{
		{queueSize: 3, ops: 2, wantDropped: 0, key: true},
		{queueSize: 3, ops: 3, wantDropped: 0, key: true},
		{queueSize: 3, ops: 10, wantDropped: 7, key: true},
		{queueSize: 3, ops: 2, wantDropped: 2, key: false},
	} {
		c := New(attack.NewMemory(attack.MemoryOptions{}), slog.New(slog.DiscardHandler), Options{QueueSize: tc.queueSize})
		if tc.key {
			c.SetKey(newKey())
		}
		// A peer whose sender is not running: its queue only fills.
		c.peers["stuck:1"] = &peer{addr: "stuck:1", queue: make(chan op, tc.queueSize), stop: func() {}}
		for i := range tc.ops {
			if n := mustAdd(t, c, "k", 1, perMinute); n != i+1 {
				t.Fatalf("Add #%d = %d, want %d: a full queue must not change local counting", i+1, n, i+1)
			}
		}
		if got := value(c.metrics.messages.WithLabelValues(resultDropped)); int(got) != tc.wantDropped {
			t.Errorf("queue %d, %d ops, key %v: dropped %v, want %d", tc.queueSize, tc.ops, tc.key, got, tc.wantDropped)
		}
	}
}

// replica is Counters serving their peer listener on a real loopback HTTP server.
type replica struct {
	*Counters
	addr string
}

func newReplica(t testing.TB, key []byte) *replica {
	return newReplicaWith(t, key, attack.MemoryOptions{}, Options{})
}

func newReplicaWith(t testing.TB, key []byte, memory attack.MemoryOptions, opts Options) *replica {
	t.Helper()
	c := New(attack.NewMemory(memory), slog.New(slog.DiscardHandler), opts)
	c.SetKey(key)
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(func() {
		c.Close()
		srv.Close()
	})
	return &replica{Counters: c, addr: strings.TrimPrefix(srv.URL, "http://")}
}

// perMinute is the limit the tests count against.
var perMinute = attack.Limit{MaxAttempts: 10, CoolDown: time.Minute}

// mustAdd is Add, which must find room.
func mustAdd(t testing.TB, c attack.Counters, key string, delta int, l attack.Limit) int {
	t.Helper()
	n, err := c.Add(key, delta, l)
	if err != nil {
		t.Fatalf("Add(%q): %v", key, err)
	}
	return n
}

// count is key's count on r.
func (r *replica) count(key string) int {
	n, _ := r.Get(key, perMinute)
	return n
}

// counts are every count r holds, by key.
func (r *replica) counts() map[string]int {
	entries, _, _ := r.local.Page("", 1_000)
	out := map[string]int{}
	for _, e := range entries {
		out[e.Key] = e.N
	}
	return out
}

func (r *replica) metric(result string) float64 {
	return value(r.metrics.messages.WithLabelValues(result))
}

// waitFor polls until cond holds, failing after a generous bound.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOpsReachPeersAndAreNotSentOn(t *testing.T) {
	key := newKey()
	a, b, c, d := newReplica(t, key), newReplica(t, key), newReplica(t, key), newReplica(t, key)
	a.SetPeers([]string{b.addr, c.addr})
	b.SetPeers([]string{a.addr, c.addr})
	// d is c's peer only: what c receives from a and b, alice's counts and her reset,
	// must not be sent on to it. d counts alice on its own.
	c.SetPeers([]string{d.addr})
	mustAdd(t, d, "alice", 1, perMinute)

	for range 3 {
		mustAdd(t, a, "alice", 1, perMinute)
	}
	mustAdd(t, b, "alice", 1, perMinute)
	mustAdd(t, b, "bob", 1, perMinute)
	for _, r := range []*replica{a, b, c} {
		waitFor(t, "alice counted 4 everywhere", func() bool { return r.count("alice") == 4 })
		waitFor(t, "bob counted 1 everywhere", func() bool { return r.count("bob") == 1 })
	}
	a.Reset("alice")
	for _, r := range []*replica{a, b, c} {
		waitFor(t, "alice reset everywhere", func() bool { return r.count("alice") == 0 })
	}
	if n := b.count("bob"); n != 1 {
		t.Errorf("bob = %d after alice's reset, want 1", n)
	}
	if got := a.metric(resultReceived) + b.metric(resultReceived); got == 0 {
		t.Error("no message received between a and b")
	}
	// c's own count goes to d after anything c would have sent on: one queue per peer.
	mustAdd(t, c, "carol", 1, perMinute)
	waitFor(t, "carol, counted on c, reaches d", func() bool { return d.count("carol") == 1 })
	if got, want := d.counts(), map[string]int{"alice": 1, "carol": 1}; !maps.Equal(got, want) {
		t.Errorf("d, c's peer, counts %v, want %v (its own alice, c's own carol): c sent on what it received", got, want)
	}
}

func TestJoinTakesAPeersCounts(t *testing.T) {
	key := newKey()
	a, b := newReplica(t, key), newReplica(t, key)
	mustAdd(t, a, "alice", 7, perMinute)
	mustAdd(t, b, "alice", 2, perMinute) // counted while b joined: not added twice
	mustAdd(t, b, "bob", 1, perMinute)
	if err := b.Join(context.Background(), []string{"127.0.0.1:1", a.addr}); err != nil {
		t.Fatal(err)
	}
	if n, expires := b.Get("alice", perMinute); n != 7 || time.Until(expires) < 50*time.Second {
		t.Errorf("alice after joining = %d, expiring in %v; want 7, in about a minute", n, time.Until(expires))
	}
	if n := b.count("bob"); n != 1 {
		t.Errorf("bob after joining = %d, want 1", n)
	}

	stranger := newReplica(t, newKey())
	if err := stranger.Join(context.Background(), []string{a.addr}); err == nil {
		t.Error("a replica with another key joined")
	}
	if n := stranger.count("alice"); n != 0 {
		t.Errorf("a replica with another key got counts: alice = %d", n)
	}
}

func TestUnsignedOpsAreRefused(t *testing.T) {
	a := newReplica(t, newKey())
	mustAdd(t, a, "alice", 10, perMinute)
	body := []byte(`{"ops":[{"k":"","r":true}]}`)
	forger := newAuthenticator(time.Now)
	forger.setKey(newKey())
	for _, sign := range []func(http.Header){
		func(http.Header) {},
		func(h http.Header) { _ = forger.sign(h, "POST "+PathOps, "", body) },
		func(h http.Header) { // a body other than the one signed, under the right key
			_ = a.auth.sign(h, "POST "+PathOps, "", []byte(`{"ops":[]}`))
		},
	} {
		req, err := http.NewRequest(http.MethodPost, "http://"+a.addr+PathOps, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		sign(req.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("a forged reset: %s, want 401", resp.Status)
		}
	}
	if n := a.count("alice"); n != 10 {
		t.Errorf("alice = %d after forged resets, want 10", n)
	}
	if got := a.metric(resultRejected); got != 3 {
		t.Errorf("rejected = %v, want 3", got)
	}
}

func value(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	return m.GetCounter().GetValue()
}

// TestPropagationOnlyWithPeers: an attempt past its share of a limit waits for its
// reservations to reach peers before it re-checks its limits, the share being the limit
// split over the replicas; a replica alone has none to wait for and the whole limit.
func TestPropagationOnlyWithPeers(t *testing.T) {
	c := New(attack.NewMemory(attack.MemoryOptions{}), slog.New(slog.DiscardHandler), Options{})
	t.Cleanup(c.Close)
	if p, n := c.Propagation(), c.Replicas(); p != 0 || n != 1 {
		t.Errorf("without peers: Propagation %v and %d replicas, want 0 and 1", p, n)
	}
	c.SetPeers([]string{"127.0.0.1:1", "127.0.0.1:2"})
	if p, n := c.Propagation(), c.Replicas(); p < DefaultLinger || n != 3 {
		t.Errorf("with two peers: Propagation %v and %d replicas, want at least the linger %v and 3", p, n, DefaultLinger)
	}
	c.SetPeers(nil)
	if p, n := c.Propagation(), c.Replicas(); p != 0 || n != 1 {
		t.Errorf("once the peers are gone: Propagation %v and %d replicas, want 0 and 1", p, n)
	}
}

// TestSprayInOneTenantKeepsAnothersCountsOnEveryReplica sprays new keys over tenants of
// an attacker on one replica, many times the replicas' bounds: the victim tenant's counts
// stay on every replica, and on one that joins after.
func TestSprayInOneTenantKeepsAnothersCountsOnEveryReplica(t *testing.T) {
	key := newKey()
	bounds := attack.MemoryOptions{TenantBudget: 50, Limit: 200}
	a, b := newReplicaWith(t, key, bounds, Options{}), newReplicaWith(t, key, bounds, Options{})
	a.SetPeers([]string{b.addr})
	blocking := attack.Limit{MaxAttempts: 3, CoolDown: time.Hour}
	victim := func(i int) (string, int) { return fmt.Sprintf("uid-victim/%d/", i), 1 + i%3 }
	for i := range 20 {
		k, n := victim(i)
		mustAdd(t, a, k, n, blocking)
	}
	const spray = 2_000
	for i := range spray {
		mustAdd(t, a, fmt.Sprintf("uid-mallory-%d/%d/", i%3, i), 1, perMinute)
	}
	last := fmt.Sprintf("uid-mallory-%d/%d/", (spray-1)%3, spray-1)
	waitFor(t, "the spray reached b", func() bool { return b.count(last) == 1 })
	c := newReplicaWith(t, key, bounds, Options{})
	if err := c.Join(context.Background(), []string{b.addr}); err != nil {
		t.Fatal(err)
	}
	for name, r := range map[string]*replica{"a": a, "b": b, "joined": c} {
		for i := range 20 {
			k, want := victim(i)
			if n, _ := r.Get(k, blocking); n != want {
				t.Errorf("replica %s after the spray: %s counts %d, want %d", name, k, n, want)
			}
		}
	}
}

// TestJoinTakesCountsInPages: a replica holding more counts than a page hands them over
// page by page.
func TestJoinTakesCountsInPages(t *testing.T) {
	key := newKey()
	a, b := newReplica(t, key), newReplica(t, key)
	const tenants, each = 3, 3_000 // more than countsPageEntries in all
	for i := range tenants * each {
		mustAdd(t, a, fmt.Sprintf("uid-%d/%d/", i%tenants, i), 1, perMinute)
	}
	if err := b.Join(context.Background(), []string{a.addr}); err != nil {
		t.Fatal(err)
	}
	entries, _, _ := b.local.Page("", tenants*each)
	if len(entries) != tenants*each {
		t.Errorf("b took %d counts, want %d", len(entries), tenants*each)
	}
	if pages := a.metric(resultReceived); pages != tenants {
		t.Errorf("a served %v pages, want %d (one per tenant of %d counts)", pages, tenants, each)
	}
}
