package refresh

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	current, previous, older := newSecret(), newSecret(), newSecret()
	live := func() *Family {
		return &Family{
			ID: newFamilyID(), ExpiresAt: now.Add(time.Hour), IdleExpiresAt: now.Add(time.Minute),
			CurrentHash: current.hash(), PreviousHash: previous.hash(), OlderHashes: [][]byte{newSecret().hash(), older.hash()},
			RotatedAt: now.Add(-5 * time.Second), SealedSuccessor: []byte("sealed"),
		}
	}
	p := Policy{Rotation: true, ReuseInterval: 10 * time.Second}
	for _, c := range []struct {
		name      string
		change    func(*Family)
		presented secret
		policy    Policy
		want      verdict
		reason    string
	}{
		{"current", nil, current, p, refreshCurrent, ReasonCurrent},
		{"previous within the reuse interval", nil, previous, p, resendSuccessor, ReasonRetry},
		{"previous after it", func(f *Family) { f.RotatedAt = now.Add(-10 * time.Second) }, previous, p, revokeReused, ReasonReused},
		{"previous without a reuse interval", nil, previous, Policy{Rotation: true}, revokeReused, ReasonReused},
		{"previous without a sealed successor", func(f *Family) { f.SealedSuccessor = nil }, previous, p, revokeReused, ReasonReused},
		{"older", nil, older, p, revokeReused, ReasonReusedOlder},
		{"a secret the family never had", nil, newSecret(), p, refuse, ReasonUnknownSecret},
		{"revoked", func(f *Family) { f.Revoked = now.Add(-time.Hour) }, current, p, refuse, ReasonRevoked},
		{"revoked, previous presented", func(f *Family) { f.Revoked = now.Add(-time.Hour) }, previous, p, refuse, ReasonRevoked},
		{"absolute expiry", func(f *Family) { f.ExpiresAt = now }, current, p, refuse, ReasonExpired},
		{"idle expiry", func(f *Family) { f.IdleExpiresAt = now }, current, p, refuse, ReasonIdle},
		{"expired, previous presented", func(f *Family) { f.ExpiresAt = now.Add(-time.Second) }, previous, p, refuse, ReasonExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := live()
			if c.change != nil {
				c.change(f)
			}
			v, reason := judge(f, c.presented.hash(), now, c.policy)
			if v != c.want || reason != c.reason {
				t.Errorf("judge = %d (%s), want %d (%s)", v, reason, c.want, c.reason)
			}
		})
	}
}

func TestStaleLastUsed(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		age  time.Duration
		idle time.Duration
		want bool
	}{
		{0, time.Hour, false},
		{6 * time.Minute, time.Hour, false},
		{6*time.Minute + time.Second, time.Hour, true},
		{time.Hour, 0, false}, // the default, 15 days
		{36*time.Hour + time.Second, 0, true},
	} {
		f := &Family{LastUsed: now.Add(-c.age)}
		if got := staleLastUsed(f, now, Policy{IdleLifetime: c.idle}); got != c.want {
			t.Errorf("LastUsed %v old, idle lifetime %v: stale %v, want %v", c.age, c.idle, got, c.want)
		}
	}
}

func TestRotate(t *testing.T) {
	now := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	first := newSecret()
	f := &Family{ID: newFamilyID(), Created: now, ExpiresAt: now.Add(time.Hour), CurrentHash: first.hash()}
	p := Policy{Rotation: true, IdleLifetime: 50 * time.Minute}
	presented, seen := first, [][]byte{first.hash()}
	for i := range MaxOlderHashes + 3 {
		next := newSecret()
		at := now.Add(time.Duration(i) * time.Minute)
		rotate(f, presented, next, at, p)
		if !bytes.Equal(f.CurrentHash, next.hash()) || !bytes.Equal(f.PreviousHash, presented.hash()) || f.Generation != i+1 || !f.RotatedAt.Equal(at) {
			t.Fatalf("rotation %d: %+v", i, f)
		}
		opened, err := openSuccessor(presented, f.SealedSuccessor, f.ID, f.Generation)
		if err != nil || !bytes.Equal(opened, next) {
			t.Fatalf("rotation %d: the successor does not open with the presented secret: %v", i, err)
		}
		if _, err := openSuccessor(next, f.SealedSuccessor, f.ID, f.Generation); err == nil {
			t.Fatalf("rotation %d: the successor opens with another secret", i)
		}
		want := at.Add(50 * time.Minute)
		if want.After(f.ExpiresAt) {
			want = f.ExpiresAt
		}
		if !f.IdleExpiresAt.Equal(want) {
			t.Errorf("rotation %d: idle expiry %v, want %v", i, f.IdleExpiresAt, want)
		}
		seen = append(seen, next.hash())
		presented = next
	}
	if len(f.OlderHashes) != MaxOlderHashes {
		t.Fatalf("%d older hashes, want at most %d", len(f.OlderHashes), MaxOlderHashes)
	}
	// Newest first: the one before PreviousHash, and so on.
	for i, h := range f.OlderHashes {
		if want := seen[len(seen)-3-i]; !bytes.Equal(h, want) {
			t.Errorf("older hash %d is not the token %d rotations back", i, i+2)
		}
	}
}

func TestParseToken(t *testing.T) {
	id, s := newFamilyID(), newSecret()
	token := formatToken(id, s)
	gotID, gotSecret, ok := parseToken(token)
	if !ok || gotID != id || !bytes.Equal(gotSecret, s) {
		t.Fatalf("parseToken(formatToken) = %q, %x, %v", gotID, gotSecret, ok)
	}
	if len(token) != 32+1+43 {
		t.Errorf("token of %d characters, want 76", len(token))
	}
	encoded := token[33:]
	for _, bad := range []string{
		"", ".", id, id + ".", "." + encoded, strings.ToUpper(id) + "." + encoded, id[:31] + "g." + encoded,
		id + "." + encoded[:42], id + "." + encoded + "A", id + "." + encoded[:42] + "!", id + "x." + encoded,
		id + "." + encoded[:42] + "B", // a non-zero padding bit: not the encoding of any secret
	} {
		if _, _, ok := parseToken(bad); ok {
			t.Errorf("parseToken(%q) accepted", bad)
		}
	}
}
