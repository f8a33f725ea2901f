package peers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
)

// Paths of the peer listener, which are also what their signatures are for (PathOps is
// exported for the tests that play a stranger on the peer port). Version 2
// signs a digest of the body in the headers; a replica of version 1 gets 404 from it and
// refuses its messages, so the two count apart during an upgrade.
const (
	PathOps    = "/peer/v2/ops"
	pathCounts = "/peer/v2/counts"
)

// maxKeyLength is the longest key that is sent to peers: the longest that keys.go
// builds, a login's (attack.UserIPKey), is 72 bytes besides its tenant UID (36 bytes for
// a Kubernetes UID). A longer key is counted by its own replica only.
const maxKeyLength = 160

// countsPageEntries is how many counts a page of the counts of a replica holds: every
// count of one tenant, or of several small ones.
const countsPageEntries = attack.DefaultTenantBudget

// Bounds of the bodies a replica reads from a peer, derived from the largest op and entry
// (a key of maxKeyLength, numbers at their longest): a batch of MaxBatchSize ops, and a
// page of counts.
var (
	maxOpsBody = bound(opsMessage{Ops: slices.Repeat([]op{{Key: strings.Repeat("k", maxKeyLength),
		Delta: math.MinInt64, TTLMillis: math.MinInt64, MaxAttempts: math.MinInt64, Reset: true}}, MaxBatchSize)})
	maxCountsBody = bound(countsMessage{Counts: slices.Repeat([]entry{{Key: strings.Repeat("k", maxKeyLength),
		N: math.MinInt64, TTLMillis: math.MinInt64, LifetimeMillis: math.MinInt64, MaxAttempts: math.MinInt64}},
		countsPageEntries), Next: strings.Repeat("u", maxKeyLength), More: true})
)

// op is one change to replicate: Add(Key, Delta, Limit{MaxAttempts, TTL}) or Reset(Key).
type op struct {
	Key         string `json:"k"`
	Delta       int    `json:"d,omitempty"`
	TTLMillis   int64  `json:"t,omitempty"`
	MaxAttempts int    `json:"b,omitempty"`
	Reset       bool   `json:"r,omitempty"`
}

func (o op) limit() attack.Limit {
	return attack.Limit{MaxAttempts: o.MaxAttempts, CoolDown: time.Duration(o.TTLMillis) * time.Millisecond}
}

type opsMessage struct {
	Ops []op `json:"ops"`
}

// entry is one count handed to a joining replica, its expiry relative to the sender's
// clock so that clock offsets between replicas do not matter.
type entry struct {
	Key            string `json:"k"`
	N              int    `json:"n"`
	TTLMillis      int64  `json:"t"`
	LifetimeMillis int64  `json:"l"`
	MaxAttempts    int    `json:"b"`
}

// countsMessage is a page of a replica's counts: whole tenants, from the one the request
// names; Next is the tenant to ask the next page from, if More.
type countsMessage struct {
	Counts []entry `json:"counts"`
	Next   string  `json:"next,omitempty"`
	More   bool    `json:"more,omitempty"`
}

// encode is JSON without HTML escaping, so that a key sendable to peers encodes to its
// own length.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	err := enc.Encode(v)
	return b.Bytes(), err
}

