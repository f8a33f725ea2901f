package hostile_test

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// TestNamespaceBoundary: what the aggregated edit role gives a team. Mallory cannot read
// or list team-b's Gatehouse objects or Secrets, nor write the status of her own
// objects (the controller's); she manages Tenants in her own namespace, which are served.
func TestNamespaceBoundary(t *testing.T) {
	victim, mallory := newTeams(t, "boundary")
	g := startGatehouse(t, "boundary")
	b := newIssuer(t, victim.namespace, "bravo")
	victim.serve(t, g, b)
	credentials := &corev1.Secret{}
	credentials.Namespace, credentials.Name = b.client.Namespace, b.client.Status.CredentialsSecretName

	t.Run("team-b's objects are out of reach", func(t *testing.T) {
		for _, obj := range []client.Object{b.tenant.DeepCopy(), b.connection.DeepCopy(), b.client.DeepCopy(), b.users.DeepCopy(), credentials} {
			if err := mallory.Client.Get(t.Context(), client.ObjectKeyFromObject(obj), obj); !apierrors.IsForbidden(err) {
				t.Errorf("mallory reading %T %s/%s: %v, want Forbidden", obj, obj.GetNamespace(), obj.GetName(), err)
			}
		}
		for _, list := range []client.ObjectList{&identityv1alpha1.TenantList{}, &identityv1alpha1.ClientList{}, &corev1.SecretList{}} {
			if err := mallory.Client.List(t.Context(), list, client.InNamespace(victim.namespace)); !apierrors.IsForbidden(err) {
				t.Errorf("mallory listing %T in %s: %v, want Forbidden", list, victim.namespace, err)
			}
		}
	})

	t.Run("her own namespace is hers", func(t *testing.T) {
		m := newIssuer(t, mallory.namespace, "own")
		mallory.serve(t, g, m)
		mallory.Update(t, m.tenant, func() { m.tenant.Spec.DisplayName = "Mallory's own" })
		status := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"status":{"issuer":"https://%s/"}}`, victimDomain))
		if err := mallory.Client.Status().Patch(t.Context(), m.tenant, status); !apierrors.IsForbidden(err) {
			t.Errorf("mallory writing the status of her Tenant: %v, want Forbidden", err)
		}
		if err := mallory.Client.Delete(t.Context(), m.client); err != nil {
			t.Errorf("mallory deleting her Client: %v", err)
		}
	})

	b.expectLogin(t, g, "after mallory tried the namespace boundary")
}
