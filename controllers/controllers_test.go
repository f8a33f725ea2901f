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
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/tokenserver/jwt"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// sample is the equivalent of config/samples: Tenant acme, database Connection users
// with its users Secret, API sample and Client reporting-job.
type sample struct {
	tenant     *identityv1alpha1.Tenant
	users      *corev1.Secret
	connection *identityv1alpha1.Connection
	api        *identityv1alpha1.API
	client     *identityv1alpha1.Client
}

func (s sample) objects() []client.Object {
	return []client.Object{s.tenant, s.connection, s.api, s.client}
}

// newSample creates the sample objects in a new namespace; change adjusts the Tenant
// before it is created.
func newSample(t *testing.T, change func(*identityv1alpha1.Tenant)) sample {
	t.Helper()
	ns := newNamespace(t)
	s := sample{
		tenant: &identityv1alpha1.Tenant{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "acme"},
			Spec: identityv1alpha1.TenantSpec{
				DisplayName:      "ACME",
				DefaultDirectory: "users",
				DefaultAudience:  "https://someapi.com/api",
				// ES256 keeps the tests fast; RSA keys are covered by the keys package.
				SigningKeys: identityv1alpha1.SigningKeysSpec{
					Algorithm:      identityv1alpha1.ES256,
					RotationPeriod: metav1.Duration{Duration: 2160 * time.Hour},
				},
				// The CRD's defaults, which Go's zero values would not leave to the API server.
				Tokens: identityv1alpha1.TokensSpec{
					AccessTokenLifetime: metav1.Duration{Duration: 24 * time.Hour},
					IDTokenLifetime:     metav1.Duration{Duration: 10 * time.Hour},
				},
			},
		},
		users: usersSecret(ns, "acme-users", "alice", "bob"),
		connection: &identityv1alpha1.Connection{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "users"},
			Spec: identityv1alpha1.ConnectionSpec{
				TenantRef: identityv1alpha1.TenantReference{Name: "acme"},
				Database: &identityv1alpha1.DatabaseConnection{
					UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: "acme-users", Key: "users.yaml"},
				},
			},
		},
		api: &identityv1alpha1.API{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "sample"},
			Spec: identityv1alpha1.APISpec{
				TenantRef:  identityv1alpha1.TenantReference{Name: "acme"},
				Identifier: "https://someapi.com/api",
				Scopes:     []identityv1alpha1.Scope{{Name: "read:sample", Description: "Read samples"}},
			},
		},
		client: &identityv1alpha1.Client{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "reporting-job"},
			Spec: identityv1alpha1.ClientSpec{
				TenantRef:  identityv1alpha1.TenantReference{Name: "acme"},
				GrantTypes: []identityv1alpha1.GrantType{identityv1alpha1.GrantTypePassword, identityv1alpha1.GrantTypePasswordRealm},
			},
		},
	}
	if change != nil {
		change(s.tenant)
	}
	create(t, s.users, s.tenant, s.connection, s.api, s.client)
	return s
}

var testHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(randomText()), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

func randomText() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// usersYAML is a users Secret's content: one user per name, all with testHash.
func usersYAML(names ...string) []byte {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "- {username: %s, email: %s@example.com, passwordHash: '%s'}\n", n, n, testHash)
	}
	return []byte(b.String())
}

func usersSecret(ns, name string, users ...string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"users.yaml": usersYAML(users...)},
	}
}

func credentials(t *testing.T, c *identityv1alpha1.Client) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: c.Namespace, Name: c.Name + "-credentials"}}
	get(t, s)
	return s
}

