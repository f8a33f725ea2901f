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
	"crypto/sha256"
	"encoding/hex"

	corev1 "k8s.io/api/core/v1"

	identityv1alpha1 "github.com/gatehouse-dev/gatehouse/api/v1alpha1"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Keys of a Client's credentials Secret.
const (
	CredentialsClientID     = "client_id"
	CredentialsClientSecret = "client_secret"
	CredentialsTokenURL     = "token_url"
	CredentialsIssuer       = "issuer"
)

// Client compiles a Client with the Secrets of its namespace: its client_id and the hash
// of its secret, from the credentials Secret the controller wrote for it. A Client whose
// credentials are not written yet, or whose credentials Secret holds others, is a Problem.
func Client(c *identityv1alpha1.Client, secrets Secrets) (snapshot.Client, error) {
	out := snapshot.Client{ClientID: c.Status.ClientID, Name: c.Name, Type: string(cmp.Or(c.Spec.Type, identityv1alpha1.ClientConfidential))}
	out.TrustForwardedFor = c.Spec.TrustForwardedFor && Confidential(c)
	out.RefreshTokens = RefreshTokens(c)
	if ref := c.Spec.ServiceAccountRef; ref != nil && Confidential(c) {
		out.ServiceAccount = &snapshot.ServiceAccountRef{Namespace: c.Namespace, Name: ref.Name}
	}
	for _, g := range c.Spec.GrantTypes {
		out.GrantTypes = append(out.GrantTypes, string(g))
	}
	existing, err := secrets.Owned(c, CredentialsSecretName(c))
	if err != nil {
		return snapshot.Client{}, err
	}
	clientID, secret, err := IssuedCredentials(c, existing)
	if err != nil {
		return snapshot.Client{}, err
	}
	if out.ClientID == "" || clientID != out.ClientID {
		return snapshot.Client{}, Problemf(identityv1alpha1.ReasonSecretNotFound, "the credentials of this client are not written yet")
	}
	if HasSecret(c) {
		if secret == "" {
			return snapshot.Client{}, Problemf(identityv1alpha1.ReasonSecretNotFound, "the client secret is not issued yet")
		}
		out.SecretHash = snapshot.HashClientSecret(secret)
	}
	return out, nil
}

// IssuedCredentials returns the client_id and secret of a credentials Secret the
// controller wrote for c: those that status's digest matches. They are empty when there
// is no Secret, and a SecretConflict problem when the Secret holds anything else.
//
// A Client of a release before status held the digest has a client_id in status and
// none: its Secret's client_id is kept when it is that one, which is the controller's,
// but not the secret beside it, which anyone who may write Secrets in the namespace
// could have planted; a new one is issued (the secret is empty).
func IssuedCredentials(c *identityv1alpha1.Client, existing *corev1.Secret) (clientID, secret string, err error) {
	if existing == nil {
		return "", "", nil
	}
	clientID = string(existing.Data[CredentialsClientID])
	secret = string(existing.Data[CredentialsClientSecret])
	switch digest := c.Status.CredentialsDigest; {
	case digest != "" && CredentialsDigest(clientID, secret) == digest:
		return clientID, secret, nil
	case digest == "" && c.Status.ClientID != "" && clientID == c.Status.ClientID:
		return clientID, "", nil
	}
	return "", "", Problemf(ReasonSecretConflict,
		"Secret %q holds credentials this controller did not issue; delete it, and the controller issues new ones", existing.Name)
}

// CredentialsDigest is what status records of the credentials the controller issued.
// The secret is 256 random bits, so its SHA-256 may be read by whoever reads status.
func CredentialsDigest(clientID, secret string) string {
	sum := sha256.Sum256([]byte(clientID + "\x00" + secret))
	return hex.EncodeToString(sum[:])
}

// CredentialsSecretName is the Secret in which the controller writes a Client's credentials.
func CredentialsSecretName(c *identityv1alpha1.Client) string {
	return cmp.Or(c.Spec.CredentialsSecretName, c.Name+"-credentials")
}

// Confidential tells whether a Client authenticates: every Client but a public one.
func Confidential(c *identityv1alpha1.Client) bool {
	return c.Spec.Type != identityv1alpha1.ClientPublic
}

// HasSecret tells whether a Client authenticates with a client secret: a confidential
// one that does not with its ServiceAccount's tokens.
func HasSecret(c *identityv1alpha1.Client) bool {
	return Confidential(c) && c.Spec.ServiceAccountRef == nil
}