// sendable tells whether key is sent to peers: short, and of characters that JSON
// does not escape (keys.go builds keys of URL path characters).
func sendable(key string) bool {
	if len(key) > maxKeyLength {
		return false
	}
	for i := range len(key) {
		if c := key[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func bound(v any) int64 {
	b, err := encode(v)
	if err != nil {
		panic(err)
	}
	return int64(len(b))
}

// post sends a batch of ops to the peer at addr.
func (c *Counters) post(ctx context.Context, addr string, batch []op) error {
	body, err := encode(opsMessage{Ops: batch})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+PathOps, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if err := c.auth.sign(req.Header, purpose(req), "", body); err != nil {
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
		keys, refused, err := c.takeCounts(ctx, addr)
		if err == nil {
			c.log.Info("joined peers: took their attempt counts", "peer", addr, "keys", keys, "refused", refused)
			return nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", addr, err))
	}
	return errors.Join(errs...)
}

// takeCounts merges the counts of the peer at addr, page by page. refused are the keys
// that found no room here.
func (c *Counters) takeCounts(ctx context.Context, addr string) (keys, refused int, err error) {
	for from, more := "", true; more; {
		var page []attack.Entry
		var next string
		if page, next, more, err = c.fetchCounts(ctx, addr, from); err != nil {
			return keys, refused, err
		}
		if more && next <= from {
			return keys, refused, fmt.Errorf("counts page after %q does not move on", from)
		}
		keys += len(page)
		refused += c.local.Merge(page)
		from = next
	}
	return keys, refused, nil
}

// fetchCounts fetches the page of the peer's counts from the tenant from.
func (c *Counters) fetchCounts(ctx context.Context, addr, from string) (page []attack.Entry, next string, more bool, err error) {
	u := "http://" + addr + pathCounts + "?" + url.Values{"from": {from}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, "", false, err
	}
	if err := c.auth.sign(req.Header, purpose(req), "", nil); err != nil {
		return nil, "", false, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, "", false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, "", false, fmt.Errorf("peer answered %s", resp.Status)
	}
	body, err := c.verifiedResponse(resp, req)
	if err != nil {
		c.metrics.messages.WithLabelValues(resultRejected).Inc()
		return nil, "", false, err
	}
	var msg countsMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		return nil, "", false, err
	}
	now := c.now()
	page = make([]attack.Entry, 0, len(msg.Counts))
	for _, e := range msg.Counts {
		page = append(page, attack.Entry{Key: e.Key, N: e.N, Expires: now.Add(millis(e.TTLMillis)),
			Lifetime: millis(e.LifetimeMillis), BlocksAt: e.MaxAttempts})
	}
	return page, msg.Next, msg.More, nil
}

// verifiedResponse reads the body of a response to req once its headers verify.
func (c *Counters) verifiedResponse(resp *http.Response, req *http.Request) ([]byte, error) {
	digest, err := c.auth.verify(resp.Header, responsePurpose(req), req.Header.Get(headerNonce))
	if err != nil {
		return nil, err
	}
	return signedBody(resp.Body, resp.ContentLength, maxCountsBody, digest)
}

// Handler serves the peer listener: ops from peers and counts for joining peers, both
// only when signed with the peer key. A request is verified from its headers before any
// of its body is read; one that does not verify is refused and its connection closed,
// so that its body is never read. Then at most MaxRequests verified requests are served
// at once, reading bounded bodies; more are refused with 503.
func (c *Counters) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+PathOps, c.verified(c.receiveOps))
	mux.HandleFunc("GET "+pathCounts, c.verified(c.serveCounts))
	return mux
}

// verified runs serve for requests whose headers verify, within the bound of concurrent
// requests; serve gets the body digest that was signed.
func (c *Counters) verified(serve func(w http.ResponseWriter, r *http.Request, digest []byte)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		digest, err := c.auth.verifyRequest(r.Header, purpose(r))
		if err != nil {
			c.refuse(w, resultRejected, http.StatusUnauthorized, err)
			return
		}
		select {
		case c.inFlight <- struct{}{}:
			defer func() { <-c.inFlight }()
		default:
			c.refuse(w, resultBusy, http.StatusServiceUnavailable, errBusy)
			return
		}
		serve(w, r, digest)
	}
}

var errBusy = errors.New("as many peer requests as allowed are in progress")

func (c *Counters) receiveOps(w http.ResponseWriter, r *http.Request, digest []byte) {
	if r.ContentLength < 0 {
		c.refuse(w, resultRejected, http.StatusLengthRequired, errors.New("no Content-Length"))
		return
	}
	body, err := signedBody(r.Body, r.ContentLength, maxOpsBody, digest)
	if err != nil {
		status := http.StatusUnauthorized
		if errors.As(err, new(errTooLarge)) {
			status = http.StatusRequestEntityTooLarge
		}
		c.refuse(w, resultRejected, status, err)
		return
	}
	var msg opsMessage
	if err := json.Unmarshal(body, &msg); err != nil {
		c.refuse(w, resultRejected, http.StatusBadRequest, err)
		return
	}
	c.apply(msg.Ops)
	c.metrics.messages.WithLabelValues(resultReceived).Inc()
	w.WriteHeader(http.StatusNoContent)
}

