package peers

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
)

// Tuning of the broadcast. A batch waits at most Linger for more ops, so one message
// carries the attempts of a burst, and a login that ends within the linger sends at
// most one op (see coalesce): Linger is about a login's time at a directory on the
// cluster's network, and small beside the Propagation margin. A batch holds at most
// MaxBatchSize, which bounds what a receiver reads; a peer that cannot keep up loses
// ops past QueueSize rather than slowing logins down. A replica serves at most
// DefaultMaxRequests peer requests at once: each peer sends one batch at a time.
const (
	DefaultQueueSize   = 10_000
	MaxBatchSize       = 256
	DefaultLinger      = 10 * time.Millisecond
	DefaultTimeout     = 2 * time.Second
	DefaultMaxRequests = 16
)

// Counters are attack.Counters shared with peers (attack.Shared): changes are applied
// locally, then broadcast. It is safe for concurrent use.
type Counters struct {
	local   *attack.Memory
	auth    *authenticator
	metrics *metrics
	log     *slog.Logger
	client  *http.Client
	now     func() time.Time

	queueSize, batchSize int
	linger               time.Duration
	// inFlight holds a token for every peer request being served.
	inFlight chan struct{}
	// refusalLogged is when a refused request was last logged, in Unix nanoseconds.
	refusalLogged atomic.Int64

	mu    sync.RWMutex
	peers map[string]*peer // by address
}

var _ attack.Shared = (*Counters)(nil)

// Options tune Counters; zero values take the defaults, and a BatchSize over
// MaxBatchSize is MaxBatchSize.
type Options struct {
	QueueSize, BatchSize int
	Linger, Timeout      time.Duration
	// MaxRequests bounds the peer requests served at once (DefaultMaxRequests).
	MaxRequests int
}

// New returns Counters over local that broadcast to no peer yet: see SetPeers and SetKey.
func New(local *attack.Memory, log *slog.Logger, opts Options) *Counters {
	opts = withDefaults(opts)
	return &Counters{
		local:     local,
		auth:      newAuthenticator(time.Now),
		metrics:   newMetrics(),
		log:       log,
		client:    &http.Client{Timeout: opts.Timeout},
		now:       time.Now,
		queueSize: opts.QueueSize,
		batchSize: opts.BatchSize,
		linger:    opts.Linger,
		inFlight:  make(chan struct{}, opts.MaxRequests),
		peers:     map[string]*peer{},
	}
}

func withDefaults(o Options) Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.BatchSize <= 0 || o.BatchSize > MaxBatchSize {
		o.BatchSize = MaxBatchSize
	}
	if o.Linger <= 0 {
		o.Linger = DefaultLinger
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxRequests <= 0 {
		o.MaxRequests = DefaultMaxRequests
	}
	return o
}

// Add implements attack.Counters. A key that finds no room here is not sent: its attempt
// is refused.
func (c *Counters) Add(key string, delta int, l attack.Limit) (int, error) {
	n, err := c.local.Add(key, delta, l)
	if err == nil {
		c.broadcast(op{Key: key, Delta: delta, TTLMillis: l.CoolDown.Milliseconds(), MaxAttempts: l.MaxAttempts})
	}
	return n, err
}

// Propagation implements attack.Shared: a batch leaves after Linger, and a loopback or
// cluster-network POST takes milliseconds; the margin covers a loaded node. Without
// peers there is nothing to wait for.
func (c *Counters) Propagation() time.Duration {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.peers) == 0 {
		return 0
	}
	return c.linger + propagationMargin
}

// Replicas implements attack.Shared: this one and the peers it sends to.
func (c *Counters) Replicas() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.peers) + 1
}

// propagationMargin is what Propagation allows for a batch's delivery beyond its linger.
const propagationMargin = 50 * time.Millisecond

// Get implements attack.Counters; it reads this replica's counts only, and the limit it
// records stays here: a replica records it when it reads the key itself.
func (c *Counters) Get(key string, l attack.Limit) (int, time.Time) {
	return c.local.Get(key, l)
}

// Generation implements attack.Shared; it reads this replica's counts, which the
// peers' changes reach.
func (c *Counters) Generation(key string) uint64 { return c.local.Generation(key) }

// Reset implements attack.Counters.
func (c *Counters) Reset(prefix string) {
	c.local.Reset(prefix)
	c.broadcast(op{Key: prefix, Reset: true})
}

// SetKey sets the key that signs and verifies peer messages, and reports whether it is
// long enough to be used.
func (c *Counters) SetKey(key []byte) bool {
	return c.auth.setKey(key)
}

