package attack

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newClock() *fakeClock { return &fakeClock{t: time.Unix(1_800_000_000, 0)} }

// Limits the tests count against: ten attempts within a minute, or an hour.
var (
	perMinute = Limit{MaxAttempts: 10, CoolDown: time.Minute}
	perHour   = Limit{MaxAttempts: 10, CoolDown: time.Hour}
)

// mustAdd is Add, which must find room.
func mustAdd(t *testing.T, c Counters, key string, delta int, l Limit) int {
	t.Helper()
	n, err := c.Add(key, delta, l)
	if err != nil {
		t.Fatalf("Add(%q, %d): %v", key, delta, err)
	}
	return n
}

func TestMemoryCountsUntilTTLAfterLastAdd(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryOptions{Now: clock.now})
	for i := 1; i <= 3; i++ {
		if got := mustAdd(t, m, "k", 1, perMinute); got != i {
			t.Fatalf("Add #%d = %d, want %d", i, got, i)
		}
		clock.advance(50 * time.Second)
	}
	// The third Add was 50 s ago: its minute has not passed.
	if got, expires := m.Get("k", perMinute); got != 3 || !expires.Equal(clock.t.Add(10*time.Second)) {
		t.Fatalf("Get 50 s after the last Add = %d, expiring %v; want 3, expiring in 10 s", got, expires.Sub(clock.t))
	}
	clock.advance(10 * time.Second)
	if got, _ := m.Get("k", perMinute); got != 0 {
		t.Fatalf("Get a ttl after the last Add = %d, want 0", got)
	}
	if got := mustAdd(t, m, "k", 1, perMinute); got != 1 {
		t.Fatalf("Add after expiry = %d, want a fresh count of 1", got)
	}
}

func TestMemoryReturnedAttemptsNeverGoNegativeOrExtend(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryOptions{Now: clock.now})
	if got := mustAdd(t, m, "absent", -1, perMinute); got != 0 {
		t.Fatalf("returning to an absent key = %d, want 0", got)
	}
	mustAdd(t, m, "k", 2, perMinute)
	clock.advance(30 * time.Second)
	if got := mustAdd(t, m, "k", -5, perHour); got != 0 {
		t.Fatalf("returning more than counted = %d, want 0", got)
	}
	mustAdd(t, m, "k", 1, perMinute)
	clock.advance(30 * time.Second)
	mustAdd(t, m, "k", -1, perHour)
	if got := mustAdd(t, m, "k", 1, perMinute); got != 1 {
		t.Fatalf("count after return and add = %d, want 1", got)
	}
}

func TestMemoryResetByPrefix(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	keys := []string{"t1/u/alice/ip1/", "t1/u/alice/ip2/", "t1/u/bob/ip1/", "t2/u/alice/ip1/", "/unblock/t1/x/", "untenanted"}
	tests := []struct {
		prefix  string
		cleared []string
	}{
		{"t1/u/alice/", []string{"t1/u/alice/ip1/", "t1/u/alice/ip2/"}},
		{"t1/", []string{"t1/u/alice/ip1/", "t1/u/alice/ip2/", "t1/u/bob/ip1/"}},
		{"/unblock/t1/", []string{"/unblock/t1/x/"}},
		// Prefixes that name no tenant look at every tenant's keys.
		{"t", []string{"t1/u/alice/ip1/", "t1/u/alice/ip2/", "t1/u/bob/ip1/", "t2/u/alice/ip1/"}},
		{"/", []string{"/unblock/t1/x/"}},
		{"", keys},
	}
	for _, tc := range tests {
		for _, k := range keys {
			m.Reset(k)
			mustAdd(t, m, k, 1, perHour)
		}
		m.Reset(tc.prefix)
		for _, k := range keys {
			want := 1
			if slices.Contains(tc.cleared, k) {
				want = 0
			}
			if got, _ := m.Get(k, perHour); got != want {
				t.Errorf("Reset(%q): Get(%q) = %d, want %d", tc.prefix, k, got, want)
			}
		}
	}
}

