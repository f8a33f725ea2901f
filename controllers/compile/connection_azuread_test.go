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
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func TestAzureADConnection(t *testing.T) {
	const tenant, clientID = "contoso.onmicrosoft.com", "6731de76-14a6-49ae-97bc-6eba6914391e"
	ca := certificatePEM(t)
	spec := func(change func(*identityv1alpha1.AzureADConnection)) identityv1alpha1.ConnectionSpec {
		a := &identityv1alpha1.AzureADConnection{Tenant: tenant, ClientID: clientID, Scopes: []string{"openid", "email"},
			Timeout: metav1.Duration{Duration: 10 * time.Second}}
		if change != nil {
			change(a)
		}
		return identityv1alpha1.ConnectionSpec{AzureAD: a}
	}
	want := func(host string, change func(*snapshot.AzureAD)) snapshot.Connection {
		a := &snapshot.AzureAD{AuthorityHost: host, Tenant: tenant, ClientID: clientID, Scopes: []string{"openid", "email"}, Timeout: 10 * time.Second}
		if change != nil {
			change(a)
		}
		return snapshot.Connection{Name: "entra", Strategy: snapshot.StrategyAzureAD, AzureAD: a}
	}
	secretRef := &identityv1alpha1.SecretKeySelector{Name: "entra", Key: "secret"}
	caRef := &identityv1alpha1.SecretKeySelector{Name: "entra", Key: "ca.crt"}
	entra := referable("entra", map[string]string{"secret": "app-secret", "ca.crt": ca})

	for _, tc := range []struct {
		name            string
		spec            identityv1alpha1.ConnectionSpec
		secrets         []*corev1.Secret
		want            snapshot.Connection
		reason, message string
	}{
		{name: "a public client of the public cloud", spec: spec(nil), want: want("https://login.microsoftonline.com", nil)},
		{
			name: "Azure Government", spec: spec(func(a *identityv1alpha1.AzureADConnection) { a.Cloud = identityv1alpha1.AzureUSGovernment }),
			want: want("https://login.microsoftonline.us", nil),
		},
		{
			name: "Azure China", spec: spec(func(a *identityv1alpha1.AzureADConnection) { a.Cloud = identityv1alpha1.AzureChina }),
			want: want("https://login.chinacloudapi.cn", nil),
		},
		{
			name: "an authority host of its own, its slash dropped",
			spec: spec(func(a *identityv1alpha1.AzureADConnection) { a.AuthorityHost = "https://login.stand-in.test:8443/" }),
			want: want("https://login.stand-in.test:8443", nil),
		},
		{
			name:    "a confidential client with a CA bundle",
			spec:    spec(func(a *identityv1alpha1.AzureADConnection) { a.ClientSecretRef, a.CASecretRef = secretRef, caRef }),
			secrets: []*corev1.Secret{entra},
			want:    want("https://login.microsoftonline.com", func(a *snapshot.AzureAD) { a.ClientSecret, a.CAPEM = "app-secret", ca }),
		},
		{
			name:    "an empty client secret",
			spec:    spec(func(a *identityv1alpha1.AzureADConnection) { a.ClientSecretRef = secretRef }),
			secrets: []*corev1.Secret{referable("entra", map[string]string{"secret": ""})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "entra" key "secret" (client secret) is empty`,
		},
		{
			name:    "a client secret not opted in",
			spec:    spec(func(a *identityv1alpha1.AzureADConnection) { a.ClientSecretRef = secretRef }),
			secrets: []*corev1.Secret{unlabelled("entra", map[string]string{"secret": "app-secret"})},
			reason:  identityv1alpha1.ReasonSecretNotReferable, message: `Secret "entra" is not labelled identity.gatehouse.dev/referable=true, so Gatehouse does not read it; ` +
				`if it is meant for this object, label it: kubectl label secret entra -n team-a identity.gatehouse.dev/referable=true`,
		},
		{
			name:   "a client secret that does not exist",
			spec:   spec(func(a *identityv1alpha1.AzureADConnection) { a.ClientSecretRef = secretRef }),
			reason: identityv1alpha1.ReasonSecretNotFound, message: `Secret "entra" does not exist`,
		},
		{
			name:    "a CA that is not PEM",
			spec:    spec(func(a *identityv1alpha1.AzureADConnection) { a.CASecretRef = caRef }),
			secrets: []*corev1.Secret{referable("entra", map[string]string{"ca.crt": "not a certificate"})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "entra" key "ca.crt" holds no PEM certificate`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &identityv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "entra"}, Spec: tc.spec}
			got, err := compile.Connection(conn, secretsOf(tc.secrets...), password.DefaultCaps())
			checkProblem(t, err, tc.reason, tc.message)
			if tc.reason == "" && !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got.AzureAD, tc.want.AzureAD)
			}
			if compile.Strategy(conn) != snapshot.StrategyAzureAD {
				t.Errorf("Strategy = %q", compile.Strategy(conn))
			}
		})
	}
	names := compile.ConnectionSecretNames(&identityv1alpha1.Connection{Spec: spec(func(a *identityv1alpha1.AzureADConnection) {
		a.ClientSecretRef, a.CASecretRef = secretRef, &identityv1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}
	})})
	if !slices.Equal(names, []string{"ca", "entra"}) {
		t.Errorf("ConnectionSecretNames = %q, want the client secret's and the CA's", names)
	}
}
