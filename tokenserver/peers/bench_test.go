package peers

import (
	"log/slog"
	"net/netip"
	"strconv"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
)

// BenchmarkAdd measures what a failed login pays for counting: in memory alone, and with
// the change queued for two peers (the sending happens on other goroutines).
func BenchmarkAdd(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = attack.UserIPKey(attack.Login{Tenant: "8c3e6a52-0c7e-4b8e-9d0b-2f7a3c1e5d90", Connection: "users",
			Username: "user" + strconv.Itoa(i), IP: netip.MustParseAddr("192.0.2.1")})
	}
	b.Run("memory", func(b *testing.B) {
		m := attack.NewMemory(attack.MemoryOptions{})
		for i := 0; b.Loop(); i++ {
			mustAdd(b, m, keys[i%len(keys)], 1, perMinute)
		}
	})
	b.Run("two peers", func(b *testing.B) {
		key := newKey()
		c := newReplica(b, key)
		c.SetPeers([]string{newReplica(b, key).addr, newReplica(b, key).addr})
		for i := 0; b.Loop(); i++ {
			mustAdd(b, c, keys[i%len(keys)], 1, perMinute)
		}
		b.ReportMetric(value(c.metrics.messages.WithLabelValues(resultDropped)), "dropped")
	})
}

// BenchmarkDelivery measures how many changes per second reach a peer, from Add on one
// replica to the count on the other, over loopback HTTP.
func BenchmarkDelivery(b *testing.B) {
	key := newKey()
	peer := newReplica(b, key)
	c := New(attack.NewMemory(attack.MemoryOptions{}), slog.New(slog.DiscardHandler), Options{QueueSize: b.N})
	c.SetKey(key)
	c.SetPeers([]string{peer.addr})
	defer c.Close()
	b.ResetTimer()
	for range b.N {
		mustAdd(b, c, "k", 1, perMinute)
	}
	waitFor(b, "every change delivered", func() bool { return peer.count("k") == b.N })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}
