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

package compile_test

import (
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// appClient is a Client named app whose status records clientID and the digest of
// (clientID, secret), as the controller records the credentials it issues.
func appClient(clientType identityv1alpha1.ClientType, clientID, secret string) *identityv1alpha1.Client {
	c := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "app", UID: "app-uid"},
		Spec: identityv1alpha1.ClientSpec{
			Type:              clientType,
			GrantTypes:        []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword, identityv1alpha1.GrantTypePasswordRealm},
			TrustForwardedFor: true,
		},
		Status: identityv1alpha1.ClientStatus{ClientID: clientID},
	}
	if clientID != "" {
		c.Status.CredentialsDigest = compile.CredentialsDigest(clientID, secret)
	}
	return c
}

// credentialsSecret is a credentials Secret of app holding clientID and secret.
func credentialsSecret(name, clientID, secret string) *corev1.Secret {
	data := map[string]string{compile.CredentialsClientID: clientID, compile.CredentialsIssuer: "https://login.example.com/"}
	if secret != "" {
		data[compile.CredentialsClientSecret] = secret
	}
	return unlabelled(name, data)
}

func TestClient(t *testing.T) {
	owned := func(s *corev1.Secret) *corev1.Secret { return controlledBy(appClient("", "", ""), s) }
	for _, tc := range []struct {
		name            string
		client          *identityv1alpha1.Client
		secrets         []*corev1.Secret
		want            snapshot.Client
		reason, message string
	}{
		{
			name:    "confidential",
			client:  appClient(identityv1alpha1.ClientConfidential, "id1", "s1"),
			secrets: []*corev1.Secret{owned(credentialsSecret("app-credentials", "id1", "s1"))},
			want: snapshot.Client{ClientID: "id1", Name: "app", Type: "confidential", GrantTypes: []string{"password", "http://auth0.com/oauth/grant-type/password-realm"},
				SecretHash: snapshot.HashClientSecret("s1"), TrustForwardedFor: true},
		},
		{
			name:    "no type is confidential",
			client:  appClient("", "id1", "s1"),
			secrets: []*corev1.Secret{owned(credentialsSecret("app-credentials", "id1", "s1"))},
			want: snapshot.Client{ClientID: "id1", Name: "app", Type: "confidential", GrantTypes: []string{"password", "http://auth0.com/oauth/grant-type/password-realm"},
				SecretHash: snapshot.HashClientSecret("s1"), TrustForwardedFor: true},
		},
		{
			name:    "public: no secret, and no trusted forwarded-for",
			client:  appClient(identityv1alpha1.ClientPublic, "id1", ""),
			secrets: []*corev1.Secret{owned(credentialsSecret("app-credentials", "id1", ""))},
			want:    snapshot.Client{ClientID: "id1", Name: "app", Type: "public", GrantTypes: []string{"password", "http://auth0.com/oauth/grant-type/password-realm"}},
		},
		{
			name: "bound to a ServiceAccount of its namespace: no secret",
			client: func() *identityv1alpha1.Client {
				c := appClient(identityv1alpha1.ClientConfidential, "id1", "")
				c.Spec.ServiceAccountRef = &identityv1alpha1.ServiceAccountReference{Name: "reporter"}
				return c
			}(),
			secrets: []*corev1.Secret{owned(credentialsSecret("app-credentials", "id1", ""))},
			want: snapshot.Client{ClientID: "id1", Name: "app", Type: "confidential", GrantTypes: []string{"password", "http://auth0.com/oauth/grant-type/password-realm"},
				TrustForwardedFor: true, ServiceAccount: &snapshot.ServiceAccountRef{Namespace: namespace, Name: "reporter"}},
		},
		{
			name: "credentials in the Secret the spec names",
			client: func() *identityv1alpha1.Client {
				c := appClient(identityv1alpha1.ClientConfidential, "id1", "s1")
				c.Spec.CredentialsSecretName = "app-secret"
				return c
			}(),
			secrets: []*corev1.Secret{owned(credentialsSecret("app-secret", "id1", "s1"))},
			want: snapshot.Client{ClientID: "id1", Name: "app", Type: "confidential", GrantTypes: []string{"password", "http://auth0.com/oauth/grant-type/password-realm"},
				SecretHash: snapshot.HashClientSecret("s1"), TrustForwardedFor: true},
		},
		{
			name: "no client_id issued yet", client: appClient(identityv1alpha1.ClientConfidential, "", ""),
			reason: identityv1alpha1.ReasonSecretNotFound, message: "the credentials of this client are not written yet",
		},
		{
			name: "credentials recorded, Secret not written yet", client: appClient(identityv1alpha1.ClientConfidential, "id1", "s1"),
			reason: identityv1alpha1.ReasonSecretNotFound, message: "the credentials of this client are not written yet",
		},
		{
			name:    "an older release's Client: its client_id kept, its secret not issued yet",
			client:  &identityv1alpha1.Client{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "app", UID: "app-uid"}, Status: identityv1alpha1.ClientStatus{ClientID: "id1"}},
			secrets: []*corev1.Secret{owned(credentialsSecret("app-credentials", "id1", "s1"))},
			reason:  identityv1alpha1.ReasonSecretNotFound, message: "the client secret is not issued yet",
		},
		{
			name: "credentials the controller did not issue", client: appClient(identityv1alpha1.ClientConfidential, "id1", "s1"),
			secrets: []*corev1.Secret{owned(credentialsSecret("app-credentials", "id1", "chosen"))},
			reason:  compile.ReasonSecretConflict,
			message: `Secret "app-credentials" holds credentials this controller did not issue; delete it, and the controller issues new ones`,
		},
		{
			name: "a credentials Secret someone else made", client: appClient(identityv1alpha1.ClientConfidential, "id1", "s1"),
			secrets: []*corev1.Secret{credentialsSecret("app-credentials", "id1", "s1")},
			reason:  compile.ReasonSecretConflict,
			message: `Secret "app-credentials" exists and does not belong to this object; delete it or choose another name`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := compile.Client(tc.client, secretsOf(tc.secrets...))
			checkProblem(t, err, tc.reason, tc.message)
			if tc.reason == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestIssuedCredentials(t *testing.T) {
	secretOf := func(id, secret string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "app-credentials"},
			Data: map[string][]byte{compile.CredentialsClientID: []byte(id), compile.CredentialsClientSecret: []byte(secret)}}
	}
	status := func(id, digest string) *identityv1alpha1.Client {
		return &identityv1alpha1.Client{Status: identityv1alpha1.ClientStatus{ClientID: id, CredentialsDigest: digest}}
	}
	issued := compile.CredentialsDigest("id1", "s1")
	for _, tc := range []struct {
		name               string
		client             *identityv1alpha1.Client
		existing           *corev1.Secret
		wantID, wantSecret string
		conflict           bool
	}{
		{"no Secret", status("id1", issued), nil, "", "", false},
		{"the Secret the digest names", status("id1", issued), secretOf("id1", "s1"), "id1", "s1", false},
		{"another secret", status("id1", issued), secretOf("id1", "chosen"), "", "", true},
		{"another client_id", status("id1", issued), secretOf("chosen", "s1"), "", "", true},
		{"planted before anything was issued", status("", ""), secretOf("chosen", "chosen"), "", "", true},
		{"an older release's Client keeps its client_id, not the secret", status("id1", ""), secretOf("id1", "s1"), "id1", "", false},
		{"an older release's Client with another client_id", status("id1", ""), secretOf("chosen", "s1"), "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id, secret, err := compile.IssuedCredentials(tc.client, tc.existing)
			if p, ok := compile.AsProblem(err); ok != tc.conflict || (ok && p.Reason != compile.ReasonSecretConflict) {
				t.Fatalf("err = %v, want a conflict: %v", err, tc.conflict)
			}
			if id != tc.wantID || secret != tc.wantSecret {
				t.Errorf("got client_id %q, secret %q; want %q, %q", id, secret, tc.wantID, tc.wantSecret)
			}
		})
	}
}

func TestCredentialsDigest(t *testing.T) {
	// The digest separates client_id from secret: moving a character across does not
	// give the same digest.
	if compile.CredentialsDigest("ab", "c") == compile.CredentialsDigest("a", "bc") {
		t.Error("the digest of (ab, c) is that of (a, bc)")
	}
}
