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
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

var config = compile.Config{TokenServerURL: "https://tokens.example.com", OperatorNamespace: "ops", PasswordCaps: password.DefaultCaps()}

var created = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// acme is a Tenant of namespace with every setting the snapshot carries.
func acme() *identityv1alpha1.Tenant {
	return &identityv1alpha1.Tenant{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace, Name: "acme", UID: "tenant-uid", CreationTimestamp: metav1.NewTime(created.In(time.FixedZone("CET", 3600))),
			Annotations: map[string]string{identityv1alpha1.UnblockAnnotation: "alice@example.com,bob"},
		},
		Spec: identityv1alpha1.TenantSpec{
			DisplayName: "Acme", DefaultDirectory: "staff", DefaultAudience: "https://orders.example.com",
			Tokens: identityv1alpha1.TokensSpec{
				AccessTokenLifetime: metav1.Duration{Duration: time.Hour}, IDTokenLifetime: metav1.Duration{Duration: 10 * time.Hour},
			},
		},
	}
}

// children are a Tenant's children, each kind listed out of name order, and the Secrets
// they reference: of each kind one that compiles and one that does not.
func children(t *testing.T) (compile.Children, compile.Secrets) {
	t.Helper()
	database := func(name, secret string) identityv1alpha1.Connection {
		return identityv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}, Spec: identityv1alpha1.ConnectionSpec{
			Database: &identityv1alpha1.DatabaseConnection{UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: secret, Key: "users.yaml"}},
		}}
	}
	hs256 := func(name string) identityv1alpha1.API {
		return identityv1alpha1.API{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, UID: types.UID("uid-" + name)},
			Spec: identityv1alpha1.APISpec{Identifier: "https://" + name + ".example.com", SigningAlgorithm: identityv1alpha1.HS256}}
	}
	orders, billing := hs256("orders"), hs256("billing")
	app, pending := appClient(identityv1alpha1.ClientConfidential, "id1", "s1"), appClient(identityv1alpha1.ClientConfidential, "", "")
	pending.Name = "pending"
	ch := compile.Children{
		Connections: []identityv1alpha1.Connection{database("staff", "users"), database("contractors", "missing")},
		APIs:        []identityv1alpha1.API{orders, billing},
		Clients:     []identityv1alpha1.Client{*pending, *app},
	}
	return ch, secretsOf(
		referable("users", map[string]string{"users.yaml": usersYAML(func(string) string { return bcryptHash }, "alice")}),
		controlledBy(&orders, unlabelled("orders-hs256", map[string]string{compile.HS256SecretKey: strings.Repeat("s", 32)})),
		controlledBy(app, credentialsSecret("app-credentials", "id1", "s1")),
	)
}

func TestTenant(t *testing.T) {
	ch, secrets := children(t)
	stated := []keys.StatedKey{
		{Key: keys.Key{KID: "k2", Algorithm: keys.ES256}, State: snapshot.KeyStateNext},
		{Key: keys.Key{KID: "k1", Algorithm: keys.ES256}, State: snapshot.KeyStateCurrent},
	}
	snap, leftOut := config.Tenant(compile.Inputs{Tenant: acme(), Keys: stated, Children: ch, Secrets: secrets})

	want := &snapshot.Snapshot{
		Version:             snapshot.FormatVersion,
		Tenant:              snapshot.TenantRef{Namespace: namespace, Name: "acme", UID: "tenant-uid", Created: created},
		DisplayName:         "Acme",
		Issuer:              "https://tokens.example.com/team-a/acme/",
		DefaultDirectory:    "staff",
		DefaultAudience:     "https://orders.example.com",
		AccessTokenLifetime: time.Hour,
		IDTokenLifetime:     10 * time.Hour,
		Keys: []snapshot.Key{
			{KID: "k2", Algorithm: "ES256", State: "next", SecretName: keys.SecretName("tenant-uid", "k2")},
			{KID: "k1", Algorithm: "ES256", State: "current", SecretName: keys.SecretName("tenant-uid", "k1")},
		},
		Connections: []snapshot.Connection{{Name: "staff", Strategy: "database", Users: []snapshot.User{{ID: "alice", Username: "alice", PasswordHash: bcryptHash}}}},
		APIs:        []snapshot.API{{Identifier: "https://orders.example.com", Name: "orders", Algorithm: "HS256", HS256Secret: []byte(strings.Repeat("s", 32))}},
		Clients: []snapshot.Client{{ClientID: "id1", Name: "app", Type: "confidential", GrantTypes: []string{"password", "http://auth0.com/oauth/grant-type/password-realm"},
			SecretHash: snapshot.HashClientSecret("s1"), TrustForwardedFor: true}},
		AttackProtection: &snapshot.AttackProtection{
			BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 10, CoolDown: 15 * time.Minute},
			SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 100, CoolDown: time.Hour},
		},
		Unblock: "alice@example.com,bob",
	}
	if !reflect.DeepEqual(snap, want) {
		t.Errorf("snapshot\n got  %+v\n want %+v", snap, want)
	}
	wantLeftOut := []compile.LeftOut{
		{Kind: "Connection", Name: "contractors", Problem: &compile.Problem{Reason: identityv1alpha1.ReasonSecretNotFound, Message: `Secret "missing" does not exist`}},
		{Kind: "API", Name: "billing", Problem: &compile.Problem{Reason: identityv1alpha1.ReasonSecretNotFound, Message: "the HS256 secret of this API is not generated yet"}},
		{Kind: "Client", Name: "pending", Problem: &compile.Problem{Reason: identityv1alpha1.ReasonSecretNotFound, Message: "the credentials of this client are not written yet"}},
	}
	if !reflect.DeepEqual(leftOut, wantLeftOut) {
		t.Errorf("left out\n got  %+v\n want %+v", leftOut, wantLeftOut)
	}
}

