package attack

import (
	"container/heap"
	"container/list"
	"fmt"
	"slices"
	"time"
)

// What a Memory does when a new key finds a bound full.
//
// A tenant holds at most its budget of keys, and the process at most its limit. A new key
// of a tenant at its budget takes the room of one of that tenant's own keys; a new key
// when the process is full takes the room of a key of the tenant that holds the most.
// Either way the key given up is an expired one if there is any, else the one raised
// least recently of those that block nothing. A key that blocks logins is never given
// up: that would hand its attacker a fresh set of guesses. When every key of that tenant
// blocks, the new key is refused (FullError): counting it nowhere would let its guesses
// through unlimited, so the attempt is refused instead, until a blocking count expires.
//
// So a spray of new keys in one tenant recycles that tenant's own keys and cannot clear
// or crowd out another tenant's, and a key that blocks stays until it expires.
//
// The keys of a tenant wait in queues, one per lifetime (cool-down) and whether they
// block, each in the order the keys were last raised and so in the order they expire:
// the key to give up is at the front of one of a few queues, found without a scan.

// Bound names what a new key found full.
type Bound string

// Bounds of a Memory.
const (
	// BoundTenant is a tenant's budget (MemoryOptions.TenantBudget).
	BoundTenant Bound = "tenant"
	// BoundProcess is the process's limit (MemoryOptions.Limit).
	BoundProcess Bound = "process"
)

// Outcome is what made room for a new key, or that nothing could.
type Outcome string

// Outcomes at a full bound.
const (
	// OutcomeExpired dropped an expired count, which held nothing.
	OutcomeExpired Outcome = "expired"
	// OutcomeEvicted dropped the count raised least recently of those that block nothing.
	OutcomeEvicted Outcome = "evicted"
	// OutcomeRefused dropped nothing, as every count blocks: the new key is not counted
	// and its attempt is refused.
	OutcomeRefused Outcome = "refused"
)

// Full tells that a new key found a bound full.
type Full struct {
	// Tenant is the UID of the tenant that gave up a count, or whose key was refused.
	Tenant  string
	Bound   Bound
	Outcome Outcome
}

// FullError is Add's error for a key that found no room (OutcomeRefused).
type FullError struct {
	Bound Bound
	// RetryAfter is how long until the first of the counts that hold the room expires,
	// at least a second.
	RetryAfter time.Duration
}

func (e *FullError) Error() string {
	return fmt.Sprintf("no room for a new attempt count: every count within the %s bound blocks logins", e.Bound)
}

// count is one key's count.
type count struct {
	key     string
	n       int
	expires time.Time
	// lifetime is the cool-down of the Add that last raised the count, and blocksAt the
	// count from which it blocks logins (0: never).
	lifetime time.Duration
	blocksAt int
	// generation is the Memory's number of the count's creation (see
	// Memory.Generation).
	generation uint64

	tenant *tenantCounts
	queue  *queue
	elem   *list.Element
}

func (c *count) expired(now time.Time) bool { return !now.Before(c.expires) }
func (c *count) blocks() bool               { return c.blocksAt > 0 && c.n >= c.blocksAt }
func (c *count) raised() time.Time          { return c.expires.Add(-c.lifetime) }

// queueKey names one of a tenant's queues.
type queueKey struct {
	lifetime time.Duration
	blocking bool
}

// queue is one of a tenant's queues: never empty.
type queue struct {
	key queueKey
	list.List
}

// tenantCounts are the counts of one tenant.
type tenantCounts struct {
	uid  string
	size int
	// queues are few: one per cool-down the tenant's limits have had within a cool-down.
	queues []*queue
	index  int // in Memory.bySize
}

// each calls f for every count of t; f may remove the count it is given.
func (t *tenantCounts) each(f func(*count)) {
	for _, q := range slices.Clone(t.queues) {
		for e := q.Front(); e != nil; {
			next := e.Next()
			f(e.Value.(*count))
			e = next
		}
	}
}

// fronts calls f for the front of each queue: the key of that queue that expires first
// and was raised least recently.
func (t *tenantCounts) fronts(f func(*count)) {
	for _, q := range t.queues {
		f(q.Front().Value.(*count))
	}
}

// queueOf returns t's queue k, adding it when t has none.
func (t *tenantCounts) queueOf(k queueKey) *queue {
	for _, q := range t.queues {
		if q.key == k {
			return q
		}
	}
	q := &queue{key: k}
	t.queues = append(t.queues, q)
	return q
}

// leave takes c out of its queue, and drops the queue when that empties it.
func (t *tenantCounts) leave(c *count) {
	q := c.queue
	q.Remove(c.elem)
	if q.Len() == 0 {
		t.queues = slices.DeleteFunc(t.queues, func(other *queue) bool { return other == q })
	}
	c.queue, c.elem = nil, nil
}