// SetPeers makes addrs (host:port of their peer listeners) the replicas to broadcast
// to: new ones get a queue and a sender, gone ones are stopped with what they had queued.
func (c *Counters) SetPeers(addrs []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, p := range c.peers {
		if !slices.Contains(addrs, addr) {
			p.stop()
			delete(c.peers, addr)
		}
	}
	for _, addr := range addrs {
		if _, ok := c.peers[addr]; !ok {
			c.peers[addr] = c.startPeer(addr)
		}
	}
	c.metrics.peers.Set(float64(len(c.peers)))
}

// Close stops every sender.
func (c *Counters) Close() {
	c.SetPeers(nil)
}

// broadcast queues o for every peer, never waiting: without a key nothing is sent, and a
// full queue drops o, as does a key that is not sendable (which keys.go never builds).
func (c *Counters) broadcast(o op) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if len(c.peers) == 0 {
		return
	}
	if !c.auth.hasKey() || !sendable(o.Key) {
		c.metrics.messages.WithLabelValues(resultDropped).Add(float64(len(c.peers)))
		return
	}
	for _, p := range c.peers {
		if !p.enqueue(o) {
			c.metrics.messages.WithLabelValues(resultDropped).Inc()
		}
	}
}

// peer is the queue and sender of one peer.
type peer struct {
	addr  string
	queue chan op
	stop  context.CancelFunc
}

func (c *Counters) startPeer(addr string) *peer {
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{addr: addr, queue: make(chan op, c.queueSize), stop: cancel}
	go c.send(ctx, p)
	return p
}

func (p *peer) enqueue(o op) bool {
	select {
	case p.queue <- o:
		return true
	default:
		return false
	}
}

// send posts batches of p's queue until ctx ends. A batch that fails is dropped: the
// ops are retried by nobody, as the attempts they count will soon be stale anyway.
func (c *Counters) send(ctx context.Context, p *peer) {
	failing := false
	for {
		batch := nextBatch(ctx, p.queue, c.batchSize, func() <-chan time.Time { return time.After(c.linger) })
		if batch == nil {
			return
		}
		if batch = coalesce(batch); len(batch) == 0 {
			continue
		}
		err := c.post(ctx, p.addr, batch)
		switch {
		case err == nil:
			c.metrics.messages.WithLabelValues(resultSent).Inc()
			if failing {
				c.log.Info("peer takes messages again", "peer", p.addr)
			}
		case ctx.Err() != nil:
			return
		default:
			c.metrics.messages.WithLabelValues(resultDropped).Inc()
			if !failing {
				c.log.Error("sending to a peer failed; dropping its messages until it takes them", "peer", p.addr, "error", err)
			}
		}
		failing = err != nil
	}
}

// coalesce returns the ops of batch with the same effect on a receiver's counts, fewer
// where it can: the adds to one key merge into one, an add that a later Reset clears is
// dropped, and so is a merged add of zero. A login's reservation and its resolution
// (given back, or cleared by its success) then often travel as one op, or none: at
// most one op per login reaches the peers when the login ends within the linger.
// Ops on different keys are independent, except that a Reset clears every key below
// its prefix, so an add is never merged across a Reset of its key.
func coalesce(batch []op) []op {
	out := make([]op, 0, len(batch))
	pending := map[string]int{} // key -> index in out of its add since the last Reset of it
	dropped := make([]bool, 0, len(batch))
	for _, o := range batch {
		if o.Reset {
			for key, i := range pending {
				if strings.HasPrefix(key, o.Key) {
					dropped[i] = true
					delete(pending, key)
				}
			}
		} else if i, ok := pending[o.Key]; ok {
			merged := o
			merged.Delta += out[i].Delta
			out[i] = merged
			continue
		} else {
			pending[o.Key] = len(out)
		}
		out = append(out, o)
		dropped = append(dropped, false)
	}
	kept := out[:0]
	for i, o := range out {
		if !dropped[i] && (o.Reset || o.Delta != 0) {
			kept = append(kept, o)
		}
	}
	return kept
}

// nextBatch waits for an op, then takes every op already queued and those that arrive
// until linger fires, up to limit. It returns nil when ctx ends first.
func nextBatch(ctx context.Context, queue <-chan op, limit int, linger func() <-chan time.Time) []op {
	var batch []op
	select {
	case o := <-queue:
		batch = append(batch, o)
	case <-ctx.Done():
		return nil
	}
	var timer <-chan time.Time
	for len(batch) < limit {
		select {
		case o := <-queue:
			batch = append(batch, o)
			continue
		default:
		}
		if timer == nil {
			timer = linger()
		}
		select {
		case o := <-queue:
			batch = append(batch, o)
		case <-timer:
			return batch
		case <-ctx.Done():
			return nil
		}
	}
	return batch
}