// TestTenantIsDeterministic: the snapshot, and so its hash, does not depend on the order
// the children are listed in, and compiling does not change what it is given.
func TestTenantIsDeterministic(t *testing.T) {
	ch, secrets := children(t)
	in := compile.Inputs{Tenant: acme(), Children: ch, Secrets: secrets}
	first, firstLeftOut := config.Tenant(in)

	reversed, _ := children(t)
	slices.Reverse(reversed.Connections)
	slices.Reverse(reversed.APIs)
	slices.Reverse(reversed.Clients)
	in.Children = reversed
	again, againLeftOut := config.Tenant(in)

	a, err := snapshot.Encode(first)
	if err != nil {
		t.Fatal(err)
	}
	b, err := snapshot.Encode(again)
	if err != nil {
		t.Fatal(err)
	}
	if a.Hash != b.Hash || !reflect.DeepEqual(firstLeftOut, againLeftOut) {
		t.Errorf("children listed in another order compile to another snapshot:\n%+v\n%+v", first, again)
	}
	// ch lists each kind out of name order: compiling must leave it so.
	if original, _ := children(t); !reflect.DeepEqual(ch, original) {
		t.Error("compiling changed the children it was given")
	}
}

func TestAttackProtection(t *testing.T) {
	for _, tc := range []struct {
		name string
		spec identityv1alpha1.AttackProtectionSpec
		want snapshot.AttackProtection
	}{
		{
			// The numbers the README documents; the API server defaults them too, but a
			// client that bypassed defaulting gets them all the same.
			name: "unset is on, at the documented limits",
			want: snapshot.AttackProtection{
				BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 10, CoolDown: 15 * time.Minute},
				SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 100, CoolDown: time.Hour},
			},
		},
		{
			name: "set fields are kept, unset ones defaulted",
			spec: identityv1alpha1.AttackProtectionSpec{
				BruteForce:             identityv1alpha1.BruteForceSpec{MaxAttempts: 3, CoolDown: metav1.Duration{Duration: 5 * time.Minute}},
				SuspiciousIPThrottling: identityv1alpha1.SuspiciousIPThrottlingSpec{Enabled: ptr.To(false)},
			},
			want: snapshot.AttackProtection{
				BruteForce:             snapshot.AttackLimit{Enabled: true, MaxAttempts: 3, CoolDown: 5 * time.Minute},
				SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: false, MaxAttempts: 100, CoolDown: time.Hour},
			},
		},
		{
			name: "all set",
			spec: identityv1alpha1.AttackProtectionSpec{
				BruteForce: identityv1alpha1.BruteForceSpec{Enabled: ptr.To(false), MaxAttempts: 1, CoolDown: metav1.Duration{Duration: time.Minute}},
				SuspiciousIPThrottling: identityv1alpha1.SuspiciousIPThrottlingSpec{
					Enabled: ptr.To(true), MaxAttempts: 10000, CoolDown: metav1.Duration{Duration: 24 * time.Hour},
				},
			},
			want: snapshot.AttackProtection{
				BruteForce:             snapshot.AttackLimit{Enabled: false, MaxAttempts: 1, CoolDown: time.Minute},
				SuspiciousIPThrottling: snapshot.AttackLimit{Enabled: true, MaxAttempts: 10000, CoolDown: 24 * time.Hour},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tenant := acme()
			tenant.Spec.AttackProtection = tc.spec
			snap, _ := config.Tenant(compile.Inputs{Tenant: tenant})
			if *snap.AttackProtection != tc.want {
				t.Errorf("got %+v, want %+v", *snap.AttackProtection, tc.want)
			}
		})
	}
}

