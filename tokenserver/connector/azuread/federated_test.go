package azuread_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/adfs/adfstest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/azuread/aadtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// cloudAudience is the relying party Entra ID is at its federation servers.
const cloudAudience = "urn:federation:MicrosoftOnline"

// federatedStandIn is aadtest's tenant with the domain fabrikam.example federated to
// adfstest's federation server, which holds bob's password; the tenant holds bob's cloud
// account. The connection trusts both stand-ins' TLS certificates.
func federatedStandIn(t *testing.T) (*aadtest.Server, *adfstest.Server, aadtest.User, string, snapshot.AzureAD) {
	t.Helper()
	aad := aadtest.New(t)
	fs := adfstest.Start(t, cloudAudience, "unused-oauth-client", "")
	aad.Federate(aadtest.Federation{Domain: "fabrikam.example", MexURL: fs.MexURL(), Issuer: fs.EntityID(), Certificates: fs.SigningCertificates})
	bob := aadtest.User{Username: "bob@fabrikam.example", ObjectID: "99999999-2222-3333-4444-555555555555",
		Name: "Bob Federated", Email: "bob@fabrikam.example", Groups: []string{"engineering"}}
	aad.AddUser(bob)
	password := tokentest.Random(t)
	fs.AddUser(bob.Username, adfstest.User{Password: password, Claims: map[string][]string{adfstest.ClaimUPN: {bob.Username}}})
	cfg := config(aad)
	cfg.CAPEM = aad.CAPEM + fs.CAPEM()
	return aad, fs, bob, password, cfg
}

// TestFederatedUsers logs in users of a domain federated to AD FS as MSAL does it:
// user-realm discovery, the federation server's mex document, WS-Trust usernamemixed
// there, then the SAML bearer grant at Entra ID. Both ends are stand-ins.
func TestFederatedUsers(t *testing.T) {
	aad, fs, bob, password, cfg := federatedStandIn(t)
	c := newConnector(t, cfg)
	ctx := context.Background()

	t.Run("success", func(t *testing.T) {
		id, err := c.Login(ctx, bob.Username, password)
		if err != nil {
			t.Fatal(err)
		}
		if id.UserID != bob.ObjectID || id.Username != bob.Username || id.Email != bob.Email || id.Name != bob.Name ||
			len(id.Groups) != 1 || id.Groups[0] != bob.Groups[0] || id.Claims["tid"] != aad.TenantID {
			t.Errorf("identity = %+v, want bob's", id)
		}
		if fs.Requests(adfstest.MexPath) == 0 || fs.Requests("/adfs/services/trust/13/usernamemixed") == 0 {
			t.Error("the federation server was not asked")
		}
		requests := aad.TokenRequests()
		last := requests[len(requests)-1]
		if !strings.HasPrefix(last.Get("grant_type"), "urn:ietf:params:oauth:grant-type:saml") || last.Get("assertion") == "" {
			t.Fatalf("the last token request is not a SAML bearer grant: grant_type %q", last.Get("grant_type"))
		}
		if last.Has("password") {
			t.Error("the SAML bearer grant carried the user's password to Entra ID")
		}
	})

	other := adfstest.NewKey(t)
	refusals := []struct {
		name     string
		password string
		answers  adfstest.Answers
		want     error
		logged   string
	}{
		{"wrong password at the federation server", "wrong", adfstest.Answers{}, connector.ErrInvalidCredentials, "FailedAuthentication"},
		{"an assertion the federation did not sign", password, adfstest.Answers{SignWith: &other}, connector.ErrInvalidCredentials, "AADSTS50008"},
		{"federation server down", password, adfstest.Answers{Status: http.StatusServiceUnavailable}, connector.ErrUnavailable, "503"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			fs.SetAnswers(tt.answers)
			t.Cleanup(func() { fs.SetAnswers(adfstest.Answers{}) })
			_, err := c.Login(ctx, bob.Username, tt.password)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.logged) {
				t.Errorf("Login: %v, want %v naming %q", err, tt.want, tt.logged)
			}
		})
	}
}
