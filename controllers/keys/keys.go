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

// Package keys holds the lifecycle of a Tenant's signing keys as small pure functions:
// generating a key and deriving its kid, and deciding, for a given instant, which key is next, current or previous, which
// keys to generate and which to remove.
//
// A key's whole lifecycle follows from one timestamp written when the key is created,
// its notBefore (when it becomes current):
//   - next: notBefore is in the future. It is published in the JWKS but does not sign.
//   - current: the key with the latest notBefore that is not in the future.
//   - previous: an older key. It stopped being current when its successor's notBefore
//     passed, and is removed once every token it could have signed has expired, that is
//     after that instant plus the Tenant's longest token lifetime.
//
// There is always one next key: it is generated when its predecessor becomes current,
// with notBefore = predecessor's notBefore + rotationPeriod, but never less than
// PublishAhead from now, so that relying parties see a key in the JWKS before any token
// carries its kid. Because states derive from notBefore alone, a key Secret is written
// once, and again only when a manual rotation moves a next key's notBefore to now.
package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Algorithms of Tenant signing keys.
const (
	RS256 = "RS256"
	PS256 = "PS256"
	ES256 = "ES256"
)

// DefaultRSABits is the modulus size of RS256 and PS256 keys unless the Tenant asks for more.
const DefaultRSABits = 2048

// Generate creates a private key for alg; bits applies to RS256 and PS256 only.
func Generate(alg string, bits int) (crypto.Signer, error) {
	switch alg {
	case RS256, PS256:
		if bits == 0 {
			bits = DefaultRSABits
		}
		return rsa.GenerateKey(rand.Reader, bits)
	case ES256:
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		return nil, fmt.Errorf("unsupported signing algorithm %q", alg)
	}
}

// EncodePEM encodes a private key as a PKCS#8 PEM block.
func EncodePEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// Size is the RSA modulus size of key in bits, or 0 for other keys.
func Size(key crypto.Signer) int {
	if k, ok := key.Public().(*rsa.PublicKey); ok {
		return k.N.BitLen()
	}
	return 0
}

// KID is the RFC 7638 JWK thumbprint (SHA-256, base64url) of the key's public half: it
// is stable across restarts, derivable from the key alone and so checkable.
func KID(key crypto.Signer) (string, error) {
	thumbprint, err := (&jose.JSONWebKey{Key: key.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", err
	}
	return base64.RawURLEncoding.EncodeToString(thumbprint), nil
}

// SecretName is the name of the Secret holding the key kid of the Tenant with tenantUID.
func SecretName(tenantUID, kid string) string {
	sum := sha256.Sum256([]byte(kid))
	return "gatehouse-key-" + tenantUID + "-" + hex.EncodeToString(sum[:])[:10]
}
