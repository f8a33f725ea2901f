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
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// reachableMessage says what a successful directory check did.
func reachableMessage(c snapshot.Connection) string {
	if c.OIDC != nil {
		return "read and checked the provider's discovery document"
	}
	if who, doc := upstreamOf(c); who != "" {
		return "read and parsed " + who + "'s " + doc
	}
	return "bound as the service account and read the base DN"
}

// upstreamOf names the identity provider that an upstream Connection asks and the
// document its check reads; "" for a directory.
func upstreamOf(c snapshot.Connection) (who, doc string) {
	switch {
	case c.ADFS != nil:
		return "the federation service", adfsDocument(c.ADFS.Mode)
	case c.AzureAD != nil:
		return "the Entra ID tenant", "OpenID configuration"
	}
	return "", ""
}

// describeCheckError says why a directory check failed, as describeDirectoryError does,
// in the words of the connection's kind. An upstream's own text is never repeated: the
// namespace's users read the condition, and the upstream is whatever URL they named.
func describeCheckError(c snapshot.Connection, err error) string {
	if c.OIDC != nil {
		return describeProviderError(err)
	}
	who, doc := upstreamOf(c)
	if who == "" {
		return describeDirectoryError(err)
	}
	if errors.Is(err, upstream.ErrForbiddenAddress) {
		return who + "'s host is a link-local, multicast or unspecified address (such as a cloud metadata service), which Gatehouse never connects to"
	}
	var status *upstream.StatusError
	if errors.As(err, &status) {
		return fmt.Sprintf("%s answered HTTP %d for its %s: check the Connection's URL or tenant", who, status.Code, doc)
	}
	if message := describeDirectoryError(err); message != unknownDirectoryError {
		return message
	}
	return who + "'s " + doc + " could not be read or is not usable: check the Connection's URL or tenant"
}

func adfsDocument(mode string) string {
	if mode == snapshot.ADFSModeOAuth2 {
		return "OpenID configuration"
	}
	return "federation metadata"
}