func TestMemoryMergeKeepsTheLargerCountAndLaterExpiry(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryOptions{Now: clock.now})
	mustAdd(t, m, "both", 3, perMinute)
	mustAdd(t, m, "mine", 2, perMinute)
	later := clock.t.Add(2 * time.Minute)
	if refused := m.Merge([]Entry{
		{Key: "both", N: 5, Expires: later, Lifetime: time.Hour, BlocksAt: 10},
		{Key: "theirs", N: 4, Expires: later, Lifetime: time.Hour, BlocksAt: 10},
		{Key: "expired", N: 9, Expires: clock.t, Lifetime: time.Hour, BlocksAt: 10},
		{Key: "mine", N: 1, Expires: clock.t.Add(time.Second), Lifetime: time.Minute, BlocksAt: 10},
	}); refused != 0 {
		t.Errorf("Merge refused %d entries", refused)
	}
	want := map[string]struct {
		n       int
		expires time.Time
	}{
		"both":    {5, later},
		"theirs":  {4, later},
		"expired": {0, time.Time{}},
		"mine":    {2, clock.t.Add(time.Minute)},
	}
	for k, w := range want {
		if n, expires := m.Get(k, perMinute); n != w.n || !expires.Equal(w.expires) {
			t.Errorf("Get(%q) after Merge = %d expiring %v, want %d expiring %v", k, n, expires, w.n, w.expires)
		}
	}
	if entries, _, more := m.Page("", DefaultTenantBudget); len(entries) != 3 || more {
		t.Errorf("Page after Merge: %d entries, more %v; want 3 (the expired one left out), no more", len(entries), more)
	}
}

// TestMemoryPagesWholeTenants hands counts over in pages of whole tenants.
func TestMemoryPagesWholeTenants(t *testing.T) {
	m := NewMemory(MemoryOptions{})
	sizes := map[string]int{"a": 3, "b": 1, "c": 2, "d": 4}
	for uid, n := range sizes {
		for i := range n {
			mustAdd(t, m, fmt.Sprintf("%s/%d/", uid, i), 1, perHour)
		}
	}
	var pages [][]string
	for from, more := "", true; more; {
		var entries []Entry
		entries, from, more = m.Page(from, 4)
		var tenants []string
		for _, e := range entries {
			if uid := tenantOfKey(e.Key); !slices.Contains(tenants, uid) {
				tenants = append(tenants, uid)
			}
		}
		pages = append(pages, tenants)
		if len(pages) > len(sizes) {
			t.Fatalf("pages do not end: %v", pages)
		}
	}
	if want := [][]string{{"a", "b"}, {"c"}, {"d"}}; !slices.EqualFunc(pages, want, slices.Equal) {
		t.Errorf("pages of at most 4 entries hold tenants %v, want %v", pages, want)
	}
}

// fullReports collects what a Memory reports.
type fullReports []Full

func (r *fullReports) report(f Full) { *r = append(*r, f) }

