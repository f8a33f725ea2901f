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
	"crypto/x509"
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
	if ref := spec.ClientSecretRef; ref != nil {
		secret, err := secrets.value(namespace, *ref)
		if err != nil {
			return nil, err
		}
		if len(secret) == 0 {
			return nil, Problemf(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q (client secret) is empty", ref.Name, ref.Key)
		}
		out.ClientSecret = string(secret)
	}
	if ref := spec.CASecretRef; ref != nil {
		ca, err := secrets.value(namespace, *ref)
		if err != nil {
			return nil, err
		}
		if !x509.NewCertPool().AppendCertsFromPEM(ca) {
			return nil, Problemf(identityv1alpha1.ReasonInvalidSecret, "Secret %q key %q holds no PEM certificate", ref.Name, ref.Key)
		}
		out.CAPEM = string(ca)
	}
	return out, nil
}
