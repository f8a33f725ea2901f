package tokenserver

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// Short timeouts, so that slow clients are cut off quickly; a connection counts as cut
// off when the server closes it before cutoffFactor times the timeout.
const (
	testReadHeaderTimeout = 300 * time.Millisecond
	testReadTimeout       = 600 * time.Millisecond
	cutoffFactor          = 10
)

// serveTokenServer runs the token server as in production, with short read timeouts,
// and returns its address and acme's token endpoint path.
func serveTokenServer(t *testing.T) (addr, tokenPath string) {
	t.Helper()
	loadFixtures(t)
	opts := testListenOptions()
	opts.ReadHeaderTimeout, opts.ReadTimeout = testReadHeaderTimeout, testReadTimeout
	st := store.New()
	addr, _, _, _ = serveInBackground(t, opts, NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()), st, prometheus.NewRegistry())
	st.Publish([]*store.Tenant{withIssuer(fixtures.acme, "http://"+addr+"/team-a/acme/").View(t)})
	return addr, "/team-a/acme/oauth/token"
}

func TestBodyOver64KiBIsInvalidRequest(t *testing.T) {
	addr, tokenPath := serveTokenServer(t)
	resp, body := post(t, "http://"+addr+tokenPath, "", formType, form("grant_type", "password", "pad", strings.Repeat("x", maxBodyBytes)), nil)
	assertOAuthError(t, resp, body, http.StatusBadRequest, "invalid_request")
}

func TestHugeHeadersAre431(t *testing.T) {
	addr, tokenPath := serveTokenServer(t)
	// Over MaxHeaderBytes and the 4 KiB net/http grants on top, far under its 1 MiB default.
	req, err := http.NewRequest(http.MethodPost, "http://"+addr+tokenPath, strings.NewReader(form("grant_type", "password")))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", formType)
	req.Header.Set("X-Padding", strings.Repeat("x", 64<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// TestSlowClientsAreCutOff sends requests a byte at a time, slower than the server's
// timeouts allow, and expects the server to close the connection.
func TestSlowClientsAreCutOff(t *testing.T) {
	addr, tokenPath := serveTokenServer(t)
	body := form("grant_type", "password", "client_id", "public-client", "username", "alice", "password", "secret")
	requestLine := "POST " + tokenPath + " HTTP/1.1\r\n"
	headers := "Host: " + addr + "\r\nContent-Type: " + formType + "\r\n"
	for _, tc := range []struct {
		name          string
		fast, slow    string
		timeout       time.Duration
		answerAllowed bool
	}{
		{name: "slowloris headers", fast: requestLine, slow: headers + "X-Slow: " + strings.Repeat("x", 1000) + "\r\n\r\n",
			timeout: testReadHeaderTimeout},
		// The handler sees the body's read fail and may still answer before closing.
		{name: "slow body", fast: requestLine + headers + "Content-Length: 2000\r\n\r\n", slow: body + strings.Repeat("&", 2000-len(body)),
			timeout: testReadTimeout, answerAllowed: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := io.WriteString(conn, tc.fast); err != nil {
				t.Fatal(err)
			}
			go trickle(conn, tc.slow, tc.timeout/10)

			if err := conn.SetReadDeadline(time.Now().Add(cutoffFactor * tc.timeout)); err != nil {
				t.Fatal(err)
			}
			answer, err := io.ReadAll(conn)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the server still holds the connection after %v", cutoffFactor*tc.timeout)
			}
			if len(answer) == 0 {
				return // closed without an answer
			}
			resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(answer)), nil)
			if err != nil {
				t.Fatalf("answer before closing: %q: %v", answer, err)
			}
			resp.Body.Close()
			if !tc.answerAllowed || resp.StatusCode != http.StatusBadRequest {
				t.Errorf("answer before closing: %q", answer)
			}
		})
	}
}

// trickle writes s a byte at a time, every interval, until the connection fails.
func trickle(conn net.Conn, s string, interval time.Duration) {
	for i := range len(s) {
		time.Sleep(interval)
		if _, err := io.WriteString(conn, s[i:i+1]); err != nil {
			return
		}
	}
}
