package kubestore

import (
	"testing"
	"time"
)

func TestNeedsCount(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		count tenantCount
		known bool
		want  bool
	}{
		{"never counted", tenantCount{}, false, true},
		{"far from the quota, fresh", tenantCount{n: 10, at: now.Add(-59 * time.Second)}, true, false},
		{"far from the quota, a minute old", tenantCount{n: 10, at: now.Add(-61 * time.Second)}, true, true},
		{"near the quota, fresh", tenantCount{n: 900, at: now.Add(-500 * time.Millisecond)}, true, false},
		{"near the quota, a second old", tenantCount{n: 900, at: now.Add(-1100 * time.Millisecond)}, true, true},
		{"at the quota, fresh", tenantCount{n: 1000, at: now}, true, true},
		{"just below near, a second old", tenantCount{n: 899, at: now.Add(-1100 * time.Millisecond)}, true, false},
	} {
		if got := needsCount(c.count, c.known, 1000, now); got != c.want {
			t.Errorf("%s: needsCount = %v, want %v", c.name, got, c.want)
		}
	}
}
