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

func TestADFSConnection(t *testing.T) {
	ca := certificatePEM(t)
	spec := func(change func(*identityv1alpha1.ADFSConnection)) identityv1alpha1.ConnectionSpec {
		a := &identityv1alpha1.ADFSConnection{
			URL: "https://adfs.corp.example/", RelyingParty: "urn:gatehouse", Mode: identityv1alpha1.ADFSModeOAuth2,
			ClientID: "gatehouse", ClientSecretRef: &identityv1alpha1.SecretKeySelector{Name: "adfs", Key: "secret"},
			CASecretRef: &identityv1alpha1.SecretKeySelector{Name: "adfs", Key: "ca.crt"},
			Timeout:     metav1.Duration{Duration: 3 * time.Second},
		}
		if change != nil {
			change(a)
		}
		return identityv1alpha1.ConnectionSpec{ADFS: a}
	}
	adfsSecret := referable("adfs", map[string]string{"secret": "client-secret", "ca.crt": ca})
	want := func(change func(*snapshot.ADFS)) snapshot.Connection {
		a := &snapshot.ADFS{URL: "https://adfs.corp.example", RelyingParty: "urn:gatehouse", Mode: "oauth2",
			ClientID: "gatehouse", ClientSecret: "client-secret", CAPEM: ca, Timeout: 3 * time.Second,
			Claims: snapshot.ADFSClaims{UserID: "sub", Username: "upn", Email: "email", Name: "unique_name", Groups: "group"}}
		if change != nil {
			change(a)
		}
		return snapshot.Connection{Name: "corp", Strategy: snapshot.StrategyADFS, ADFS: a}
	}
	for _, tc := range []struct {
		name            string
		spec            identityv1alpha1.ConnectionSpec
		secrets         []*corev1.Secret
		want            snapshot.Connection
		reason, message string
	}{
		{name: "oauth2 with the defaults of its claims", spec: spec(nil), secrets: []*corev1.Secret{adfsSecret}, want: want(nil)},
		{
			name: "wsTrust with one claim named and the others defaulted",
			spec: spec(func(a *identityv1alpha1.ADFSConnection) {
				a.Mode, a.ClientID, a.ClientSecretRef, a.CASecretRef = identityv1alpha1.ADFSModeWSTrust, "", nil, nil
				a.Claims.UserID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
			}),
			want: want(func(a *snapshot.ADFS) {
				a.Mode, a.ClientID, a.ClientSecret, a.CAPEM = "wsTrust", "", "", ""
				a.Claims = snapshot.DefaultADFSClaims("wsTrust")
				a.Claims.UserID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
			}),
		},
		{
			name: "client secret Secret missing", spec: spec(nil),
			reason: identityv1alpha1.ReasonSecretNotFound, message: `Secret "adfs" does not exist`,
		},
		{
			name: "client secret Secret not opted in", spec: spec(nil),
			secrets: []*corev1.Secret{unlabelled("adfs", map[string]string{"secret": "s", "ca.crt": ca})},
			reason:  identityv1alpha1.ReasonSecretNotReferable, message: `Secret "adfs" is not labelled identity.gatehouse.dev/referable=true, so Gatehouse does not read it; ` +
				`if it is meant for this object, label it: kubectl label secret adfs -n team-a identity.gatehouse.dev/referable=true`,
		},
		{
			name: "empty client secret", spec: spec(nil),
			secrets: []*corev1.Secret{referable("adfs", map[string]string{"secret": "", "ca.crt": ca})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "adfs" key "secret" (client secret) is empty`,
		},
		{
			name: "CA bundle without a certificate", spec: spec(nil),
			secrets: []*corev1.Secret{referable("adfs", map[string]string{"secret": "s", "ca.crt": "not PEM"})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "adfs" key "ca.crt" holds no PEM certificate`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &identityv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "corp"}, Spec: tc.spec}
			got, err := compile.Connection(conn, secretsOf(tc.secrets...), password.DefaultCaps())
			checkProblem(t, err, tc.reason, tc.message)
			if tc.reason != "" {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got.ADFS, tc.want.ADFS)
			}
		})
	}
	names := compile.ConnectionSecretNames(&identityv1alpha1.Connection{Spec: spec(nil)})
	if !slices.Equal(names, []string{"adfs"}) {
		t.Errorf("ConnectionSecretNames = %q, want the one Secret of the client secret and CA", names)
	}
}
