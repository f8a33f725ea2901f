// Package refreshtest holds what every refresh.Store must do, as a conformance suite
// that each store's tests run (Run), and Memory, the store of one process's memory.
package refreshtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/refresh"
)

// PageSize is the largest page a store under Run may list with: Run creates more
// families than that, so that Collect pages.
const PageSize = 10

// Run runs the conformance suite against the stores open returns: each subtest opens
// its own, which may share the backing database or namespace with the others (tenant
// UIDs are unique per subtest) but must list at most PageSize families a page.
func Run(t *testing.T, open func(t *testing.T) refresh.Store) {
	t.Helper()
	for _, c := range []struct {
		name string
		test func(*testing.T, refresh.Store)
	}{
		{"CreateAndGet", testCreateAndGet},
		{"CompareAndSwap", testCompareAndSwap},
		{"CompareAndSwapRace", testCompareAndSwapRace},
		{"FamiliesPerUser", testFamiliesPerUser},
		{"NamespaceQuota", testNamespaceQuota},
		{"RevokeSubject", testRevokeSubject},
		{"RevokeTenant", testRevokeTenant},
		{"Collect", testCollect},
		{"Rotation", testRotation},
		{"WithoutRotation", testWithoutRotation},
		{"Expiry", testExpiry},
		{"Revoke", testRevoke},
		{"Replicas", testReplicas},
	} {
		t.Run(c.name, func(t *testing.T) { c.test(t, open(t)) })
	}
}

// epoch is the suite's start of time; stores keep times to the second at least.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// uniqueTenant is a tenant UID no other subtest (or earlier run on a shared store) uses.
func uniqueTenant(name string) string {
	return fmt.Sprintf("%s-%d-%d", name, time.Now().UnixNano(), next())
}

var counter struct {
	sync.Mutex
	n int
}

func next() int {
	counter.Lock()
	defer counter.Unlock()
	counter.n++
	return counter.n
}

// namespaceOf is the namespace of a tenant UID of the suite: one of its own, so that
// subtests sharing a store do not share a namespace's quota.
func namespaceOf(tenant string) string { return "ns-" + tenant }

// nameOf is the "<namespace>/<name>" of a tenant UID of the suite.
func nameOf(tenant string) string { return namespaceOf(tenant) + "/tenant" }

// family is a new family of tenant, client and subject created at created.
func family(tenant, client, subject string, created time.Time) *refresh.Family {
	n := next()
	hash := sha256.Sum256([]byte(strconv.Itoa(n)))
	return &refresh.Family{
		ID:     fmt.Sprintf("%016x%016x", time.Now().UnixNano(), n),
		Tenant: nameOf(tenant), Namespace: namespaceOf(tenant), TenantUID: tenant, ClientID: client, Subject: subject,
		Connection: "db", UserID: strings.TrimPrefix(subject, "db|"), Audience: "https://api",
		Scopes: []string{"openid", "offline_access"}, Credential: "sha256:" + strconv.Itoa(n),
		Created: created, ExpiresAt: created.Add(time.Hour), LastUsed: created, IdleExpiresAt: created.Add(30 * time.Minute),
		CurrentHash: hash[:],
	}
}

var roomy = refresh.Limits{FamiliesPerUser: refresh.MaxFamiliesPerUser, FamiliesPerNamespace: 1000}

func mustCreate(t *testing.T, s refresh.Store, f *refresh.Family, l refresh.Limits) {
	t.Helper()
	if _, err := s.Create(context.Background(), f, l); err != nil {
		t.Fatalf("Create %s: %v", f.ID, err)
	}
}

func mustGet(t *testing.T, s refresh.Store, tenant, id string) *refresh.Family {
	t.Helper()
	f, err := s.Get(context.Background(), tenant, id)
	if err != nil {
		t.Fatalf("Get %s: %v", id, err)
	}
	return f
}

