package peers

import "github.com/prometheus/client_golang/prometheus"

// Results of peer messages.
const (
	resultSent     = "sent"
	resultDropped  = "dropped"
	resultReceived = "received"
	resultRejected = "rejected"
)

type metrics struct {
	peers    prometheus.Gauge
	messages *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		peers: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gatehouse_tokenserver_peers",
			Help: "Other token-server replicas this one broadcasts attempt counts to.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_peer_messages_total",
			Help: "Peer messages by result: sent; dropped (an op that found its peer's queue full or no peer key yet, or a batch the peer did not take); received (ops applied or counts served); rejected (unsigned, badly signed, stale, replayed or malformed).",
		}, []string{"result"}),
	}
	for _, r := range []string{resultSent, resultDropped, resultReceived, resultRejected} {
		m.messages.WithLabelValues(r)
	}
	return m
}

// Collectors are the metrics to register.
func (c *Counters) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.metrics.peers, c.metrics.messages}
}
