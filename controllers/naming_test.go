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

package controllers

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// TestAttackProtectionUnsetIsOn: fields a client left unset, bypassing the API server's
// defaults, compile to the documented defaults (README's attack protection table and the
// CRD's defaults), protections on.
func TestAttackProtectionUnsetIsOn(t *testing.T) {
	got := attackProtectionOf(identityv1alpha1.AttackProtectionSpec{})
	want := snapshot.AttackProtection{
		BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 10, CoolDown: 15 * time.Minute},
		SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 100, CoolDown: time.Hour},
	}
	if *got != want {
		t.Errorf("an unset attack protection compiles to %+v, want the documented defaults %+v", *got, want)
	}
}

func TestIssuerOf(t *testing.T) {
	tenant := func(domain string) *identityv1alpha1.Tenant {
		return &identityv1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "acme"},
			Spec:       identityv1alpha1.TenantSpec{Domain: domain},
		}
	}
	for _, tc := range []struct {
		name, domain, url, want string
	}{
		{"domain", "login.acme.example", "http://ignored", "https://login.acme.example/"},
		{"external URL", "", "https://tokens.example.com", "https://tokens.example.com/team-a/acme/"},
		{"external URL with slash", "", "https://tokens.example.com/", "https://tokens.example.com/team-a/acme/"},
		{"in-cluster default", "", "", "http://gatehouse-tokenserver.ops.svc:8080/team-a/acme/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := issuerOf(tenant(tc.domain), tc.url, "ops"); got != tc.want {
				t.Errorf("issuer %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDomainDN(t *testing.T) {
	if got := domainDN("corp.example.com"); got != "DC=corp,DC=example,DC=com" {
		t.Errorf("domainDN %q", got)
	}
}

func TestFirstLines(t *testing.T) {
	if got := firstLines("a\nb\nc", 2); got != "a; b; and 1 more" {
		t.Errorf("firstLines %q", got)
	}
	if got := firstLines("a\nb", 2); got != "a; b" {
		t.Errorf("firstLines %q", got)
	}
}
