package tokenserver

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/oauth2"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/store"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// TestUserinfoWhenTheDirectoryIsDown checks that a valid token of a directory user whose
// directory cannot answer gets 503 temporarily_unavailable, not a 401 that would make
// the client throw the token away. (Userinfo of reachable directories is tested end to
// end in test/e2e.)
func TestUserinfoWhenTheDirectoryIsDown(t *testing.T) {
	closed := proctest.MustFreeAddress(t)

	st := store.New()
	srv := httptest.NewServer(NewServer(st, slog.New(slog.DiscardHandler), NewMetrics()))
	t.Cleanup(srv.Close)
	ft := tokentest.NewTenant(t, "uid-down", "team-d", "down", srv.URL+"/team-d/down/", "", bcrypt.MinCost,
		tokentest.NewKey(t, "down-current", "ES256", "current"))
	ft.UseLDAP(snapshot.LDAP{
		Transport:  snapshot.Transport{URLs: []string{"ldap://" + closed}, InsecureNoTLS: true, Timeout: time.Second},
		BindDN:     "cn=gatehouse,dc=example,dc=org",
		UserSearch: snapshot.LDAPUserSearch{BaseDN: "ou=people,dc=example,dc=org"},
	})
	view := ft.View(t)
	t.Cleanup(func() { _ = view.Connectors[tokentest.LDAPConnection].Close() })
	st.Publish([]*store.Tenant{view})

	now := time.Now()
	token, err := view.Signer.SignAccessToken(jwt.Claims{Issuer: view.Issuer(), Subject: tokentest.LDAPConnection + "|00000000-0000-0000-0000-000000000000",
		Audience: jwt.Audience{view.UserinfoURL()}, IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix(), Scope: "openid profile email"})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, view.UserinfoURL(), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := jsonDecode(resp.Body, &body); err != nil || resp.StatusCode != http.StatusServiceUnavailable || body["error"] != "temporarily_unavailable" {
		t.Errorf("userinfo: %d %v (%v), want 503 temporarily_unavailable", resp.StatusCode, body, err)
	}
}

// userinfoOf asks provider's userinfo endpoint with tok's access token and returns the
// claims it answers.
func userinfoOf(t *testing.T, provider *oidc.Provider, tok *oauth2.Token) map[string]any {
	t.Helper()
	info, err := provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var claims map[string]any
	if err := info.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}
