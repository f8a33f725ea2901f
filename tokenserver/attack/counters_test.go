package attack

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemoryCountsUntilTTLAfterLastAdd(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(DefaultMemoryLimit, clock.now)
	for i := 1; i <= 3; i++ {
		if got := m.Add("k", 1, time.Minute); got != i {
			t.Fatalf("Add #%d = %d, want %d", i, got, i)
		}
		clock.advance(50 * time.Second)
	}
	// The third Add was 50 s ago: its minute has not passed.
	if got, expires := m.Get("k"); got != 3 || !expires.Equal(clock.t.Add(10*time.Second)) {
		t.Fatalf("Get 50 s after the last Add = %d, expiring %v; want 3, expiring in 10 s", got, expires.Sub(clock.t))
	}
	clock.advance(10 * time.Second)
	if got, _ := m.Get("k"); got != 0 {
		t.Fatalf("Get a ttl after the last Add = %d, want 0", got)
	}
	if got := m.Add("k", 1, time.Minute); got != 1 {
		t.Fatalf("Add after expiry = %d, want a fresh count of 1", got)
	}
}

func TestMemoryReturnedAttemptsNeverGoNegativeOrExtend(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(DefaultMemoryLimit, clock.now)
	if got := m.Add("absent", -1, time.Minute); got != 0 {
		t.Fatalf("returning to an absent key = %d, want 0", got)
	}
	m.Add("k", 2, time.Minute)
	clock.advance(30 * time.Second)
	if got := m.Add("k", -5, time.Hour); got != 0 {
		t.Fatalf("returning more than counted = %d, want 0", got)
	}
	m.Add("k", 1, time.Minute)
	clock.advance(30 * time.Second)
	m.Add("k", -1, time.Hour)
	if got := m.Add("k", 1, time.Minute); got != 1 {
		t.Fatalf("count after return and add = %d, want 1", got)
	}
}

func TestMemoryResetByPrefix(t *testing.T) {
	m := NewMemory(DefaultMemoryLimit, time.Now)
	for _, k := range []string{"t1/u/alice/ip1", "t1/u/alice/ip2", "t1/u/bob/ip1", "t2/u/alice/ip1"} {
		m.Add(k, 1, time.Hour)
	}
	m.Reset("t1/u/alice/")
	want := map[string]int{"t1/u/alice/ip1": 0, "t1/u/alice/ip2": 0, "t1/u/bob/ip1": 1, "t2/u/alice/ip1": 1}
	for k, n := range want {
		if got, _ := m.Get(k); got != n {
			t.Errorf("Get(%q) after Reset = %d, want %d", k, got, n)
		}
	}
}

func TestMemoryStaysWithinItsLimit(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(100, clock.now)
	for i := range 50 {
		m.Add(string(rune('a'+i%26))+string(rune(i)), 1, time.Second)
	}
	clock.advance(time.Second)
	for i := range 1_000 {
		m.Add(string(rune(i+1_000)), 1, time.Hour)
		if len(m.counts) > 100 {
			t.Fatalf("holding %d keys after %d adds, limit 100", len(m.counts), i+1)
		}
	}
}

func TestMemoryMergeKeepsTheLargerCountAndLaterExpiry(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	m := NewMemory(DefaultMemoryLimit, clock.now)
	m.Add("both", 3, time.Minute)
	m.Add("mine", 2, time.Minute)
	later := clock.t.Add(2 * time.Minute)
	m.Merge([]Entry{
		{Key: "both", N: 5, Expires: later},
		{Key: "theirs", N: 4, Expires: later},
		{Key: "expired", N: 9, Expires: clock.t},
		{Key: "mine", N: 1, Expires: clock.t.Add(time.Second)},
	})
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
		if n, expires := m.Get(k); n != w.n || !expires.Equal(w.expires) {
			t.Errorf("Get(%q) after Merge = %d expiring %v, want %d expiring %v", k, n, expires, w.n, w.expires)
		}
	}
	if got := len(m.Entries()); got != 3 {
		t.Errorf("Entries after Merge: %d, want 3 (the expired one left out)", got)
	}
}
