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
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func TestDescribeUpstreamCheckError(t *testing.T) {
	wsTrust := snapshot.Connection{ADFS: &snapshot.ADFS{Mode: snapshot.ADFSModeWSTrust}}
	oauth2 := snapshot.Connection{ADFS: &snapshot.ADFS{Mode: snapshot.ADFSModeOAuth2}}
	for _, tc := range []struct {
		conn snapshot.Connection
		err  error
		want string
	}{
		{wsTrust, fmt.Errorf("reading: %w", &upstream.StatusError{Code: 404}), "the federation service answered HTTP 404 for its federation metadata"},
		{oauth2, context.DeadlineExceeded, "did not answer within the Connection's timeout"},
		{oauth2, errors.New("<html>upstream text</html>"), "the federation service's OpenID configuration could not be read or is not usable"},
	} {
		if got := describeCheckError(tc.conn, tc.err); !strings.Contains(got, tc.want) || strings.Contains(got, "upstream text") {
			t.Errorf("describeCheckError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if got := reachableMessage(wsTrust); !strings.Contains(got, "federation metadata") {
		t.Errorf("reachableMessage = %q", got)
	}
	azure := snapshot.Connection{AzureAD: &snapshot.AzureAD{AuthorityHost: "https://login.example", Tenant: "contoso.example"}}
	if got := describeCheckError(azure, &upstream.StatusError{Code: 400}); !strings.Contains(got, "the Entra ID tenant answered HTTP 400") {
		t.Errorf("describeCheckError of an azureAD connection = %q", got)
	}
}
