package e2e_test

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokenclient"
)

// TestServiceAccountTokens runs a Client bound to a ServiceAccount against the real API
// server issuing its tokens: a Job-shaped process with nothing but its projected token
// gets an API token through `gatehouse token`; the same ServiceAccount's token for the
// API server, another ServiceAccount's, the namespace's default ServiceAccount's, that
// of another namespace's ServiceAccount of the same name, an expired one, and one whose
// Pod was deleted are each refused.
func TestServiceAccountTokens(t *testing.T) {
	const ns = "team-workloads"
	ctx := t.Context()
	sys.StartGatehouse(t)
	sys.CreateNamespace(t, ns)
	sys.ApplySamples(t, ns, rand.Text())
	job := systemtest.ServiceAccountClient(ns, "reporter", "reporter")
	sys.Create(t, job)
	sys.WaitReady(t, job)
	creds := sys.Credentials(t, job)
	if _, ok := creds["client_secret"]; ok {
		t.Error("a Client bound to a ServiceAccount was issued a client secret")
	}
	issuer, clientID := creds["issuer"], creds["client_id"]
	pod := sys.WorkloadPod(t, ns, "reporter", "reporter-job")
	projected := sys.ProjectedToken(t, pod, issuer)

	t.Run("a Job with only its projected token", func(t *testing.T) {
		tokenFile := systemtest.WriteProjectedToken(t, projected)
		var accessToken string
		systemtest.Eventually(t, "gatehouse token gets a token with the projected token", func() error {
			cmd := sys.Gatehouse(ctx, "token", "--client-credentials", "--service-account-token", tokenFile,
				"--client-id", clientID, "--token-url", creds["token_url"], "--audience", audience, "--credentials-dir", t.TempDir())
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				return errors.New(stderr.String())
			}
			accessToken = strings.TrimSpace(string(out))
			return nil
		})
		provider, err := oidc.NewProvider(ctx, issuer)
		if err != nil {
			t.Fatal(err)
		}
		at, err := provider.Verifier(&oidc.Config{ClientID: audience}).Verify(ctx, accessToken)
		if err != nil {
			t.Fatalf("the machine token does not verify: %v", err)
		}
		var claims struct {
			GTY   string `json:"gty"`
			Scope string `json:"scope"`
		}
		if err := at.Claims(&claims); err != nil {
			t.Fatal(err)
		}
		if at.Subject != clientID+"@clients" || claims.GTY != "client-credentials" || claims.Scope != "read:sample" {
			t.Errorf("sub %q, gty %q, scope %q", at.Subject, claims.GTY, claims.Scope)
		}
	})

	t.Run("the token endpoint as audience", func(t *testing.T) {
		if _, err := creds.AssertionToken(ctx, sys.ProjectedToken(t, pod, creds["token_url"]), audience); err != nil {
			t.Error(err)
		}
	})

	other := sys.WorkloadPod(t, ns, "other", "other-job")
	// Another namespace's user names its ServiceAccount as this one's is named.
	sys.CreateNamespace(t, ns+"-other")
	sameNameElsewhere := sys.WorkloadPod(t, ns+"-other", "reporter", "reporter-job")
	defaultPod := sys.WorkloadPod(t, ns, "default", "default-job")
	deleted := sys.WorkloadPod(t, ns, "reporter", "deleted-job")
	deletedToken := sys.ProjectedToken(t, deleted, issuer)
	sys.DeleteAndWait(t, deleted)
	for _, tc := range []struct {
		name, assertion string
	}{
		{"the API server's audience", sys.ServiceAccountToken(t, ns, "reporter", "", nil)},
		{"another ServiceAccount's token", sys.ProjectedToken(t, other, issuer)},
		{"the default ServiceAccount's token", sys.ProjectedToken(t, defaultPod, issuer)},
		{"another namespace's ServiceAccount of the same name", sys.ProjectedToken(t, sameNameElsewhere, issuer)},
		{"an expired token", expired(t, projected)},
		{"a token whose Pod was deleted", deletedToken},
		{"a tampered token", strings.Replace(projected, ".", ".e30", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := creds.AssertionToken(ctx, tc.assertion, audience)
			var answer *tokenclient.Error
			if !errors.As(err, &answer) || answer.Status != http.StatusUnauthorized || answer.Code != "invalid_client" {
				t.Errorf("got %v, want 401 invalid_client", err)
			}
		})
	}
}

// expired is token as the API server would have signed it had it expired a minute ago.
func expired(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(jws.UnsafePayloadWithoutVerification(), &claims); err != nil {
		t.Fatal(err)
	}
	past := time.Now().Add(-11 * time.Minute).Unix()
	claims["iat"], claims["nbf"], claims["exp"] = past, past, past+600
	signed, err := sys.Env.SignServiceAccountToken(jws.Signatures[0].Header.KeyID, claims)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}
