package proctest

import (
	"context"
	"net"
	"testing"
)

// FreeAddress returns a loopback address, 127.0.0.1:<port>, that nothing listens on, for
// a server about to be started: the kernel picks a free port, and the listener is closed
// at once, so the port stays free unless another process happens to take it first.
func FreeAddress() (string, error) {
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
