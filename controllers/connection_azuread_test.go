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
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
)

// TestAzureADConnectionOfAHostileNamespace plays a namespace user whose azureAD
// Connection names another namespace's client secret, and then the cloud metadata
// service as its authority: the secret is never compiled into the snapshot, and the
// metadata service is reported unreachable, never fetched.
func TestAzureADConnectionOfAHostileNamespace(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.connection)
	const victimsSecret = "victims-client-secret-value"
	victim := newNamespace(t)
	create(t, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: victim, Name: "entra-client", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"secret": []byte(victimsSecret)},
	})
	conn := &identityv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.tenant.Namespace, Name: "entra"},
		Spec: identityv1alpha1.ConnectionSpec{
			TenantRef: identityv1alpha1.TenantReference{Name: s.tenant.Name},
			AzureAD: &identityv1alpha1.AzureADConnection{
				Tenant: "contoso.onmicrosoft.com", ClientID: "6731de76-14a6-49ae-97bc-6eba6914391e",
				AuthorityHost:   "https://169.254.169.254",
				ClientSecretRef: &identityv1alpha1.SecretKeySelector{Name: "entra-client", Key: "secret"},
				Scopes:          []string{"openid"}, Timeout: metav1.Duration{Duration: time.Second},
			},
		},
	}
	create(t, conn)
	waitCondition(t, conn, metav1.ConditionFalse, identityv1alpha1.ReasonSecretNotFound)
	snapshotHolds := func(what string) error {
		snap, err := readSnapshot(s.tenant)
		if err != nil {
			return err
		}
		raw, _ := json.Marshal(snap)
		if !strings.Contains(string(raw), what) {
			return fmt.Errorf("the snapshot does not hold %q", what)
		}
		return nil
	}
	if err := snapshotHolds(victimsSecret); err == nil {
		t.Fatal("the snapshot holds the other namespace's client secret")
	}

	update(t, conn, func(c *identityv1alpha1.Connection) { c.Spec.AzureAD.ClientSecretRef = nil })
	waitReady(t, conn)
	eventually(t, "DirectoryReachable=False for the metadata service", func() error {
		get(t, conn)
		c := meta.FindStatusCondition(conn.Status.Conditions, identityv1alpha1.ConditionDirectoryReachable)
		if c == nil || c.Status != metav1.ConditionFalse {
			return fmt.Errorf("DirectoryReachable = %+v", c)
		}
		if strings.Contains(c.Message, "169.254.169.254/") {
			return fmt.Errorf("the condition echoes the request: %s", c.Message)
		}
		return nil
	})
	if conn.Status.Strategy != "azureAD" {
		t.Errorf("status.strategy = %q", conn.Status.Strategy)
	}
	eventually(t, "the Connection served", func() error { return snapshotHolds(`"authorityHost":"https://169.254.169.254"`) })
	if err := snapshotHolds(victimsSecret); err == nil {
		t.Fatal("the snapshot holds the other namespace's client secret")
	}
}
