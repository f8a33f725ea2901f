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
	"cmp"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/ldap"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// maxReportedUserErrors bounds how many broken users a condition message lists.
const maxReportedUserErrors = 5

// ConnectionReconciler validates Connections: their Tenant exists and the Secrets they
// reference resolve to usable users, passwords and CA bundles.
type ConnectionReconciler struct {
	base
}

// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=connections,verbs=get;list;watch
// +kubebuilder:rbac:groups=identity.gatehouse.dev,resources=connections/status,verbs=get;patch;update

// Reconcile validates one Connection and writes its status.
func (r *ConnectionReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	return reconcileChild(ctx, &r.base, req, func(conn *identityv1alpha1.Connection, _ func() error) (reconcile.Result, error) {
		resolved, err := r.validate(ctx, conn)
		conn.Status.Strategy = strategyOf(conn)
		conn.Status.Users = count(resolved.Users)
		if conn.Spec.Database != nil {
			// A Connection switched from a directory to a database has no directory to reach.
			meta.RemoveStatusCondition(&conn.Status.Conditions, identityv1alpha1.ConditionDirectoryReachable)
		}
		err = r.setReady(conn, &conn.Status.CommonStatus, "the connection is served", err)
		if err != nil || (resolved.LDAP == nil && resolved.ActiveDirectory == nil) {
			return reconcile.Result{}, err // a database, or not resolved: Ready says why
		}
		return reconcile.Result{RequeueAfter: r.reportDirectory(ctx, conn, resolved)}, nil
	})
}

// How often a directory is checked again: soon while it fails, so that the condition
// follows a recovery, and now and then while it works.
const (
	recheckUnreachableDirectory = 30 * time.Second
	recheckReachableDirectory   = 10 * time.Minute
)

// reportDirectory binds to the directory of an LDAP or Active Directory connection as its
// service account, records the outcome in the DirectoryReachable condition (with an
// Event when it changes), and returns when to check again.
func (r *ConnectionReconciler) reportDirectory(ctx context.Context, conn *identityv1alpha1.Connection, resolved snapshot.Connection) time.Duration {
	check := r.opts.CheckDirectory
	if check == nil {
		check = CheckDirectory
	}
	cond := metav1.Condition{
		Type:               identityv1alpha1.ConditionDirectoryReachable,
		Status:             metav1.ConditionTrue,
		Reason:             identityv1alpha1.ReasonDirectoryReachable,
		Message:            "bound as the service account and read the base DN",
		ObservedGeneration: conn.Generation,
	}
	recheck := recheckReachableDirectory
	if err := check(ctx, resolved); err != nil {
		// The operator's log keeps the whole error; the condition, which the namespace's
		// users read, says why in words of its own.
		ctrl.LoggerFrom(ctx).Info("directory check failed", "error", err)
		cond.Status, cond.Reason, cond.Message = metav1.ConditionFalse, identityv1alpha1.ReasonDirectoryUnreachable, describeDirectoryError(err)
		recheck = recheckUnreachableDirectory
	}
	if old := meta.FindStatusCondition(conn.Status.Conditions, cond.Type); old == nil || old.Reason != cond.Reason {
		eventType := corev1.EventTypeNormal
		if cond.Status == metav1.ConditionFalse {
			eventType = corev1.EventTypeWarning
		}
		r.Recorder.Eventf(conn, nil, eventType, cond.Reason, "CheckDirectory", "%s", cond.Message)
	}
	meta.SetStatusCondition(&conn.Status.Conditions, cond)
	return recheck
}

