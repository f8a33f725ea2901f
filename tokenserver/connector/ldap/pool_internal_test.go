package ldap

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// countingDialer dials in-memory connections and counts them.
type countingDialer struct {
	dials int
}

func (d *countingDialer) dial(context.Context) (*ldap.Conn, error) {
	d.dials++
	client, server := net.Pipe()
	go func() { // The far end only notices when the client closes.
		_, _ = server.Read(make([]byte, 1))
		_ = server.Close()
	}()
	conn := ldap.NewConn(client, false)
	conn.Start()
	return conn, nil
}

func TestPoolReusesIdleConnectionsUntilTheirIdleTimeout(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d := &countingDialer{}
	p := newPool(1, poolSettings{keepIdle: true, idleTimeout: time.Minute, maxWait: time.Second,
		now: func() time.Time { return now }}, d.dial)
	defer p.close()

	use := func() (reused bool) {
		c, reused, err := p.get(context.Background(), true)
		if err != nil {
			t.Fatal(err)
		}
		p.put(c)
		return reused
	}
	if use() || d.dials != 1 {
		t.Fatalf("first get: reused or dials = %d", d.dials)
	}
	now = now.Add(59 * time.Second)
	if !use() || d.dials != 1 {
		t.Fatalf("get within the idle timeout dialed again (dials = %d)", d.dials)
	}
	now = now.Add(2 * time.Minute)
	if use() || d.dials != 2 {
		t.Fatalf("get after the idle timeout reused a stale connection (dials = %d)", d.dials)
	}
}

func TestPoolBoundsOpenConnections(t *testing.T) {
	d := &countingDialer{}
	p := newPool(1, poolSettings{keepIdle: true, idleTimeout: time.Minute, maxWait: 50 * time.Millisecond, now: time.Now}, d.dial)
	defer p.close()

	held, _, err := p.get(context.Background(), true)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.get(context.Background(), true); err == nil {
		t.Fatal("a second connection was opened beyond the bound")
	}
	p.put(held)
	if _, _, err := p.get(context.Background(), true); err != nil {
		t.Fatalf("the returned connection is not available: %v", err)
	}
	if d.dials != 1 {
		t.Fatalf("dials = %d, want 1", d.dials)
	}
}

func TestPoolWithoutIdleConnectionsDialsEveryTime(t *testing.T) {
	d := &countingDialer{}
	p := newPool(1, poolSettings{keepIdle: false, idleTimeout: time.Minute, maxWait: time.Second, now: time.Now}, d.dial)
	defer p.close()
	for range 3 {
		c, reused, err := p.get(context.Background(), true)
		if err != nil || reused {
			t.Fatalf("get = reused %v, %v", reused, err)
		}
		p.put(c)
	}
	if d.dials != 3 {
		t.Fatalf("dials = %d, want 3", d.dials)
	}
}
