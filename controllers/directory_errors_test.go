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
	"strings"
	"syscall"
	"testing"

	goldap "github.com/go-ldap/ldap/v3"
)

// TestDescribeDirectoryError: each failure is told in words of the controller's own,
// and nothing a directory sent reaches the condition a namespace's users read.
func TestDescribeDirectoryError(t *testing.T) {
	const remote = "REMOTE-TEXT-/etc/shadow"
	fromDirectory := func(code uint16) error {
		return fmt.Errorf("binding: %w", goldap.NewError(code, errors.New(remote)))
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.DNSError{Name: "ldap.invalid", Err: remote}, `host name "ldap.invalid" does not resolve`},
		{fmt.Errorf("dial: %w", &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}), "refused the connection"},
		{fmt.Errorf("dial: %w", context.DeadlineExceeded), "did not answer within"},
		{fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), "set caSecretRef"},
		{fromDirectory(goldap.LDAPResultInvalidCredentials), "wrong bind DN"},
		{fromDirectory(goldap.LDAPResultNoSuchObject), "base DN does not exist"},
		{fromDirectory(goldap.LDAPResultInsufficientAccessRights), "may not read the base DN"},
		{fromDirectory(goldap.LDAPResultConfidentialityRequired), "requires TLS"},
		{fromDirectory(goldap.LDAPResultBusy), `LDAP result "Busy"`},
		{errors.New(remote), "could not be reached"},
	} {
		got := describeDirectoryError(tc.err)
		if !strings.Contains(got, tc.want) {
			t.Errorf("describeDirectoryError(%v) = %q, want it to say %q", tc.err, got, tc.want)
		}
		if strings.Contains(got, remote) {
			t.Errorf("describeDirectoryError(%v) echoes the directory: %q", tc.err, got)
		}
	}
}
