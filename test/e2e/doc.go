// Package e2e holds the end-to-end tests: the gatehouse binary's controller and token
// server run as separate processes with their shipped RBAC against a real API server,
// a real slapd behind an LDAP connection, and real OAuth 2.0 and OpenID Connect clients.
package e2e
