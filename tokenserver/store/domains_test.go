package store_test

import (
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestPublishServesOneTenantPerHost plays a snapshot that should not exist (stale, or
// written by hand) claiming a host that another Tenant serves: the token server keeps
// serving the Tenant it served, decides new claims by age whatever the order it loads
// them in, and never lets a domain capture the host under which Tenants are routed by
// path.
func TestPublishServesOneTenantPerHost(t *testing.T) {
	const host = "login.b.test"
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := tokentest.NewKey(t, "k", "ES256", "current")
	view := func(uid, ns, issuer, domain string, created time.Time) *store.Tenant {
		ft := tokentest.NewTenant(t, uid, ns, "acme", issuer, domain, bcrypt.MinCost, key)
		ft.Snapshot.Tenant.Created = created
		return ft.View(t)
	}
	victim := view("uid-b", "team-b", "https://"+host+"/", host, base)
	sameAge := view("uid-a", "team-a", "https://"+host+"/", host, base)
	younger := view("uid-0", "mallory", "https://"+host+"/", host, base.Add(time.Second))
	pathRouted := view("uid-p", "team-p", "http://tokens.example:8080/team-p/acme/", "", base)
	ownHost := view("uid-o", "mallory", "https://tokens.example/", "tokens.example", base.Add(-time.Hour))

	for _, tc := range []struct {
		name string
		// before is published first: the views the token server served until now.
		before   []*store.Tenant
		views    []*store.Tenant
		host     string
		path     string
		want     *store.Tenant
		refusals []store.DomainRefusal
	}{
		{"older claim wins, loaded first", nil, []*store.Tenant{victim, younger}, host, "/", victim,
			[]store.DomainRefusal{{Tenant: "mallory/acme", Domain: host, Reason: "conflict"}}},
		{"older claim wins, loaded last", nil, []*store.Tenant{younger, victim}, host, "/", victim,
			[]store.DomainRefusal{{Tenant: "mallory/acme", Domain: host, Reason: "conflict"}}},
		{"same age: lower UID wins", nil, []*store.Tenant{victim, sameAge}, host, "/", sameAge,
			[]store.DomainRefusal{{Tenant: "team-b/acme", Domain: host, Reason: "conflict"}}},
		{"the view serving a host keeps it against an older claim", []*store.Tenant{younger}, []*store.Tenant{victim, younger}, host, "/", younger,
			[]store.DomainRefusal{{Tenant: "team-b/acme", Domain: host, Reason: "conflict"}}},
		{"the token server's own host is not claimable", nil, []*store.Tenant{pathRouted, ownHost}, "tokens.example:8080", "/team-p/acme/.well-known/jwks.json", pathRouted,
			[]store.DomainRefusal{{Tenant: "mallory/acme", Domain: "tokens.example", Reason: "reserved"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := store.New()
			st.Publish(tc.before)
			refusals := st.Publish(tc.views)
			if !slices.Equal(refusals, tc.refusals) {
				t.Errorf("refusals = %+v, want %+v", refusals, tc.refusals)
			}
			got, _, ok := st.Route(tc.host, tc.path)
			if !ok || got != tc.want {
				t.Fatalf("Route(%q, %q) = %v, want %s", tc.host, tc.path, got, tc.want.Name)
			}
			for _, r := range refusals {
				if slices.ContainsFunc(st.Tenants(), func(v *store.Tenant) bool { return v.Name == r.Tenant }) {
					t.Errorf("refused view %s is still served", r.Tenant)
				}
			}
		})
	}
}
