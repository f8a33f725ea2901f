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

package compile

import (
	"cmp"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/password"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// maxReportedUserErrors bounds how many broken users a condition message lists.
const maxReportedUserErrors = 5

// Connection compiles a Connection with the Secrets of its namespace: the users of a
// database, checked against caps (the token server's, which verifies their hashes), or
// the bind password and CA bundle of a directory. What does not resolve is a Problem.
func Connection(conn *identityv1alpha1.Connection, secrets Secrets, caps password.Caps) (snapshot.Connection, error) {
	out := snapshot.Connection{Name: conn.Name, Strategy: Strategy(conn)}
	var err error
	switch spec := conn.Spec; {
	case spec.Database != nil:
		out.Users, err = users(secrets, conn.Namespace, spec.Database.UsersSecretRef, caps)
	case spec.LDAP != nil:
		var t snapshot.Transport
		t, err = transport(secrets, conn.Namespace, &spec.LDAP.DirectoryTransport)
		out.LDAP = ldapOf(spec.LDAP, t)
	case spec.ActiveDirectory != nil:
		var t snapshot.Transport
		t, err = transport(secrets, conn.Namespace, &spec.ActiveDirectory.DirectoryTransport)
		out.ActiveDirectory = &snapshot.ActiveDirectory{
			Transport:    t,
			Domain:       spec.ActiveDirectory.Domain,
			BindUsername: spec.ActiveDirectory.BindUsername,
			BaseDN:       cmp.Or(spec.ActiveDirectory.BaseDN, domainDN(spec.ActiveDirectory.Domain)),
		}
	case spec.ADFS != nil:
		out.ADFS, err = adfsOf(secrets, conn.Namespace, spec.ADFS)
	case spec.AzureAD != nil:
		out.AzureAD, err = azureAD(secrets, conn.Namespace, spec.AzureAD)
	case spec.OIDC != nil:
		out.OIDC, err = oidcOf(secrets, conn.Namespace, spec.OIDC)
	default:
		err = Problemf(identityv1alpha1.ReasonInvalidReference, "set exactly one of database, ldap, activeDirectory, azureAD, adfs or oidc")
	}
	if err != nil {
		return snapshot.Connection{}, err
	}
	return out, nil
}

// ConnectionSecretNames lists, sorted and once each, the Secrets of its namespace that a
// Connection references, which Connection reads.
func ConnectionSecretNames(conn *identityv1alpha1.Connection) []string {
	var refs []*identityv1alpha1.SecretKeySelector
	switch spec := conn.Spec; {
	case spec.Database != nil:
		refs = append(refs, &spec.Database.UsersSecretRef)
	case spec.LDAP != nil:
		refs = append(refs, &spec.LDAP.BindPasswordSecretRef, spec.LDAP.CASecretRef)
	case spec.ActiveDirectory != nil:
		refs = append(refs, &spec.ActiveDirectory.BindPasswordSecretRef, spec.ActiveDirectory.CASecretRef)
	case spec.ADFS != nil:
		refs = append(refs, spec.ADFS.ClientSecretRef, spec.ADFS.CASecretRef)
	case spec.AzureAD != nil:
		refs = append(refs, spec.AzureAD.ClientSecretRef, spec.AzureAD.CASecretRef)
	case spec.OIDC != nil:
		refs = append(refs, spec.OIDC.ClientSecretRef, spec.OIDC.CASecretRef)
	}
	var names []string
	for _, r := range refs {
		if r != nil {
			names = append(names, r.Name)
		}
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Strategy names the kind of directory a Connection declares.
func Strategy(conn *identityv1alpha1.Connection) string {
	switch {
	case conn.Spec.Database != nil:
		return snapshot.StrategyDatabase
	case conn.Spec.LDAP != nil:
		return snapshot.StrategyLDAP
	case conn.Spec.ActiveDirectory != nil:
		return snapshot.StrategyActiveDirectory
	case conn.Spec.ADFS != nil:
		return snapshot.StrategyADFS
	case conn.Spec.AzureAD != nil:
		return snapshot.StrategyAzureAD
	case conn.Spec.OIDC != nil:
		return snapshot.StrategyOIDC
	}
	return ""
}

// users checks a users Secret: it parses, and every password hash is one the token
// server can verify, within its caps.
func users(secrets Secrets, namespace string, ref identityv1alpha1.SecretKeySelector, caps password.Caps) ([]snapshot.User, error) {
	data, err := secrets.value(namespace, ref)
	if err != nil {
		return nil, err
	}
	users, err := snapshot.ParseUsers(data)
	if err != nil {
		return nil, Problemf(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q: %s", ref.Name, ref.Key, firstLines(err.Error(), maxReportedUserErrors))
	}
	var broken []string
	overCaps := false
	for i := range users {
		if _, err := caps.Parse(users[i].PasswordHash); err != nil {
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
		return nil, Problemf(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q: %d users have an unusable passwordHash%s: %s",
			ref.Name, ref.Key, len(broken), hint, firstLines(strings.Join(broken, "\n"), maxReportedUserErrors))
	}
	return users, nil
}

// transport is how a directory is reached: its bind password and CA bundle come from Secrets.
func transport(secrets Secrets, namespace string, spec *identityv1alpha1.DirectoryTransport) (snapshot.Transport, error) {
	bindPassword, err := secrets.value(namespace, spec.BindPasswordSecretRef)
	if err != nil {
		return snapshot.Transport{}, err
	}
	if len(bindPassword) == 0 {
		return snapshot.Transport{}, Problemf(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q (bind password) is empty",
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
	t.CAPEM, err = caBundle(secrets, namespace, spec.CASecretRef)
	return t, err
}

// clientSecret is the upstream client secret that ref selects, "" for a public client.
func clientSecret(secrets Secrets, namespace string, ref *identityv1alpha1.SecretKeySelector) (string, error) {
	if ref == nil {
		return "", nil
	}
	secret, err := secrets.value(namespace, *ref)
	if err != nil {
		return "", err
	}
	if len(secret) == 0 {
		return "", Problemf(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q (client secret) is empty", ref.Name, ref.Key)
	}
	return string(secret), nil
}

// caBundle is the PEM bundle of certificate authorities that ref selects, "" for none.
func caBundle(secrets Secrets, namespace string, ref *identityv1alpha1.SecretKeySelector) (string, error) {
	if ref == nil {
		return "", nil
	}
	ca, err := secrets.value(namespace, *ref)
	if err != nil {
		return "", err
	}
	if !x509.NewCertPool().AppendCertsFromPEM(ca) {
		return "", Problemf(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q holds no PEM certificate", ref.Name, ref.Key)
	}
	return string(ca), nil
}

func ldapOf(spec *identityv1alpha1.LDAPConnection, t snapshot.Transport) *snapshot.LDAP {
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
