package hostile_test

import (
	"maps"
	"net/http"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
	"github.com/gatehouse-dev/gatehouse/tokenserver/tokentest"
)

// chosenClientID is the client_id mallory would like her Client to have.
const chosenClientID = "chosen-by-attacker"

// TestCredentialsChosenByTheUser: mallory declares a Client whose Tenant does not exist
// yet, writes its credentials Secret herself with a client_id and secret of her choice
// (even naming the Client its controller), and then creates the Tenant. The Client is
// refused with SecretConflict, her Secret is left as she wrote it, and her credentials
// do not log in.
func TestCredentialsChosenByTheUser(t *testing.T) {
	victim, mallory := newTeams(t, "credentials")
	g := startGatehouse(t, "credentials")
	b := newIssuer(t, victim.namespace, "bravo")
	victim.serve(t, g, b)

	tests := []struct {
		name, issuer string
		// ownedByClient makes the Client the controller of the Secret, as the
		// controller's own credentials Secrets are.
		ownedByClient bool
	}{
		{"a Secret of her own", "late-plain", false},
		{"a Secret naming the Client its controller", "late-owned", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newIssuer(t, mallory.namespace, tt.issuer)
			m.client.Spec.CredentialsSecretName = m.client.Name + "-credentials"
			mallory.Create(t, m.client)
			mallory.WaitRefused(t, m.client, identityv1alpha1.ReasonTenantNotFound)

			planted := &corev1.Secret{
				ObjectMeta: metav1.ObjectMeta{Namespace: m.client.Namespace, Name: m.client.Spec.CredentialsSecretName},
				Data:       map[string][]byte{"client_id": []byte(chosenClientID), "client_secret": []byte(tokentest.Random(t))},
			}
			if tt.ownedByClient {
				planted.OwnerReferences = []metav1.OwnerReference{{
					APIVersion: identityv1alpha1.GroupVersion.String(), Kind: "Client",
					Name: m.client.Name, UID: m.client.UID, Controller: ptr.To(true),
				}}
			}
			written := maps.Clone(planted.Data)
			mallory.Create(t, planted)
			mallory.Create(t, m.users, m.tenant, m.connection)
			mallory.WaitReady(t, m.tenant)

			mallory.WaitRefused(t, m.client, compile.ReasonSecretConflict)
			mallory.Get(t, planted)
			if !maps.EqualFunc(planted.Data, written, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Errorf("the controller rewrote mallory's Secret: its keys are %v, she wrote %v", slices.Sorted(maps.Keys(planted.Data)), slices.Sorted(maps.Keys(written)))
			}
			if id := m.client.Status.ClientID; id == chosenClientID {
				t.Errorf("the Client's status.clientID is the one mallory chose, %q", id)
			}
			m.creds = systemtest.Credentials{
				"client_id": chosenClientID, "client_secret": string(written["client_secret"]),
				"token_url": m.tenant.Status.TokenEndpoint,
			}
			waitTenantServed(t, g, mallory, m)
			if err := m.login(g.http, m.username, m.password).is(http.StatusUnauthorized, "invalid_client"); err != nil {
				t.Errorf("a login with the client_id and secret mallory chose: %v", err)
			}
		})
	}

	b.expectLogin(t, g, "after the planted credentials")
}

// waitTenantServed waits until the token server serves the issuer's Tenant: its
// discovery document answers.
func waitTenantServed(t *testing.T, g *gatehouse, owner *team, is *issuer) {
	t.Helper()
	owner.Get(t, is.tenant)
	url := is.tenant.Status.Issuer + ".well-known/openid-configuration"
	systemtest.Eventually(t, "the token server serves "+is.tenant.Namespace+"/"+is.tenant.Name, func() error {
		var discovery struct {
			Issuer string `json:"issuer"`
		}
		return fetchJSON(g, url, &discovery)
	})
}