func TestSamplesBecomeReady(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.objects()...)

	tenant := s.tenant
	get(t, tenant)
	issuer := tokenServerURL + "/" + tenant.Namespace + "/acme/"
	if tenant.Status.Issuer != issuer || tenant.Status.TokenEndpoint != issuer+"oauth/token" || tenant.Status.JWKSURI != issuer+".well-known/jwks.json" {
		t.Errorf("issuer %q, token endpoint %q, jwks %q; want them under %q", tenant.Status.Issuer, tenant.Status.TokenEndpoint, tenant.Status.JWKSURI, issuer)
	}
	// The Tenant may turn Ready before it has compiled every child.
	eventually(t, "counts", func() error {
		get(t, tenant)
		if tenant.Status.Connections != 1 || tenant.Status.APIs != 1 || tenant.Status.Clients != 1 {
			return fmt.Errorf("counts %d connections, %d APIs, %d clients; want 1 each", tenant.Status.Connections, tenant.Status.APIs, tenant.Status.Clients)
		}
		return nil
	})
	if got := len(tenant.Status.Keys); got != 2 || tenant.Status.Keys[0].State != identityv1alpha1.KeyStateCurrent || tenant.Status.Keys[1].State != identityv1alpha1.KeyStateNext {
		t.Errorf("keys %v, want one current and one next", keyStates(tenant))
	}

	get(t, s.connection)
	if s.connection.Status.Users != 2 || s.connection.Status.Strategy != snapshot.StrategyDatabase {
		t.Errorf("connection status %+v, want 2 users of a database", s.connection.Status)
	}

	get(t, s.client)
	if len(s.client.Status.ClientID) != 32 {
		t.Errorf("client_id %q, want 32 characters", s.client.Status.ClientID)
	}
	creds := credentials(t, s.client)
	secret := string(creds.Data["client_secret"])
	if string(creds.Data["client_id"]) != s.client.Status.ClientID || len(secret) < 43 ||
		string(creds.Data["issuer"]) != issuer || string(creds.Data["token_url"]) != issuer+"oauth/token" {
		t.Errorf("credentials Secret holds client_id %q, issuer %q, token_url %q and a %d-character secret",
			creds.Data["client_id"], creds.Data["issuer"], creds.Data["token_url"], len(secret))
	}
	if !metav1.IsControlledBy(creds, s.client) {
		t.Error("the credentials Secret is not owned by its Client")
	}

	snap, err := readSnapshot(tenant)
	if err != nil {
		t.Fatal(err)
	}
	if snap.Issuer != issuer || snap.DefaultDirectory != "users" || len(snap.Keys) != 2 {
		t.Errorf("snapshot issuer %q, default directory %q, %d keys", snap.Issuer, snap.DefaultDirectory, len(snap.Keys))
	}
	if len(snap.Connections) != 1 || len(snap.Connections[0].Users) != 2 || snap.Connections[0].Users[0].PasswordHash != testHash {
		t.Errorf("snapshot connections %+v, want users with their hashes", snap.Connections)
	}
	if len(snap.APIs) != 1 || !slices.Equal(snap.APIs[0].Scopes, []string{"read:sample"}) || snap.APIs[0].Algorithm != "RS256" {
		t.Errorf("snapshot APIs %+v", snap.APIs)
	}
	if len(snap.Clients) != 1 || snap.Clients[0].ClientID != s.client.Status.ClientID || !snapshot.ClientSecretMatches(snap.Clients[0].SecretHash, secret) {
		t.Errorf("snapshot clients %+v do not match the credentials", snap.Clients)
	}
	if strings.Contains(fmt.Sprintf("%+v", snap), secret) {
		t.Error("the snapshot holds the client secret itself")
	}
	for _, key := range snap.Keys {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: operatorNamespace, Name: key.SecretName}}
		get(t, s)
		if _, err := jwt.ParsePrivateKey(s.Data[snapshot.KeySecretDataKey], jose.SignatureAlgorithm(key.Algorithm)); err != nil {
			t.Errorf("key %s: %v", key.KID, err)
		}
	}
}