func testCreateAndGet(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	tenant, other := uniqueTenant("a"), uniqueTenant("b")
	f := family(tenant, "client", "db|alice", epoch)
	f.PreviousHash = bytes.Repeat([]byte{9}, 32)
	f.OlderHashes = [][]byte{bytes.Repeat([]byte{8}, 32), bytes.Repeat([]byte{7}, 32)}
	f.SealedSuccessor = []byte("sealed")
	f.RotatedAt = epoch.Add(time.Second)
	f.Generation = 3
	mustCreate(t, s, f, roomy)
	if f.Version == "" {
		t.Fatal("Create set no Version")
	}
	got := mustGet(t, s, tenant, f.ID)
	if diff := diffFamilies(f, got); diff != "" {
		t.Errorf("Get returned another family than Create stored: %s", diff)
	}
	if _, err := s.Get(ctx, other, f.ID); !errors.Is(err, refresh.ErrNotFound) {
		t.Errorf("Get of another tenant's family: %v, want ErrNotFound", err)
	}
	if _, err := s.Get(ctx, tenant, "00000000000000000000000000000000"); !errors.Is(err, refresh.ErrNotFound) {
		t.Errorf("Get of an unknown family: %v, want ErrNotFound", err)
	}
}

func testCompareAndSwap(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	tenant := uniqueTenant("cas")
	f := family(tenant, "client", "db|alice", epoch)
	mustCreate(t, s, f, roomy)
	first := mustGet(t, s, tenant, f.ID)
	stale := mustGet(t, s, tenant, f.ID)

	first.Generation = 1
	first.PreviousHash, first.CurrentHash = first.CurrentHash, bytes.Repeat([]byte{0xee}, 32)
	first.LastUsed = epoch.Add(time.Minute)
	before := first.Version
	if err := s.CompareAndSwap(ctx, first); err != nil {
		t.Fatalf("CompareAndSwap: %v", err)
	}
	if first.Version == before {
		t.Error("CompareAndSwap kept the Version")
	}
	if diff := diffFamilies(first, mustGet(t, s, tenant, f.ID)); diff != "" {
		t.Errorf("after CompareAndSwap: %s", diff)
	}
	stale.Generation = 7
	if err := s.CompareAndSwap(ctx, stale); !errors.Is(err, refresh.ErrConflict) {
		t.Errorf("CompareAndSwap at a stale version: %v, want ErrConflict", err)
	}
	// A hostile tenant that learnt the family ID cannot write it.
	hostile := *first
	hostile.TenantUID = uniqueTenant("hostile")
	hostile.Revoked = epoch
	if err := s.CompareAndSwap(ctx, &hostile); !errors.Is(err, refresh.ErrNotFound) {
		t.Errorf("CompareAndSwap from another tenant: %v, want ErrNotFound", err)
	}
	if got := mustGet(t, s, tenant, f.ID); got.Generation != 1 || !got.Revoked.IsZero() {
		t.Errorf("family after refused swaps: generation %d, revoked %v; want 1, not revoked", got.Generation, got.Revoked)
	}
}

func testCompareAndSwapRace(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	tenant := uniqueTenant("race")
	f := family(tenant, "client", "db|alice", epoch)
	mustCreate(t, s, f, roomy)
	const racers = 8
	read := make([]*refresh.Family, racers)
	for i := range read {
		read[i] = mustGet(t, s, tenant, f.ID)
		read[i].Generation = i + 1
	}
	var wg sync.WaitGroup
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() { errs[i] = s.CompareAndSwap(ctx, read[i]) })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("racers %d and %d both swapped", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, refresh.ErrConflict):
			t.Errorf("racer %d: %v, want ErrConflict", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no racer swapped")
	}
	if got := mustGet(t, s, tenant, f.ID).Generation; got != winner+1 {
		t.Errorf("stored generation %d, want the winner's %d", got, winner+1)
	}
}

