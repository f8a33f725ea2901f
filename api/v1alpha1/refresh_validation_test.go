package v1alpha1_test

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// refreshClient is a confidential Client with the password and refresh_token grants and
// the given refreshTokens.
func refreshClient(refreshTokens string) string {
	return clientHead + "spec:\n  tenantRef: {name: acme}\n  grantTypes: [password, refresh_token]\n  refreshTokens: " + refreshTokens + "\n"
}

// The refresh-token rules join the table of invalid manifests, so that
// TestEveryRuleMessageIsTested holds them too.
func init() {
	invalidCases = append(invalidCases,
		invalidCase{"refresh idle lifetime over the absolute one", refreshClient("{tokenLifetime: 24h, idleTokenLifetime: 25h}"),
			"idleTokenLifetime must not exceed tokenLifetime: no refresh token outlives tokenLifetime"},
		invalidCase{"refresh default idle lifetime over a short absolute one", refreshClient("{tokenLifetime: 1h}"),
			"idleTokenLifetime must not exceed tokenLifetime"},
		invalidCase{"refresh leeway without rotation", refreshClient("{rotationType: non-rotating, leeway: 10s}"),
			"leeway applies to rotating refresh tokens only: a non-rotating token is never replaced"},
		invalidCase{"refresh leeway over 5m", refreshClient("{leeway: 6m}"),
			"leeway must be a duration such as 30s, at least 0s and at most 5m"},
		invalidCase{"refresh negative leeway", refreshClient("{leeway: -1s}"),
			"leeway must be a duration such as 30s"},
		invalidCase{"refresh lifetime over 5 years", refreshClient("{tokenLifetime: 43831h}"),
			"tokenLifetime must be a duration such as 720h, at least 1m and at most 43830h (5 years)"},
		invalidCase{"refresh lifetime in days", refreshClient("{tokenLifetime: 30d}"),
			"tokenLifetime must be a duration such as 720h"},
		invalidCase{"refresh idle lifetime under a minute", refreshClient("{idleTokenLifetime: 30s}"),
			"idleTokenLifetime must be a duration such as 360h, at least 1m"},
		invalidCase{"refresh unknown rotation", refreshClient("{rotationType: sometimes}"),
			`Unsupported value: "sometimes": supported values: "rotating", "non-rotating"`},
		invalidCase{"refresh settings without the grant", clientHead + "spec: {tenantRef: {name: acme}, refreshTokens: {}}",
			"refreshTokens configures the refresh_token grant: add refresh_token to grantTypes"},
		invalidCase{"refresh grant alone", clientHead + "spec: {tenantRef: {name: acme}, grantTypes: [refresh_token]}",
			"the refresh_token grant needs a password grant too: refresh tokens are issued by password logins"},
		invalidCase{"public client with non-rotating refresh tokens",
			clientHead + "spec: {tenantRef: {name: acme}, type: public, grantTypes: [password, refresh_token], refreshTokens: {rotationType: non-rotating}}",
			"a public client's refresh tokens must rotate (RFC 9700 section 4.14)"},
		invalidCase{"api offline access as text", apiHead + "spec: {tenantRef: {name: acme}, identifier: x, allowOfflineAccess: 'yes'}",
			"spec.allowOfflineAccess: Invalid value"},
	)
}

// TestRefreshTokenSettingsAreAccepted creates the Clients and APIs of refresh tokens
// that are right, so that the rules above refuse only what they should.
func TestRefreshTokenSettingsAreAccepted(t *testing.T) {
	ns := newNamespace(t)
	valid := map[string]string{
		"defaults":                refreshClient("{}"),
		"grant without settings":  clientHead + "spec: {tenantRef: {name: acme}, grantTypes: [password, refresh_token]}",
		"realm grant":             clientHead + "spec: {tenantRef: {name: acme}, grantTypes: ['http://auth0.com/oauth/grant-type/password-realm', refresh_token]}",
		"non-rotating":            refreshClient("{rotationType: non-rotating, tokenLifetime: 8h, idleTokenLifetime: 8h}"),
		"leeway":                  refreshClient("{leeway: 5m, tokenLifetime: 43830h}"),
		"public rotating":         clientHead + "spec: {tenantRef: {name: acme}, type: public, grantTypes: [password, refresh_token], refreshTokens: {leeway: 30s}}",
		"public without settings": clientHead + "spec: {tenantRef: {name: acme}, type: public, grantTypes: [password, refresh_token]}",
		"api offline access":      apiHead + "spec: {tenantRef: {name: acme}, identifier: x, allowOfflineAccess: true}",
	}
	for name, manifest := range valid {
		t.Run(name, func(t *testing.T) {
			if err := env.Client.Create(context.Background(), object(t, ns, manifest), client.DryRunAll); err != nil {
				t.Errorf("refused: %v\n%s", err, manifest)
			}
		})
	}
}

// TestRefreshTokenDefaults checks that the API server defaults refreshTokens to the
// Go defaults that a Client without refreshTokens compiles with.
func TestRefreshTokenDefaults(t *testing.T) {
	ns := newNamespace(t)
	cl := &v1alpha1.Client{}
	cl.Name, cl.Namespace = "refreshing", ns
	cl.Spec = v1alpha1.ClientSpec{
		TenantRef:     v1alpha1.TenantReference{Name: "acme"},
		GrantTypes:    []v1alpha1.GrantType{v1alpha1.GrantTypePassword, v1alpha1.GrantTypeRefreshToken},
		RefreshTokens: &v1alpha1.RefreshTokensSpec{},
	}
	if err := env.Client.Create(context.Background(), cl); err != nil {
		t.Fatal(err)
	}
	rt := cl.Spec.RefreshTokens
	tests := []struct {
		field     string
		got, want any
	}{
		{"rotationType", rt.RotationType, v1alpha1.DefaultRefreshTokenRotation},
		{"leeway", durationOf(rt.Leeway), v1alpha1.DefaultRefreshTokenLeeway},
		{"tokenLifetime", durationOf(rt.TokenLifetime), v1alpha1.DefaultRefreshTokenLifetime},
		{"idleTokenLifetime", durationOf(rt.IdleTokenLifetime), v1alpha1.DefaultRefreshTokenIdleTokenLifetime},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("refreshTokens.%s defaulted to %v, want %v", tc.field, tc.got, tc.want)
		}
	}
}

// durationOf is d, or -1 for none.
func durationOf(d *metav1.Duration) time.Duration {
	if d == nil {
		return -1
	}
	return d.Duration
}
