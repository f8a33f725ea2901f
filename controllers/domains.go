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
	"context"
	"net/url"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/controllers/compile"
)

// indexDomain indexes Tenants, cluster-wide, by spec.domain.
const indexDomain = "spec.domain"

// DomainPolicy is the cluster admin's say on which hosts Tenants may claim as
// spec.domain. A namespace may claim a host that Allowed or its Namespace's
// identity.gatehouse.dev/allowed-domains annotation matches, and no namespace may claim a
// Reserved host or the token server's own.
type DomainPolicy struct {
	// Allowed are patterns every namespace may claim: exact hosts, "*.suffix" for every
	// host below suffix, or "*" for any host.
	Allowed []string
	// Reserved are patterns of hosts that no Tenant may claim.
	Reserved []string
}

// ParseDomainList splits a comma-separated list of host patterns, as the flags and the
// Namespace annotation hold them, lower-cased and without blanks.
func ParseDomainList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.ToLower(strings.TrimSpace(p)); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// matchesDomain reports whether host matches one of patterns: an exact host, "*.suffix"
// for the hosts strictly below suffix, or "*" for every host.
func matchesDomain(patterns []string, host string) bool {
	for _, p := range patterns {
		suffix, wildcard := strings.CutPrefix(p, "*")
		switch {
		case p == "*", p == host:
			return true
		case wildcard && strings.HasPrefix(suffix, ".") && strings.HasSuffix(host, suffix) && len(host) > len(suffix):
			return true
		}
	}
	return false
}

// domainClaim is one Tenant's claim on its spec.domain, as domainProblem weighs it.
type domainClaim struct {
	uid     types.UID
	created metav1.Time
	// serving tells that the Tenant is served at the host now (its status says so): a
	// host is never taken from the Tenant that serves it, not even by an older one.
	serving bool
	// mayClaim tells that the policy allows the Tenant's namespace the host.
	mayClaim bool
}

func claimOf(t *identityv1alpha1.Tenant, mayClaim bool) domainClaim {
	return domainClaim{
		uid:      t.UID,
		created:  t.CreationTimestamp,
		serving:  t.Status.Issuer == compile.DomainIssuer(t.Spec.Domain),
		mayClaim: mayClaim,
	}
}

// precedes tells whether claim a wins the host over claim b: the Tenant serving it
// keeps it; among the others the oldest (creationTimestamp, then UID) wins, so that the
// answer never flips.
func (a domainClaim) precedes(b domainClaim) bool {
	switch {
	case a.serving != b.serving:
		return a.serving
	case !a.created.Equal(&b.created):
		return a.created.Before(&b.created)
	default:
		return a.uid < b.uid
	}
}

// domainProblem decides whether a Tenant may be served at host: reserved and
// not-allowed hosts are refused, and so is a host that another Tenant allowed to claim
// it claims first. Messages name no other Tenant or namespace.
func domainProblem(host string, reserved bool, own domainClaim, others []domainClaim) *compile.Problem {
	switch {
	case reserved:
		return compile.Problemf(identityv1alpha1.ReasonDomainReserved,
			"domain %q is reserved: it is the token server's own host or one the cluster admin reserved; choose another domain", host)
	case !own.mayClaim:
		return compile.Problemf(identityv1alpha1.ReasonDomainNotAllowed,
			"this namespace may not claim domain %q; a cluster admin allows it by adding it to the annotation %s of the Namespace",
			host, identityv1alpha1.AnnotationAllowedDomains)
	}
	for _, o := range others {
		if o.uid != own.uid && o.mayClaim && o.precedes(own) {
			return compile.Problemf(identityv1alpha1.ReasonDomainConflict,
				"domain %q is already served by another Tenant in this cluster; choose another domain", host)
		}
	}
	return nil
}

// checkDomain is domainProblem for a Tenant, from the policy, the Namespaces and the
// other Tenants claiming its domain. A Tenant without a domain has nothing to check.
func (r *TenantReconciler) checkDomain(ctx context.Context, tenant *identityv1alpha1.Tenant) error {
	host := tenant.Spec.Domain
	if host == "" {
		return nil
	}
	mayClaim, err := r.namespaceMayClaim(ctx, tenant.Namespace, host)
	if err != nil {
		return err
	}
	var claimants identityv1alpha1.TenantList
	if err := r.Client.List(ctx, &claimants, client.MatchingFields{indexDomain: host}); err != nil {
		return err
	}
	var others []domainClaim
	for i := range claimants.Items {
		o := &claimants.Items[i]
		if o.UID == tenant.UID || !o.DeletionTimestamp.IsZero() {
			continue
		}
		ok, err := r.namespaceMayClaim(ctx, o.Namespace, host)
		if err != nil {
			return err
		}
		others = append(others, claimOf(o, ok))
	}
	if p := domainProblem(host, r.reservedDomain(host), claimOf(tenant, mayClaim), others); p != nil {
		return p
	}
	return nil
}

// reservedDomain tells whether host is reserved: the token server's own host, under
// which Tenants without a domain are served (claiming it would capture all of them),
// or a host the cluster admin reserved.
func (r *TenantReconciler) reservedDomain(host string) bool {
	own := r.opts.TokenServerURL
	if own == "" {
		own = compile.DefaultTokenServerURL(r.opts.Namespace)
	}
	if u, err := url.Parse(own); err == nil && strings.EqualFold(u.Hostname(), host) {
		return true
	}
	return matchesDomain(r.opts.Domains.Reserved, host)
}

// namespaceMayClaim tells whether the policy or the Namespace's annotation allows
// Tenants of namespace to claim host.
func (r *TenantReconciler) namespaceMayClaim(ctx context.Context, namespace, host string) (bool, error) {
	if matchesDomain(r.opts.Domains.Allowed, host) {
		return true, nil
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := r.Client.Get(ctx, types.NamespacedName{Name: namespace}, ns); err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return matchesDomain(ParseDomainList(ns.GetAnnotations()[identityv1alpha1.AnnotationAllowedDomains]), host), nil
}

// sameDomain maps a Tenant to the other Tenants that claim its domain: when one stops
// serving it or goes away, the next claim may win.
func sameDomain(c client.Reader) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		t, ok := o.(*identityv1alpha1.Tenant)
		if !ok || t.Spec.Domain == "" {
			return nil
		}
		var list identityv1alpha1.TenantList
		if err := c.List(ctx, &list, client.MatchingFields{indexDomain: t.Spec.Domain}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the Tenants that claim a domain", "domain", t.Spec.Domain)
			return nil
		}
		return requestsFor(&list)
	})
}

// tenantsOfNamespace maps a Namespace to its Tenants that claim a domain: its
// allowed-domains annotation decides whether they may.
func tenantsOfNamespace(c client.Reader) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, ns client.Object) []reconcile.Request {
		var list identityv1alpha1.TenantList
		if err := c.List(ctx, &list, client.InNamespace(ns.GetName())); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing the Tenants of a Namespace", "namespace", ns.GetName())
			return nil
		}
		list.Items = slices.DeleteFunc(list.Items, func(t identityv1alpha1.Tenant) bool { return t.Spec.Domain == "" })
		return requestsFor(&list)
	})
}