func TestBudget(t *testing.T) {
	blocking := Limit{MaxAttempts: 2, CoolDown: time.Hour}
	short := Limit{MaxAttempts: 10, CoolDown: time.Minute}
	type step struct {
		key     string
		delta   int
		limit   Limit
		advance time.Duration // before the step
		get     bool          // Get rather than Add
		refused bool          // Add returns a FullError
	}
	tests := []struct {
		name string
		// The Memory holds at most budget keys per tenant (3 when zero) and limit in all.
		budget, limit int
		steps         []step
		// want are the keys counted at the end; reports what Report was told.
		want    []string
		reports []Full
	}{
		{
			name: "the least recently raised count goes",
			steps: []step{
				{key: "a/1/", limit: perHour}, {key: "a/2/", limit: perHour}, {key: "a/3/", limit: perHour},
				{key: "a/1/", limit: perHour, advance: time.Second}, // raised again: now the most recent
				{key: "a/4/", limit: perHour},
				{key: "a/5/", limit: perHour},
			},
			want:    []string{"a/1/", "a/4/", "a/5/"},
			reports: []Full{{"a", BoundTenant, OutcomeEvicted}, {"a", BoundTenant, OutcomeEvicted}},
		},
		{
			name: "an expired count goes before an older one that has not",
			steps: []step{
				{key: "a/old/", limit: perHour}, {key: "a/short/", limit: short, advance: time.Second}, {key: "a/3/", limit: perHour},
				{key: "a/new/", limit: perHour, advance: time.Minute},
			},
			want:    []string{"a/old/", "a/3/", "a/new/"},
			reports: []Full{{"a", BoundTenant, OutcomeExpired}},
		},
		{
			name: "a count that blocks is never given up",
			steps: []step{
				{key: "a/blocks/", delta: 2, limit: blocking}, {key: "a/2/", limit: perHour}, {key: "a/3/", limit: perHour},
				{key: "a/4/", limit: perHour}, {key: "a/5/", limit: perHour}, {key: "a/6/", limit: perHour},
			},
			want: []string{"a/blocks/", "a/5/", "a/6/"},
			reports: []Full{
				{"a", BoundTenant, OutcomeEvicted}, {"a", BoundTenant, OutcomeEvicted}, {"a", BoundTenant, OutcomeEvicted},
			},
		},
		{
			name: "when every count blocks, a new key is refused until one expires",
			steps: []step{
				{key: "a/1/", delta: 2, limit: blocking}, {key: "a/2/", delta: 2, limit: blocking, advance: time.Minute},
				{key: "a/3/", delta: 2, limit: blocking},
				{key: "a/new/", limit: perHour, advance: time.Minute, refused: true},
				{key: "a/new/", limit: perHour, advance: 58 * time.Minute},
			},
			want:    []string{"a/2/", "a/3/", "a/new/"},
			reports: []Full{{"a", BoundTenant, OutcomeRefused}, {"a", BoundTenant, OutcomeExpired}},
		},
		{
			name: "a count that stops blocking may go again",
			steps: []step{
				{key: "a/1/", delta: 2, limit: blocking}, {key: "a/2/", delta: 2, limit: blocking}, {key: "a/3/", delta: 2, limit: blocking},
				{key: "a/1/", delta: -1, limit: blocking}, // an attempt given back
				{key: "a/new/", limit: perHour},
			},
			want:    []string{"a/2/", "a/3/", "a/new/"},
			reports: []Full{{"a", BoundTenant, OutcomeEvicted}},
		},
		{
			name: "a count that blocks under a lowered limit is kept",
			steps: []step{
				{key: "a/1/", limit: perHour}, {key: "a/2/", limit: perHour}, {key: "a/3/", limit: perHour},
				{key: "a/1/", get: true, limit: Limit{MaxAttempts: 1, CoolDown: time.Hour}},
				{key: "a/new/", limit: perHour},
			},
			want:    []string{"a/1/", "a/3/", "a/new/"},
			reports: []Full{{"a", BoundTenant, OutcomeEvicted}},
		},
		{
			name: "a spray in one tenant recycles its own counts only",
			steps: []step{
				{key: "b/1/", limit: perHour}, {key: "b/2/", limit: perHour},
				{key: "a/1/", limit: perHour}, {key: "a/2/", limit: perHour}, {key: "a/3/", limit: perHour},
				{key: "a/4/", limit: perHour}, {key: "a/5/", limit: perHour},
			},
			want:    []string{"b/1/", "b/2/", "a/3/", "a/4/", "a/5/"},
			reports: []Full{{"a", BoundTenant, OutcomeEvicted}, {"a", BoundTenant, OutcomeEvicted}},
		},
		{
			name:   "a full process takes room from the tenant that holds the most",
			budget: 4, limit: 6,
			steps: []step{
				{key: "a/1/", limit: perHour}, {key: "a/2/", limit: perHour}, {key: "a/3/", limit: perHour}, {key: "a/4/", limit: perHour},
				{key: "b/1/", limit: perHour}, {key: "c/1/", limit: perHour},
				{key: "b/2/", limit: perHour}, {key: "c/2/", limit: perHour},
			},
			want:    []string{"a/3/", "a/4/", "b/1/", "b/2/", "c/1/", "c/2/"},
			reports: []Full{{"a", BoundProcess, OutcomeEvicted}, {"a", BoundProcess, OutcomeEvicted}},
		},
		{
			name:  "a full process whose largest tenant's counts all block takes room from the tenant asking",
			limit: 4,
			steps: []step{
				{key: "a/1/", delta: 2, limit: blocking}, {key: "a/2/", delta: 2, limit: blocking}, {key: "a/3/", delta: 2, limit: blocking},
				{key: "b/1/", limit: perHour},
				{key: "b/2/", limit: perHour},
			},
			want:    []string{"a/1/", "a/2/", "a/3/", "b/2/"},
			reports: []Full{{"b", BoundProcess, OutcomeEvicted}},
		},
		{
			name:  "a full process refuses a key when the largest tenant's counts and the asking tenant's all block",
			limit: 4,
			steps: []step{
				{key: "a/1/", delta: 2, limit: blocking}, {key: "a/2/", delta: 2, limit: blocking}, {key: "a/3/", delta: 2, limit: blocking},
				{key: "b/1/", delta: 2, limit: blocking},
				{key: "b/2/", limit: perHour, refused: true},
			},
			want:    []string{"a/1/", "a/2/", "a/3/", "b/1/"},
			reports: []Full{{"b", BoundProcess, OutcomeRefused}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := newClock()
			var reports fullReports
			m := NewMemory(MemoryOptions{TenantBudget: cmp.Or(tc.budget, 3), Limit: tc.limit, Now: clock.now, Report: reports.report})
			for i, s := range tc.steps {
				clock.advance(s.advance)
				if s.get {
					m.Get(s.key, s.limit)
					continue
				}
				_, err := m.Add(s.key, cmp.Or(s.delta, 1), s.limit)
				if full, ok := errors.AsType[*FullError](err); ok != s.refused || (ok && full.RetryAfter < time.Second) {
					t.Fatalf("step %d: Add(%q) = %v, want refused %v", i, s.key, err, s.refused)
				}
			}
			var counted []string
			for k := range m.counts {
				if n, _ := m.Get(k, perHour); n > 0 {
					counted = append(counted, k)
				}
			}
			slices.Sort(counted)
			if want := slices.Sorted(slices.Values(tc.want)); !slices.Equal(counted, want) {
				t.Errorf("counted %v, want %v", counted, want)
			}
			if !slices.Equal(reports, tc.reports) {
				t.Errorf("reported %v, want %v", reports, tc.reports)
			}
		})
	}
}

