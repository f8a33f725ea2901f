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
)

func TestMatchesDomain(t *testing.T) {
	for _, tc := range []struct {
		patterns string
		host     string
		want     bool
	}{
		{"login.acme.test", "login.acme.test", true},
		{"login.acme.test", "acme.test", false},
		{"*.acme.test", "login.acme.test", true},
		{"*.acme.test", "a.b.acme.test", true},
		{"*.acme.test", "acme.test", false},
		{"*.acme.test", "evilacme.test", false},
		{"*acme.test", "evilacme.test", false},
		{"other.test, *.acme.test", "id.acme.test", true},
		{"*", "anything.example", true},
		{"", "login.acme.test", false},
	} {
		if got := matchesDomain(ParseDomainList(tc.patterns), tc.host); got != tc.want {
			t.Errorf("matchesDomain(%q, %q) = %v, want %v", tc.patterns, tc.host, got, tc.want)
		}
	}
}

func TestDomainProblem(t *testing.T) {
	at := func(s int) metav1.Time { return metav1.NewTime(time.Date(2026, 1, 1, 0, 0, s, 0, time.UTC)) }
	own := domainClaim{uid: "b", created: at(10), mayClaim: true}
	for _, tc := range []struct {
		name     string
		reserved bool
		own      domainClaim
		others   []domainClaim
		want     string
	}{
		{"alone", false, own, nil, ""},
		{"reserved", true, own, nil, identityv1alpha1.ReasonDomainReserved},
		{"namespace may not claim", false, domainClaim{uid: "b", created: at(10)}, nil, identityv1alpha1.ReasonDomainNotAllowed},
		{"an older claim wins", false, own, []domainClaim{{uid: "z", created: at(5), mayClaim: true}}, identityv1alpha1.ReasonDomainConflict},
		{"a younger claim loses", false, own, []domainClaim{{uid: "a", created: at(11), mayClaim: true}}, ""},
		{"same age: the lower UID wins", false, own, []domainClaim{{uid: "a", created: at(10), mayClaim: true}}, identityv1alpha1.ReasonDomainConflict},
		{"same age: the higher UID loses", false, own, []domainClaim{{uid: "c", created: at(10), mayClaim: true}}, ""},
		{"an older claim its namespace may not make does not count", false, own, []domainClaim{{uid: "z", created: at(5)}}, ""},
		{"the Tenant serving the host keeps it against an older one", false, domainClaim{uid: "b", created: at(10), mayClaim: true, serving: true},
			[]domainClaim{{uid: "z", created: at(5), mayClaim: true}}, ""},
		{"an older Tenant cannot take the host from the one serving it", false, own,
			[]domainClaim{{uid: "z", created: at(20), mayClaim: true, serving: true}}, identityv1alpha1.ReasonDomainConflict},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := domainProblem("login.b.test", tc.reserved, tc.own, tc.others)
			switch {
			case tc.want == "" && p != nil:
				t.Errorf("refused with %s: %s", p.Reason, p.Message)
			case tc.want != "" && (p == nil || p.Reason != tc.want):
				t.Errorf("got %v, want reason %s", p, tc.want)
			}
		})
	}
}