func TestIssuer(t *testing.T) {
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
		{"external URL with a path", "", "https://example.com/tokens/", "https://example.com/tokens/team-a/acme/"},
		{"in-cluster default", "", "", "http://gatehouse-tokenserver.ops.svc:8080/team-a/acme/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := compile.Config{TokenServerURL: tc.url, OperatorNamespace: "ops"}
			if got := c.Issuer(tenant(tc.domain)); got != tc.want {
				t.Errorf("issuer %q, want %q", got, tc.want)
			}
			snap, _ := c.Tenant(compile.Inputs{Tenant: tenant(tc.domain)})
			if snap.Issuer != tc.want || snap.Domain != tc.domain {
				t.Errorf("snapshot issuer %q, domain %q; want %q, %q", snap.Issuer, snap.Domain, tc.want, tc.domain)
			}
		})
	}
}

func TestCheckDefaults(t *testing.T) {
	served := &snapshot.Snapshot{
		Connections: []snapshot.Connection{{Name: "staff"}},
		APIs:        []snapshot.API{{Name: "orders", Identifier: "https://orders.example.com"}},
	}
	for _, tc := range []struct {
		name, directory, audience string
		reason, message           string
	}{
		{name: "no defaults"},
		{name: "defaults that are served", directory: "staff", audience: "https://orders.example.com"},
		{
			name: "a default directory not served", directory: "contractors",
			reason: identityv1alpha1.ReasonInvalidReference, message: `defaultDirectory "contractors" is not a ready Connection of this Tenant`,
		},
		{
			name: "a default audience that names an API, not its identifier", audience: "orders",
			reason: identityv1alpha1.ReasonInvalidReference, message: `defaultAudience "orders" is not the identifier of a ready API of this Tenant`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snap := *served
			snap.DefaultDirectory, snap.DefaultAudience = tc.directory, tc.audience
			checkProblem(t, compile.CheckDefaults(&snap), tc.reason, tc.message)
		})
	}
}

func TestChildrenSecretNames(t *testing.T) {
	ch, _ := children(t)
	// Two Connections that share a Secret read it once.
	ch.Connections = append(ch.Connections, identityv1alpha1.Connection{Spec: identityv1alpha1.ConnectionSpec{
		Database: &identityv1alpha1.DatabaseConnection{UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: "users", Key: "more.yaml"}},
	}})
	want := []string{"app-credentials", "billing-hs256", "missing", "orders-hs256", "pending-credentials", "users"}
	if got := ch.SecretNames(); !slices.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestSecretsOwned: a Secret the controller generates is its own only when the object
// it is for controls it.
func TestSecretsOwned(t *testing.T) {
	api := &identityv1alpha1.API{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "orders", UID: "orders-uid"}}
	other := &identityv1alpha1.API{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: "orders", UID: "earlier-orders-uid"}}
	owned := controlledBy(api, unlabelled("orders-hs256", nil))
	for _, tc := range []struct {
		name            string
		secret          *corev1.Secret
		want            *corev1.Secret
		reason, message string
	}{
		{name: "not written yet"},
		{name: "controlled by the object", secret: owned, want: owned},
		{
			name: "controlled by an object of the same name deleted since", secret: controlledBy(other, unlabelled("orders-hs256", nil)),
			reason: compile.ReasonSecretConflict, message: `Secret "orders-hs256" exists and does not belong to this object; delete it or choose another name`,
		},
		{
			name: "someone else's", secret: unlabelled("orders-hs256", nil),
			reason: compile.ReasonSecretConflict, message: `Secret "orders-hs256" exists and does not belong to this object; delete it or choose another name`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secrets := compile.Secrets{}
			if tc.secret != nil {
				secrets[tc.secret.Name] = tc.secret
			}
			got, err := secrets.Owned(api, "orders-hs256")
			checkProblem(t, err, tc.reason, tc.message)
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
