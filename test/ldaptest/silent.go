package ldaptest

import (
	"bytes"
	"context"
	"io"
	"net"
	"sync"
	"testing"
)

// maxReceived bounds what a Silent server keeps of what it is sent.
const maxReceived = 1 << 20

// Silent is a server that accepts connections and never answers, as a hung directory
// does. It keeps what it is sent, so that a test can tell whether a client sent it a
// password: LDAP clients send their bind request first, and over ldap:// without TLS
// the password is in it in clear.
type Silent struct {
	// Addr is the address it listens on.
	Addr     string
	stop     func() int
	received keptBytes
}

// StartSilent listens on addr ("127.0.0.1:0" for any free port). It stops when the test
// ends, if Stop did not stop it before.
func StartSilent(t testing.TB, addr string) *Silent {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &Silent{Addr: l.Addr().String()}
	var mu sync.Mutex
	var conns []net.Conn
	var readers sync.WaitGroup
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			readers.Go(func() { _, _ = io.Copy(&s.received, c) })
		}
	}()
	s.stop = sync.OnceValue(func() int {
		_ = l.Close()
		<-done
		mu.Lock()
		for _, c := range conns {
			_ = c.Close()
		}
		n := len(conns)
		mu.Unlock()
		readers.Wait()
		return n
	})
	t.Cleanup(func() { s.Stop() })
	return s
}

// Received is a copy of what has been sent to the server so far, over every connection.
func (s *Silent) Received() []byte { return s.received.bytes() }

// Stop closes the listener and the connections it accepted, and tells how many there
// were.
func (s *Silent) Stop() int { return s.stop() }

// keptBytes keeps what its writers write, up to maxReceived in all.
type keptBytes struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (k *keptBytes) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if room := maxReceived - k.buf.Len(); room > 0 {
		k.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (k *keptBytes) bytes() []byte {
	k.mu.Lock()
	defer k.mu.Unlock()
	return bytes.Clone(k.buf.Bytes())
}
