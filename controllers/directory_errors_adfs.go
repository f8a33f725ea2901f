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
	if c.ADFS != nil {
		return "read and parsed the federation service's " + adfsDocument(c.ADFS.Mode)
	}
	return "bound as the service account and read the base DN"
}

// describeCheckError says why a directory check failed, as describeDirectoryError does,
// in the words of the connection's kind.
func describeCheckError(c snapshot.Connection, err error) string {
	if c.ADFS == nil {
		return describeDirectoryError(err)
	}
	doc := adfsDocument(c.ADFS.Mode)
	var status *upstream.StatusError
	if errors.As(err, &status) {
		return fmt.Sprintf("the federation service answered HTTP %d for its %s: check the URL", status.Code, doc)
	}
	if message := describeDirectoryError(err); message != unknownDirectoryError {
		return message
	}
	return "the federation service's " + doc + " could not be read or is not usable: check the URL, and that it is an ADFS"
}

func adfsDocument(mode string) string {
	if mode == snapshot.ADFSModeOAuth2 {
		return "OpenID configuration"
	}
	return "federation metadata"
}
