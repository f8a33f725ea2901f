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

package compile

import (
	"cmp"
	"strings"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// authorityHosts are the login origins of the Microsoft clouds
// (https://learn.microsoft.com/entra/identity-platform/authentication-national-cloud).
var authorityHosts = map[identityv1alpha1.AzureCloud]string{
	identityv1alpha1.AzurePublic:       "https://login.microsoftonline.com",
	identityv1alpha1.AzureUSGovernment: "https://login.microsoftonline.us",
	identityv1alpha1.AzureChina:        "https://login.chinacloudapi.cn",
}

// azureAD resolves an azureAD connection: its client secret and CA bundle come from
// Secrets of its namespace, its cloud becomes the authority host.
func azureAD(secrets Secrets, namespace string, spec *identityv1alpha1.AzureADConnection) (*snapshot.AzureAD, error) {
	out := &snapshot.AzureAD{
		AuthorityHost: strings.TrimSuffix(cmp.Or(spec.AuthorityHost, authorityHosts[cmp.Or(spec.Cloud, identityv1alpha1.AzurePublic)]), "/"),
		Tenant:        spec.Tenant,
		ClientID:      spec.ClientID,
		Scopes:        spec.Scopes,
		Timeout:       spec.Timeout.Duration,
	}
	var err error
	if out.ClientSecret, err = clientSecret(secrets, namespace, spec.ClientSecretRef); err != nil {
		return nil, err
	}
	out.CAPEM, err = caBundle(secrets, namespace, spec.CASecretRef)
	return out, err
}