func TestHS256APIs(t *testing.T) {
	s := newSample(t, nil)
	generated := &identityv1alpha1.API{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.tenant.Namespace, Name: "hs"},
		Spec: identityv1alpha1.APISpec{
			TenantRef: identityv1alpha1.TenantReference{Name: "acme"}, Identifier: "urn:hs", SigningAlgorithm: identityv1alpha1.HS256,
		},
	}
	short := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: s.tenant.Namespace, Name: "short", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}}, Data: map[string][]byte{"k": []byte("too short")}}
	referenced := &identityv1alpha1.API{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.tenant.Namespace, Name: "hs-ref"},
		Spec: identityv1alpha1.APISpec{
			TenantRef: identityv1alpha1.TenantReference{Name: "acme"}, Identifier: "urn:hs-ref", SigningAlgorithm: identityv1alpha1.HS256,
			HS256SecretRef: &identityv1alpha1.SecretKeySelector{Name: "short", Key: "k"},
		},
	}
	create(t, short, generated, referenced)
	waitReady(t, generated)
	waitCondition(t, referenced, metav1.ConditionFalse, identityv1alpha1.ReasonInvalidSecret)

	update(t, short, func(s *corev1.Secret) { s.Data["k"] = []byte(strings.Repeat("x", 32)) })
	waitReady(t, referenced)

	get(t, generated)
	hs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: generated.Namespace, Name: generated.Status.HS256SecretName}}
	get(t, hs)
	if len(hs.Data["secret"]) < 32 || !metav1.IsControlledBy(hs, generated) {
		t.Fatalf("generated HS256 Secret %s: %d bytes, owned: %v", hs.Name, len(hs.Data["secret"]), metav1.IsControlledBy(hs, generated))
	}
	eventually(t, "HS256 secrets in the snapshot", func() error {
		snap, err := readSnapshot(s.tenant)
		if err != nil {
			return err
		}
		want := map[string]string{"urn:hs": string(hs.Data["secret"]), "urn:hs-ref": strings.Repeat("x", 32)}
		for _, api := range snap.APIs {
			if w, ok := want[api.Identifier]; ok && string(api.HS256Secret) == w && api.Algorithm == "HS256" {
				delete(want, api.Identifier)
			}
		}
		if len(want) > 0 {
			return fmt.Errorf("snapshot lacks the HS256 secrets of %v", want)
		}
		return nil
	})
}

// TestKeyRotation walks a key through next, current, previous and removed with the fake
// clock, then rotates manually.
func TestKeyRotation(t *testing.T) {
	s := newSample(t, func(tn *identityv1alpha1.Tenant) {
		tn.Spec.SigningKeys.RotationPeriod = metav1.Duration{Duration: 10 * time.Hour}
		tn.Spec.Tokens.AccessTokenLifetime = metav1.Duration{Duration: time.Hour}
		tn.Spec.Tokens.IDTokenLifetime = metav1.Duration{Duration: time.Hour}
	})
	// An API's longer token lifetime keeps previous keys longer.
	update(t, s.api, func(a *identityv1alpha1.API) { a.Spec.TokenLifetime = &metav1.Duration{Duration: 2 * time.Hour} })
	waitReady(t, s.objects()...)
	tenant := s.tenant
	get(t, tenant)
	states := keyStates(tenant)
	if len(states) != 2 {
		t.Fatalf("keys %v, want a current and a next key", states)
	}
	k1, k2 := strings.TrimSuffix(states[0], "=current"), strings.TrimSuffix(states[1], "=next")

	expect := func(what string, want func([]string) error) {
		t.Helper()
		eventually(t, what, func() error {
			get(t, tenant)
			if err := want(keyStates(tenant)); err != nil {
				return err
			}
			snap, err := readSnapshot(tenant)
			if err != nil {
				return err
			}
			var inSnapshot []string
			for _, k := range snap.Keys {
				inSnapshot = append(inSnapshot, k.KID+"="+k.State)
			}
			if !slices.Equal(inSnapshot, keyStates(tenant)) {
				return fmt.Errorf("snapshot keys %v, status keys %v", inSnapshot, keyStates(tenant))
			}
			if len(keySecrets(t, tenant)) != len(inSnapshot) {
				return fmt.Errorf("%d key Secrets for %d keys", len(keySecrets(t, tenant)), len(inSnapshot))
			}
			return nil
		})
	}

	fakeClock.Step(10 * time.Hour)
	poke(t, tenant)
	var k3 string
	expect("k2 current", func(states []string) error {
		if len(states) != 3 || states[0] != k1+"=previous" || states[1] != k2+"=current" || !strings.HasSuffix(states[2], "=next") {
			return fmt.Errorf("keys %v, want %s previous, %s current, a new next", states, k1, k2)
		}
		k3 = strings.TrimSuffix(states[2], "=next")
		return nil
	})

	// The previous key stays for the longest token lifetime (the API's 2h).
	fakeClock.Step(time.Hour + 59*time.Minute)
	poke(t, tenant)
	if states := keyStates(tenant); len(states) != 3 || states[0] != k1+"=previous" {
		t.Fatalf("keys %v after the reconcile at 1h59m, want %s still previous", states, k1)
	}
	removal := watchKeyRemoval(t, tenant, k1)
	fakeClock.Step(time.Minute)
	poke(t, tenant)
	expect("k1 removed", func(states []string) error {
		if !slices.Equal(states, []string{k2 + "=current", k3 + "=next"}) {
			return fmt.Errorf("keys %v, want %s current and %s next", states, k2, k3)
		}
		return nil
	})
	if err := <-removal; err != nil {
		t.Error(err)
	}

	// A manual rotation makes the published next key current at once.
	update(t, tenant, func(tn *identityv1alpha1.Tenant) {
		metav1.SetMetaDataAnnotation(&tn.ObjectMeta, identityv1alpha1.RotateKeysAnnotation, "2026-01-01T12:00")
	})
	expect("manual rotation", func(states []string) error {
		if len(states) != 3 || states[0] != k2+"=previous" || states[1] != k3+"=current" || !strings.HasSuffix(states[2], "=next") {
			return fmt.Errorf("keys %v, want %s previous, %s current, a new next", states, k2, k3)
		}
		return nil
	})
	if tenant.Status.LastRotationRequest != "2026-01-01T12:00" {
		t.Errorf("lastRotationRequest %q", tenant.Status.LastRotationRequest)
	}
	if len(events(t, tenant, controllers.ReasonKeyRotated)) == 0 {
		t.Error("no KeyRotated event")
	}

	// A second rotation within the same second makes the new next key current a second
	// later: keys made current in one second would not be ordered.
	k4 := strings.TrimSuffix(keyStates(tenant)[2], "=next")
	update(t, tenant, func(tn *identityv1alpha1.Tenant) {
		metav1.SetMetaDataAnnotation(&tn.ObjectMeta, identityv1alpha1.RotateKeysAnnotation, "2026-01-01T12:00:00.5")
	})
	eventually(t, "the second rotation is acted on", func() error {
		get(t, tenant)
		if tenant.Status.LastRotationRequest != "2026-01-01T12:00:00.5" {
			return fmt.Errorf("lastRotationRequest %q", tenant.Status.LastRotationRequest)
		}
		return nil
	})
	fakeClock.Step(time.Second)
	poke(t, tenant)
	expect("a second manual rotation within a second", func(states []string) error {
		if len(states) != 4 || states[1] != k3+"=previous" || states[2] != k4+"=current" || !strings.HasSuffix(states[3], "=next") {
			return fmt.Errorf("keys %v, want %s previous, %s current, a new next", states, k3, k4)
		}
		return nil
	})
}

