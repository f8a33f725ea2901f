package hashlimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
)

// Checks in these tests weigh their memory: 10 KiB each unless said otherwise, in a
// budget of 100 KiB, with threads too light to matter.
const (
	testBudget = 100 << 10
	kib10      = 10
	// patience is how long a test waits for what must happen, and the MaxWait of
	// checks that must not time out.
	patience = 10 * time.Second
)

func testLimiter(maxWait time.Duration) *Limiter {
	return New(Config{Budget: testBudget, Threads: 1 << 20, MaxWait: maxWait, MaxQueued: 100})
}

func memory(kib int64) password.Cost { return password.Cost{MemoryKiB: kib, Threads: 1} }

// check is one Acquire running in the background.
type check struct {
	release func()
	err     error
	done    chan struct{}
}

func start(ctx context.Context, l *Limiter, tenant string, c password.Cost) *check {
	ch := &check{done: make(chan struct{})}
	go func() {
		defer close(ch.done)
		ch.release, ch.err = l.Acquire(ctx, tenant, c)
	}()
	return ch
}

// started reports whether the check was admitted, waiting for Acquire to return.
func (c *check) started(t *testing.T) bool {
	t.Helper()
	select {
	case <-c.done:
		return c.err == nil
	case <-time.After(patience):
		t.Fatalf("Acquire did not return within %v", patience)
		return false
	}
}

// acquire admits a check at once, or fails t.
func acquire(t *testing.T, l *Limiter, tenant string, c password.Cost) func() {
	t.Helper()
	release, err := l.Acquire(context.Background(), tenant, c)
	if err != nil {
		t.Fatalf("Acquire for %s: %v", tenant, err)
	}
	return release
}

