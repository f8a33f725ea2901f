// Package adtest tests the Active Directory connector of package ldap against a real
// Samba AD domain controller. It is separate so that the slapd tests of package ldap do
// not wait for a domain to be provisioned.
package adtest
