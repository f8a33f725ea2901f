package tokenserver

import (
	"log/slog"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/attack"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
)

// countersLogInterval is how often at most a tenant's full bound is logged, per bound
// and outcome: a spray hits it at every attempt.
const countersLogInterval = time.Minute

// CountersReporter returns the attack.MemoryOptions.Report of a token server: it counts
// every new key that found a bound full in gatehouse_tokenserver_attack_counters_full_total
// and logs it, naming the tenant, at most once per countersLogInterval.
func CountersReporter(st *store.Store, metrics *Metrics, log *slog.Logger) func(attack.Full) {
	r := &countersReporter{store: st, metrics: metrics, log: log, now: time.Now, logged: map[attack.Full]time.Time{}}
	return r.report
}

type countersReporter struct {
	store   *store.Store
	metrics *Metrics
	log     *slog.Logger
	now     func() time.Time

	mu     sync.Mutex
	logged map[attack.Full]time.Time // when each was last logged
}

func (r *countersReporter) report(f attack.Full) {
	tenant := f.Tenant // a tenant this replica does not serve (yet) is named by its UID
	if t := r.store.ByUID(f.Tenant); t != nil {
		tenant = t.Name
	}
	r.metrics.countersFull.WithLabelValues(tenant, string(f.Bound), string(f.Outcome)).Inc()
	if !r.due(f) {
		return
	}
	switch f.Outcome {
	case attack.OutcomeRefused:
		r.log.Warn("attempt counters full: refusing logins that need a new count until a count that blocks expires",
			"tenant", tenant, "bound", f.Bound, "nextLogWithin", countersLogInterval.String())
	default:
		r.log.Info("attempt counters full: forgetting the oldest counts that block nothing",
			"tenant", tenant, "bound", f.Bound, "outcome", f.Outcome, "nextLogWithin", countersLogInterval.String())
	}
}

// due tells whether f is to be logged now, and remembers that it was.
func (r *countersReporter) due(f attack.Full) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	if last, ok := r.logged[f]; ok && now.Sub(last) < countersLogInterval {
		return false
	}
	r.logged[f] = now
	if len(r.logged) > maxCountersLogged {
		for k, last := range r.logged {
			if now.Sub(last) >= countersLogInterval {
				delete(r.logged, k)
			}
		}
	}
	return true
}

// maxCountersLogged is how many tenants' last log lines are remembered before those past
// the interval are forgotten.
const maxCountersLogged = 1_000