// queued waits until n checks wait in l.
func queued(t *testing.T, l *Limiter, n int) {
	t.Helper()
	deadline := time.Now().Add(patience)
	for {
		l.mu.Lock()
		got := 0
		for _, t := range l.tenants {
			got += len(t.queue)
		}
		l.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d checks waiting, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// running fails t unless the check started, and ends it.
func running(t *testing.T, c *check, what string) {
	t.Helper()
	if !c.started(t) {
		t.Fatalf("%s: not started: %v", what, c.err)
	}
	c.release()
}

func TestWeight(t *testing.T) {
	l := New(Config{Budget: 256 << 20, Threads: 4})
	for _, tc := range []struct {
		name string
		cost password.Cost
		want int64
	}{
		{"memory above its thread's share", password.Cost{MemoryKiB: 100 << 10, Threads: 1}, 100 << 20},
		{"a thread above its memory (bcrypt)", password.Cost{MemoryKiB: 5, Threads: 1}, 64 << 20},
		{"threads above memory", password.Cost{MemoryKiB: 5, Threads: 2}, 128 << 20},
		{"never more than half the budget", password.Cost{MemoryKiB: 64 << 10, Threads: 4}, 128 << 20},
	} {
		if got := l.Weight(tc.cost); got != tc.want {
			t.Errorf("%s: weight %d MiB, want %d MiB", tc.name, got>>20, tc.want>>20)
		}
	}
}

// TestBudget: checks run while their weights fit in the budget; a release lets the
// next one start.
func TestBudget(t *testing.T) {
	l := testLimiter(patience)
	// Four tenants, so that the budget rather than a share is what limits.
	var releases []func()
	for _, tenant := range []string{"a", "b", "c", "d"} {
		releases = append(releases, acquire(t, l, tenant, memory(25)))
	}
	next := start(context.Background(), l, "e", memory(kib10))
	queued(t, l, 1)
	releases[0]()
	running(t, next, "a check once the budget has room")
	for _, r := range releases[1:] {
		r()
	}
	if l.used != 0 || len(l.tenants) != 0 {
		t.Errorf("after every release: %d bytes used, %d tenants", l.used, len(l.tenants))
	}
}

// TestFairShare: a tenant alone holds at most half the budget, so another tenant's
// first check starts at once; with three tenants active, the first one starts nothing
// until it holds less than a third.
func TestFairShare(t *testing.T) {
	l := testLimiter(patience)
	var a []func()
	for range 5 {
		a = append(a, acquire(t, l, "a", memory(kib10)))
	}
	aWaits := start(context.Background(), l, "a", memory(kib10))
	queued(t, l, 1)

	b := acquire(t, l, "b", memory(kib10)) // at once, past a's waiting check
	c := acquire(t, l, "c", memory(kib10))
	// a holds 50 KiB, over a third of the budget: it must drop to 20 KiB before it
	// may start another 10 KiB check.
	for i := range 2 {
		a[i]()
		queued(t, l, 1)
	}
	a[2]()
	running(t, aWaits, "a's check once a holds less than its share")
	b()
	c()
	a[3]()
	a[4]()
}

// TestTenantAloneUsesTheBudget: a tenant that no other tenant has joined for AloneAfter
// fills the whole budget; one that arrives waits for one of its checks to end, then
// goes first; the first tenant keeps to half of the budget until the other has been
// gone for AloneAfter.
func TestTenantAloneUsesTheBudget(t *testing.T) {
	now := time.Unix(0, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	const aloneAfter = time.Minute
	l := New(Config{Budget: testBudget, Threads: 1 << 20, MaxWait: patience, MaxQueued: 100, AloneAfter: aloneAfter, Now: clock})

	var a []func()
	for range 10 { // the whole budget
		a = append(a, acquire(t, l, "a", memory(kib10)))
	}
	aWaits := start(context.Background(), l, "a", memory(kib10))
	bWaits := start(context.Background(), l, "b", memory(kib10))
	queued(t, l, 2)
	a[0]()
	running(t, bWaits, "b's check once one of a's ends")
	queued(t, l, 1) // a is over its half now
	for _, release := range a[1:6] {
		release()
	}
	running(t, aWaits, "a's check once a holds less than half")

	// b is gone, but not for long enough: a, holding 40 KiB, keeps to half.
	atHalf := acquire(t, l, "a", memory(kib10))
	overHalf := start(context.Background(), l, "a", memory(kib10))
	queued(t, l, 1)
	advance(aloneAfter)
	alone := acquire(t, l, "a", memory(kib10)) // an event, after which a counts as alone
	running(t, overHalf, "a's check past half once a is alone")
	for _, release := range append(a[6:], atHalf, alone) {
		release()
	}
	if l.used != 0 || len(l.tenants) != 0 {
		t.Errorf("after every release: %d bytes used, %d tenants", l.used, len(l.tenants))
	}
}

// TestOneCheckOverTheShare: a tenant that holds nothing may start a check heavier than
// its share when the budget has room.
func TestOneCheckOverTheShare(t *testing.T) {
	l := testLimiter(patience)
	b := acquire(t, l, "b", memory(kib10))
	c := acquire(t, l, "c", memory(kib10))
	// Three tenants active: a's share is 33 KiB, its check weighs 50.
	release := acquire(t, l, "a", memory(50))
	release()
	b()
	c()
}

// TestHeavyCheckIsNotStarved: a check within its share that does not fit in the free
// budget holds back lighter checks that arrive after it.
func TestHeavyCheckIsNotStarved(t *testing.T) {
	l := testLimiter(patience)
	b := acquire(t, l, "b", memory(30))
	c := acquire(t, l, "c", memory(30))
	heavy := start(context.Background(), l, "a", memory(50)) // 40 KiB free
	queued(t, l, 1)
	light := start(context.Background(), l, "d", memory(kib10))
	queued(t, l, 2)
	b()
	running(t, heavy, "the heavy check once it fits")
	running(t, light, "the light check after it")
	c()
}

// TestTenantsTakeTurns: when room frees, a tenant that waits goes before one that was
// served more recently, however many checks that one queued earlier.
func TestTenantsTakeTurns(t *testing.T) {
	l := testLimiter(patience)
	a := acquire(t, l, "a", memory(50))
	var floods []*check
	for i := range 3 {
		floods = append(floods, start(context.Background(), l, "a", memory(50)))
		queued(t, l, i+1) // in this order
	}
	b := acquire(t, l, "b", memory(50))
	c := start(context.Background(), l, "c", memory(50))
	queued(t, l, 4)
	a()
	if !c.started(t) {
		t.Fatalf("c's check, queued after a's: %v", c.err)
	}
	queued(t, l, 3)
	b()
	c.release()
	for _, f := range floods {
		running(t, f, "a's checks in turn")
	}
}

// TestBoundedWait: a check that cannot start within MaxWait is refused, and so is one
// past MaxQueued; neither holds anything afterwards.
func TestBoundedWait(t *testing.T) {
	l := New(Config{Budget: testBudget, Threads: 1 << 20, MaxWait: 10 * time.Millisecond, MaxQueued: 1})
	var a []func()
	for range 5 {
		a = append(a, acquire(t, l, "a", memory(kib10)))
	}
	waits := start(context.Background(), l, "a", memory(kib10))
	queued(t, l, 1)
	_, err := l.Acquire(context.Background(), "a", memory(kib10))
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Reason != ReasonQueueFull {
		t.Errorf("a check past MaxQueued: %v, want a RefusedError %s", err, ReasonQueueFull)
	}
	if waits.started(t) || !errors.As(waits.err, &refused) || refused.Reason != ReasonTimeout || refused.RetryAfter <= 0 {
		t.Errorf("a check that waits past MaxWait: %v, want a RefusedError %s with a RetryAfter", waits.err, ReasonTimeout)
	}
	for _, r := range a {
		r()
	}
	if l.used != 0 || len(l.tenants) != 0 {
		t.Errorf("after the refusals and releases: %d bytes used, %d tenants holding or waiting", l.used, len(l.tenants))
	}
}

// TestCancellation: a waiting check whose context ends returns its error and leaves
// the queue, so that it never holds the budget.
func TestCancellation(t *testing.T) {
	l := testLimiter(patience)
	b := acquire(t, l, "b", memory(50))
	c := acquire(t, l, "c", memory(50))
	ctx, cancel := context.WithCancel(context.Background())
	waits := start(ctx, l, "a", memory(kib10))
	queued(t, l, 1)
	cancel()
	if waits.started(t) || !errors.Is(waits.err, context.Canceled) {
		t.Errorf("cancelled check: %v, want context.Canceled", waits.err)
	}
	b()
	c()
	if l.used != 0 || len(l.tenants) != 0 {
		t.Errorf("after the cancellation and releases: %d bytes used, %d tenants holding or waiting", l.used, len(l.tenants))
	}
}