// CheckDirectory binds to the directory of an LDAP or Active Directory connection as its
// service account and reads its base DN, within the connection's timeout.
func CheckDirectory(ctx context.Context, c snapshot.Connection) error {
	switch {
	case c.LDAP != nil:
		ctx, cancel := context.WithTimeout(ctx, c.LDAP.Timeout)
		defer cancel()
		return ldap.Check(ctx, *c.LDAP)
	case c.ActiveDirectory != nil:
		ctx, cancel := context.WithTimeout(ctx, c.ActiveDirectory.Timeout)
		defer cancel()
		return ldap.CheckActiveDirectory(ctx, *c.ActiveDirectory)
	}
	return nil
}

func (r *ConnectionReconciler) validate(ctx context.Context, conn *identityv1alpha1.Connection) (snapshot.Connection, error) {
	if _, err := r.tenantOf(ctx, conn.Namespace, conn.Spec.TenantRef.Name); err != nil {
		return snapshot.Connection{}, err
	}
	return r.resolveConnection(ctx, conn)
}

func (r *ConnectionReconciler) setup(mgr ctrl.Manager, opts controller.Options, secrets userSecrets) error {
	return ctrl.NewControllerManagedBy(mgr).
		For(&identityv1alpha1.Connection{}).
		Watches(&identityv1alpha1.Tenant{}, childrenOf(mgr.GetClient(), &identityv1alpha1.ConnectionList{}),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesRawSource(secrets.referencedBy(referencing(mgr.GetClient(), &identityv1alpha1.ConnectionList{}, requestsFor))).
		WithOptions(opts).
		Named("connection").
		Complete(r)
}

// strategyOf names the kind of directory a Connection declares.
func strategyOf(conn *identityv1alpha1.Connection) string {
	switch {
	case conn.Spec.Database != nil:
		return snapshot.StrategyDatabase
	case conn.Spec.LDAP != nil:
		return snapshot.StrategyLDAP
	case conn.Spec.ActiveDirectory != nil:
		return snapshot.StrategyActiveDirectory
	}
	return ""
}

// resolveConnection reads what a Connection references and returns it as the token
// server needs it. A reference that does not resolve is a problem.
func (b *base) resolveConnection(ctx context.Context, conn *identityv1alpha1.Connection) (snapshot.Connection, error) {
	out := snapshot.Connection{Name: conn.Name, Strategy: strategyOf(conn)}
	var err error
	switch spec := conn.Spec; {
	case spec.Database != nil:
		out.Users, err = b.resolveUsers(ctx, conn.Namespace, spec.Database.UsersSecretRef)
	case spec.LDAP != nil:
		var t snapshot.Transport
		t, err = b.resolveTransport(ctx, conn.Namespace, &spec.LDAP.DirectoryTransport)
		out.LDAP = ldapSnapshot(spec.LDAP, t)
	case spec.ActiveDirectory != nil:
		var t snapshot.Transport
		t, err = b.resolveTransport(ctx, conn.Namespace, &spec.ActiveDirectory.DirectoryTransport)
		out.ActiveDirectory = &snapshot.ActiveDirectory{
			Transport:    t,
			Domain:       spec.ActiveDirectory.Domain,
			BindUsername: spec.ActiveDirectory.BindUsername,
			BaseDN:       cmp.Or(spec.ActiveDirectory.BaseDN, domainDN(spec.ActiveDirectory.Domain)),
		}
	default:
		err = newProblem(identityv1alpha1.ReasonInvalidReference, "set exactly one of database, ldap or activeDirectory")
	}
	if err != nil {
		return snapshot.Connection{}, err
	}
	return out, nil
}

// resolveUsers reads and checks a users Secret: it parses, and every password hash is
// one the token server can verify, within its caps.
func (b *base) resolveUsers(ctx context.Context, namespace string, ref identityv1alpha1.SecretKeySelector) ([]snapshot.User, error) {
	data, err := b.readSecretKey(ctx, namespace, ref)
	if err != nil {
		return nil, err
	}
	users, err := snapshot.ParseUsers(data)
	if err != nil {
		return nil, newProblem(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q: %s", ref.Name, ref.Key, firstLines(err.Error(), maxReportedUserErrors))
	}
	var broken []string
	overCaps := false
	for i := range users {
		if _, err := b.opts.PasswordCaps.Parse(users[i].PasswordHash); err != nil {
			broken = append(broken, fmt.Sprintf("user %q: %v", users[i].Login(), err))
			var capErr *password.CapError
			overCaps = overCaps || errors.As(err, &capErr)
		}
	}
	if len(broken) > 0 {
		hint := ""
		if overCaps {
			hint = " (the caps follow the token server's memory limit)"
		}
		return nil, newProblem(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q: %d users have an unusable passwordHash%s: %s",
			ref.Name, ref.Key, len(broken), hint, firstLines(strings.Join(broken, "\n"), maxReportedUserErrors))
	}
	return users, nil
}

// resolveTransport reads a directory's bind password and CA bundle.
func (b *base) resolveTransport(ctx context.Context, namespace string, spec *identityv1alpha1.DirectoryTransport) (snapshot.Transport, error) {
	bindPassword, err := b.readSecretKey(ctx, namespace, spec.BindPasswordSecretRef)
	if err != nil {
		return snapshot.Transport{}, err
	}
	if len(bindPassword) == 0 {
		return snapshot.Transport{}, newProblem(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q (bind password) is empty",
			spec.BindPasswordSecretRef.Name, spec.BindPasswordSecretRef.Key)
	}
	t := snapshot.Transport{
		URLs:           spec.URLs,
		StartTLS:       spec.StartTLS,
		InsecureNoTLS:  spec.InsecureNoTLS,
		Timeout:        spec.Timeout.Duration,
		MaxConnections: int(spec.MaxConnections),
		BindPassword:   string(bindPassword),
	}
	if ref := spec.CASecretRef; ref != nil {
		ca, err := b.readSecretKey(ctx, namespace, *ref)
		if err != nil {
			return snapshot.Transport{}, err
		}
		if !x509.NewCertPool().AppendCertsFromPEM(ca) {
			return snapshot.Transport{}, newProblem(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q holds no PEM certificate", ref.Name, ref.Key)
		}
		t.CAPEM = string(ca)
	}
	return t, nil
}

func ldapSnapshot(spec *identityv1alpha1.LDAPConnection, t snapshot.Transport) *snapshot.LDAP {
	out := &snapshot.LDAP{
		Transport: t,
		BindDN:    spec.BindDN,
		UserSearch: snapshot.LDAPUserSearch{
			BaseDN:             spec.UserSearch.BaseDN,
			Scope:              string(spec.UserSearch.Scope),
			Filter:             spec.UserSearch.Filter,
			UsernameAttributes: spec.UserSearch.UsernameAttributes,
		},
		Attributes: snapshot.LDAPAttributes{
			Subject: spec.Attributes.Subject,
			Email:   spec.Attributes.Email,
			Name:    spec.Attributes.Name,
			Groups:  spec.Attributes.Groups,
		},
	}
	if g := spec.GroupSearch; g != nil {
		out.GroupSearch = &snapshot.LDAPGroupSearch{
			BaseDN:          g.BaseDN,
			Filter:          g.Filter,
			MemberAttribute: g.MemberAttribute,
			NameAttribute:   g.NameAttribute,
		}
	}
	return out
}

// domainDN is the DN of an AD DNS domain: corp.example.com is DC=corp,DC=example,DC=com.
func domainDN(domain string) string {
	labels := strings.Split(domain, ".")
	for i, l := range labels {
		labels[i] = "DC=" + l
	}
	return strings.Join(labels, ",")
}

// firstLines keeps the first n lines of s, saying how many were left out.
func firstLines(s string, n int) string {
	lines := strings.Split(s, "\n")
	if len(lines) <= n {
		return strings.Join(lines, "; ")
	}
	return fmt.Sprintf("%s; and %d more", strings.Join(lines[:n], "; "), len(lines)-n)
}
