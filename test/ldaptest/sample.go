package ldaptest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// StartSample starts a slapd of the test's own, which the test may stop and restart,
// with the sample directory loaded (see LoadSample); it is removed when the test ends.
func StartSample(t testing.TB) (*Server, map[string]string) {
	t.Helper()
	s, err := Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	passwords, err := s.LoadSample()
	if err != nil {
		t.Fatal(err)
	}
	return s, passwords
}

// LoadSample adds a service account (cn=gatehouse,ou=svc), the users alice, bob, twin1
// and twin2 (twin1 and twin2 share a mail address) under ou=people, and the groups admins
// (alice) and developers (alice, bob) under ou=groups, with new random passwords. It
// returns the passwords by uid ("gatehouse" for the service account).
func (s *Server) LoadSample() (map[string]string, error) {
	pw := map[string]string{}
	for _, uid := range []string{"gatehouse", "alice", "bob", "twin1", "twin2"} {
		p, err := RandomPassword()
		if err != nil {
			return nil, err
		}
		pw[uid] = p
	}
	ldif := fmt.Sprintf(`dn: ou=svc,%[1]s
objectClass: organizationalUnit
ou: svc

dn: cn=gatehouse,ou=svc,%[1]s
objectClass: person
cn: gatehouse
sn: service
userPassword: %[2]s

dn: ou=people,%[1]s
objectClass: organizationalUnit
ou: people

dn: ou=groups,%[1]s
objectClass: organizationalUnit
ou: groups

dn: uid=alice,ou=people,%[1]s
objectClass: inetOrgPerson
uid: alice
cn: Alice Liddell
sn: Liddell
mail: alice@example.org
userPassword: %[3]s

dn: uid=bob,ou=people,%[1]s
objectClass: inetOrgPerson
uid: bob
cn: Bob Builder
sn: Builder
mail: bob@example.org
userPassword: %[4]s

dn: uid=twin1,ou=people,%[1]s
objectClass: inetOrgPerson
uid: twin1
cn: Twin One
sn: One
mail: twins@example.org
userPassword: %[5]s

dn: uid=twin2,ou=people,%[1]s
objectClass: inetOrgPerson
uid: twin2
cn: Twin Two
sn: Two
mail: twins@example.org
userPassword: %[6]s

dn: cn=admins,ou=groups,%[1]s
objectClass: groupOfNames
cn: admins
member: uid=alice,ou=people,%[1]s

dn: cn=developers,ou=groups,%[1]s
objectClass: groupOfNames
cn: developers
member: uid=alice,ou=people,%[1]s
member: uid=bob,ou=people,%[1]s
`, BaseDN, pw["gatehouse"], pw["alice"], pw["bob"], pw["twin1"], pw["twin2"])
	return pw, s.Add(ldif)
}

// SampleConfig is an ldap connection to urls of this server over TLS, binding as the
// sample's service account with servicePassword, finding users by uid or mail and groups
// by memberOf.
func (s *Server) SampleConfig(servicePassword string, urls ...string) snapshot.LDAP {
	return snapshot.LDAP{
		Transport: snapshot.Transport{
			URLs:           urls,
			CAPEM:          s.CAPEM,
			Timeout:        5 * time.Second,
			MaxConnections: 4,
			BindPassword:   servicePassword,
		},
		BindDN: "cn=gatehouse,ou=svc," + BaseDN,
		UserSearch: snapshot.LDAPUserSearch{
			BaseDN:             "ou=people," + BaseDN,
			Scope:              "sub",
			Filter:             "(objectClass=inetOrgPerson)",
			UsernameAttributes: []string{"uid", "mail"},
		},
		Attributes: snapshot.LDAPAttributes{Subject: "entryUUID", Email: "mail", Name: "cn", Groups: "memberOf"},
	}
}

// AddUsers adds n users under the sample's ou=people, user0 to user<n-1>, each with a
// new random password, and returns the passwords by uid. LoadSample must have run.
func (s *Server) AddUsers(n int) (map[string]string, error) {
	pw := make(map[string]string, n)
	var ldif strings.Builder
	for i := range n {
		p, err := RandomPassword()
		if err != nil {
			return nil, err
		}
		uid := fmt.Sprintf("user%d", i)
		pw[uid] = p
		fmt.Fprintf(&ldif, "dn: uid=%[1]s,ou=people,%[2]s\nobjectClass: inetOrgPerson\nuid: %[1]s\ncn: User %[3]d\nsn: %[3]d\nmail: %[1]s@example.org\nuserPassword: %[4]s\n\n",
			uid, BaseDN, i, p)
	}
	return pw, s.Add(ldif.String())
}
