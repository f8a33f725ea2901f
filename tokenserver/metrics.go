package tokenserver

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the token server's request and attack protection metrics.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	blocked  *prometheus.CounterVec
	lockouts *prometheus.CounterVec
	// countersFull is reported by CountersReporter.
	countersFull *prometheus.CounterVec
	// checksRefused counts logins refused by the password-check limiter.
	checksRefused *prometheus.CounterVec
	// refreshesRefused counts refresh token requests refused by the store's limiter.
	refreshesRefused *prometheus.CounterVec
	// peerWaits and overruns count what attack protection does across replicas.
	peerWaits *prometheus.CounterVec
	overruns  *prometheus.CounterVec
	// issued counts tokens by grant type; clientAuthFailures failed client authentications.
	issued             *prometheus.CounterVec
	clientAuthFailures *prometheus.CounterVec
}

// NewMetrics returns unregistered request metrics; register Collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_requests_total",
			Help: "Requests by tenant, endpoint, grant type and outcome (success or the OAuth error code).",
		}, []string{"tenant", "endpoint", "grant", "outcome"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "gatehouse_tokenserver_request_duration_seconds",
			Help: "Request latency by endpoint and outcome.",
			// Password hashing makes successful logins take tens of milliseconds and
			// queueing behind it can take seconds.
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"endpoint", "outcome"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_login_attempts_blocked_total",
			Help: "Login attempts refused with too_many_attempts, by tenant and reason (brute_force or ip_throttling).",
		}, []string{"tenant", "reason"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_lockouts_total",
			Help: "Failed logins that reached a limit of attack protection, by tenant and reason (brute_force or ip_throttling).",
		}, []string{"tenant", "reason"}),
		countersFull: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_attack_counters_full_total",
			Help: "New failed-login counts that found a bound of this replica full, by tenant, bound (tenant: its budget; process: the replica's limit) and outcome (expired or evicted: the tenant gave up an expired count, or the oldest that blocked nothing; refused: every count blocks, and the attempt was refused).",
		}, []string{"tenant", "bound", "outcome"}),
		checksRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_password_checks_refused_total",
			Help: "Logins answered temporarily_unavailable because their tenant had too many password checks at once, by tenant and reason (timeout or queue_full).",
		}, []string{"tenant", "reason"}),
		refreshesRefused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_refresh_requests_refused_total",
			Help: "Refreshes and revocations answered temporarily_unavailable because their tenant had its share of the refresh token store's calls in flight, by tenant and reason (timeout or queue_full).",
		}, []string{"tenant", "reason"}),
		peerWaits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_login_peer_waits_total",
			Help: "Logins that took a failed-login count past this replica's share of its limit (the threshold divided by the replicas), and so waited for the peers' counts before being answered, by tenant.",
		}, []string{"tenant"}),
		overruns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_login_attempts_overrun_total",
			Help: "Login attempts refused with too_many_attempts after their password check, whatever the password, because the replicas together had reserved more attempts than a limit allows (a burst spread over replicas), by tenant and reason; also counted in gatehouse_tokenserver_login_attempts_blocked_total.",
		}, []string{"tenant", "reason"}),
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_tokens_issued_total",
			Help: "Access tokens issued, by tenant and grant type (password, password-realm, client_credentials).",
		}, []string{"tenant", "grant"}),
		clientAuthFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gatehouse_tokenserver_client_authentications_failed_total",
			Help: "Token requests whose client authentication failed, by tenant and method (client_secret, or client_assertion for a ServiceAccount token); failed secrets are counted by attack protection as failed logins of the client.",
		}, []string{"tenant", "method"}),
	}
}

// Collectors are the metrics to register.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.latency, m.blocked, m.lockouts, m.countersFull, m.checksRefused, m.refreshesRefused, m.peerWaits, m.overruns, m.issued, m.clientAuthFailures}
}

func (m *Metrics) observe(tenant, endpoint, grant, outcome string, d time.Duration) {
	m.requests.WithLabelValues(tenant, endpoint, grant, outcome).Inc()
	m.latency.WithLabelValues(endpoint, outcome).Observe(d.Seconds())
}
