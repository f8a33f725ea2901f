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
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/oidc"
	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
)

// TestDescribeProviderError: each failure is told in words of the controller's own,
// and nothing a provider sent reaches the condition a namespace's users read.
func TestDescribeProviderError(t *testing.T) {
	const remote = "REMOTE-TEXT-/etc/shadow"
	get := func(err error) error {
		return &url.Error{Op: "Get", URL: "https://idp.example/.well-known/openid-configuration", Err: err}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{get(fmt.Errorf("dial tcp 169.254.169.254:443: %w", upstream.ErrForbiddenAddress)), "never connects to"},
		{get(upstream.ErrRedirect), "redirect"},
		{&oidc.MalformedError{Reason: "the discovery document names another issuer", Detail: remote}, "another issuer"},
		{&upstream.StatusError{Code: 404}, "HTTP 404"},
		{get(errors.New("http: server gave HTTP response to HTTPS client")), "did not answer in TLS"},
		{get(&net.DNSError{Name: "idp.invalid", Err: remote}), `host name "idp.invalid" does not resolve`},
		{get(&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "refused the connection"},
		{get(context.DeadlineExceeded), "did not answer within"},
		{get(x509.UnknownAuthorityError{}), "set caSecretRef"},
		{errors.New(remote), "could not be read"},
	} {
		got := describeProviderError(tc.err)
		if !strings.Contains(got, tc.want) {
			t.Errorf("describeProviderError(%v) = %q, want it to say %q", tc.err, got, tc.want)
		}
		if strings.Contains(got, remote) {
			t.Errorf("describeProviderError(%v) echoes the provider: %q", tc.err, got)
		}
	}
}