func TestTamperedAndDeletedKeysAreRepaired(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.objects()...)
	tenant := s.tenant
	get(t, tenant)
	current, next := tenant.Status.Keys[0], tenant.Status.Keys[1]
	secrets := keySecrets(t, tenant)

	// Another valid key in the current key's Secret: its kid no longer matches.
	other, err := keys.Generate(keys.ES256, 0)
	if err != nil {
		t.Fatal(err)
	}
	otherPEM, err := keys.EncodePEM(other)
	if err != nil {
		t.Fatal(err)
	}
	tampered := secrets[current.KID]
	update(t, &tampered, func(s *corev1.Secret) { s.Data[snapshot.KeySecretDataKey] = otherPEM })
	waitRepaired := func(lost string) {
		t.Helper()
		eventually(t, "repair of "+lost, func() error {
			get(t, tenant)
			states := keyStates(tenant)
			if len(states) != 2 || slices.ContainsFunc(tenant.Status.Keys, func(k identityv1alpha1.KeyStatus) bool { return k.KID == lost }) {
				return fmt.Errorf("keys %v still hold %s", states, lost)
			}
			if len(keySecrets(t, tenant)) != 2 {
				return fmt.Errorf("%d key Secrets", len(keySecrets(t, tenant)))
			}
			return nil
		})
	}
	waitRepaired(current.KID)
	if c := meta.FindStatusCondition(tenant.Status.Conditions, controllers.ConditionKeyRepaired); c == nil || c.Reason != "SecretTampered" {
		t.Errorf("condition %+v, want KeyRepaired SecretTampered", c)
	}
	if tenant.Status.Keys[1].KID != next.KID {
		t.Errorf("the next key changed from %s to %s, though only the current key was tampered with", next.KID, tenant.Status.Keys[1].KID)
	}

	// A deleted next key is replaced.
	secrets = keySecrets(t, tenant)
	deleted := secrets[next.KID]
	if err := k.Delete(context.Background(), &deleted); err != nil {
		t.Fatal(err)
	}
	waitRepaired(next.KID)
	if c := meta.FindStatusCondition(tenant.Status.Conditions, controllers.ConditionKeyRepaired); c == nil || c.Reason != "SecretDeleted" {
		t.Errorf("condition %+v, want KeyRepaired SecretDeleted", c)
	}

	// Garbage in place of the key.
	secrets = keySecrets(t, tenant)
	garbage := secrets[tenant.Status.Keys[0].KID]
	update(t, &garbage, func(s *corev1.Secret) { s.Data[snapshot.KeySecretDataKey] = []byte("garbage") })
	waitRepaired(garbage.Annotations[snapshot.AnnotationKID])

	// An ES256 key that claims to be RS256.
	secrets = keySecrets(t, tenant)
	wrongAlg := secrets[tenant.Status.Keys[1].KID]
	update(t, &wrongAlg, func(s *corev1.Secret) { s.Annotations[snapshot.AnnotationAlgorithm] = keys.RS256 })
	waitRepaired(wrongAlg.Annotations[snapshot.AnnotationKID])

	eventually(t, "KeyRepaired events", func() error {
		if n := len(events(t, tenant, controllers.ReasonKeyRepaired)); n < 4 {
			return fmt.Errorf("%d KeyRepaired events, want 4", n)
		}
		return nil
	})
}

func TestUsersSecretChangeReachesSnapshot(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.objects()...)
	update(t, s.users, func(sec *corev1.Secret) { sec.Data["users.yaml"] = usersYAML("alice", "bob", "carol") })
	eventually(t, "carol in the snapshot", func() error {
		snap, err := readSnapshot(s.tenant)
		if err != nil {
			return err
		}
		if n := len(snap.Connections[0].Users); n != 3 {
			return fmt.Errorf("%d users", n)
		}
		return nil
	})
	eventually(t, "3 users in status", func() error {
		get(t, s.connection)
		if s.connection.Status.Users != 3 {
			return fmt.Errorf("%d users", s.connection.Status.Users)
		}
		return nil
	})
}

func TestLargeUserStore(t *testing.T) {
	s := newSample(t, nil)
	names := make([]string, 10_000)
	for i := range names {
		names[i] = fmt.Sprintf("u%05d", i)
	}
	// Compact JSON: 10,000 users must fit the 1 MiB a Secret may hold.
	var b strings.Builder
	b.WriteString("[")
	for i, n := range names {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"username":%q,"passwordHash":%q}`, n, testHash)
	}
	b.WriteString("]")
	large := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.tenant.Namespace, Name: "large", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"users.yaml": []byte(b.String())},
	}
	conn := &identityv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.tenant.Namespace, Name: "large"},
		Spec: identityv1alpha1.ConnectionSpec{
			TenantRef: identityv1alpha1.TenantReference{Name: "acme"},
			Database:  &identityv1alpha1.DatabaseConnection{UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: "large", Key: "users.yaml"}},
		},
	}
	create(t, large, conn)
	waitReady(t, conn)
	eventually(t, "10,000 users in the snapshot", func() error {
		snap, err := readSnapshot(s.tenant)
		if err != nil {
			return err
		}
		for _, c := range snap.Connections {
			if c.Name == "large" && len(c.Users) == len(names) {
				return nil
			}
		}
		return fmt.Errorf("no connection with %d users", len(names))
	})
}

func TestBrokenReferencesAreConditions(t *testing.T) {
	s := newSample(t, nil)
	ns := s.tenant.Namespace
	missing := &identityv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "missing"},
		Spec: identityv1alpha1.ConnectionSpec{
			TenantRef: identityv1alpha1.TenantReference{Name: "acme"},
			Database:  &identityv1alpha1.DatabaseConnection{UsersSecretRef: identityv1alpha1.SecretKeySelector{Name: "nope", Key: "users.yaml"}},
		},
	}
	ldap := &identityv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "ldap"},
		Spec: identityv1alpha1.ConnectionSpec{
			TenantRef: identityv1alpha1.TenantReference{Name: "acme"},
			LDAP: &identityv1alpha1.LDAPConnection{
				DirectoryTransport: identityv1alpha1.DirectoryTransport{
					URLs:                  []string{"ldaps://ldap.invalid"},
					Timeout:               metav1.Duration{Duration: 5 * time.Second},
					BindPasswordSecretRef: identityv1alpha1.SecretKeySelector{Name: "bind", Key: "password"},
					CASecretRef:           &identityv1alpha1.SecretKeySelector{Name: "bind", Key: "ca.crt"},
				},
				BindDN:     "cn=svc",
				UserSearch: identityv1alpha1.LDAPUserSearch{BaseDN: "ou=people"},
			},
		},
	}
	badHash := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bad-hash", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"users.yaml": []byte("- {username: eve, passwordHash: plaintext}\n")},
	}
	badHashConn := missing.DeepCopy()
	badHashConn.Name = "bad-hash"
	badHashConn.Spec.Database.UsersSecretRef.Name = "bad-hash"
	orphan := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "orphan"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: "no-such-tenant"}},
	}
	bind := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "bind", Labels: map[string]string{identityv1alpha1.LabelReferable: "true"}},
		Data:       map[string][]byte{"password": []byte(randomText()), "ca.crt": []byte("not PEM")},
	}
	create(t, missing, ldap, badHash, badHashConn, orphan, bind)

	c := waitCondition(t, missing, metav1.ConditionFalse, identityv1alpha1.ReasonSecretNotFound)
	if !strings.Contains(c.Message, `"nope"`) {
		t.Errorf("message %q does not name the Secret", c.Message)
	}
	waitCondition(t, badHashConn, metav1.ConditionFalse, identityv1alpha1.ReasonInvalidSecret)
	waitCondition(t, ldap, metav1.ConditionFalse, identityv1alpha1.ReasonInvalidSecret)
	waitCondition(t, orphan, metav1.ConditionFalse, identityv1alpha1.ReasonTenantNotFound)
	if len(events(t, missing, identityv1alpha1.ReasonSecretNotFound)) == 0 {
		t.Error("no SecretNotFound event")
	}
	// The Tenant is still served, without the broken Connections.
	waitReady(t, s.tenant)
	get(t, s.tenant)
	if s.tenant.Status.Connections != 1 {
		t.Errorf("%d connections served, want 1", s.tenant.Status.Connections)
	}

	// Fixing the reference makes the Connection Ready.
	create(t, usersSecret(ns, "nope", "dave"))
	waitReady(t, missing)
	eventually(t, "2 connections served", func() error {
		get(t, s.tenant)
		if s.tenant.Status.Connections != 2 {
			return fmt.Errorf("%d connections", s.tenant.Status.Connections)
		}
		return nil
	})

	// A defaultDirectory that names nothing served is reported on the Tenant.
	update(t, s.tenant, func(tn *identityv1alpha1.Tenant) { tn.Spec.DefaultDirectory = "ldap" })
	waitCondition(t, s.tenant, metav1.ConditionFalse, identityv1alpha1.ReasonInvalidReference)
}

func TestClientSecretRotatesWhenItsSecretIsDeleted(t *testing.T) {
	s := newSample(t, nil)
	public := &identityv1alpha1.Client{
		ObjectMeta: metav1.ObjectMeta{Namespace: s.tenant.Namespace, Name: "public"},
		Spec:       identityv1alpha1.ClientSpec{TenantRef: identityv1alpha1.TenantReference{Name: "acme"}, Type: identityv1alpha1.ClientPublic},
	}
	create(t, public)
	waitReady(t, append(s.objects(), public)...)
	if _, ok := credentials(t, public).Data["client_secret"]; ok {
		t.Error("a public client got a secret")
	}

	tenant := s.tenant
	get(t, tenant)
	get(t, s.client)
	clientID := s.client.Status.ClientID
	old := credentials(t, s.client)
	if err := k.Delete(context.Background(), old); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a new client secret", func() error {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: old.Namespace, Name: old.Name}}
		if err := k.Get(context.Background(), client.ObjectKeyFromObject(s), s); err != nil {
			return err
		}
		if string(s.Data["client_secret"]) == string(old.Data["client_secret"]) {
			return fmt.Errorf("the client secret did not change")
		}
		if string(s.Data["client_id"]) != clientID {
			return fmt.Errorf("client_id changed from %s to %s", clientID, s.Data["client_id"])
		}
		snap, err := readSnapshot(tenant)
		if err != nil {
			return err
		}
		for _, c := range snap.Clients {
			if c.ClientID == clientID && snapshot.ClientSecretMatches(c.SecretHash, string(s.Data["client_secret"])) {
				return nil
			}
		}
		return fmt.Errorf("the snapshot does not hold the new secret's hash")
	})
}

// TestTenantDeletionCleansUp deletes a Tenant: none of the Secrets of the operator's
// namespace is left that belongs to it, whether or not it carries the label the
// finalizer deletes by.
func TestTenantDeletionCleansUp(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.objects()...)
	get(t, s.tenant)
	reported := []string{snapshot.SecretName(string(s.tenant.UID), 0)}
	for _, key := range s.tenant.Status.Keys {
		reported = append(reported, keys.SecretName(string(s.tenant.UID), key.KID))
	}
	if owned := secretsOf(t, s.tenant); !isSubset(reported, owned) {
		t.Fatalf("the Tenant's Secrets %v do not include the key and snapshot Secrets %v its status reports", owned, reported)
	}
	if err := k.Delete(context.Background(), s.tenant); err != nil {
		t.Fatal(err)
	}
	eventually(t, "Tenant gone", func() error { return isGone(s.tenant) })
	if left := secretsOf(t, s.tenant); len(left) != 0 {
		t.Errorf("Secrets of the deleted Tenant are left: %v", left)
	}
	waitCondition(t, s.connection, metav1.ConditionFalse, identityv1alpha1.ReasonTenantNotFound)
	waitCondition(t, s.client, metav1.ConditionFalse, identityv1alpha1.ReasonTenantNotFound)
}

// secretsOf lists every Secret of the operator's namespace and names those that belong
// to tenant by any mark: its UID in their name or a label, or its name in their
// annotation.
func secretsOf(t *testing.T, tenant *identityv1alpha1.Tenant) []string {
	t.Helper()
	var all corev1.SecretList
	if err := k.List(context.Background(), &all, client.InNamespace(operatorNamespace)); err != nil {
		t.Fatal(err)
	}
	uid := string(tenant.UID)
	var names []string
	for _, sec := range all.Items {
		if strings.Contains(sec.Name, uid) || slices.Contains(slices.Collect(maps.Values(sec.Labels)), uid) ||
			sec.Annotations[snapshot.AnnotationTenant] == tenant.Namespace+"/"+tenant.Name {
			names = append(names, sec.Name)
		}
	}
	return names
}

// isSubset reports whether every element of sub is in set.
func isSubset(sub, set []string) bool {
	return !slices.ContainsFunc(sub, func(e string) bool { return !slices.Contains(set, e) })
}

// TestRestartChangesNothing restarts the controller on a converged cluster: no key is
// regenerated and the second pass writes nothing.
func TestRestartChangesNothing(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.objects()...)
	get(t, s.tenant)
	before := keySecrets(t, s.tenant)
	// Let everything settle, including the other tests' objects.
	waitIdle(t)

	reconciled, err := reconcileCounts()
	if err != nil {
		t.Fatal(err)
	}
	// Idle, the stopping manager writes nothing: every write counted is the new one's.
	writes.Store(0)
	restartManager(t)
	waitReconciledSince(t, reconciled)
	waitIdle(t)
	if n := writes.Load(); n != 0 {
		t.Errorf("the second pass made %d writes, want 0; the last: %s", n, &lastWrites)
	}
	after := keySecrets(t, s.tenant)
	if len(after) != len(before) {
		t.Fatalf("%d keys after the restart, %d before", len(after), len(before))
	}
	for kid, sec := range before {
		if after[kid].ResourceVersion != sec.ResourceVersion {
			t.Errorf("key %s was rewritten by the restart", kid)
		}
	}
}

// reconcilers are the controllers by name, each with a list of the kind it reconciles.
var reconcilers = []struct {
	name string
	list func() client.ObjectList
}{
	{"tenant", func() client.ObjectList { return &identityv1alpha1.TenantList{} }},
	{"connection", func() client.ObjectList { return &identityv1alpha1.ConnectionList{} }},
	{"api", func() client.ObjectList { return &identityv1alpha1.APIList{} }},
	{"client", func() client.ObjectList { return &identityv1alpha1.ClientList{} }},
}

// reconcileCounts reads how many reconciles each controller has finished.
func reconcileCounts() (map[string]float64, error) {
	counts := map[string]float64{}
	for _, r := range reconcilers {
		n, err := metricValue("controller_runtime_reconcile_total", "controller", r.name)
		if err != nil {
			return nil, err
		}
		counts[r.name] = n
	}
	return counts, nil
}

// waitReconciledSince waits until every controller has finished, since it had finished
// earlier[name], at least one reconcile for each object of its kind: a new manager
// reconciles every object once.
func waitReconciledSince(t *testing.T, earlier map[string]float64) {
	t.Helper()
	eventually(t, "the new manager reconciles every object", func() error {
		now, err := reconcileCounts()
		if err != nil {
			return err
		}
		for _, r := range reconcilers {
			list := r.list()
			if err := k.List(context.Background(), list); err != nil {
				return err
			}
			if objects, done := meta.LenList(list), now[r.name]-earlier[r.name]; done < float64(objects) {
				return fmt.Errorf("%s: %v reconciles for %d objects", r.name, done, objects)
			}
		}
		return nil
	})
}

// waitIdle waits until no controller has a request queued or a reconcile running, and
// none finished a reconcile or wrote during a second of watching.
func waitIdle(t *testing.T) {
	t.Helper()
	eventually(t, "controllers idle", func() error {
		before, err := readActivity()
		if err != nil {
			return err
		}
		time.Sleep(time.Second)
		after, err := readActivity()
		if err != nil {
			return err
		}
		if after != before {
			return fmt.Errorf("the controllers went on: %+v, a second later %+v", before, after)
		}
		return nil
	})
}

// activity is what the controllers have done so far.
type activity struct {
	reconciles float64
	writes     int64
}

// readActivity reads the controllers' activity, and is an error while one of them has a
// request queued or a reconcile running, or when its metrics cannot be read.
func readActivity() (activity, error) {
	a := activity{writes: writes.Load()}
	for _, r := range reconcilers {
		for _, busy := range []struct{ metric, label string }{
			{"workqueue_depth", "name"}, {"controller_runtime_active_workers", "controller"},
		} {
			n, err := metricValue(busy.metric, busy.label, r.name)
			if err != nil {
				return activity{}, err
			}
			if n > 0 {
				return activity{}, fmt.Errorf("%s is busy: %s %v", r.name, busy.metric, n)
			}
		}
		n, err := metricValue("controller_runtime_reconcile_total", "controller", r.name)
		if err != nil {
			return activity{}, err
		}
		a.reconciles += n
	}
	return a, nil
}

// watchKeyRemoval watches the Secrets of tenant in the operator's namespace until the
// Secret of key kid is deleted, and reports an error unless a snapshot without the key
// was written before: a token server must never load a snapshot naming a deleted key.
func watchKeyRemoval(t *testing.T, tenant *identityv1alpha1.Tenant, kid string) <-chan error {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	w, err := cs.CoreV1().Secrets(operatorNamespace).Watch(ctx, metav1.ListOptions{
		LabelSelector: snapshot.LabelTenantUID + "=" + string(tenant.UID),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	keySecret := keys.SecretName(string(tenant.UID), kid) // the test goes on reading into tenant
	done := make(chan error, 1)
	go func() {
		defer cancel()
		defer w.Stop()
		snapshotDropsKey := false
		for ev := range w.ResultChan() {
			s, ok := ev.Object.(*corev1.Secret)
			if !ok {
				continue
			}
			switch {
			case s.Labels[snapshot.LabelComponent] == snapshot.ComponentSnapshot && ev.Type == watch.Modified:
				snap, err := snapshot.Decode([][]byte{s.Data[snapshot.DataKey]})
				snapshotDropsKey = err == nil && !slices.ContainsFunc(snap.Keys, func(k snapshot.Key) bool { return k.KID == kid })
			case s.Name == keySecret && ev.Type == watch.Deleted:
				if !snapshotDropsKey {
					done <- fmt.Errorf("the Secret of key %s was deleted while the snapshot still named it", kid)
				} else {
					done <- nil
				}
				return
			}
		}
		done <- fmt.Errorf("the Secret of key %s was not deleted within the watch", kid)
	}()
	return done
}

// TestFinalizerKeepsGeneration: adding the Tenant's finalizer changes its metadata
// alone; an update of the whole object made the API server count a new generation, which
// reconciled the Tenant and all its children again.
func TestFinalizerKeepsGeneration(t *testing.T) {
	s := newSample(t, nil)
	waitReady(t, s.objects()...)
	get(t, s.tenant)
	if len(s.tenant.Finalizers) == 0 {
		t.Fatal("the Tenant has no finalizer")
	}
	if s.tenant.Generation != 1 {
		t.Errorf("the Tenant is at generation %d after its finalizer was added, want 1", s.tenant.Generation)
	}
}
