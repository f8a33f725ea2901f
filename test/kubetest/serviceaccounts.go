package kubetest

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	jose "github.com/go-jose/go-jose/v4"
)

// SignServiceAccountToken signs claims with the API server's ServiceAccount signing key,
// under kid, as the API server signs its tokens: for tokens it would never issue, such
// as one that expired already (TokenRequest issues none shorter than ten minutes).
func (e *Env) SignServiceAccountToken(kid string, claims map[string]any) (string, error) {
	pemBytes, err := os.ReadFile(filepath.Join(e.certDir, serviceAccountSigningKey))
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return "", errors.New("the ServiceAccount signing key is not PEM")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", err
	}
	var alg jose.SignatureAlgorithm
	switch key.(type) {
	case *ecdsa.PrivateKey:
		alg = jose.ES256
	case *rsa.PrivateKey:
		alg = jose.RS256
	default:
		return "", fmt.Errorf("a ServiceAccount signing key of type %T", key)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("signing with the ServiceAccount key: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}
