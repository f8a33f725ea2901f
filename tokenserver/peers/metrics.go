package peers

import "github.com/prometheus/client_golang/prometheus"

// Results of peer messages.
const (
	resultSent     = "sent"
	resultDropped  = "dropped"
	resultReceived = "received"
	resultRejected = "rejected"
	resultBusy     = "busy"
)

const messagesMetric = "gatehouse_tokenserver_peer_messages_total"

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
			Name: messagesMetric,
			Help: "Peer messages by result: sent; dropped (an op that found its peer's queue full or no peer key yet, or a batch the peer did not take); received (ops applied or counts served); rejected (unsigned, badly signed, stale, replayed, a body over its bound or not the one signed, or malformed); busy (signed, but refused because as many peer requests as allowed were in progress).",
		}, []string{"result"}),
	}
	for _, r := range []string{resultSent, resultDropped, resultReceived, resultRejected, resultBusy} {
		m.messages.WithLabelValues(r)
	}
	return m
}

// Collectors are the metrics to register.
func (c *Counters) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.metrics.peers, c.metrics.messages}
}
