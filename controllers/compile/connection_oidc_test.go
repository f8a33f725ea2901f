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

func TestOIDCConnection(t *testing.T) {
	ca := certificatePEM(t)
	idp := referable("idp", map[string]string{"secret": "client-secret", "ca.crt": ca, "empty": "", "not-pem": "hello"})
	spec := func(change func(*identityv1alpha1.OIDCConnection)) *identityv1alpha1.OIDCConnection {
		o := &identityv1alpha1.OIDCConnection{
			Issuer: "https://login.example.com/realms/corp", ClientID: "gatehouse",
			ClientSecretRef: &identityv1alpha1.SecretKeySelector{Name: "idp", Key: "secret"},
			CASecretRef:     &identityv1alpha1.SecretKeySelector{Name: "idp", Key: "ca.crt"},
			Scopes:          []string{"openid", "groups"},
			Claims:          identityv1alpha1.OIDCClaims{Subject: "oid", Groups: "roles"},
			Timeout:         metav1.Duration{Duration: 3 * time.Second},
		}
		if change != nil {
			change(o)
		}
		return o
	}
	for _, tc := range []struct {
		name            string
		spec            *identityv1alpha1.OIDCConnection
		secrets         []*corev1.Secret
		want            *snapshot.OIDC
		reason, message string
	}{
		{"confidential client with a CA bundle", spec(nil), []*corev1.Secret{idp}, &snapshot.OIDC{
			Issuer: "https://login.example.com/realms/corp", ClientID: "gatehouse", ClientSecret: "client-secret",
			Scopes: []string{"openid", "groups"}, Claims: snapshot.OIDCClaims{Subject: "oid", Email: "email", Name: "name", Groups: "roles"},
			CAPEM: ca, Timeout: 3 * time.Second,
		}, "", ""},
		{"public client, defaults", spec(func(o *identityv1alpha1.OIDCConnection) {
			o.ClientSecretRef, o.CASecretRef, o.Scopes, o.Claims = nil, nil, nil, identityv1alpha1.OIDCClaims{}
		}), nil, &snapshot.OIDC{
			Issuer: "https://login.example.com/realms/corp", ClientID: "gatehouse",
			Scopes: []string{"openid", "email", "profile"}, Claims: snapshot.OIDCClaims{Subject: "sub", Email: "email", Name: "name", Groups: "groups"},
			Timeout: 3 * time.Second,
		}, "", ""},
		{"missing client secret", spec(nil), nil, nil, identityv1alpha1.ReasonSecretNotFound, `Secret "idp" does not exist`},
		{"empty client secret", spec(func(o *identityv1alpha1.OIDCConnection) { o.ClientSecretRef.Key = "empty" }), []*corev1.Secret{idp}, nil,
			identityv1alpha1.ReasonInvalidSecret, `Secret "idp" key "empty" (client secret) is empty`},
		{"CA bundle without a certificate", spec(func(o *identityv1alpha1.OIDCConnection) { o.CASecretRef.Key = "not-pem" }), []*corev1.Secret{idp}, nil,
			identityv1alpha1.ReasonInvalidSecret, `Secret "idp" key "not-pem" holds no PEM certificate`},
		{"unlabelled Secret", spec(nil), []*corev1.Secret{unlabelled("idp", map[string]string{"secret": "s"})}, nil,
			identityv1alpha1.ReasonSecretNotReferable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &identityv1alpha1.Connection{
				ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "corp"},
				Spec:       identityv1alpha1.ConnectionSpec{TenantRef: identityv1alpha1.TenantReference{Name: "acme"}, OIDC: tc.spec},
			}
			if got := compile.ConnectionSecretNames(conn); tc.spec.ClientSecretRef != nil && !slices.Equal(got, []string{"idp"}) {
				t.Errorf("ConnectionSecretNames = %v, want [idp]", got)
			}
			got, err := compile.Connection(conn, secretsOf(tc.secrets...), password.DefaultCaps())
			if tc.reason == identityv1alpha1.ReasonSecretNotReferable {
				if p, ok := compile.AsProblem(err); !ok || p.Reason != tc.reason {
					t.Fatalf("got %v, want a %s problem", err, tc.reason)
				}
				return
			}
			checkProblem(t, err, tc.reason, tc.message)
			if tc.want == nil {
				return
			}
			if got.Strategy != snapshot.StrategyOIDC || !reflect.DeepEqual(got.OIDC, tc.want) {
				t.Errorf("Connection = %s %+v\nwant oidc %+v", got.Strategy, got.OIDC, tc.want)
			}
		})
	}
}