// apply applies ops from a peer to this replica's counts only: they are not sent on. An
// Add that finds no room here is not counted here; the replica that sent it counted it,
// or refused its attempt.
func (c *Counters) apply(ops []op) {
	for _, o := range ops {
		if o.Reset {
			c.local.Reset(o.Key)
		} else {
			_, _ = c.local.Add(o.Key, o.Delta, o.limit())
		}
	}
}

func (c *Counters) serveCounts(w http.ResponseWriter, r *http.Request, _ []byte) {
	if r.ContentLength != 0 {
		c.refuse(w, resultRejected, http.StatusBadRequest, errors.New("a counts request has a body"))
		return
	}
	now := c.now()
	entries, next, more := c.local.Page(r.URL.Query().Get("from"), countsPageEntries)
	msg := countsMessage{Counts: make([]entry, 0, len(entries)), Next: next, More: more}
	for _, e := range entries {
		if sendable(e.Key) {
			msg.Counts = append(msg.Counts, entry{Key: e.Key, N: e.N, TTLMillis: e.Expires.Sub(now).Milliseconds(),
				LifetimeMillis: e.Lifetime.Milliseconds(), MaxAttempts: e.BlocksAt})
		}
	}
	body, err := encode(msg)
	if err == nil {
		err = c.auth.sign(w.Header(), responsePurpose(r), r.Header.Get(headerNonce), body)
	}
	if err != nil {
		http.Error(w, "cannot sign counts", http.StatusServiceUnavailable)
		return
	}
	c.metrics.messages.WithLabelValues(resultReceived).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// refuse refuses a request without reading its body, and closes its connection. The
// reason is logged, not told to the sender, at most once per refusalLogInterval: forged
// messages must not flood the log.
func (c *Counters) refuse(w http.ResponseWriter, result string, status int, err error) {
	c.metrics.messages.WithLabelValues(result).Inc()
	if last := c.refusalLogged.Load(); time.Since(time.Unix(0, last)) >= refusalLogInterval &&
		c.refusalLogged.CompareAndSwap(last, time.Now().UnixNano()) {
		c.log.Info("refused a peer message", "reason", err.Error(), "result", result,
			"note", "further refusals within "+refusalLogInterval.String()+" are counted in "+messagesMetric+" only")
	}
	answerAndClose(w, status)
}

// answerAndClose answers status and closes the connection itself: net/http would read
// up to 256 KiB of an unread body after the handler returns, looking for the next
// request, even when the answer says it closes the connection.
func answerAndClose(w http.ResponseWriter, status int) {
	conn, buf, err := http.NewResponseController(w).Hijack()
	if err != nil { // not HTTP/1: no connection of its own to close
		w.Header().Set("Connection", "close")
		http.Error(w, http.StatusText(status), status)
		return
	}
	defer conn.Close()
	text := http.StatusText(status) + "\n"
	_, _ = fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		status, http.StatusText(status), len(text), text)
	_ = buf.Flush()
	// As net/http closes: the end of the answer, and a moment for the client to read it
	// before the reset that closing with unread bytes sends. Only so many connections
	// linger at once, so that strangers cannot hold goroutines and sockets with it.
	if tcp, ok := conn.(interface{ CloseWrite() error }); ok {
		_ = tcp.CloseWrite()
		select {
		case lingering <- struct{}{}:
			time.Sleep(resetAvoidanceDelay)
			<-lingering
		default:
		}
	}
}

// resetAvoidanceDelay is net/http's rstAvoidanceDelay.
const resetAvoidanceDelay = 500 * time.Millisecond

// lingering bounds the refused connections that wait resetAvoidanceDelay at once.
var lingering = make(chan struct{}, 64)

// refusalLogInterval is how often at most a refused peer message is logged.
const refusalLogInterval = 10 * time.Second

// purpose is what a request's signature is for: its method and its path and query.
func purpose(r *http.Request) string { return r.Method + " " + r.URL.RequestURI() }

// responsePurpose is what the signature of the answer to r is for.
func responsePurpose(r *http.Request) string { return "response " + r.URL.RequestURI() }

func millis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }
