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

// Package compile turns what users declare into what the token server serves: a Tenant,
// its Connections, APIs and Clients, and the Secrets they reference, into the Tenant's
// snapshot.Snapshot. It reads nothing: the reconcilers read the objects and the Secrets
// (and decide on transient errors), call it, and write what it returns.
//
// A child that does not compile is left out of the snapshot, and the rest of the Tenant
// is still served. Its own reconciler checks it with the same functions (Connection,
// API, and for Clients IssuedCredentials and Secrets.Owned), so that its Ready condition
// holds the Problem that left it out.
package compile

import (
	"cmp"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/keys"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Config is what compiling takes from the controller's configuration.
type Config struct {
	// TokenServerURL is the token server's external URL; Tenants without a domain are
	// served under it at /<namespace>/<name>/. Empty means DefaultTokenServerURL.
	TokenServerURL string
	// OperatorNamespace is the operator's namespace, where the token server runs.
	OperatorNamespace string
	// PasswordCaps bound the hashes of users Secrets: the token server's, which verifies them.
	PasswordCaps password.Caps
}

// Children are the Connections, APIs and Clients of a Tenant, in any order.
type Children struct {
	Connections []identityv1alpha1.Connection
	APIs        []identityv1alpha1.API
	Clients     []identityv1alpha1.Client
}

// SecretNames lists, sorted and once each, the Secrets of the Tenant's namespace that
// compiling the children reads: those they reference and those the controller generated
// for them.
func (ch Children) SecretNames() []string {
	var names []string
	for i := range ch.Connections {
		names = append(names, ConnectionSecretNames(&ch.Connections[i])...)
	}
	for i := range ch.APIs {
		names = append(names, APISecretNames(&ch.APIs[i])...)
	}
	for i := range ch.Clients {
		names = append(names, CredentialsSecretName(&ch.Clients[i]))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Inputs are what a Tenant's snapshot is compiled from.
type Inputs struct {
	Tenant *identityv1alpha1.Tenant
	// Keys are the Tenant's signing keys, in the order the snapshot lists them.
	Keys []keys.StatedKey
	Children
	// Secrets hold those of the Tenant's namespace that Children.SecretNames lists.
	Secrets Secrets
}

// LeftOut is a child of the Tenant that the snapshot leaves out, and why.
type LeftOut struct {
	// Kind is Connection, API or Client.
	Kind, Name string
	Problem    *Problem
}

// Tenant compiles the snapshot of a Tenant: its settings, its keys, and the children that
// compile, each kind in the order of their names so that the snapshot, and so its hash,
// does not depend on the order they were listed in. It returns the children it left
// out, with why, in the same order.
func (c Config) Tenant(in Inputs) (*snapshot.Snapshot, []LeftOut) {
	tenant := in.Tenant
	snap := &snapshot.Snapshot{
		Version:             snapshot.FormatVersion,
		Tenant:              snapshot.TenantRef{Namespace: tenant.Namespace, Name: tenant.Name, UID: string(tenant.UID), Created: tenant.CreationTimestamp.UTC()},
		DisplayName:         tenant.Spec.DisplayName,
		Issuer:              c.Issuer(tenant),
		Domain:              tenant.Spec.Domain,
		DefaultDirectory:    tenant.Spec.DefaultDirectory,
		DefaultAudience:     tenant.Spec.DefaultAudience,
		AccessTokenLifetime: tenant.Spec.Tokens.AccessTokenLifetime.Duration,
		IDTokenLifetime:     tenant.Spec.Tokens.IDTokenLifetime.Duration,
		AttackProtection:    attackProtectionOf(tenant.Spec.AttackProtection),
		Unblock:             tenant.Annotations[identityv1alpha1.UnblockAnnotation],
		RevokeRefreshTokens: tenant.Annotations[identityv1alpha1.RevokeRefreshTokensAnnotation],
	}
	for _, k := range in.Keys {
		snap.Keys = append(snap.Keys, snapshot.Key{
			KID: k.KID, Algorithm: k.Algorithm, State: k.State, SecretName: keys.SecretName(string(tenant.UID), k.KID),
		})
	}
	var leftOut []LeftOut
	snap.Connections = compileAll("Connection", in.Connections, func(conn *identityv1alpha1.Connection) (snapshot.Connection, error) {
		return Connection(conn, in.Secrets, c.PasswordCaps)
	}, &leftOut)
	snap.APIs = compileAll("API", in.APIs, func(api *identityv1alpha1.API) (snapshot.API, error) {
		return API(api, in.Secrets)
	}, &leftOut)
	snap.Clients = compileAll("Client", in.Clients, func(cl *identityv1alpha1.Client) (snapshot.Client, error) {
		out, err := Client(cl, in.Secrets)
		if err != nil {
			return out, err
		}
		out.APIs, err = ClientGrants(cl, in.APIs)
		return out, err
	}, &leftOut)
	return snap, leftOut
}

// compileAll compiles each object, in the order of their names, and adds those that do
// not compile to leftOut.
func compileAll[T any, PT interface {
	*T
	metav1.Object
}, Out any](kind string, objs []T, compileOne func(PT) (Out, error), leftOut *[]LeftOut) []Out {
	byName := make([]PT, len(objs))
	for i := range objs {
		byName[i] = &objs[i]
	}
	slices.SortFunc(byName, func(a, b PT) int { return strings.Compare(a.GetName(), b.GetName()) })
	var out []Out
	for _, obj := range byName {
		o, err := compileOne(obj)
		if err != nil {
			// Compiling reads nothing, so it fails only with a Problem.
			p, _ := AsProblem(err)
			*leftOut = append(*leftOut, LeftOut{Kind: kind, Name: obj.GetName(), Problem: p})
			continue
		}
		out = append(out, o)
	}
	return out
}

// attackProtectionOf compiles the Tenant's attack protection. The API server defaults
// every field; a field left unset, by a client that bypassed defaulting, is on.
func attackProtectionOf(spec identityv1alpha1.AttackProtectionSpec) *snapshot.AttackProtection {
	defaults := snapshot.DefaultAttackProtection()
	limit := func(enabled *bool, maxAttempts int32, coolDown metav1.Duration, def snapshot.AttackLimit) snapshot.AttackLimit {
		return snapshot.AttackLimit{
			Enabled:     ptr.Deref(enabled, true),
			MaxAttempts: cmp.Or(int(maxAttempts), def.MaxAttempts),
			CoolDown:    cmp.Or(coolDown.Duration, def.CoolDown),
		}
	}
	bf, ip := spec.BruteForce, spec.SuspiciousIPThrottling
	return &snapshot.AttackProtection{
		BruteForce:             limit(bf.Enabled, bf.MaxAttempts, bf.CoolDown, defaults.BruteForce),
		SuspiciousIPThrottling: limit(ip.Enabled, ip.MaxAttempts, ip.CoolDown, defaults.SuspiciousIPThrottling),
	}
}

// Issuer is a Tenant's issuer: https://<domain>/ when it names a domain, else
// <token server URL>/<namespace>/<name>/.
func (c Config) Issuer(tenant *identityv1alpha1.Tenant) string {
	if tenant.Spec.Domain != "" {
		return DomainIssuer(tenant.Spec.Domain)
	}
	base := strings.TrimSuffix(c.TokenServerURL, "/")
	if base == "" {
		base = DefaultTokenServerURL(c.OperatorNamespace)
	}
	return base + "/" + tenant.Namespace + "/" + tenant.Name + "/"
}

// DomainIssuer is the issuer of a Tenant served at the root of host.
func DomainIssuer(host string) string { return "https://" + host + "/" }

// DefaultTokenServerURL is the token server's in-cluster Service in the operator's namespace.
func DefaultTokenServerURL(operatorNamespace string) string {
	return "http://gatehouse-tokenserver." + operatorNamespace + ".svc:8080"
}

// CheckDefaults reports a defaultDirectory or defaultAudience that names nothing the
// snapshot serves. The Tenant is still served; token requests relying on the default fail.
func CheckDefaults(snap *snapshot.Snapshot) error {
	if d := snap.DefaultDirectory; d != "" && !slices.ContainsFunc(snap.Connections, func(c snapshot.Connection) bool { return c.Name == d }) {
		return Problemf(identityv1alpha1.ReasonInvalidReference, "defaultDirectory %q is not a ready Connection of this Tenant", d)
	}
	if a := snap.DefaultAudience; a != "" && !slices.ContainsFunc(snap.APIs, func(api snapshot.API) bool { return api.Identifier == a }) {
		return Problemf(identityv1alpha1.ReasonInvalidReference, "defaultAudience %q is not the identifier of a ready API of this Tenant", a)
	}
	return nil
}
