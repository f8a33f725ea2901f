package hostile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/systemtest"
)

// victimDomain is the domain team-b's Tenant claims first.
const victimDomain = "login.b.test"

// TestIssuerTakeover: mallory claims the domain of team-b's issuer, a domain her
// namespace may not claim, and the token server's own host. Each claim is refused, and
// the token server keeps serving team-b's issuer, and only it, at its domain.
func TestIssuerTakeover(t *testing.T) {
	victim, mallory := newTeams(t, "takeover")
	g := startGatehouse(t, "takeover")
	// A name of its own, so that a message leaking it is told from one that does not.
	b := newIssuer(t, victim.namespace, "bravo-issuer")
	b.tenant.Spec.Domain = victimDomain
	victim.serve(t, g, b)
	onPath := newIssuer(t, victim.namespace, "bravo-on-path")
	victim.serve(t, g, onPath)

	t.Run("a domain claimed first by another namespace's Tenant", func(t *testing.T) {
		m := newIssuer(t, mallory.namespace, "takeover")
		m.tenant.Spec.Domain = victimDomain
		mallory.create(t, m)
		refused := mallory.WaitRefused(t, m.tenant, identityv1alpha1.ReasonDomainConflict)
		event := waitEvent(t, m.tenant, identityv1alpha1.ReasonDomainConflict)
		for _, leak := range []string{"team-b", b.tenant.Name} {
			if strings.Contains(refused.Message, leak) || strings.Contains(event.Note, leak) {
				t.Errorf("what mallory reads names team-b's Tenant (%q): condition %q, Event %q", leak, refused.Message, event.Note)
			}
		}
		victim.WaitReady(t, b.tenant)
		expectOnlyIssuerAt(t, g, victim, b)
	})

	t.Run("a domain the namespace may not claim", func(t *testing.T) {
		m := newIssuer(t, mallory.namespace, "elsewhere")
		m.tenant.Spec.Domain = "login.example.org"
		mallory.create(t, m)
		mallory.WaitRefused(t, m.tenant, identityv1alpha1.ReasonDomainNotAllowed)
	})

	t.Run("the namespace user cannot allow itself more domains", func(t *testing.T) {
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: mallory.namespace}}
		patch := client.RawPatch(types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{%q:"*"}}}`, identityv1alpha1.AnnotationAllowedDomains))
		if err := mallory.Client.Patch(t.Context(), ns, patch); !apierrors.IsForbidden(err) {
			t.Errorf("mallory annotating her namespace %s=*: %v, want Forbidden", identityv1alpha1.AnnotationAllowedDomains, err)
		}
	})

	t.Run("the token server's own host", func(t *testing.T) {
		m := newIssuer(t, mallory.namespace, "everything")
		m.tenant.Spec.Domain = g.externalHost
		mallory.create(t, m)
		mallory.WaitRefused(t, m.tenant, identityv1alpha1.ReasonDomainReserved)
		onPath.expectLogin(t, g, "after a claim of the token server's host")
	})

	b.expectLogin(t, g, "after the takeover attempts")
	onPath.expectLogin(t, g, "after the takeover attempts")
}

// waitEvent waits for an Event of reason about o, and returns it.
func waitEvent(t *testing.T, o client.Object, reason string) eventsv1.Event {
	t.Helper()
	var found eventsv1.Event
	systemtest.Eventually(t, fmt.Sprintf("an Event %s about %s", reason, o.GetName()), func() error {
		var events eventsv1.EventList
		if err := sys.Client.List(t.Context(), &events, client.InNamespace(o.GetNamespace())); err != nil {
			return err
		}
		var seen []string
		for _, e := range events.Items {
			if e.Regarding.UID == o.GetUID() && e.Reason == reason {
				found = e
				return nil
			}
			seen = append(seen, e.Regarding.Name+": "+e.Reason)
		}
		return fmt.Errorf("Events of the namespace: %v", seen)
	})
	return found
}

// expectOnlyIssuerAt checks that the token server serves the issuer at the root of its
// domain, and nothing else there: discovery names it, the JWKS holds its keys and
// no other, and a token of its user verifies through that JWKS with its issuer.
func expectOnlyIssuerAt(t *testing.T, g *gatehouse, owner *team, is *issuer) {
	t.Helper()
	owner.Get(t, is.tenant)
	want := "https://" + is.tenant.Spec.Domain + "/"
	var discovery struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, g, want+".well-known/openid-configuration", &discovery)
	if discovery.Issuer != want {
		t.Errorf("discovery at %s names issuer %q, want %q", is.tenant.Spec.Domain, discovery.Issuer, want)
	}
	var jwks struct {
		Keys []struct {
			KID string `json:"kid"`
		} `json:"keys"`
	}
	getJSON(t, g, discovery.JWKSURI, &jwks)
	var served, own []string
	for _, k := range jwks.Keys {
		served = append(served, k.KID)
	}
	for _, k := range is.tenant.Status.Keys {
		own = append(own, k.KID)
	}
	slices.Sort(served)
	slices.Sort(own)
	if !slices.Equal(served, own) {
		t.Errorf("the JWKS at %s holds the keys %v, want those of %s/%s: %v", is.tenant.Spec.Domain, served, is.tenant.Namespace, is.tenant.Name, own)
	}

	ctx := oidc.ClientContext(t.Context(), g.http)
	tok, err := is.creds.PasswordTokenWith(systemtest.WithHTTPClient(ctx, g.http), is.username, is.password)
	if err != nil {
		t.Fatalf("a login at %s: %v", is.tenant.Spec.Domain, err)
	}
	provider, err := oidc.NewProvider(ctx, want)
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	if _, err := provider.Verifier(&oidc.Config{ClientID: is.creds["client_id"]}).Verify(ctx, rawID); err != nil {
		t.Errorf("the id_token of %s does not verify as issued by %s: %v", is.username, want, err)
	}
	if kid := systemtest.TokenKID(t, rawID); kid != systemtest.CurrentKID(is.tenant) {
		t.Errorf("the id_token is signed with key %q, want the current key of %s/%s, %q", kid, is.tenant.Namespace, is.tenant.Name, systemtest.CurrentKID(is.tenant))
	}
}

// getJSON reads a JSON document of the token server, failing the test when it cannot.
func getJSON(t *testing.T, g *gatehouse, url string, into any) {
	t.Helper()
	if err := fetchJSON(g, url, into); err != nil {
		t.Fatal(err)
	}
}

// fetchJSON reads a JSON document of the token server.
func fetchJSON(g *gatehouse, url string, into any) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := g.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}
