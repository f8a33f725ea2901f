package profiles

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
)

// TestProfilesAreBoundedPerTenant plays a hostile tenant that fills its profiles past the
// bound: its oldest are evicted, another tenant's stay, and a tenant's share goes with its
// last connector.
func TestProfilesAreBoundedPerTenant(t *testing.T) {
	store := New()
	hostile := store.Open("hostile", "c")
	other := store.Open("other", "c")
	defer other.Close()
	other.Remember(connector.Identity{UserID: "kept"})

	big := strings.Repeat("g", 64<<10)
	n := 2 * maxTenantBytes / len(big)
	for i := range n {
		hostile.Remember(connector.Identity{UserID: strconv.Itoa(i), Claims: map[string]any{"big": big}})
	}
	if hostile.tenant.bytes > maxTenantBytes {
		t.Errorf("the tenant keeps %d bytes, over the bound %d", hostile.tenant.bytes, maxTenantBytes)
	}
	if _, ok := store.get(hostile.tenant, key{"c", "0"}); ok {
		t.Error("the oldest profile was not evicted")
	}
	if _, ok := store.get(hostile.tenant, key{"c", strconv.Itoa(n - 1)}); !ok {
		t.Error("the newest profile was evicted")
	}
	if _, ok := store.get(other.tenant, key{"c", "kept"}); !ok {
		t.Error("another tenant's profile was evicted")
	}
	// A second connector of the tenant shares it; the share goes with the last one.
	again := store.Open("hostile", "d")
	if again.tenant != hostile.tenant {
		t.Error("a second connector of the tenant got a share of its own")
	}
	hostile.Close()
	hostile.Close() // a connector closed twice releases once
	if _, ok := store.tenants["hostile"]; !ok {
		t.Error("the share went while a connector held it")
	}
	again.Close()
	if _, ok := store.tenants["hostile"]; ok {
		t.Error("the share stayed after its last connector was closed")
	}
}

// TestProfilesAreBoundedInAll plays a namespace that fills the profiles of many Tenants
// of its own, each to the tenant's bound: the store keeps no more than its bound, and a
// small tenant's profile stays, since the tenants that keep the most make room.
func TestProfilesAreBoundedInAll(t *testing.T) {
	store := New()
	small := store.Open("small", "c")
	defer small.Close()
	small.Remember(connector.Identity{UserID: "kept"})

	big := strings.Repeat("g", 64<<10)
	for tenant := range 2 * maxStoreBytes / maxTenantBytes {
		hostile := store.Open("hostile-"+strconv.Itoa(tenant), "c")
		defer hostile.Close()
		for i := range maxTenantBytes / len(big) {
			hostile.Remember(connector.Identity{UserID: strconv.Itoa(i), Claims: map[string]any{"big": big}})
		}
	}
	if store.bytes > maxStoreBytes {
		t.Errorf("the store keeps %d bytes, over its bound %d", store.bytes, maxStoreBytes)
	}
	if _, ok := store.get(small.tenant, key{"c", "kept"}); !ok {
		t.Error("the small tenant's profile was evicted")
	}
}

// TestLookupUser answers the latest login of a user of the same Connection only.
func TestLookupUser(t *testing.T) {
	store := New()
	a, b := store.Open("tenant", "a"), store.Open("tenant", "b")
	defer a.Close()
	defer b.Close()
	a.Remember(connector.Identity{UserID: "u", Email: "old@example.com"})
	a.Remember(connector.Identity{UserID: "u", Email: "new@example.com", Groups: []string{"g"}})
	b.Remember(connector.Identity{UserID: "u", Email: "b@example.com"})
	for _, tc := range []struct {
		name      string
		conn      *Connection
		id, email string
	}{
		{"the latest login", a, "u", "new@example.com"},
		{"another Connection's user of the same id", b, "u", "b@example.com"},
		{"a user of no login here", a, "stranger", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, found, err := tc.conn.LookupUser(context.Background(), tc.id)
			if err != nil || !found || got.UserID != tc.id || got.Email != tc.email {
				t.Errorf("LookupUser(%q) = %+v, %v, %v; want id %q, email %q", tc.id, got, found, err, tc.id, tc.email)
			}
		})
	}
}
