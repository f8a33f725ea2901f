package peers

import (
	"bufio"
	"bytes"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
)

// countingListener counts the bytes the server reads from its connections.
type countingListener struct {
	net.Listener
	read *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	return countingConn{Conn: c, read: l.read}, err
}

type countingConn struct {
	net.Conn
	read *atomic.Int64
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// portUnderTest serves the peer listener of Counters c on loopback, counting what it
// reads; it returns the address and the count.
func portUnderTest(t *testing.T, c *Counters) (addr string, read *atomic.Int64) {
	t.Helper()
	read = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(c.Handler())
	srv.Listener = countingListener{Listener: srv.Listener, read: read}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), read
}

// rawRequest sends a request's head with the headers h, declaring a body of length
// bytes, and then up to that many bytes of body from a goroutine as long as the server
// takes them. It returns the status the server answers and whether it closed the
// connection.
func rawRequest(t *testing.T, addr, method, target string, h http.Header, body io.Reader, length int64) (status int, closed bool) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var head bytes.Buffer
	fmt.Fprintf(&head, "%s %s HTTP/1.1\r\nHost: peer\r\nContent-Length: %d\r\n", method, target, length)
	_ = h.Write(&head)
	head.WriteString("\r\n")
	if _, err := conn.Write(head.Bytes()); err != nil {
		t.Fatal(err)
	}
	go func() {
		// Until the server closes the connection, or the whole body is written.
		_, _ = io.CopyN(conn, body, length)
	}()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, resp.Close
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// readBound is what the server may read of a request it refuses: the head, and what
// one read of its buffered reader takes in with it.
const readBound = 8 << 10

// TestHugeBodiesAreNotRead sends requests declaring a body of a gigabyte: forged,
// replayed, stale, and signed but larger than the bound. Each is refused from its headers,
// having read at most a few kilobytes.
func TestHugeBodiesAreNotRead(t *testing.T) {
	key := newKey()
	c := New(attack.NewMemory(attack.MemoryOptions{}), slog.New(slog.DiscardHandler), Options{})
	c.SetKey(key)
	addr, read := portUnderTest(t, c)
	const huge = 1 << 30
	sender := newAuthenticator(time.Now)
	sender.setKey(key)
	signed := func(body []byte) http.Header {
		h := http.Header{}
		if err := sender.sign(h, "POST "+PathOps, "", body); err != nil {
			t.Fatal(err)
		}
		return h
	}
	late := newAuthenticator(func() time.Time { return time.Now().Add(-2 * MaxMessageAge) })
	late.setKey(key)
	stale := http.Header{}
	_ = late.sign(stale, "POST "+PathOps, "", []byte("{}"))
	forger := newAuthenticator(time.Now)
	forger.setKey(newKey())
	forged := http.Header{}
	_ = forger.sign(forged, "POST "+PathOps, "", []byte("{}"))
	empty := []byte(`{"ops":[]}`)
	replayed := signed(empty)
	if status, _ := rawRequest(t, addr, http.MethodPost, PathOps, replayed, bytes.NewReader(empty), int64(len(empty))); status != http.StatusNoContent {
		t.Fatalf("the first delivery of a signed message: %d", status)
	}
	for _, tc := range []struct {
		name   string
		header http.Header
		length int64 // huge when zero
		want   int
	}{
		{name: "unsigned", header: http.Header{}, want: http.StatusUnauthorized},
		// net/http drains an unread body this small after the handler, unless told to
		// close the connection.
		{name: "unsigned, small enough to be drained", header: http.Header{}, length: 200 << 10, want: http.StatusUnauthorized},
		{name: "signed with another key", header: forged, want: http.StatusUnauthorized},
		{name: "replayed", header: replayed, want: http.StatusUnauthorized},
		{name: "stale", header: stale, want: http.StatusUnauthorized},
		{name: "signed, over the bound", header: signed(bytes.Repeat([]byte{0}, 16)), want: http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := read.Load()
			status, closed := rawRequest(t, addr, http.MethodPost, PathOps, tc.header, zeros{}, cmp.Or(tc.length, huge))
			if status != tc.want || !closed {
				t.Errorf("answered %d (closing: %v), want %d and the connection closed", status, closed, tc.want)
			}
			if n := read.Load() - before; n > readBound {
				t.Errorf("read %d bytes of the request, want at most %d", n, readBound)
			}
		})
	}
	if got := value(c.metrics.messages.WithLabelValues(resultRejected)); got != 6 {
		t.Errorf("rejected = %v, want 6", got)
	}
}

