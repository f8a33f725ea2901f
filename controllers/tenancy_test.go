/*
Copyright 2026 The Gatehouse Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package controllers_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
)

// allowDomains annotates a Namespace, as a cluster admin would, with the domains its
// Tenants may claim.
func allowDomains(t *testing.T, namespace, domains string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: namespace}}
	get(t, ns)
	update(t, ns, func(ns *corev1.Namespace) {
		ns.Annotations = map[string]string{identityv1alpha1.AnnotationAllowedDomains: domains}
	})
}

// TestDomainIsClaimedOnce plays a second team claiming a host that a first team's Tenant
// serves, a namespace claiming a host it is not allowed, and the token server's own host.
func TestDomainIsClaimedOnce(t *testing.T) {
	const host = "login.b.test"
	withDomain := func(d string) func(*identityv1alpha1.Tenant) {
		return func(t *identityv1alpha1.Tenant) { t.Spec.Domain = d }
	}
	victim := newSample(t, withDomain(host))
	// Not allowed yet: the namespace has no annotation and the policy allows nothing.
	waitCondition(t, victim.tenant, metav1.ConditionFalse, identityv1alpha1.ReasonDomainNotAllowed)
	if _, err := readSnapshot(victim.tenant); err == nil {
		t.Error("a Tenant whose domain is not allowed has a snapshot")
	}
	allowDomains(t, victim.tenant.Namespace, "login.b.test")
	waitReady(t, victim.tenant)

	attacker := newSample(t, nil)
	allowDomains(t, attacker.tenant.Namespace, "*.test")
	waitReady(t, attacker.tenant)
	update(t, attacker.tenant, func(tn *identityv1alpha1.Tenant) { tn.Spec.Domain = host })
	c := waitCondition(t, attacker.tenant, metav1.ConditionFalse, identityv1alpha1.ReasonDomainConflict)
	if strings.Contains(c.Message, victim.tenant.Namespace) {
		t.Errorf("the condition names the other team's namespace: %s", c.Message)
	}
	for _, e := range events(t, attacker.tenant, identityv1alpha1.ReasonDomainConflict) {
		if strings.Contains(e, victim.tenant.Namespace) {
			t.Errorf("the Event names the other team's namespace: %s", e)
		}
	}
	eventually(t, "the attacker's snapshot to be withdrawn", func() error {
		if _, err := readSnapshot(attacker.tenant); err == nil {
			return fmt.Errorf("the Tenant in conflict still has a snapshot")
		}
		return nil
	})
	get(t, attacker.tenant)
	if attacker.tenant.Status.Issuer != "" {
		t.Errorf("the Tenant in conflict reports issuer %q", attacker.tenant.Status.Issuer)
	}
	get(t, victim.tenant)
	if victim.tenant.Status.Issuer != "https://"+host+"/" || !isReady(victim.tenant) {
		t.Errorf("the victim's Tenant: issuer %q, ready %v", victim.tenant.Status.Issuer, isReady(victim.tenant))
	}

	// When the Tenant serving the host goes, the next claim gets it.
	if err := k.Delete(context.Background(), victim.tenant); err != nil {
		t.Fatal(err)
	}
	waitReady(t, attacker.tenant)
	get(t, attacker.tenant)
	if attacker.tenant.Status.Issuer != "https://"+host+"/" {
		t.Errorf("issuer %q after the serving Tenant went", attacker.tenant.Status.Issuer)
	}

	// The token server's own host would capture every Tenant served under its URL.
	update(t, attacker.tenant, func(tn *identityv1alpha1.Tenant) { tn.Spec.Domain = "tokens.test" })
	waitCondition(t, attacker.tenant, metav1.ConditionFalse, identityv1alpha1.ReasonDomainReserved)
}

func isReady(o *identityv1alpha1.Tenant) bool {
	c, err := readyCondition(o)
	return err == nil && c.Status == metav1.ConditionTrue
}

// TestCredentialsAreTheControllers plays a user who writes a Client's credentials Secret
// before the controller can, with an owner reference to the Client and a client_id of
// his choosing: the Client is a SecretConflict, the Secret is left as it was, and no
// credentials are issued or served.
func TestCredentialsAreTheControllers(t *testing.T) {
	ns := newNamespace(t)
	app := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: "late"}},
	}
	create(t, app)
	waitCondition(t, app, metav1.ConditionFalse, identityv1alpha1.ReasonTenantNotFound)
	get(t, app)
	chosen := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "app-credentials", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: identityv1alpha1.GroupVersion.String(), Kind: "Client", Name: app.Name, UID: app.UID, Controller: ptr.To(true),
		}}},
		Data: map[string][]byte{"client_id": []byte("chosen-by-attacker"), "client_secret": []byte("chosen-secret")},
	}
	create(t, chosen)
	tenant := &identityv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "late"},
		Spec: identityv1alpha1.TenantSpec{SigningKeys: identityv1alpha1.SigningKeysSpec{Algorithm: identityv1alpha1.ES256}}}
	create(t, tenant)
	waitCondition(t, app, metav1.ConditionFalse, compile.ReasonSecretConflict)
	waitReady(t, tenant)

	after := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: chosen.Name}}
	get(t, after)
	for k, v := range chosen.Data {
		if !bytes.Equal(after.Data[k], v) {
			t.Errorf("the user's Secret key %s was changed", k)
		}
	}
	if len(after.Data) != len(chosen.Data) {
		t.Errorf("the user's Secret has keys %v, want only its own", slices.Collect(maps.Keys(after.Data)))
	}
	get(t, app)
	if app.Status.ClientID != "" {
		t.Errorf("a client_id %q was issued", app.Status.ClientID)
	}
	snap, err := readSnapshot(tenant)
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Clients) != 0 {
		t.Errorf("the snapshot serves %d clients, want none", len(snap.Clients))
	}

	// Deleting it lets the controller issue credentials of its own.
	if err := k.Delete(context.Background(), after); err != nil {
		t.Fatal(err)
	}
	waitReady(t, app)
	get(t, app)
	issued := credentials(t, app)
	if app.Status.ClientID == "" || string(issued.Data["client_id"]) != app.Status.ClientID || string(issued.Data["client_id"]) == "chosen-by-attacker" {
		t.Errorf("client_id %q in status, %q in the Secret", app.Status.ClientID, issued.Data["client_id"])
	}
}

// TestSecretsOptIn: a Connection that references a Secret its author did not label for
// Gatehouse does not read it, and says how to allow it.
func TestSecretsOptIn(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.connection)
	unlabelled := usersSecret(s.tenant.Namespace, "someone-elses", "mallory")
	unlabelled.Labels = nil
	create(t, unlabelled)
	update(t, s.connection, func(c *identityv1alpha1.Connection) { c.Spec.Database.UsersSecretRef.Name = unlabelled.Name })
	c := waitCondition(t, s.connection, metav1.ConditionFalse, identityv1alpha1.ReasonSecretNotReferable)
	if !strings.Contains(c.Message, identityv1alpha1.LabelReferable+"=true") {
		t.Errorf("the message does not say how to allow it: %s", c.Message)
	}
	eventually(t, "the Connection to leave the snapshot", func() error {
		snap, err := readSnapshot(s.tenant)
		if err != nil {
			return err
		}
		for _, conn := range snap.Connections {
			if conn.Name == s.connection.Name {
				return fmt.Errorf("the snapshot serves the Connection with the unlabelled Secret")
			}
		}
		return nil
	})
	update(t, unlabelled, func(sec *corev1.Secret) {
		sec.Labels = map[string]string{identityv1alpha1.LabelReferable: "true"}
	})
	waitReady(t, s.connection)
}
