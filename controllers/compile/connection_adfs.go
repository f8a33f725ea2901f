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

// adfsOf resolves an adfs connection: its client secret and CA bundle come from Secrets
// of namespace, and the claims it does not name take its mode's defaults.
func adfsOf(secrets Secrets, namespace string, spec *identityv1alpha1.ADFSConnection) (*snapshot.ADFS, error) {
	mode := string(cmp.Or(spec.Mode, identityv1alpha1.ADFSModeOAuth2))
	defaults := snapshot.DefaultADFSClaims(mode)
	out := &snapshot.ADFS{
		URL:          strings.TrimSuffix(spec.URL, "/"),
		RelyingParty: spec.RelyingParty,
		Mode:         mode,
		ClientID:     spec.ClientID,
		Timeout:      spec.Timeout.Duration,
		Claims: snapshot.ADFSClaims{
			UserID:   cmp.Or(spec.Claims.UserID, defaults.UserID),
			Username: cmp.Or(spec.Claims.Username, defaults.Username),
			Email:    cmp.Or(spec.Claims.Email, defaults.Email),
			Name:     cmp.Or(spec.Claims.Name, defaults.Name),
			Groups:   cmp.Or(spec.Claims.Groups, defaults.Groups),
		},
	}
	var err error
	if out.ClientSecret, err = clientSecret(secrets, namespace, spec.ClientSecretRef); err != nil {
		return nil, err
	}
	out.CAPEM, err = caBundle(secrets, namespace, spec.CASecretRef)
	return out, err
}
