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
	"strings"
	"syscall"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/oidc"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
)

// plainHTTPAnswer is net/http's error, a plain string, for an HTTP server's answer to an
// HTTPS request.
const plainHTTPAnswer = "server gave HTTP response to HTTPS client"

// describeProviderError says why reading an OpenID provider's discovery document failed,
// in words a person can act on. Like describeDirectoryError, it never echoes what the
// provider sent (an issuer may point at any address): MalformedError's reason is the
// connector's own words, and a status is a number.
func describeProviderError(err error) string {
	var malformed *oidc.MalformedError
	var status *upstream.StatusError
	var notTLS tls.RecordHeaderError
	var dnsErr *net.DNSError
	var netErr net.Error
	var unknownCA x509.UnknownAuthorityError
	var wrongHost x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	switch {
	case errors.Is(err, upstream.ErrForbiddenAddress):
		return "the issuer's host is a link-local, multicast or unspecified address (such as a cloud metadata service), which Gatehouse never connects to"
	case errors.Is(err, upstream.ErrRedirect):
		return "the discovery document's URL answered with a redirect, which is never followed: set issuer to the provider's exact issuer URL"
	case errors.As(err, &malformed):
		return malformed.Reason
	case errors.As(err, &status):
		return "the provider answered HTTP " + strconv.Itoa(status.Code) + " for <issuer>/.well-known/openid-configuration: check the issuer URL"
	case errors.As(err, &notTLS), strings.Contains(err.Error(), plainHTTPAnswer):
		return "the provider did not answer in TLS: check the issuer URL's port"
	case errors.As(err, &dnsErr), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, context.DeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout(), errors.As(err, &unknownCA), errors.As(err, &wrongHost), errors.As(err, &invalidCert):
		// The network's and TLS's failures read alike for directories and providers.
		return describeDirectoryError(err)
	}
	return "the provider's discovery document could not be read"
}
