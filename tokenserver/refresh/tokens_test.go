package refresh_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh/refreshtest"
)

var grant = refresh.Grant{Tenant: "ns/t", TenantUID: "uid-t", ClientID: "c", Connection: "db", UserID: "alice", Subject: "db|alice"}

// TestUnavailable: a store that cannot be reached makes every operation ErrUnavailable.
func TestUnavailable(t *testing.T) {
	ctx := context.Background()
	store := refreshtest.NewMemory()
	tokens := refresh.New(store, refresh.Options{})
	token, err := tokens.Issue(ctx, grant, refresh.Policy{Rotation: true})
	if err != nil {
		t.Fatal(err)
	}
	store.Fail = errors.New("connection refused")
	if _, err := tokens.Issue(ctx, grant, refresh.Policy{}); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("Issue: %v", err)
	}
	if _, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, token, refresh.Policy{Rotation: true}); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("Refresh: %v", err)
	}
	if err := tokens.Revoke(ctx, grant.TenantUID, grant.ClientID, token); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("Revoke: %v", err)
	}
	if _, err := tokens.RevokeSubject(ctx, grant.TenantUID, grant.Subject, "admin"); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("RevokeSubject: %v", err)
	}
	store.Fail = nil
	if _, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, token, refresh.Policy{Rotation: true}); err != nil {
		t.Errorf("Refresh once the store is back: %v", err)
	}
}

// TestQuota: Issue past the tenant quota is ErrQuota.
func TestQuota(t *testing.T) {
	tokens := refresh.New(refreshtest.NewMemory(), refresh.Options{TenantQuota: 2})
	for i := range 3 {
		_, err := tokens.Issue(context.Background(), grant, refresh.Policy{})
		if want := i == 2; errors.Is(err, refresh.ErrQuota) != want {
			t.Errorf("issue %d: %v", i, err)
		}
	}
}

// TestRunAndMetrics: Run collects with the injected clock and sets the gauge; the
// counters count what Tokens did.
func TestRunAndMetrics(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mu := make(chan time.Time, 1)
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	mu <- now
	clock := func() time.Time { t := <-mu; mu <- t; return t }
	advance := func(d time.Duration) { t := <-mu; mu <- t.Add(d) }
	tokens := refresh.New(refreshtest.NewMemory(), refresh.Options{Now: clock, Log: slog.New(slog.DiscardHandler), CollectInterval: 10 * time.Millisecond})
	p := refresh.Policy{Rotation: true, AbsoluteLifetime: time.Hour, IdleLifetime: time.Hour}
	a, _ := tokens.Issue(ctx, grant, p)
	b, _ := tokens.Issue(ctx, grant, p)
	if _, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, a, p); err != nil {
		t.Fatal(err)
	}
	advance(time.Minute)
	if _, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, a, p); !errors.Is(err, refresh.ErrReused) {
		t.Fatal(err)
	}
	if err := tokens.Revoke(ctx, grant.TenantUID, grant.ClientID, b); err != nil {
		t.Fatal(err)
	}
	_, _ = tokens.Issue(ctx, grant, p)

	collectors := tokens.Collectors()
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors...)
	done := make(chan error)
	go func() { done <- tokens.Run(ctx) }()
	waitFor(t, func() bool { return testutil.CollectAndCount(collectors[4]) == 1 })
	if live := testutil.ToFloat64(collectors[4]); live != 1 {
		t.Errorf("live families %v, want 1 (the others were reused and revoked)", live)
	}
	advance(2 * time.Hour)
	waitFor(t, func() bool { return testutil.CollectAndCount(collectors[4]) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	for i, want := range []float64{3, 1, 1} { // issued, rotated, reused
		if got := testutil.ToFloat64(collectors[i]); got != want {
			t.Errorf("%s = %v, want %v", collectors[i].(*prometheus.CounterVec).WithLabelValues("ns/t").Desc(), got, want)
		}
	}
	revoked := collectors[3].(*prometheus.CounterVec)
	for reason, want := range map[string]float64{refresh.ReasonReused: 1, refresh.ReasonClient: 1} {
		if got := testutil.ToFloat64(revoked.WithLabelValues("ns/t", reason)); got != want {
			t.Errorf("revoked for %s = %v, want %v", reason, got, want)
		}
	}
	if problems, err := testutil.GatherAndLint(registry); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !ok(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// TestIssueRefusesAnAnonymousGrant: a family must have an owner.
func TestIssueRefusesAnAnonymousGrant(t *testing.T) {
	tokens := refresh.New(refreshtest.NewMemory(), refresh.Options{})
	for _, g := range []refresh.Grant{{TenantUID: "t", ClientID: "c"}, {TenantUID: "t", Subject: "s"}, {ClientID: "c", Subject: "s"}} {
		if token, err := tokens.Issue(context.Background(), g, refresh.Policy{}); err == nil || !strings.Contains(err.Error(), "without") {
			t.Errorf("Issue(%+v) = %q, %v", g, token, err)
		}
	}
}