func testFamiliesPerUser(t *testing.T, s refresh.Store) {
	tenant := uniqueTenant("peruser")
	l := refresh.Limits{FamiliesPerUser: 3, FamiliesPerNamespace: 100}
	var alice []*refresh.Family
	for i := range 4 {
		f := family(tenant, "client", "db|alice", epoch.Add(time.Duration(i)*time.Second))
		revoked, err := s.Create(context.Background(), f, l)
		if want := max(0, i-2); err != nil || revoked != want {
			t.Fatalf("Create of family %d with a cap of 3: %d revoked, %v; want %d", i+1, revoked, err, want)
		}
		alice = append(alice, f)
	}
	// The same user with another client, and another user, have their own caps.
	otherClient := family(tenant, "other-client", "db|alice", epoch)
	bob := family(tenant, "client", "db|bob", epoch)
	mustCreate(t, s, otherClient, l)
	mustCreate(t, s, bob, l)

	if got := mustGet(t, s, tenant, alice[0].ID); got.Revoked.IsZero() || got.RevokedReason != refresh.ReasonFamiliesPerUser {
		t.Errorf("oldest of 4 families with a cap of 3: revoked %v (%q), want revoked for %q", got.Revoked, got.RevokedReason, refresh.ReasonFamiliesPerUser)
	}
	for _, f := range append(alice[1:], otherClient, bob) {
		if got := mustGet(t, s, tenant, f.ID); !got.Revoked.IsZero() {
			t.Errorf("family %s (%s, %s, created %v) revoked, want live", f.ID, f.ClientID, f.Subject, f.Created)
		}
	}
}

// testNamespaceQuota plays a hostile namespace user against the quota: the Tenants of
// one namespace share it, a Tenant deleted and recreated (a new UID) gets none back
// until its revoked families are collected, and another namespace is unaffected.
func testNamespaceQuota(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	l := refresh.Limits{FamiliesPerUser: 100, FamiliesPerNamespace: 3}
	first, second, recreated, victim := uniqueTenant("quota-a"), uniqueTenant("quota-b"), uniqueTenant("quota-a2"), uniqueTenant("quota-victim")
	inHostileNamespace := func(tenant, subject string, created time.Time) *refresh.Family {
		f := family(tenant, "client", subject, created)
		f.Namespace, f.Tenant = namespaceOf(first), namespaceOf(first)+"/"+tenant
		return f
	}
	mustCreate(t, s, inHostileNamespace(first, "db|user0", epoch), l)
	mustCreate(t, s, inHostileNamespace(first, "db|user1", epoch), l)
	mustCreate(t, s, inHostileNamespace(second, "db|user0", epoch), l)
	for _, tenant := range []string{first, second, recreated} {
		if _, err := s.Create(ctx, inHostileNamespace(tenant, "db|user9", epoch), l); !errors.Is(err, refresh.ErrQuota) {
			t.Errorf("Create in tenant %s past its namespace's quota: %v, want ErrQuota", tenant, err)
		}
	}
	// A namespace at its quota takes nothing from another.
	for i := range 3 {
		mustCreate(t, s, family(victim, "client", fmt.Sprintf("db|user%d", i), epoch), l)
	}
	// Revoked families count until they are collected: deleting a Tenant (which revokes
	// its families) and creating it again frees nothing before.
	if _, err := s.RevokeTenant(ctx, first, "tenant_deleted", epoch.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, inHostileNamespace(recreated, "db|user9", epoch.Add(time.Minute)), l); !errors.Is(err, refresh.ErrQuota) {
		t.Errorf("Create in a recreated tenant before collection: %v, want ErrQuota", err)
	}
	if _, err := s.Collect(ctx, epoch.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, inHostileNamespace(recreated, "db|user9", epoch.Add(time.Minute)), l)
	mustCreate(t, s, inHostileNamespace(recreated, "db|user8", epoch.Add(time.Minute)), l)
	if _, err := s.Create(ctx, inHostileNamespace(second, "db|user9", epoch.Add(time.Minute)), l); !errors.Is(err, refresh.ErrQuota) {
		t.Errorf("Create past the namespace's quota after collection: %v, want ErrQuota", err)
	}
	// Expired families do not count.
	mustCreate(t, s, inHostileNamespace(second, "db|user9", epoch.Add(2*time.Hour)), l)
}

