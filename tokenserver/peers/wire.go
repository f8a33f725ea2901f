package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
)

// Paths of the peer listener, which are also what their signatures are for.
const (
	pathOps    = "/peer/v1/ops"
	pathCounts = "/peer/v1/counts"
)

// Bounds of what a replica reads from a peer: a batch is at most DefaultBatchSize ops of
// keys of a few hundred bytes; the counts of a whole replica are at most
// attack.DefaultMemoryLimit entries.
const (
	maxOpsBody    = 4 << 20
	maxCountsBody = 64 << 20
)

// op is one change to replicate: Add(Key, Delta, TTL) or Reset(Key).
type op struct {
	Key       string `json:"k"`
	Delta     int    `json:"d,omitempty"`
	TTLMillis int64  `json:"t,omitempty"`
	Reset     bool   `json:"r,omitempty"`
}

type opsMessage struct {
	Ops []op `json:"ops"`
}

// entry is one count handed to a joining replica, its expiry relative to the sender's
// clock so that clock offsets between replicas do not matter.
type entry struct {
	Key       string `json:"k"`
	N         int    `json:"n"`
	TTLMillis int64  `json:"t"`
}

type countsMessage struct {
	Counts []entry `json:"counts"`
}

// post sends a batch of ops to the peer at addr.
func (c *Counters) post(ctx context.Context, addr string, batch []op) error {
	body, err := json.Marshal(opsMessage{Ops: batch})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+pathOps, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.auth.sign(req.Header, purpose(http.MethodPost, pathOps), "", body); err != nil {
		return err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("peer answered %s", resp.Status)
	}
	return nil
}

// Join merges the counts of the first of addrs that answers into this replica's, so
// that a replica that (re)starts keeps the protection its peers have built up.
func (c *Counters) Join(ctx context.Context, addrs []string) error {
	var errs []error
	for _, addr := range addrs {
		counts, err := c.fetchCounts(ctx, addr)
		if err == nil {
			c.local.Merge(counts)
			c.log.Info("joined peers: took their attempt counts", "peer", addr, "keys", len(counts))
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return errors.Join(errs...)
}

func (c *Counters) fetchCounts(ctx context.Context, addr string) ([]attack.Entry, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+pathCounts, nil)
	if err != nil {
		return nil, err
	}
	if err := c.auth.sign(req.Header, purpose(http.MethodGet, pathCounts), "", nil); err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCountsBody+1))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("peer answered %s", resp.Status)
	}
	if len(body) > maxCountsBody {
		return nil, errors.New("counts larger than a replica can hold")
	}
	if err := c.auth.verify(resp.Header, countsResponse, req.Header.Get(headerNonce), body); err != nil {
		c.metrics.messages.WithLabelValues(resultRejected).Inc()
		return nil, err
	}
	var msg countsMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, err
	}
	now := c.now()
	out := make([]attack.Entry, 0, len(msg.Counts))
	for _, e := range msg.Counts {
		out = append(out, attack.Entry{Key: e.Key, N: e.N, Expires: now.Add(time.Duration(e.TTLMillis) * time.Millisecond)})
	}
	return out, nil
}

// Handler serves the peer listener: ops from peers and counts for joining peers, both
// only when signed with the peer key.
func (c *Counters) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+pathOps, c.receiveOps)
	mux.HandleFunc("GET "+pathCounts, c.serveCounts)
	return mux
}

func (c *Counters) receiveOps(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxOpsBody))
	if err != nil {
		c.reject(w, http.StatusRequestEntityTooLarge, err)
		return
	}
	if err := c.auth.verifyRequest(r.Header, purpose(http.MethodPost, pathOps), body); err != nil {
		c.reject(w, http.StatusUnauthorized, err)
		return
	}
	var msg opsMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		c.reject(w, http.StatusBadRequest, err)
		return
	}
	c.apply(msg.Ops)
	c.metrics.messages.WithLabelValues(resultReceived).Inc()
	w.WriteHeader(http.StatusNoContent)
}

// apply applies ops from a peer to this replica's counts only: they are not sent on.
func (c *Counters) apply(ops []op) {
	for _, o := range ops {
		if o.Reset {
			c.local.Reset(o.Key)
		} else {
			c.local.Add(o.Key, o.Delta, time.Duration(o.TTLMillis)*time.Millisecond)
		}
	}
}

func (c *Counters) serveCounts(w http.ResponseWriter, r *http.Request) {
	if err := c.auth.verifyRequest(r.Header, purpose(http.MethodGet, pathCounts), nil); err != nil {
		c.reject(w, http.StatusUnauthorized, err)
		return
	}
	now := c.now()
	entries := c.local.Entries()
	msg := countsMessage{Counts: make([]entry, 0, len(entries))}
	for _, e := range entries {
		msg.Counts = append(msg.Counts, entry{Key: e.Key, N: e.N, TTLMillis: e.Expires.Sub(now).Milliseconds()})
	}
	body, err := json.Marshal(msg)
	if err == nil {
		err = c.auth.sign(w.Header(), countsResponse, r.Header.Get(headerNonce), body)
	}
	if err != nil {
		http.Error(w, "cannot sign counts", http.StatusServiceUnavailable)
		return
	}
	c.metrics.messages.WithLabelValues(resultReceived).Inc()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// reject refuses a message; the reason is logged, not told to the sender.
func (c *Counters) reject(w http.ResponseWriter, status int, err error) {
	c.metrics.messages.WithLabelValues(resultRejected).Inc()
	c.log.Info("refused a peer message", "reason", err.Error())
	http.Error(w, http.StatusText(status), status)
}

func purpose(method, path string) string { return method + " " + path }

// countsResponse is what a signed answer to a counts request is for.
const countsResponse = "response " + pathCounts
