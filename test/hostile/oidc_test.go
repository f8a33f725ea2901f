package hostile_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/proctest"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// TestOIDCIssuersInside: mallory's oidc Connections name, as their OpenID provider, the
// cloud metadata service and the token server's own peer port. The metadata address is
// never dialled, and the peer port, which speaks no TLS, yields nothing; her logins
// answer temporarily_unavailable, DirectoryReachable says why in the controller's own
// words, and team-b's users log in throughout.
func TestOIDCIssuersInside(t *testing.T) {
	victim, mallory := newTeams(t, "oidc")
	peerAddr := proctest.MustFreeAddress(t)
	g := startGatehouse(t, "oidc", "--peer-bind-address="+peerAddr)
	b := newIssuer(t, victim.namespace, "bravo")
	victim.serve(t, g, b)

	for _, tc := range []struct {
		name, tenant, issuer, condition string
	}{
		{"the metadata service", "metadata", "https://169.254.169.254/latest", "never connects to"},
		{"the token server's peer port", "peers", "https://" + peerAddr, "did not answer in TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newIssuer(t, mallory.namespace, tc.tenant)
			conn := &identityv1alpha1.Connection{
				ObjectMeta: metav1.ObjectMeta{Namespace: mallory.namespace, Name: tc.tenant + "-sso"},
				Spec: identityv1alpha1.ConnectionSpec{
					TenantRef: identityv1alpha1.TenantReference{Name: tc.tenant},
					OIDC: &identityv1alpha1.OIDCConnection{
						Issuer: tc.issuer, ClientID: "mallory", Timeout: metav1.Duration{Duration: 2 * time.Second},
					},
				},
			}
			m.tenant.Spec.DefaultDirectory = conn.Name
			mallory.Create(t, m.tenant, conn, m.client)
			mallory.WaitReady(t, m.tenant, conn, m.client)
			mallory.WaitCondition(t, conn, identityv1alpha1.ConditionDirectoryReachable, metav1.ConditionFalse)
			if c := meta.FindStatusCondition(conn.Status.Conditions, identityv1alpha1.ConditionDirectoryReachable); !strings.Contains(c.Message, tc.condition) {
				t.Errorf("DirectoryReachable says %q, want it to say %q", c.Message, tc.condition)
			}

			m.creds = mallory.Credentials(t, m.client)
			systemtest.Eventually(t, "mallory's login through "+tc.name+" answers temporarily_unavailable", func() error {
				return m.login(g.http, m.username, m.password).is(http.StatusServiceUnavailable, "temporarily_unavailable")
			})
			b.expectLogin(t, g, "with "+tc.name+" as mallory's provider")
		})
	}
}
