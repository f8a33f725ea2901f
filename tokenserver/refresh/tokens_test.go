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

// TestLimits: Issue past the tenant quota is ErrQuota, counted and logged with the
// tenant; past the families per user, the oldest go, counted as revoked.
func TestLimits(t *testing.T) {
	var logs strings.Builder
	tokens := refresh.New(refreshtest.NewMemory(), refresh.Options{TenantQuota: 3, FamiliesPerUser: 2, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	for i := range 4 {
		_, err := tokens.Issue(context.Background(), grant, refresh.Policy{})
		if want := i == 3; errors.Is(err, refresh.ErrQuota) != want {
			t.Errorf("issue %d: %v", i, err)
		}
	}
	if n := testutil.ToFloat64(collector(t, tokens, "gatehouse_tokenserver_refresh_token_quota_refusals_total")); n != 1 {
		t.Errorf("quota refusals %v, want 1", n)
	}
	revoked := collector(t, tokens, "gatehouse_tokenserver_refresh_token_families_revoked_total").(*prometheus.CounterVec)
	if n := testutil.ToFloat64(revoked.WithLabelValues(grant.Tenant, refresh.ReasonFamiliesPerUser)); n != 1 {
		t.Errorf("families revoked past the cap %v, want 1", n)
	}
	if !strings.Contains(logs.String(), "tenant="+grant.Tenant) || !strings.Contains(logs.String(), "quota") {
		t.Errorf("the refusal was not logged with its tenant:\n%s", logs.String())
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

	registry := prometheus.NewRegistry()
	registry.MustRegister(tokens.Collectors()...)
	live := collector(t, tokens, "gatehouse_tokenserver_refresh_token_families")
	done := make(chan error)
	go func() { done <- tokens.Run(ctx) }()
	waitFor(t, func() bool { return testutil.CollectAndCount(live) == 1 })
	if n := testutil.ToFloat64(live); n != 1 {
		t.Errorf("live families %v, want 1 (the others were reused and revoked)", n)
	}
	advance(2 * time.Hour)
	waitFor(t, func() bool { return testutil.CollectAndCount(live) == 0 })
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	for name, want := range map[string]float64{
		"gatehouse_tokenserver_refresh_tokens_issued_total":  3,
		"gatehouse_tokenserver_refresh_tokens_rotated_total": 1,
		"gatehouse_tokenserver_refresh_tokens_reused_total":  1,
	} {
		if got := testutil.ToFloat64(collector(t, tokens, name)); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	revoked := collector(t, tokens, "gatehouse_tokenserver_refresh_token_families_revoked_total").(*prometheus.CounterVec)
	for reason, want := range map[string]float64{refresh.ReasonReused: 1, refresh.ReasonClient: 1} {
		if got := testutil.ToFloat64(revoked.WithLabelValues("ns/t", reason)); got != want {
			t.Errorf("revoked for %s = %v, want %v", reason, got, want)
		}
	}
	if problems, err := testutil.GatherAndLint(registry); err != nil || len(problems) > 0 {
		t.Errorf("metrics lint: %v %v", problems, err)
	}
}

// collector is the collector of tokens named name.
func collector(t *testing.T, tokens *refresh.Tokens, name string) prometheus.Collector {
	t.Helper()
	for _, c := range tokens.Collectors() {
		descs := make(chan *prometheus.Desc, 1)
		c.Describe(descs)
		if strings.Contains((<-descs).String(), `"`+name+`"`) {
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
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
