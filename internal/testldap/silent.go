package testldap

import (
	"context"
	"net"
	"sync"
	"testing"
)

// Silent is a server that accepts connections and never answers, as a hung directory
// does.
type Silent struct {
	// Addr is the address it listens on.
	Addr string
	stop func() int
}

// StartSilent listens on addr ("127.0.0.1:0" for any free port). It stops when the test
// ends, if Stop did not stop it before.
func StartSilent(t testing.TB, addr string) *Silent {
	t.Helper()
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
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
		}
	}()
	s := &Silent{Addr: l.Addr().String(), stop: sync.OnceValue(func() int {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
		return len(conns)
	})}
	t.Cleanup(func() { s.Stop() })
	return s
}

// Stop closes the listener and the connections it accepted, and tells how many there
// were.
func (s *Silent) Stop() int { return s.stop() }
