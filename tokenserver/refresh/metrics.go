package refresh

import "github.com/prometheus/client_golang/prometheus"

// metrics count what Tokens does, by tenant.
type metrics struct {
	issued, rotated, reused *prometheus.CounterVec
	revoked                 *prometheus.CounterVec
	quotaRefusals           *prometheus.CounterVec
	live                    *prometheus.GaugeVec
}

func newMetrics() *metrics {
	return &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_refresh_tokens_issued_total",
			Help: "Refresh token families started by a login, by tenant.",
		}, []string{"tenant"}),
		rotated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_refresh_tokens_rotated_total",
			Help: "Refresh tokens replaced by a successor, by tenant.",
		}, []string{"tenant"}),
		reused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_refresh_tokens_reused_total",
			Help: "Rotated-out refresh tokens presented after their reuse interval, which revoked their family (reuse detection), by tenant.",
		}, []string{"tenant"}),
		revoked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_refresh_token_families_revoked_total",
			Help: "Refresh token families revoked, by tenant and reason (reused, reused_older, client, families_per_user, or an administrator's reason).",
		}, []string{"tenant", "reason"}),
		quotaRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_refresh_token_quota_refusals_total",
			Help: "Logins that got no refresh token because their tenant held its quota of families, by tenant.",
		}, []string{"tenant"}),
		live: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gatehouse_tokenserver_refresh_token_families",
			Help: "Live refresh token families, by tenant, as of the last collection.",
		}, []string{"tenant"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.issued, m.rotated, m.reused, m.revoked, m.quotaRefusals, m.live}
}

// setLive replaces the live-families gauge by live, so that a tenant gone is gone from it.
func (m *metrics) setLive(live map[string]int) {
	m.live.Reset()
	for tenant, n := range live {
		m.live.WithLabelValues(tenant).Set(float64(n))
	}
}