// giveUp returns the count t gives up for a new key: an expired one, else the one raised
// least recently of those that block nothing; nil when every count blocks.
func (t *tenantCounts) giveUp(now time.Time) (c *count, outcome Outcome) {
	t.fronts(func(f *count) {
		switch {
		case outcome == OutcomeExpired:
		case f.expired(now):
			c, outcome = f, OutcomeExpired
		case !f.queue.key.blocking && (c == nil || f.raised().Before(c.raised())):
			c, outcome = f, OutcomeEvicted
		}
	})
	return c, outcome
}

// firstExpiry is when the first of t's counts expires.
func (t *tenantCounts) firstExpiry() time.Time {
	var first time.Time
	t.fronts(func(f *count) {
		if first.IsZero() || f.expires.Before(first) {
			first = f.expires
		}
	})
	return first
}

// makeRoom makes room for a new key of the tenant uid, if a bound is full; see Full. It
// returns the zero Full when none is.
func (m *Memory) makeRoom(uid string, now time.Time) (Full, error) {
	from, bound := m.tenants[uid], BoundTenant
	switch {
	case from != nil && from.size >= m.tenantBudget:
	case len(m.counts) >= m.limit:
		from, bound = m.bySize[0], BoundProcess
	default:
		return Full{}, nil
	}
	c, outcome := from.giveUp(now)
	if own := m.tenants[uid]; c == nil && own != nil && own != from {
		// The largest tenant's counts all block: the tenant asking gives up one of its
		// own rather than be refused for another's lockouts.
		if c, outcome = own.giveUp(now); c != nil {
			from = own
		}
	}
	if c == nil {
		retry := max(from.firstExpiry().Sub(now), time.Second)
		return Full{Tenant: uid, Bound: bound, Outcome: OutcomeRefused}, &FullError{Bound: bound, RetryAfter: retry}
	}
	m.remove(c)
	return Full{Tenant: from.uid, Bound: bound, Outcome: outcome}, nil
}

// update files c, new or changed, in the queue its lifetime and blocking say, in the
// order of when it was raised; a count of zero is dropped, as it holds nothing.
func (m *Memory) update(c *count) {
	switch {
	case c.n <= 0:
		if c.tenant != nil {
			m.remove(c)
		}
		return
	case c.tenant == nil:
		m.add1(c)
	case c.inPlace():
		return
	}
	k := queueKey{lifetime: c.lifetime, blocking: c.blocks()}
	if c.queue != nil && c.queue.key == k {
		if after := placeIn(&c.queue.List, c); after == nil {
			c.queue.MoveToFront(c.elem)
		} else {
			c.queue.MoveAfter(c.elem, after)
		}
		return
	}
	if c.queue != nil {
		c.tenant.leave(c)
	}
	c.queue = c.tenant.queueOf(k)
	if after := placeIn(&c.queue.List, c); after == nil {
		c.elem = c.queue.PushFront(c)
	} else {
		c.elem = c.queue.InsertAfter(c, after)
	}
}

// inPlace tells whether c is still where its queue and order say.
func (c *count) inPlace() bool {
	if c.queue.key != (queueKey{lifetime: c.lifetime, blocking: c.blocks()}) {
		return false
	}
	prev, next := c.elem.Prev(), c.elem.Next()
	return (prev == nil || !prev.Value.(*count).raised().After(c.raised())) &&
		(next == nil || !c.raised().After(next.Value.(*count).raised()))
}

// placeIn returns the element of q, which is in the order of when its counts were raised,
// that c belongs right after (nil: at the front): the last raised no later than c, c's
// own element aside. It looks from both ends: a count is usually raised now, after every
// other, and one whose limit changed is placed in at most half the queue.
func placeIn(q *list.List, c *count) *list.Element {
	raised := c.raised()
	later := func(e *list.Element) bool { return e.Value.(*count).raised().After(raised) }
	for back, front := q.Back(), q.Front(); back != nil; back, front = back.Prev(), front.Next() {
		if back != c.elem && !later(back) {
			return back
		}
		if front != c.elem && later(front) {
			return front.Prev()
		}
	}
	return nil
}

// add1 counts c as a key of its tenant, which it does not hold yet.
func (m *Memory) add1(c *count) {
	uid := tenantOfKey(c.key)
	t := m.tenants[uid]
	if t == nil {
		t = &tenantCounts{uid: uid}
		m.tenants[uid] = t
		heap.Push(&m.bySize, t)
	}
	t.size++
	heap.Fix(&m.bySize, t.index)
	c.tenant = t
	m.counts[c.key] = c
}

// remove forgets c.
func (m *Memory) remove(c *count) {
	t := c.tenant
	t.leave(c)
	delete(m.counts, c.key)
	c.tenant = nil
	t.size--
	if t.size == 0 {
		heap.Remove(&m.bySize, t.index)
		delete(m.tenants, t.uid)
		return
	}
	heap.Fix(&m.bySize, t.index)
}

// tenantsBySize is a heap.Interface of tenants, the one holding the most keys first.
type tenantsBySize []*tenantCounts

func (h tenantsBySize) Len() int           { return len(h) }
func (h tenantsBySize) Less(i, j int) bool { return h[i].size > h[j].size }
func (h tenantsBySize) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *tenantsBySize) Push(x any) {
	t := x.(*tenantCounts)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *tenantsBySize) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return t
}
