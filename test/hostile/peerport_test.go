package hostile_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/peers"
)

// The attacks on the peer port, where replicas send each other login-attempt counts.
const (
	// largeBody is more than the loopback socket buffers hold, so that a client cannot
	// finish sending it unless the server reads it.
	largeBody = 64 << 20
	// concurrentStrangers send concurrentBody each at once: 192 MiB in all, which a
	// server that read unauthenticated bodies would hold.
	concurrentStrangers = 64
	concurrentBody      = 3 << 20
	// peerMemoryGrowth bounds how much more the token server may hold at its peak while
	// the strangers are refused.
	peerMemoryGrowth = 32 << 20
	// peerAnswerTimeout bounds the wait for an answer: longer than the peer server's
	// read timeout (10 s), so that a server that waits for the body answers within it.
	peerAnswerTimeout = 30 * time.Second
)

// TestPeerPortRefusesStrangers: an anonymous client of the peer port posts a large body
// with a forged signature, then many such requests at once. The token server refuses
// them before reading their bodies, holds little memory for them, and team-b's logins
// keep working.
func TestPeerPortRefusesStrangers(t *testing.T) {
	victim, _ := newTeams(t, "peer")
	peerAddr := proctest.MustFreeAddress(t)
	g := startGatehouse(t, "peer", "--peer-bind-address="+peerAddr)
	b := newIssuer(t, victim.namespace, "bravo")
	victim.serve(t, g, b)

	t.Run("a large body is refused before it is read", func(t *testing.T) {
		answer, sent, err := postForged(peerAddr, largeBody)
		if err != nil {
			t.Fatalf("a forged message of %d MiB got no answer: %v", largeBody>>20, err)
		}
		if answer != http.StatusUnauthorized || sent >= largeBody {
			t.Errorf("a forged message of %d MiB was answered %d after %d KiB were sent; want 401 before the body is sent",
				largeBody>>20, answer, sent>>10)
		}
	})

	t.Run("many strangers at once are bounded", func(t *testing.T) {
		before := g.Memory(t).PeakRSS
		var wg sync.WaitGroup
		for range concurrentStrangers {
			wg.Go(func() {
				// No answer (the server closed the connection) is a refusal too.
				if answer, _, err := postForged(peerAddr, concurrentBody); err == nil && answer < 400 {
					t.Errorf("a forged message was answered %d", answer)
				}
			})
		}
		wg.Wait()
		if growth := g.Memory(t).PeakRSS - before; growth > peerMemoryGrowth {
			t.Errorf("%d forged messages of %d MiB at once raised the token server's peak resident memory by %d MiB; want at most %d MiB",
				concurrentStrangers, concurrentBody>>20, growth>>20, peerMemoryGrowth>>20)
		}
	})

	b.expectLogin(t, g, "after the strangers on the peer port")
}

// postForged posts to the peer port a message of size bytes with a forged signature,
// writing the body while it waits for the answer. It returns the answer's status and
// how much of the body had been written when the answer came.
func postForged(addr string, size int64) (status int, sent int64, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), peerAnswerTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return 0, 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(peerAnswerTimeout))
	header := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"+
		"Gatehouse-Peer-Timestamp: %d\r\nGatehouse-Peer-Nonce: %s\r\nGatehouse-Peer-Signature: %s\r\n\r\n",
		peers.PathOps, addr, size, time.Now().UnixMilli(), rand.Text(), rand.Text())
	if _, err := conn.Write([]byte(header)); err != nil {
		return 0, 0, err
	}
	var written atomic.Int64
	go func() {
		chunk := make([]byte, 64<<10)
		for written.Load() < size {
			n, err := conn.Write(chunk[:min(int64(len(chunk)), size-written.Load())])
			written.Add(int64(n))
			if err != nil {
				return // refused: the server closed the connection
			}
		}
	}()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return 0, written.Load(), err
	}
	sent = written.Load()
	resp.Body.Close()
	return resp.StatusCode, sent, nil
}
