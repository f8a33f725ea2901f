package proctest

import (
	"context"
	"fmt"
	"net"
	"sync"
	"testing"
)

// handedOut are the addresses FreeAddress has returned in this process.
var handedOut = struct {
	sync.Mutex
	addrs map[string]bool
}{addrs: map[string]bool{}}

// FreeAddress returns a loopback address, 127.0.0.1:<port>, that nothing listens on, for
// a server about to be started: the kernel picks a free port, and the listener is closed
// at once, so the port stays free unless another process happens to take it first. It
// never returns an address twice in one process: the kernel may offer a port again as
// soon as its listener is closed, and two servers a test starts would then collide
// (seen: a controller's health probe and a token server given the same port).
func FreeAddress() (string, error) {
	handedOut.Lock()
	defer handedOut.Unlock()
	for range 100 {
		addr, err := listenAndClose()
		if err != nil {
			return "", err
		}
		if !handedOut.addrs[addr] {
			handedOut.addrs[addr] = true
			return addr, nil
		}
	}
	return "", fmt.Errorf("no loopback port that was not handed out already")
}

func listenAndClose() (string, error) {
	l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close() //nolint:errcheck // only its port was wanted
	return l.Addr().String(), nil
}

// MustFreeAddress is FreeAddress for a test, which it fails when there is none. Nothing
// listens on the address, so it also serves as one that refuses connections.
func MustFreeAddress(tb testing.TB) string {
	tb.Helper()
	addr, err := FreeAddress()
	if err != nil {
		tb.Fatal(err)
	}
	return addr
}
