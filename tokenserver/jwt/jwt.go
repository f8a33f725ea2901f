// Package jwt signs and verifies the compact JWS tokens the token server issues: RFC
// 9068 access tokens (typ at+jwt) and OpenID Connect id_tokens (typ JWT), with a
// tenant's asymmetric keys or an API's HS256 secret.
package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Token types, the JWS typ header.
const (
	TypeAccessToken = "at+jwt"
	TypeIDToken     = "JWT"
)

// AsymmetricAlgorithms are the algorithms of tenant keys.
var AsymmetricAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.PS256, jose.ES256}

// Signer signs claims with one key, as access tokens and as id_tokens.
type Signer struct {
	accessToken jose.Signer
	idToken     jose.Signer
}

// NewSigner returns a signer for key, which is a crypto.Signer of a tenant key or the
// []byte secret of an HS256 API. kid is the key ID header ("" for none).
func NewSigner(alg jose.SignatureAlgorithm, key any, kid string) (*Signer, error) {
	sk := jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(alg)}}
	at, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType(TypeAccessToken))
	if err != nil {
		return nil, fmt.Errorf("creating a %s signer: %w", alg, err)
	}
	id, err := jose.NewSigner(sk, (&jose.SignerOptions{}).WithType(TypeIDToken))
	if err != nil {
		return nil, fmt.Errorf("creating a %s signer: %w", alg, err)
	}
	return &Signer{accessToken: at, idToken: id}, nil
}

// SignAccessToken signs claims as an RFC 9068 access token.
func (s *Signer) SignAccessToken(claims any) (string, error) {
	return sign(s.accessToken, claims)
}

// SignIDToken signs claims as an id_token.
func (s *Signer) SignIDToken(claims any) (string, error) {
	return sign(s.idToken, claims)
}

func sign(signer jose.Signer, claims any) (string, error) {
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("encoding claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("signing: %w", err)
	}
	return jws.CompactSerialize()
}

// ParsePrivateKey reads a PKCS#8 PEM private key and checks that it fits alg: an RSA key
// of at least 2048 bits for RS256 and PS256, a P-256 key for ES256.
func ParsePrivateKey(pemBytes []byte, alg jose.SignatureAlgorithm) (crypto.Signer, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("want a PEM block of type PRIVATE KEY (PKCS#8)")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parsing PKCS#8 key: %w", err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if alg != jose.RS256 && alg != jose.PS256 {
			return nil, fmt.Errorf("an RSA key cannot sign %s", alg)
		}
		if k.N.BitLen() < 2048 {
			return nil, fmt.Errorf("RSA key of %d bits, want at least 2048", k.N.BitLen())
		}
		return k, nil
	case *ecdsa.PrivateKey:
		if alg != jose.ES256 || k.Curve != elliptic.P256() {
			return nil, fmt.Errorf("an ECDSA %s key cannot sign %s", k.Curve.Params().Name, alg)
		}
		return k, nil
	default:
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
}

// PublicKey is a published verification key.
func PublicKey(key crypto.Signer, kid string, alg jose.SignatureAlgorithm) jose.JSONWebKey {
	return jose.JSONWebKey{Key: key.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}
}

// Claims are the registered claims a verifier checks.
type Claims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience Audience `json:"aud"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	Scope    string   `json:"scope,omitempty"`
	ClientID string   `json:"client_id,omitempty"`
	JWTID    string   `json:"jti,omitempty"`
	// AuthorizedParty (azp) and GrantType (gty) are Auth0's claims of a machine token:
	// the client, and client-credentials.
	AuthorizedParty string `json:"azp,omitempty"`
	GrantType       string `json:"gty,omitempty"`
}

// Audience is the aud claim: one string, or an array when a token has several audiences.
type Audience []string

// MarshalJSON writes a single audience as a string, as most resource servers expect.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads a string or an array of strings.
func (a *Audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '[' { // not a string: skip the failed attempt below
		return json.Unmarshal(b, (*[]string)(a))
	}
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = Audience{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(a))
}

// Contains reports whether aud is one of the audiences.
func (a Audience) Contains(aud string) bool {
	for _, x := range a {
		if x == aud {
			return true
		}
	}
	return false
}

// ErrInvalidToken means a token is malformed, signed by an unknown key, badly signed,
// expired or not meant for the verifier.
var ErrInvalidToken = errors.New("invalid token")

// VerifyAccessToken checks an access token's signature against keys (by kid), its type,
// issuer, audience and expiry, and returns its claims.
func VerifyAccessToken(token string, keys map[string]jose.JSONWebKey, issuer, audience string, now time.Time) (Claims, error) {
	jws, err := jose.ParseSignedCompact(token, AsymmetricAlgorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return Claims{}, fmt.Errorf("%w: malformed", ErrInvalidToken)
	}
	header := jws.Signatures[0].Header
	key, ok := keys[header.KeyID]
	if !ok || key.Algorithm != header.Algorithm {
		return Claims{}, fmt.Errorf("%w: unknown key", ErrInvalidToken)
	}
	if typ, _ := header.ExtraHeaders[jose.HeaderType].(string); typ != TypeAccessToken {
		return Claims{}, fmt.Errorf("%w: not an access token", ErrInvalidToken)
	}
	payload, err := jws.Verify(key.Key)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: bad signature", ErrInvalidToken)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: malformed claims", ErrInvalidToken)
	}
	switch {
	case c.Issuer != issuer:
		return Claims{}, fmt.Errorf("%w: issuer", ErrInvalidToken)
	case !c.Audience.Contains(audience):
		return Claims{}, fmt.Errorf("%w: audience", ErrInvalidToken)
	case now.Unix() >= c.Expiry:
		return Claims{}, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return c, nil
}
