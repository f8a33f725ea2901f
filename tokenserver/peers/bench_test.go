package peers

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
)

// BenchmarkAdd measures what a failed login pays for counting: in memory alone, and with
// the change queued for two peers (the sending happens on other goroutines).
func BenchmarkAdd(b *testing.B) {
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "tenant\x00users\x00user" + strconv.Itoa(i) + "\x00192.0.2.1\x00"
	}
	b.Run("memory", func(b *testing.B) {
		m := attack.NewMemory(attack.DefaultMemoryLimit, time.Now)
		for i := 0; b.Loop(); i++ {
			m.Add(keys[i%len(keys)], 1, time.Minute)
		}
	})
	b.Run("two peers", func(b *testing.B) {
		key := newKey()
		c := newReplica(b, key)
		c.SetPeers([]string{newReplica(b, key).addr, newReplica(b, key).addr})
		for i := 0; b.Loop(); i++ {
			c.Add(keys[i%len(keys)], 1, time.Minute)
		}
		b.ReportMetric(value(c.metrics.messages.WithLabelValues(resultDropped)), "dropped")
	})
}

// BenchmarkDelivery measures how many changes per second reach a peer, from Add on one
// replica to the count on the other, over loopback HTTP.
func BenchmarkDelivery(b *testing.B) {
	key := newKey()
	peer := newReplica(b, key)
	c := New(attack.NewMemory(attack.DefaultMemoryLimit, time.Now), slog.New(slog.DiscardHandler), Options{QueueSize: b.N})
	c.SetKey(key)
	c.SetPeers([]string{peer.addr})
	defer c.Close()
	b.ResetTimer()
	for range b.N {
		c.Add("k", 1, time.Minute)
	}
	waitFor(b, "every change delivered", func() bool { n, _ := peer.Get("k"); return n == b.N })
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "changes/s")
}