// TestConcurrentRequestsAreBounded holds as many signed requests as allowed in progress,
// sending their bodies slowly: another signed one is refused at once with 503, while a
// forged one, which takes no slot, is still refused as forged.
func TestConcurrentRequestsAreBounded(t *testing.T) {
	key := newKey()
	c := New(attack.NewMemory(attack.MemoryOptions{}), slog.New(slog.DiscardHandler), Options{MaxRequests: 2})
	c.SetKey(key)
	addr, _ := portUnderTest(t, c)
	sender := newAuthenticator(time.Now)
	sender.setKey(key)
	body := []byte(`{"ops":[{"k":"uid/k/","d":1,"t":60000,"b":10}]}`)
	request := func() *http.Request {
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+PathOps, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if err := sender.sign(req.Header, purpose(req), "", body); err != nil {
			t.Fatal(err)
		}
		return req
	}

	// Two requests whose bodies wait: their handlers hold the two slots.
	release := make(chan struct{})
	held := make(chan int, 2)
	for range 2 {
		req := request()
		pr, pw := io.Pipe()
		req.Body, req.ContentLength = pr, int64(len(body))
		go func() {
			<-release
			_, _ = pw.Write(body)
			_ = pw.Close()
		}()
		go func() {
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				held <- 0
				return
			}
			resp.Body.Close()
			held <- resp.StatusCode
		}()
	}
	waitFor(t, "two requests in progress", func() bool { return len(c.inFlight) == 2 })

	do := func(req *http.Request) int {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if status := do(request()); status != http.StatusServiceUnavailable {
		t.Errorf("a third signed request while two are in progress: %d, want 503", status)
	}
	forged, err := http.NewRequest(http.MethodPost, "http://"+addr+PathOps, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if status := do(forged); status != http.StatusUnauthorized {
		t.Errorf("a forged request while two are in progress: %d, want 401", status)
	}
	close(release)
	for range 2 {
		if status := <-held; status != http.StatusNoContent {
			t.Errorf("a request that held a slot: %d, want 204", status)
		}
	}
	if status := do(request()); status != http.StatusNoContent {
		t.Errorf("a signed request once the slots are free: %d, want 204", status)
	}
	if got := value(c.metrics.messages.WithLabelValues(resultBusy)); got != 1 {
		t.Errorf("busy = %v, want 1", got)
	}
}

// TestBoundsHoldTheLargestMessages: a batch of MaxBatchSize ops and a page of counts,
// of the longest keys keys.go builds, fit their bounds.
func TestBoundsHoldTheLargestMessages(t *testing.T) {
	uid := strings.Repeat("u", 36)
	key := attack.UserIPKey(attack.Login{Tenant: uid, Connection: "users", Username: "alice"})
	if !sendable(key) {
		t.Fatalf("a key of a Kubernetes UID is not sendable: %q", key)
	}
	ops, err := encode(opsMessage{Ops: slices.Repeat([]op{{Key: key, Delta: -1, TTLMillis: (24 * time.Hour).Milliseconds(), MaxAttempts: 100, Reset: true}}, MaxBatchSize)})
	if err != nil {
		t.Fatal(err)
	}
	counts, err := encode(countsMessage{Counts: slices.Repeat([]entry{{Key: key, N: 10_000, TTLMillis: 1 << 40, LifetimeMillis: 1 << 40, MaxAttempts: 10_000}}, countsPageEntries), Next: uid, More: true})
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(ops)) > maxOpsBody || int64(len(counts)) > maxCountsBody {
		t.Errorf("largest batch %d bytes (bound %d), page %d (bound %d)", len(ops), maxOpsBody, len(counts), maxCountsBody)
	}
	t.Logf("bounds: a batch %d bytes (the largest real one %d), a page of counts %d (%d)", maxOpsBody, len(ops), maxCountsBody, len(counts))
}
