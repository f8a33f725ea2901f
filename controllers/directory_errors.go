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
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strconv"
	"syscall"

	goldap "github.com/go-ldap/ldap/v3"
)

// describeDirectoryError says why a directory check failed in words a person can act
// on. It never echoes what the directory sent: a Connection may point at any address,
// and a condition or Event must not become a way to read a remote server's answers.
// What it names comes from the Connection itself (its host name) or from this program.
func describeDirectoryError(err error) string {
	var dnsErr *net.DNSError
	var unknownCA x509.UnknownAuthorityError
	var wrongHost x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	var notTLS tls.RecordHeaderError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return "the directory's host name " + strconv.Quote(dnsErr.Name) + " does not resolve: check the URL"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "the directory refused the connection: nothing listens at the URL's host and port"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return "the directory did not answer within the Connection's timeout: check the URL, the network path and the timeout"
	case errors.As(err, &unknownCA):
		return "the directory's certificate is not signed by a trusted CA: set caSecretRef to the CA that signed it"
	case errors.As(err, &wrongHost):
		return "the directory's certificate does not name the URL's host: use the host name the certificate was issued for"
	case errors.As(err, &invalidCert):
		return "the directory's certificate is invalid or expired"
	case errors.As(err, &notTLS):
		return "the directory did not answer in TLS: use ldaps:// on its TLS port, or ldap:// with startTLS"
	case goldap.IsErrorWithCode(err, goldap.LDAPResultInvalidCredentials):
		return "the directory refused the service account: wrong bind DN (or bind username) or bind password"
	case goldap.IsErrorAnyOf(err, goldap.LDAPResultConfidentialityRequired, goldap.LDAPResultStrongAuthRequired):
		return "the directory requires TLS or a stronger authentication for the service account's bind: use ldaps:// or startTLS"
	case goldap.IsErrorWithCode(err, goldap.LDAPResultNoSuchObject):
		return "the base DN does not exist in the directory: check userSearch.baseDN (or baseDN)"
	case goldap.IsErrorWithCode(err, goldap.LDAPResultInsufficientAccessRights):
		return "the service account may not read the base DN: grant it read access, or use another account"
	}
	var ldapErr *goldap.Error
	if errors.As(err, &ldapErr) {
		if name, ok := goldap.LDAPResultCodeMap[ldapErr.ResultCode]; ok {
			return "the directory refused the check with LDAP result " + strconv.Quote(name)
		}
	}
	return unknownDirectoryError
}

// unknownDirectoryError is what describeDirectoryError says of an error it does not know.
const unknownDirectoryError = "the directory could not be reached or refused the service account"