// twoTenants creates, for the same subject, families in a victim tenant and in a
// hostile one, and returns them.
func twoTenants(t *testing.T, s refresh.Store) (victim, hostile string, victims, hostiles []*refresh.Family) {
	victim, hostile = uniqueTenant("victim"), uniqueTenant("hostile")
	for _, c := range []string{"c1", "c2"} {
		for _, subject := range []string{"db|alice", "db|bob"} {
			v := family(victim, c, subject, epoch)
			h := family(hostile, c, subject, epoch)
			mustCreate(t, s, v, roomy)
			mustCreate(t, s, h, roomy)
			victims, hostiles = append(victims, v), append(hostiles, h)
		}
	}
	return victim, hostile, victims, hostiles
}

func testRevokeSubject(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	victim, hostile, victims, hostiles := twoTenants(t, s)
	r, err := s.RevokeSubject(ctx, hostile, "db|alice", "admin", epoch.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != 2 || r.Tenant != nameOf(hostile) {
		t.Errorf("RevokeSubject: %+v, want 2 of %s", r, nameOf(hostile))
	}
	for _, f := range hostiles {
		got := mustGet(t, s, hostile, f.ID)
		if revoked := !got.Revoked.IsZero(); revoked != (f.Subject == "db|alice") {
			t.Errorf("%s of %s: revoked %v", f.ClientID, f.Subject, revoked)
		}
		if f.Subject == "db|alice" && got.RevokedReason != "admin" {
			t.Errorf("revoked for %q, want admin", got.RevokedReason)
		}
	}
	for _, f := range victims {
		if got := mustGet(t, s, victim, f.ID); !got.Revoked.IsZero() {
			t.Errorf("another tenant's RevokeSubject revoked the victim's family of %s", f.Subject)
		}
	}
	if r, err := s.RevokeSubject(ctx, hostile, "db|alice", "admin", epoch.Add(2*time.Minute)); err != nil || r.Count != 0 {
		t.Errorf("RevokeSubject again: %+v, %v; want none revoked", r, err)
	}
}

func testRevokeTenant(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	victim, hostile, victims, hostiles := twoTenants(t, s)
	r, err := s.RevokeTenant(ctx, hostile, "admin", epoch.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if r.Count != len(hostiles) {
		t.Errorf("RevokeTenant revoked %d, want %d", r.Count, len(hostiles))
	}
	for _, f := range hostiles {
		if got := mustGet(t, s, hostile, f.ID); got.Revoked.IsZero() {
			t.Errorf("family of %s not revoked", f.Subject)
		}
	}
	for _, f := range victims {
		if got := mustGet(t, s, victim, f.ID); !got.Revoked.IsZero() {
			t.Errorf("another tenant's RevokeTenant revoked the victim's family of %s", f.Subject)
		}
	}
}

func testCollect(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	tenant := uniqueTenant("collect")
	now := epoch.Add(45 * time.Minute)
	var live, expired []*refresh.Family
	for i := range 3*PageSize + 3 {
		created := epoch
		if i%3 == 0 {
			created = epoch.Add(30 * time.Minute) // idle expiry after now
		}
		f := family(tenant, "client", fmt.Sprintf("db|user%d", i), created)
		switch i % 3 {
		case 1:
			f.IdleExpiresAt = epoch.Add(40 * time.Minute) // idle before now
		case 2:
			f.ExpiresAt, f.IdleExpiresAt = epoch.Add(44*time.Minute), epoch.Add(30*time.Minute)
		}
		mustCreate(t, s, f, roomy)
		if f.Live(now) {
			live = append(live, f)
		} else {
			expired = append(expired, f)
		}
	}
	revoked := live[0]
	if _, err := s.RevokeSubject(ctx, tenant, revoked.Subject, "admin", epoch); err != nil {
		t.Fatal(err)
	}
	live = live[1:]
	c, err := s.Collect(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	// Stores shared between subtests may hold other subtests' families, expired at now.
	if c.Deleted < len(expired)+1 {
		t.Errorf("Collect deleted %d, want at least the %d expired and 1 revoked", c.Deleted, len(expired))
	}
	if c.Live[nameOf(tenant)] != len(live) {
		t.Errorf("Collect counted %d live families of the tenant, want %d", c.Live[nameOf(tenant)], len(live))
	}
	for _, f := range append(expired, revoked) {
		if _, err := s.Get(ctx, tenant, f.ID); !errors.Is(err, refresh.ErrNotFound) {
			t.Errorf("Get of a collected family: %v, want ErrNotFound", err)
		}
	}
	for _, f := range live {
		mustGet(t, s, tenant, f.ID)
	}
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// logs collects what Tokens logs, to check it never holds a token.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// flow is Tokens over s with its clock and logs.
type flow struct {
	tokens *refresh.Tokens
	clock  *clock
	logs   *logs
	grant  refresh.Grant
	store  refresh.Store
}

func newFlow(s refresh.Store) *flow {
	f := &flow{clock: &clock{now: epoch}, logs: &logs{}, store: s}
	f.tokens = f.replica()
	tenant := uniqueTenant("flow")
	f.grant = refresh.Grant{
		Tenant: nameOf(tenant), TenantUID: tenant, ClientID: "client", Connection: "db", UserID: "alice",
		Subject: "db|alice", Audience: "https://api", Scopes: []string{"openid", "offline_access"},
	}
	return f
}

// replica is another Tokens over the same store and clock: another token server.
func (f *flow) replica() *refresh.Tokens {
	return refresh.New(f.store, refresh.Options{Now: f.clock.Now, Log: slog.New(slog.NewTextHandler(f.logs, nil))})
}

func (f *flow) issue(t *testing.T, p refresh.Policy) string {
	t.Helper()
	token, err := f.tokens.Issue(context.Background(), f.grant, p)
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	return token
}

func (f *flow) refresh(t *testing.T, token string, p refresh.Policy) (refresh.Refreshed, error) {
	t.Helper()
	return f.tokens.Refresh(context.Background(), f.grant.TenantUID, f.grant.ClientID, token, p)
}

func (f *flow) mustRefresh(t *testing.T, token string, p refresh.Policy) string {
	t.Helper()
	r, err := f.refresh(t, token, p)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	return r.Token
}

// noTokenLogged fails t if the logs hold any of tokens or their secrets.
func (f *flow) noTokenLogged(t *testing.T, tokens ...string) {
	t.Helper()
	logged := f.logs.String()
	for _, token := range tokens {
		_, secret, _ := strings.Cut(token, ".")
		if strings.Contains(logged, secret) {
			t.Errorf("logs hold a refresh token: %s", logged)
		}
	}
}

var rotating = refresh.Policy{Rotation: true, ReuseInterval: 10 * time.Second, AbsoluteLifetime: 24 * time.Hour, IdleLifetime: time.Hour}

func testRotation(t *testing.T, s refresh.Store) {
	f := newFlow(s)
	first := f.issue(t, rotating)
	r, err := f.refresh(t, first, rotating)
	if err != nil {
		t.Fatal(err)
	}
	second := r.Token
	if second == first {
		t.Fatal("rotation answered the presented token")
	}
	if r.Family.Subject != f.grant.Subject || r.Family.Audience != f.grant.Audience || strings.Join(r.Family.Scopes, " ") != "openid offline_access" {
		t.Errorf("refreshed family %+v does not hold the grant", r.Family)
	}
	f.clock.Advance(5 * time.Second)
	if again := f.mustRefresh(t, first, rotating); again != second {
		t.Error("a retry within the reuse interval got another successor")
	}
	third := f.mustRefresh(t, second, rotating)
	f.clock.Advance(11 * time.Second)
	if _, err := f.refresh(t, second, rotating); !errors.Is(err, refresh.ErrReused) {
		t.Fatalf("the rotated-out token after the reuse interval: %v, want ErrReused", err)
	}
	if _, err := f.refresh(t, third, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
		t.Errorf("the current token of a family revoked by reuse: %v, want ErrInvalidToken", err)
	}
	if !strings.Contains(f.logs.String(), "reuse detected") {
		t.Errorf("reuse detection not logged: %s", f.logs.String())
	}
	f.noTokenLogged(t, first, second, third)

	// An older token than the previous one revokes too, a forged secret does not.
	g := newFlow(s)
	t0 := g.issue(t, rotating)
	t1 := g.mustRefresh(t, t0, rotating)
	g.clock.Advance(time.Minute)
	t2 := g.mustRefresh(t, t1, rotating)
	id, _, _ := strings.Cut(t2, ".")
	forged := id + "." + strings.Repeat("A", 43)
	if _, err := g.refresh(t, forged, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
		t.Errorf("a forged secret: %v, want ErrInvalidToken", err)
	}
	if _, err := g.refresh(t, t0, rotating); !errors.Is(err, refresh.ErrReused) {
		t.Errorf("a token two rotations old: %v, want ErrReused", err)
	}

	// Another tenant or client gets nothing from a token.
	h := newFlow(s)
	token := h.issue(t, rotating)
	for _, c := range []struct{ tenant, client string }{{uniqueTenant("hostile"), h.grant.ClientID}, {h.grant.TenantUID, "other-client"}} {
		if _, err := h.tokens.Refresh(context.Background(), c.tenant, c.client, token, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
			t.Errorf("refresh by tenant %s client %s: %v, want ErrInvalidToken", c.tenant, c.client, err)
		}
	}
	h.mustRefresh(t, token, rotating)
	for _, bad := range []string{"", "x", token + "x", strings.ToUpper(token)} {
		if _, err := h.refresh(t, bad, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
			t.Errorf("refresh of %q: %v, want ErrInvalidToken", bad, err)
		}
	}
}

func testWithoutRotation(t *testing.T, s refresh.Store) {
	p := refresh.Policy{AbsoluteLifetime: 24 * time.Hour, IdleLifetime: time.Hour}
	f := newFlow(s)
	token := f.issue(t, p)
	r, err := f.refresh(t, token, p)
	if err != nil {
		t.Fatal(err)
	}
	version := r.Family.Version
	f.clock.Advance(5 * time.Minute) // under a tenth of the idle lifetime
	r, err = f.refresh(t, token, p)
	if err != nil || r.Token != token {
		t.Fatalf("refresh without rotation: %v, token changed %v", err, r.Token != token)
	}
	if r.Family.Version != version {
		t.Error("a refresh without rotation wrote a fresh LastUsed")
	}
	f.clock.Advance(2 * time.Minute) // past a tenth
	if r, err = f.refresh(t, token, p); err != nil {
		t.Fatal(err)
	}
	if got := mustGet(t, s, f.grant.TenantUID, r.Family.ID); !got.LastUsed.Equal(epoch.Add(7*time.Minute)) || got.Version == version {
		t.Errorf("a stale LastUsed was not written: %v", got.LastUsed)
	}
	f.clock.Advance(59 * time.Minute) // within the idle lifetime of the last write
	f.mustRefresh(t, token, p)
}

func testExpiry(t *testing.T, s refresh.Store) {
	f := newFlow(s)
	idle := f.issue(t, rotating)
	f.clock.Advance(time.Hour)
	if _, err := f.refresh(t, idle, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
		t.Errorf("after the idle lifetime: %v, want ErrInvalidToken", err)
	}
	g := newFlow(s)
	token := g.issue(t, rotating)
	for range 24 {
		g.clock.Advance(59 * time.Minute)
		token = g.mustRefresh(t, token, rotating)
	}
	g.clock.Advance(time.Hour)
	if _, err := g.refresh(t, token, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
		t.Errorf("after the absolute lifetime: %v, want ErrInvalidToken", err)
	}
}

func testRevoke(t *testing.T, s refresh.Store) {
	ctx := context.Background()
	f := newFlow(s)
	token := f.issue(t, rotating)
	id, _, _ := strings.Cut(token, ".")
	for _, harmless := range []string{"garbage", id + "." + strings.Repeat("A", 43)} {
		if err := f.tokens.Revoke(ctx, f.grant.TenantUID, "other-client", harmless); err != nil {
			t.Errorf("Revoke of %q: %v, want nil", harmless, err)
		}
	}
	if err := f.tokens.Revoke(ctx, uniqueTenant("hostile"), f.grant.ClientID, token); err != nil {
		t.Errorf("Revoke by another tenant: %v, want nil (unknown there)", err)
	}
	if err := f.tokens.Revoke(ctx, f.grant.TenantUID, "other-client", token); !errors.Is(err, refresh.ErrWrongClient) {
		t.Errorf("Revoke by another client: %v, want ErrWrongClient", err)
	}
	next := f.mustRefresh(t, token, rotating)
	if err := f.tokens.Revoke(ctx, f.grant.TenantUID, f.grant.ClientID, token); err != nil {
		t.Fatalf("Revoke with the rotated-out token: %v", err)
	}
	if _, err := f.refresh(t, next, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
		t.Errorf("refresh after Revoke: %v, want ErrInvalidToken", err)
	}
	if err := f.tokens.Revoke(ctx, f.grant.TenantUID, f.grant.ClientID, next); err != nil {
		t.Errorf("Revoke again: %v, want nil", err)
	}

	g := newFlow(s)
	a := g.issue(t, rotating)
	g.grant.ClientID = "client2"
	b := g.issue(t, rotating)
	n, err := g.tokens.RevokeSubject(ctx, g.grant.TenantUID, g.grant.Subject, "password_changed")
	if err != nil || n != 2 {
		t.Errorf("RevokeSubject: %d, %v; want 2", n, err)
	}
	if _, err := g.refresh(t, b, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
		t.Errorf("refresh after RevokeSubject: %v, want ErrInvalidToken", err)
	}
	h := newFlow(s)
	c := h.issue(t, rotating)
	if n, err := h.tokens.RevokeTenant(ctx, h.grant.TenantUID, "admin"); err != nil || n != 1 {
		t.Errorf("RevokeTenant: %d, %v; want 1", n, err)
	}
	if _, err := h.refresh(t, c, rotating); !errors.Is(err, refresh.ErrInvalidToken) {
		t.Errorf("refresh after RevokeTenant: %v, want ErrInvalidToken", err)
	}
	f.noTokenLogged(t, token, next)
	g.noTokenLogged(t, a, b)
	h.noTokenLogged(t, c)
}

// testReplicas refreshes one token on two replicas at once, many times: exactly one
// successor each time, which both get within the reuse interval; without one, the
// loser detects reuse.
func testReplicas(t *testing.T, s refresh.Store) {
	f := newFlow(s)
	replicas := []*refresh.Tokens{f.tokens, f.replica()}
	token := f.issue(t, rotating)
	for round := range 10 {
		results := make([]refresh.Refreshed, len(replicas))
		errs := make([]error, len(replicas))
		var wg sync.WaitGroup
		for i, r := range replicas {
			wg.Go(func() {
				results[i], errs[i] = r.Refresh(context.Background(), f.grant.TenantUID, f.grant.ClientID, token, rotating)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d, replica %d: %v", round, i, err)
			}
		}
		if results[0].Token != results[1].Token {
			t.Fatalf("round %d: two successors of one token", round)
		}
		token = results[0].Token
		f.clock.Advance(time.Minute)
	}

	strict := rotating
	strict.ReuseInterval = 0
	g := newFlow(s)
	token = g.issue(t, strict)
	errs := make([]error, 2)
	var wg sync.WaitGroup
	for i, r := range []*refresh.Tokens{g.tokens, g.replica()} {
		wg.Go(func() {
			_, errs[i] = r.Refresh(context.Background(), g.grant.TenantUID, g.grant.ClientID, token, strict)
		})
	}
	wg.Wait()
	// Two refreshes at the same instant without a reuse interval: either both read the
	// live token before either wrote (one swaps, the other, re-reading, finds its
	// token rotated out: reuse), or one read after the other's write (reuse). Either
	// way, never two successors and never two successes.
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Errorf("two refreshes of one token without a reuse interval: %v and %v, want one success and one ErrReused", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, refresh.ErrReused) {
			t.Errorf("the loser: %v, want ErrReused", err)
		}
	}
}

// diffFamilies describes how got differs from want, but for Version.
func diffFamilies(want, got *refresh.Family) string {
	w, g := *want, *got
	w.Version, g.Version = "", ""
	ws, gs := fmt.Sprintf("%+v", normalize(w)), fmt.Sprintf("%+v", normalize(g))
	if ws != gs {
		return fmt.Sprintf("\nwant %s\ngot  %s", ws, gs)
	}
	return ""
}

// normalize makes equal families print equal: times in UTC, empty slices nil.
func normalize(f refresh.Family) refresh.Family {
	for _, t := range []*time.Time{&f.Created, &f.ExpiresAt, &f.LastUsed, &f.IdleExpiresAt, &f.RotatedAt, &f.Revoked} {
		*t = t.UTC()
	}
	if len(f.Scopes) == 0 {
		f.Scopes = nil
	}
	if len(f.OlderHashes) == 0 {
		f.OlderHashes = nil
	}
	if len(f.PreviousHash) == 0 {
		f.PreviousHash = nil
	}
	if len(f.SealedSuccessor) == 0 {
		f.SealedSuccessor = nil
	}
	return f
}

// Outage plays the backend of s going away under a token server: stop takes it down
// and start brings it back. While it is down, Refresh and Issue are ErrUnavailable (the
// grant's 503) within bound, so nothing hangs; once it is back, the token issued
// before refreshes again, within 30 s, as a client retrying would see.
func Outage(t *testing.T, s refresh.Store, bound time.Duration, stop, start func() error) {
	t.Helper()
	tokens := refresh.New(s, refresh.Options{})
	grant := refresh.Grant{Tenant: "ns/t", TenantUID: "uid-down", ClientID: "c", Subject: "db|alice"}
	p := refresh.Policy{Rotation: true, ReuseInterval: time.Minute}
	ctx := context.Background()
	token, err := tokens.Issue(ctx, grant, p)
	if err != nil {
		t.Fatal(err)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = start()
		}
	})
	started := time.Now()
	if _, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, token, p); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("Refresh with the store's backend down: %v, want ErrUnavailable", err)
	}
	if _, err := tokens.Issue(ctx, grant, p); !errors.Is(err, refresh.ErrUnavailable) {
		t.Errorf("Issue with the store's backend down: %v, want ErrUnavailable", err)
	}
	if took := time.Since(started); took > bound {
		t.Errorf("refusing took %v, want at most %v", took, bound)
	}
	if err := start(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := tokens.Refresh(ctx, grant.TenantUID, grant.ClientID, token, p)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Refresh once the backend is back: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
