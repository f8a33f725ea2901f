package azuread_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/azuread"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/azuread/aadtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/profiles"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// The connector is tested against aadtest's stand-in, not against Microsoft; the
// stand-in cites where each of its answers' shapes comes from.

func config(s *aadtest.Server) snapshot.AzureAD {
	return snapshot.AzureAD{
		AuthorityHost: s.URL, Tenant: s.TenantID, ClientID: s.ClientID, ClientSecret: s.ClientSecret,
		Scopes: []string{"openid", "profile", "email"}, CAPEM: s.CAPEM, Timeout: 2 * time.Second,
	}
}

func newConnector(t *testing.T, cfg snapshot.AzureAD) *azuread.Connector {
	t.Helper()
	c, err := azuread.New(cfg, profiles.New().Open("tenant-uid", "entra"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// standIn is a tenant with alice, and a user for each refusal the connector maps.
func standIn(t *testing.T) (*aadtest.Server, aadtest.User) {
	t.Helper()
	s := aadtest.New(t)
	alice := aadtest.User{Username: "alice@" + s.Domain, Password: tokentest.Random(t), ObjectID: "11111111-2222-3333-4444-555555555555",
		Name: "Alice Example", Email: "alice@contoso.example", Groups: []string{"sales", "staff"}}
	s.AddUser(alice)
	for _, code := range []int{50057, 50053, 50055, 50076, 50079, 65001, 53003} {
		s.AddUser(aadtest.User{Username: refusedUser(code, s), Password: alice.Password, ObjectID: fmt.Sprintf("00000000-0000-0000-0000-%012d", code), Refusal: code})
	}
	return s, alice
}

func refusedUser(code int, s *aadtest.Server) string {
	return fmt.Sprintf("refused%d@%s", code, s.Domain)
}

func TestLoginMapsTheIDTokenClaims(t *testing.T) {
	s, alice := standIn(t)
	for name, cfg := range map[string]snapshot.AzureAD{
		"tenant by ID":     config(s),
		"tenant by domain": func() snapshot.AzureAD { c := config(s); c.Tenant = s.Domain; return c }(),
	} {
		t.Run(name, func(t *testing.T) {
			id, err := newConnector(t, cfg).Login(context.Background(), alice.Username, alice.Password)
			if err != nil {
				t.Fatal(err)
			}
			want := connector.Identity{UserID: alice.ObjectID, Username: alice.Username, Email: alice.Email, Name: alice.Name, Groups: alice.Groups,
				Claims: map[string]any{"tid": s.TenantID, "oid": alice.ObjectID}}
			if id.UserID != want.UserID || id.Username != want.Username || id.Email != want.Email || id.Name != want.Name ||
				!slices.Equal(id.Groups, want.Groups) || id.Claims["tid"] != s.TenantID || id.Claims["oid"] != alice.ObjectID {
				t.Errorf("identity = %+v, want %+v", id, want)
			}
		})
	}
}

// TestConfidentialClientSendsItsSecret checks the secret of a confidential app
// registration reaches the token endpoint, which MSAL's own client would not send with
// the password grant, and that a public client sends none.
func TestConfidentialClientSendsItsSecret(t *testing.T) {
	s, alice := standIn(t)
	s.ClientSecret = tokentest.Random(t)
	cfg := config(s)
	if _, err := newConnector(t, cfg).Login(context.Background(), alice.Username, alice.Password); err != nil {
		t.Fatalf("confidential client: %v", err)
	}
	cfg.ClientSecret = ""
	_, err := newConnector(t, cfg).Login(context.Background(), alice.Username, alice.Password)
	if !errors.Is(err, connector.ErrUnavailable) || !strings.Contains(err.Error(), "AADSTS7000218") {
		t.Fatalf("without its secret: %v, want unavailable naming AADSTS7000218", err)
	}
}

func TestRefusalsMapToTheConnectorsErrors(t *testing.T) {
	s, alice := standIn(t)
	c := newConnector(t, config(s))
	tests := []struct {
		name, username, password string
		want                     error
		description              string
		logged                   string
	}{
		{"wrong password", alice.Username, "wrong", connector.ErrInvalidCredentials, "", "AADSTS50126"},
		{"unknown user", "nobody@" + s.Domain, alice.Password, connector.ErrInvalidCredentials, "", "AADSTS50034"},
		{"a domain of no tenant", "alice@elsewhere.example", alice.Password, connector.ErrInvalidCredentials, "", "domain"},
		{"disabled", refusedUser(50057, s), alice.Password, connector.ErrInvalidCredentials, "", "AADSTS50057"},
		{"locked", refusedUser(50053, s), alice.Password, connector.ErrInvalidCredentials, "", "AADSTS50053"},
		{"password expired", refusedUser(50055, s), alice.Password, connector.ErrInvalidCredentials, "", "AADSTS50055"},
		{"another refusal of the grant", refusedUser(53003, s), alice.Password, connector.ErrInvalidCredentials, "", "AADSTS53003"},
		{"MFA required", refusedUser(50076, s), alice.Password, connector.ErrInvalidCredentials, "multi-factor authentication", "AADSTS50076"},
		{"MFA enrollment", refusedUser(50079, s), alice.Password, connector.ErrInvalidCredentials, "multi-factor authentication", "AADSTS50079"},
		{"consent required", refusedUser(65001, s), alice.Password, connector.ErrInvalidCredentials, "consent", "AADSTS65001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.Login(context.Background(), tt.username, tt.password)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.logged) {
				t.Fatalf("Login error = %v, want %v naming %q", err, tt.want, tt.logged)
			}
			var refused *connector.RefusedError
			if got := errors.As(err, &refused); got != (tt.description != "") || got && !strings.Contains(refused.Description, tt.description) {
				t.Fatalf("Login error = %#v, want a RefusedError describing %q: %v", err, tt.description, got)
			}
			if strings.Contains(err.Error(), "Trace ID") {
				t.Errorf("the error repeats the upstream's description: %v", err)
			}
		})
	}
}

// TestEachLoginChecksThePassword checks that MSAL answers no login from its cache: after
// a success, a wrong password is refused by the token endpoint again.
func TestEachLoginChecksThePassword(t *testing.T) {
	s, alice := standIn(t)
	c := newConnector(t, config(s))
	ctx := context.Background()
	if _, err := c.Login(ctx, alice.Username, alice.Password); err != nil {
		t.Fatal(err)
	}
	before := s.TokenCalls()
	if _, err := c.Login(ctx, alice.Username, "wrong"); !errors.Is(err, connector.ErrInvalidCredentials) {
		t.Fatalf("wrong password after a success: %v, want invalid credentials", err)
	}
	if _, err := c.Login(ctx, alice.Username, alice.Password); err != nil {
		t.Fatal(err)
	}
	if calls := s.TokenCalls() - before; calls != 2 {
		t.Fatalf("%d token requests for two logins, want 2", calls)
	}
}

func TestUnusableUpstreamsAreUnavailable(t *testing.T) {
	s, alice := standIn(t)
	down := config(s)
	down.AuthorityHost = "https://" + proctest.MustFreeAddress(t)
	tests := []struct {
		name  string
		cfg   snapshot.AzureAD
		setup func()
	}{
		{"down", down, func() {}},
		{"5xx", config(s), func() { s.Fail(503) }},
		{"slow", config(s), func() { s.Delay(3 * time.Second) }},
		{"the metadata service", func() snapshot.AzureAD { c := config(s); c.AuthorityHost = "https://169.254.169.254"; return c }(), func() {}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.setup()
			t.Cleanup(func() { s.Fail(0); s.Delay(0) })
			start := time.Now()
			_, err := newConnector(t, tt.cfg).Login(context.Background(), alice.Username, alice.Password)
			if !errors.Is(err, connector.ErrUnavailable) {
				t.Fatalf("Login error = %v, want unavailable", err)
			}
			if took := time.Since(start); took > 2*tt.cfg.Timeout+time.Second {
				t.Errorf("Login took %v, beyond the timeout %v", took, tt.cfg.Timeout)
			}
		})
	}
}

