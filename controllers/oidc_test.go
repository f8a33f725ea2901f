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
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/test/dextest"
)

// TestOIDCConnections checks an oidc Connection to a real Dex, with its client secret and
// CA bundle in a Secret: it is served and its provider reachable. One whose issuer is the
// cloud metadata service is served too (a login answers temporarily_unavailable) but
// reported unreachable, and is never dialled.
func TestOIDCConnections(t *testing.T) {
	dex := dextest.Start(t, dextest.Options{})
	s := newSample(t, nil)
	ns := s.tenant.Namespace
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "dex", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"client-secret": []byte(dex.Client.Secret), "ca.crt": []byte(dex.CAPEM)},
	}
	connection := func(name, issuer string) *identityv1alpha1.Connection {
		return &identityv1alpha1.Connection{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
			Spec: identityv1alpha1.ConnectionSpec{
				TenantRef: identityv1alpha1.TenantReference{Name: "acme"},
				OIDC: &identityv1alpha1.OIDCConnection{
					Issuer: issuer, ClientID: dex.Client.ID,
					ClientSecretRef: &identityv1alpha1.SecretKeySelector{Name: "dex", Key: "client-secret"},
					CASecretRef:     &identityv1alpha1.SecretKeySelector{Name: "dex", Key: "ca.crt"},
					Timeout:         metav1.Duration{Duration: 2 * time.Second},
				},
			},
		}
	}
	live := connection("dex", dex.Issuer)
	metadata := connection("metadata", "https://169.254.169.254/latest")
	create(t, secret, live, metadata)

	waitReady(t, live, metadata)
	reachable := waitDirectoryReachable(t, live, metav1.ConditionTrue)
	if !strings.Contains(reachable.Message, "discovery document") {
		t.Errorf("DirectoryReachable message %q", reachable.Message)
	}
	refused := waitDirectoryReachable(t, metadata, metav1.ConditionFalse)
	if !strings.Contains(refused.Message, "never connects to") {
		t.Errorf("DirectoryReachable of the metadata service: %q", refused.Message)
	}
	get(t, live)
	if live.Status.Strategy != "oidc" {
		t.Errorf("strategy %q, want oidc", live.Status.Strategy)
	}
	eventually(t, "3 connections served", func() error {
		get(t, s.tenant)
		if s.tenant.Status.Connections != 3 {
			return fmt.Errorf("%d connections", s.tenant.Status.Connections)
		}
		return nil
	})
	snap, err := readSnapshot(s.tenant)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range snap.Connections {
		if c.Name == "dex" && (c.OIDC == nil || c.OIDC.ClientSecret != dex.Client.Secret || c.OIDC.CAPEM != dex.CAPEM ||
			strings.Join(c.OIDC.Scopes, " ") != "openid email profile" || c.OIDC.Claims.Subject != "sub") {
			t.Errorf("snapshot of the dex connection: %+v", c.OIDC)
		}
	}

	// The client secret's Secret is watched: deleting it makes the Connection say so.
	if err := k.Delete(context.Background(), secret); err != nil {
		t.Fatal(err)
	}
	waitCondition(t, live, metav1.ConditionFalse, identityv1alpha1.ReasonSecretNotFound)
}

func waitDirectoryReachable(t *testing.T, conn *identityv1alpha1.Connection, status metav1.ConditionStatus) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	eventually(t, conn.Name+" DirectoryReachable="+string(status), func() error {
		get(t, conn)
		got = meta.FindStatusCondition(conn.Status.Conditions, identityv1alpha1.ConditionDirectoryReachable)
		if got == nil || got.Status != status {
			return fmt.Errorf("DirectoryReachable %+v", got)
		}
		return nil
	})
	return got
}