// TestBudgetRefusalWaitsForTheFirstExpiry: a refused key is told when room frees.
func TestBudgetRefusalWaitsForTheFirstExpiry(t *testing.T) {
	clock := newClock()
	m := NewMemory(MemoryOptions{TenantBudget: 2, Now: clock.now})
	blocking := Limit{MaxAttempts: 1, CoolDown: time.Hour}
	mustAdd(t, m, "a/1/", 1, blocking)
	clock.advance(10 * time.Minute)
	mustAdd(t, m, "a/2/", 1, Limit{MaxAttempts: 1, CoolDown: 15 * time.Minute})
	clock.advance(time.Minute)
	_, err := m.Add("a/3/", 1, perHour)
	if full, ok := errors.AsType[*FullError](err); !ok || full.Bound != BoundTenant || full.RetryAfter != 14*time.Minute {
		t.Errorf("Add to a tenant whose counts all block: %v, want a FullError of the tenant retrying after 14m", err)
	}
}

// TestBudgetSprayCannotCrowdOutAnotherTenant sprays one tenant with many times the
// process's limit of new keys: another tenant keeps every count, blocking or not.
func TestBudgetSprayCannotCrowdOutAnotherTenant(t *testing.T) {
	clock := newClock()
	// The sprayers fill the process when they hold more than the victim each.
	m := NewMemory(MemoryOptions{TenantBudget: 100, Limit: 400, Now: clock.now})
	blocking := Limit{MaxAttempts: 3, CoolDown: time.Hour}
	var victims []string
	for i := range 50 {
		key := fmt.Sprintf("victim/%d/", i)
		mustAdd(t, m, key, 1+i%3, blocking) // a third of them block
		victims = append(victims, key)
	}
	for i := range 2_500 {
		// The attacker's keys over several tenants of its own, so that the process is full.
		key := fmt.Sprintf("spray-%d/%d/", i%4, i)
		if _, err := m.Add(key, 1, perHour); err != nil {
			t.Fatalf("spray key %d refused: %v", i, err)
		}
		if len(m.counts) > 400 {
			t.Fatalf("holding %d keys after %d spray keys, limit 400", len(m.counts), i+1)
		}
	}
	for i, key := range victims {
		if n, _ := m.Get(key, blocking); n != 1+i%3 {
			t.Errorf("after the spray, %s counts %d, want %d", key, n, 1+i%3)
		}
	}
	// The victim still counts new keys, taking room from the sprayers.
	mustAdd(t, m, "victim/new/", 1, blocking)
}

// BenchmarkMemoryFull measures the Add of a new key to a tenant at its budget in a full
// process, and what a key costs in memory.
func BenchmarkMemoryFull(b *testing.B) {
	m := NewMemory(MemoryOptions{})
	key := func(tenant, user int) string {
		return UserIPKey(Login{Tenant: fmt.Sprintf("%08d-0000-4000-8000-000000000000", tenant),
			Connection: "users", Username: fmt.Sprint(user), IP: netip.AddrFrom4([4]byte{192, 0, 2, byte(user)})})
	}
	before := heapInUse()
	for i := range DefaultMemoryLimit {
		if _, err := m.Add(key(i/DefaultTenantBudget, i), 1, perHour); err != nil {
			b.Fatal(err)
		}
	}
	perKey := float64(heapInUse()-before) / DefaultMemoryLimit
	// Twice the budget, so that each has been given up by the time it comes again.
	fresh := make([]string, 2*DefaultTenantBudget)
	for i := range fresh {
		fresh[i] = key(0, DefaultMemoryLimit+i)
	}
	for i := 0; b.Loop(); i++ {
		if _, err := m.Add(fresh[i%len(fresh)], 1, perHour); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(perKey, "B/key")
}

func heapInUse() uint64 {
	runtime.GC()
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	return s.HeapInuse
}
