package azuread

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/azuread/aadtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// spyCache records what MSAL's cache holds when MSAL exports it, before and after
// forgetTokens empties it.
type spyCache struct {
	forgetTokens
	written, left []string
}

func (s *spyCache) Export(ctx context.Context, c cache.Marshaler, h cache.ExportHints) error {
	before, _ := c.Marshal()
	if err := s.forgetTokens.Export(ctx, c, h); err != nil {
		return err
	}
	after, _ := c.Marshal()
	s.written, s.left = append(s.written, string(before)), append(s.left, string(after))
	return nil
}

// TestNoUserTokenOutlivesALogin checks that MSAL's cache, which MSAL writes the user's
// tokens to, holds none of them once a login returns.
func TestNoUserTokenOutlivesALogin(t *testing.T) {
	s := aadtest.New(t)
	alice := aadtest.User{Username: "alice@" + s.Domain, Password: rand.Text(), ObjectID: "11111111-2222-3333-4444-555555555555"}
	s.AddUser(alice)
	cfg := snapshot.AzureAD{AuthorityHost: s.URL, Tenant: s.TenantID, ClientID: s.ClientID, Scopes: []string{"openid"}, CAPEM: s.CAPEM, Timeout: 2 * time.Second}
	httpClient, err := newHTTPClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	spy := &spyCache{}
	client, err := public.New(cfg.ClientID, public.WithAuthority(cfg.Authority()), public.WithHTTPClient(httpClient),
		public.WithInstanceDiscovery(false), public.WithCache(spy))
	if err != nil {
		t.Fatal(err)
	}
	//nolint:staticcheck // SA1019: the password grant is what is tested.
	if _, err := client.AcquireTokenByUsernamePassword(context.Background(), cfg.Scopes, alice.Username, alice.Password); err != nil {
		t.Fatal(err)
	}
	if len(spy.written) != 1 || !strings.Contains(spy.written[0], "stand-in-refresh-token") {
		t.Fatalf("MSAL exported %q, want one cache holding the user's tokens (else this test sees nothing)", spy.written)
	}
	if strings.Contains(spy.left[0], "stand-in") || strings.Contains(spy.left[0], alice.ObjectID) {
		t.Fatalf("after the login MSAL's cache holds %s", spy.left[0])
	}
}
