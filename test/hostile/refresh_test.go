package hostile_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// offlineIssuer is an issuer whose Client gets refresh tokens for its API.
func offlineIssuer(t *testing.T, tm *team, g *gatehouse, name string) (*issuer, oauth2.Config) {
	t.Helper()
	is := newIssuer(t, tm.namespace, name)
	is.client.Spec.GrantTypes = []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword, identityv1alpha1.GrantTypeRefreshToken}
	is.tenant.Spec.DefaultAudience = "https://" + name + ".example/api"
	api := &identityv1alpha1.API{
		ObjectMeta: metav1.ObjectMeta{Namespace: tm.namespace, Name: name + "-api"},
		Spec: identityv1alpha1.APISpec{TenantRef: identityv1alpha1.TenantReference{Name: name},
			Identifier: is.tenant.Spec.DefaultAudience, AllowOfflineAccess: true},
	}
	tm.Create(t, api)
	tm.serve(t, g, is)
	cfg := is.creds.OfflineConfig("")
	return is, cfg
}

// TestRefreshTokensStayTheTeams: mallory, holding a refresh token of team-b's user (say
// it leaked), cannot refresh or revoke it through her own Tenant and Client, nor through
// team-b's Tenant with her Client or with team-b's client_id alone; her Tenant's
// revoke-refresh-tokens annotation revokes nothing of team-b's; and she can read no
// refresh token family. Team-b's token still refreshes afterwards.
func TestRefreshTokensStayTheTeams(t *testing.T) {
	victim, attacker := newTeams(t, "refresh")
	g := startGatehouse(t, "refresh")
	victimIssuer, victimConfig := offlineIssuer(t, victim, g, "bank")
	mallorysIssuer, mallorysConfig := offlineIssuer(t, attacker, g, "mallory")
	ctx := systemtest.WithHTTPClient(context.Background(), g.http)
	var leaked *oauth2.Token
	systemtest.Eventually(t, "team-b's user gets a refresh token", func() (err error) {
		if leaked, err = victimConfig.PasswordCredentialsToken(ctx, victimIssuer.username, victimIssuer.password); err == nil && leaked.RefreshToken == "" {
			err = errors.New("no refresh token")
		}
		return err
	})
	var own *oauth2.Token
	systemtest.Eventually(t, "mallory's user gets a refresh token", func() (err error) {
		if own, err = mallorysConfig.PasswordCredentialsToken(ctx, mallorysIssuer.username, mallorysIssuer.password); err == nil && own.RefreshToken == "" {
			err = errors.New("no refresh token")
		}
		return err
	})

	victimAsMallory := victimConfig
	victimAsMallory.ClientID, victimAsMallory.ClientSecret = mallorysConfig.ClientID, mallorysConfig.ClientSecret
	victimWithoutSecret := victimConfig
	victimWithoutSecret.ClientSecret = ""
	victimWithoutSecret.Endpoint.AuthStyle = oauth2.AuthStyleInParams
	for _, tc := range []struct {
		name   string
		cfg    oauth2.Config
		status int
		code   string
	}{
		{"her own Tenant and Client", mallorysConfig, http.StatusBadRequest, "invalid_grant"},
		{"team-b's Tenant with her Client", victimAsMallory, http.StatusUnauthorized, "invalid_client"},
		{"team-b's Tenant with team-b's client_id and no secret", victimWithoutSecret, http.StatusUnauthorized, "invalid_client"},
	} {
		t.Run("refresh through "+tc.name, func(t *testing.T) {
			expired := *leaked
			expired.Expiry = time.Now().Add(-time.Minute)
			_, err := tc.cfg.TokenSource(ctx, &expired).Token()
			answer, ok := systemtest.AnswerOf(err)
			if !ok || answer.Status != tc.status || answer.Code != tc.code {
				t.Errorf("%v, want %d %s", err, tc.status, tc.code)
			}
		})
	}

	t.Run("revocation through her own Tenant", func(t *testing.T) {
		form := url.Values{"token": {leaked.RefreshToken}, "client_id": {mallorysConfig.ClientID}, "client_secret": {mallorysConfig.ClientSecret}}
		resp, err := g.http.Post(snapshot.RevokeURL(mallorysIssuer.creds["issuer"]), "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s, want 200 as for any token her Tenant does not know", resp.Status)
		}
	})

	t.Run("her Tenant's revoke-refresh-tokens annotation", func(t *testing.T) {
		subject := victimIssuer.connection.Name + "|" + victimIssuer.tenant.Name + "-user"
		attacker.Update(t, mallorysIssuer.tenant, func() {
			metav1.SetMetaDataAnnotation(&mallorysIssuer.tenant.ObjectMeta, identityv1alpha1.RevokeRefreshTokensAnnotation, "*,"+subject)
		})
		// Her own family goes: the annotation was applied.
		systemtest.Eventually(t, "mallory's own family is revoked", func() error {
			expired := *own
			expired.Expiry = time.Now().Add(-time.Minute)
			next, err := mallorysConfig.TokenSource(ctx, &expired).Token()
			if answer, ok := systemtest.AnswerOf(err); ok && answer.Code == "invalid_grant" {
				return nil
			}
			if err != nil {
				return err
			}
			own = next
			return errors.New("mallory's family still refreshes")
		})
	})

	t.Run("reading refresh token families", func(t *testing.T) {
		for _, namespace := range []string{systemtest.OperatorNamespace, attacker.namespace} {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(schema.GroupVersionKind{Group: "tokenserver.gatehouse.dev", Version: "v1alpha1", Kind: "RefreshTokenFamilyList"})
			err := attacker.Client.List(context.Background(), list, &client.ListOptions{Namespace: namespace})
			if !apierrors.IsForbidden(err) {
				t.Errorf("listing families in %s: %v, want forbidden", namespace, err)
			}
		}
	})

	expired := *leaked
	expired.Expiry = time.Now().Add(-time.Minute)
	if _, err := victimConfig.TokenSource(ctx, &expired).Token(); err != nil {
		t.Errorf("team-b's refresh token after mallory's attempts: %v", err)
	}
}
