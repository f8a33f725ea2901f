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
	"encoding/base64"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// bcryptHash is a bcrypt hash at cost 10; compiling checks its parameters only.
const bcryptHash = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

// argon2idHash is an argon2id hash with memory m KiB. Compiling checks its parameters
// only, so its salt and value need not be real.
func argon2idHash(m uint32) string {
	zeros := base64.RawStdEncoding.EncodeToString(make([]byte, 16))
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", m, zeros, zeros)
}

// usersYAML is a users Secret's content, one user per login, with the hash hashOf gives.
func usersYAML(hashOf func(login string) string, logins ...string) string {
	var b strings.Builder
	for _, l := range logins {
		fmt.Fprintf(&b, "- {username: %s, passwordHash: '%s'}\n", l, hashOf(l))
	}
	return b.String()
}

func TestConnection(t *testing.T) {
	caps := password.DefaultCaps()
	maxM := caps.Argon2idMaxMemoryKiB
	ca := certificatePEM(t)
	usersSecret := func(yaml string) *corev1.Secret { return referable("users", map[string]string{"users.yaml": yaml}) }
	database := identityv1alpha1.ConnectionSpec{Database: &identityv1alpha1.DatabaseConnection{
		UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: "users", Key: "users.yaml"},
	}}
	transport := identityv1alpha1.DirectoryTransport{
		URLs:                  []string{"ldaps://ldap.example.com", "ldaps://ldap2.example.com"},
		StartTLS:              false,
		Timeout:               metav1.Duration{Duration: 5 * time.Second},
		MaxConnections:        4,
		BindPasswordSecretRef: identityv1alpha1.SecretKeySelector{Name: "directory", Key: "password"},
		CASecretRef:           &identityv1alpha1.SecretKeySelector{Name: "directory", Key: "ca.crt"},
	}
	directory := referable("directory", map[string]string{"password": "bind-secret", "ca.crt": ca})
	wantTransport := snapshot.Transport{
		URLs: transport.URLs, Timeout: 5 * time.Second, MaxConnections: 4, BindPassword: "bind-secret", CAPEM: ca,
	}
	ldapSpec := func(change func(*identityv1alpha1.LDAPConnection)) identityv1alpha1.ConnectionSpec {
		l := &identityv1alpha1.LDAPConnection{
			DirectoryTransport: transport,
			BindDN:             "cn=gatehouse,dc=example,dc=com",
			UserSearch: identityv1alpha1.LDAPUserSearch{
				BaseDN: "ou=people,dc=example,dc=com", Scope: identityv1alpha1.LDAPScopeOneLevel,
				Filter: "(objectClass=person)", UsernameAttributes: []string{"uid", "mail"},
			},
			GroupSearch: &identityv1alpha1.LDAPGroupSearch{
				BaseDN: "ou=groups,dc=example,dc=com", Filter: "(objectClass=groupOfNames)", MemberAttribute: "member", NameAttribute: "cn",
			},
			Attributes: identityv1alpha1.LDAPAttributes{Subject: "entryUUID", Email: "mail", Name: "cn", Groups: "memberOf"},
		}
		if change != nil {
			change(l)
		}
		return identityv1alpha1.ConnectionSpec{LDAP: l}
	}
	wantLDAP := &snapshot.LDAP{
		Transport: wantTransport,
		BindDN:    "cn=gatehouse,dc=example,dc=com",
		UserSearch: snapshot.LDAPUserSearch{
			BaseDN: "ou=people,dc=example,dc=com", Scope: "one", Filter: "(objectClass=person)", UsernameAttributes: []string{"uid", "mail"},
		},
		GroupSearch: &snapshot.LDAPGroupSearch{
			BaseDN: "ou=groups,dc=example,dc=com", Filter: "(objectClass=groupOfNames)", MemberAttribute: "member", NameAttribute: "cn",
		},
		Attributes: snapshot.LDAPAttributes{Subject: "entryUUID", Email: "mail", Name: "cn", Groups: "memberOf"},
	}
	activeDirectory := func(baseDN string) identityv1alpha1.ConnectionSpec {
		return identityv1alpha1.ConnectionSpec{ActiveDirectory: &identityv1alpha1.ActiveDirectoryConnection{
			DirectoryTransport: transport, Domain: "corp.example.com", BindUsername: "svc-gatehouse", BaseDN: baseDN,
		}}
	}
	var sevenWithoutHash strings.Builder
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&sevenWithoutHash, "- {username: u%d}\n", i)
	}

	for _, tc := range []struct {
		name            string
		spec            identityv1alpha1.ConnectionSpec
		secrets         []*corev1.Secret
		want            snapshot.Connection
		reason, message string
	}{
		{
			name:    "database",
			spec:    database,
			secrets: []*corev1.Secret{usersSecret(usersYAML(func(string) string { return bcryptHash }, "alice", "bob"))},
			want: snapshot.Connection{Strategy: "database", Users: []snapshot.User{
				{ID: "alice", Username: "alice", PasswordHash: bcryptHash},
				{ID: "bob", Username: "bob", PasswordHash: bcryptHash},
			}},
		},
		{
			name: "database: users Secret missing", spec: database,
			reason: identityv1alpha1.ReasonSecretNotFound, message: `Secret "users" does not exist`,
		},
		{
			name: "database: users Secret not opted in", spec: database,
			secrets: []*corev1.Secret{unlabelled("users", map[string]string{"users.yaml": "[]"})},
			reason:  identityv1alpha1.ReasonSecretNotReferable,
			message: `Secret "users" is not labelled identity.gatehouse.dev/referable=true, so Gatehouse does not read it; ` +
				`if it is meant for this object, label it: kubectl label secret users -n team-a identity.gatehouse.dev/referable=true`,
		},
		{
			name: "database: users key missing", spec: database,
			secrets: []*corev1.Secret{referable("users", map[string]string{"other.yaml": "[]"})},
			reason:  identityv1alpha1.ReasonSecretNotFound, message: `Secret "users" has no key "users.yaml"`,
		},
		{
			name: "database: users that do not parse, five of seven errors named", spec: database,
			secrets: []*corev1.Secret{usersSecret(sevenWithoutHash.String())},
			reason:  identityv1alpha1.ReasonInvalidSecret,
			message: `Secret "users" key "users.yaml": user "u1": passwordHash is missing; user "u2": passwordHash is missing; ` +
				`user "u3": passwordHash is missing; user "u4": passwordHash is missing; user "u5": passwordHash is missing; and 2 more`,
		},
		{
			name: "database: a hash over the caps names its user and the cap", spec: database,
			secrets: []*corev1.Secret{usersSecret(usersYAML(func(l string) string {
				if l == "mallory" {
					return argon2idHash(maxM + 1)
				}
				return argon2idHash(maxM)
			}, "alice", "mallory"))},
			reason: identityv1alpha1.ReasonInvalidSecret,
			message: fmt.Sprintf(`Secret "users" key "users.yaml": 1 users have an unusable passwordHash (the caps follow the token server's memory limit): `+
				`user "mallory": argon2id memory (m) %d KiB is over the cap %d KiB`, maxM+1, maxM),
		},
		{
			name: "database: an unsupported hash, no word of caps", spec: database,
			secrets: []*corev1.Secret{usersSecret(usersYAML(func(string) string { return "plain" }, "bob"))},
			reason:  identityv1alpha1.ReasonInvalidSecret,
			message: `Secret "users" key "users.yaml": 1 users have an unusable passwordHash: user "bob": ` + password.ErrUnsupported.Error(),
		},
		{
			name: "ldap", spec: ldapSpec(nil), secrets: []*corev1.Secret{directory},
			want: snapshot.Connection{Strategy: "ldap", LDAP: wantLDAP},
		},
		{
			name: "ldap without a CA, nor groups, with startTLS",
			spec: ldapSpec(func(l *identityv1alpha1.LDAPConnection) {
				l.CASecretRef, l.GroupSearch, l.StartTLS = nil, nil, true
			}),
			secrets: []*corev1.Secret{referable("directory", map[string]string{"password": "bind-secret"})},
			want: snapshot.Connection{Strategy: "ldap", LDAP: func() *snapshot.LDAP {
				l := *wantLDAP
				l.CAPEM, l.GroupSearch, l.StartTLS = "", nil, true
				return &l
			}()},
		},
		{
			name: "ldap: bind password Secret missing", spec: ldapSpec(nil),
			reason: identityv1alpha1.ReasonSecretNotFound, message: `Secret "directory" does not exist`,
		},
		{
			name: "ldap: empty bind password", spec: ldapSpec(nil),
			secrets: []*corev1.Secret{referable("directory", map[string]string{"password": "", "ca.crt": ca})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "directory" key "password" (bind password) is empty`,
		},
		{
			name: "ldap: CA key missing", spec: ldapSpec(nil),
			secrets: []*corev1.Secret{referable("directory", map[string]string{"password": "bind-secret"})},
			reason:  identityv1alpha1.ReasonSecretNotFound, message: `Secret "directory" has no key "ca.crt"`,
		},
		{
			name: "ldap: CA not PEM", spec: ldapSpec(nil),
			secrets: []*corev1.Secret{referable("directory", map[string]string{"password": "bind-secret", "ca.crt": "not a certificate"})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "directory" key "ca.crt" holds no PEM certificate`,
		},
		{
			name: "ldap: CA in a Secret not opted in",
			spec: ldapSpec(func(l *identityv1alpha1.LDAPConnection) {
				l.CASecretRef = &identityv1alpha1.SecretKeySelector{Name: "ca", Key: "ca.crt"}
			}),
			secrets: []*corev1.Secret{directory, unlabelled("ca", map[string]string{"ca.crt": ca})},
			reason:  identityv1alpha1.ReasonSecretNotReferable,
			message: `Secret "ca" is not labelled identity.gatehouse.dev/referable=true, so Gatehouse does not read it; ` +
				`if it is meant for this object, label it: kubectl label secret ca -n team-a identity.gatehouse.dev/referable=true`,
		},
		{
			name: "activeDirectory: the base DN follows the domain", spec: activeDirectory(""), secrets: []*corev1.Secret{directory},
			want: snapshot.Connection{Strategy: "activeDirectory", ActiveDirectory: &snapshot.ActiveDirectory{
				Transport: wantTransport, Domain: "corp.example.com", BindUsername: "svc-gatehouse", BaseDN: "DC=corp,DC=example,DC=com",
			}},
		},
		{
			name: "activeDirectory: a base DN of its own", spec: activeDirectory("OU=Staff,DC=corp,DC=example,DC=com"), secrets: []*corev1.Secret{directory},
			want: snapshot.Connection{Strategy: "activeDirectory", ActiveDirectory: &snapshot.ActiveDirectory{
				Transport: wantTransport, Domain: "corp.example.com", BindUsername: "svc-gatehouse", BaseDN: "OU=Staff,DC=corp,DC=example,DC=com",
			}},
		},
		{
			name: "activeDirectory: CA not PEM", spec: activeDirectory(""),
			secrets: []*corev1.Secret{referable("directory", map[string]string{"password": "bind-secret", "ca.crt": "-----BEGIN CERTIFICATE-----\n"})},
			reason:  identityv1alpha1.ReasonInvalidSecret, message: `Secret "directory" key "ca.crt" holds no PEM certificate`,
		},
		{
			name: "no directory", reason: identityv1alpha1.ReasonInvalidReference, message: "set exactly one of database, ldap, activeDirectory, azureAD, adfs or oidc",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := &identityv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "staff"}, Spec: tc.spec}
			got, err := compile.Connection(conn, secretsOf(tc.secrets...), caps)
			checkProblem(t, err, tc.reason, tc.message)
			if tc.reason != "" {
				return
			}
			tc.want.Name = "staff"
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestConnectionSecretNames(t *testing.T) {
	ref := func(name string) identityv1alpha1.SecretKeySelector {
		return identityv1alpha1.SecretKeySelector{Name: name, Key: "k"}
	}
	for _, tc := range []struct {
		name string
		spec identityv1alpha1.ConnectionSpec
		want []string
	}{
		{"database", identityv1alpha1.ConnectionSpec{Database: &identityv1alpha1.DatabaseConnection{UsersSecretRef: ref("users")}}, []string{"users"}},
		{"ldap, bind password and CA apart", identityv1alpha1.ConnectionSpec{LDAP: &identityv1alpha1.LDAPConnection{
			DirectoryTransport: identityv1alpha1.DirectoryTransport{BindPasswordSecretRef: ref("bind"), CASecretRef: ptr.To(ref("ca"))},
		}}, []string{"bind", "ca"}},
		{"ldap without a CA", identityv1alpha1.ConnectionSpec{LDAP: &identityv1alpha1.LDAPConnection{
			DirectoryTransport: identityv1alpha1.DirectoryTransport{BindPasswordSecretRef: ref("bind")},
		}}, []string{"bind"}},
		{"activeDirectory, bind password and CA in one Secret", identityv1alpha1.ConnectionSpec{ActiveDirectory: &identityv1alpha1.ActiveDirectoryConnection{
			DirectoryTransport: identityv1alpha1.DirectoryTransport{BindPasswordSecretRef: ref("directory"), CASecretRef: ptr.To(ref("directory"))},
		}}, []string{"directory"}},
		{"no directory", identityv1alpha1.ConnectionSpec{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := compile.ConnectionSecretNames(&identityv1alpha1.Connection{Spec: tc.spec})
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