func TestIDTokensThatFailVerificationAreRefused(t *testing.T) {
	s, alice := standIn(t)
	unsigned := func(claims map[string]any) string {
		signed := s.Sign(claims)
		parts := strings.Split(signed, ".")
		return base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + parts[1] + "."
	}
	with := func(name string, v any) func(map[string]any) string {
		return func(claims map[string]any) string { claims[name] = v; return s.Sign(claims) }
	}
	tests := map[string]func(map[string]any) string{
		// MSAL decodes the id_token before it is verified, and refuses this one itself.
		"malformed":            func(map[string]any) string { return "not.a.jwt" },
		"not JSON":             func(map[string]any) string { return "e30.bm90IGpzb24.c2ln" },
		"unsigned":             unsigned,
		"signature tampered":   func(claims map[string]any) string { return s.Sign(claims) + "x" },
		"for another audience": with("aud", "00000000-0000-0000-0000-000000000001"),
		"of another issuer":    with("iss", "https://login.microsoftonline.com/"+s.TenantID+"/v2.0"),
		"expired":              with("exp", time.Now().Add(-2*time.Minute).Unix()),
		"of another tenant":    with("tid", "00000000-0000-0000-0000-000000000002"),
		"without oid":          with("oid", ""),
	}
	for name, idToken := range tests {
		t.Run(name, func(t *testing.T) {
			s.IDToken = idToken
			t.Cleanup(func() { s.IDToken = nil })
			_, err := newConnector(t, config(s)).Login(context.Background(), alice.Username, alice.Password)
			if !errors.Is(err, connector.ErrUnavailable) {
				t.Fatalf("Login error = %v, want unavailable", err)
			}
		})
	}
	t.Run("expired within the skew", func(t *testing.T) {
		s.IDToken = with("exp", time.Now().Add(-20*time.Second).Unix())
		t.Cleanup(func() { s.IDToken = nil })
		if _, err := newConnector(t, config(s)).Login(context.Background(), alice.Username, alice.Password); err != nil {
			t.Fatal(err)
		}
	})
}

// TestKeyRotationUpstream checks that a token signed with a key published after the
// connector fetched the keys is accepted once the keys are fetched again, without a
// restart.
func TestKeyRotationUpstream(t *testing.T) {
	s, alice := standIn(t)
	c := newConnector(t, config(s))
	ctx := context.Background()
	if _, err := c.Login(ctx, alice.Username, alice.Password); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, alice.Username, alice.Password); err != nil {
		t.Fatal(err)
	}
	if n := s.JWKSFetches(); n != 1 {
		t.Fatalf("%d key fetches for two logins with one key, want 1 (the keys are cached)", n)
	}
	s.RotateKey(t)
	if _, err := c.Login(ctx, alice.Username, alice.Password); err != nil {
		t.Fatalf("after a rotation: %v", err)
	}
	if n := s.JWKSFetches(); n != 2 {
		t.Fatalf("%d key fetches after a rotation, want 2 (the unknown kid fetches again)", n)
	}
}

func TestCheck(t *testing.T) {
	s, _ := standIn(t)
	if err := azuread.Check(context.Background(), config(s)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	unknown := config(s)
	unknown.Tenant = "other.example"
	if err := azuread.Check(context.Background(), unknown); err == nil || !strings.Contains(err.Error(), "HTTP 400") {
		t.Fatalf("Check of an unknown tenant = %v, want HTTP 400", err)
	}
}
