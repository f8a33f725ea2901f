package jwt

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func pkcs8(t *testing.T, key any) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func TestParsePrivateKey(t *testing.T) {
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, tc := range []struct {
		name string
		pem  []byte
		alg  jose.SignatureAlgorithm
		ok   bool
	}{
		{"RSA for RS256", pkcs8(t, rsa2048), jose.RS256, true},
		{"RSA for PS256", pkcs8(t, rsa2048), jose.PS256, true},
		{"P-256 for ES256", pkcs8(t, p256), jose.ES256, true},
		{"RSA for ES256", pkcs8(t, rsa2048), jose.ES256, false},
		{"P-256 for RS256", pkcs8(t, p256), jose.RS256, false},
		{"P-384 for ES256", pkcs8(t, p384), jose.ES256, false},
		{"1024-bit RSA", pkcs8(t, rsa1024), jose.RS256, false},
		{"PKCS#1 block", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsa2048)}), jose.RS256, false},
		{"not PEM", []byte("garbage"), jose.RS256, false},
	} {
		if _, err := ParsePrivateKey(tc.pem, tc.alg); (err == nil) != tc.ok {
			t.Errorf("%s: error %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

func TestVerifyAccessToken(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signer, err := NewSigner(jose.ES256, key, "k1")
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]jose.JSONWebKey{"k1": PublicKey(key, "k1", jose.ES256)}
	now := time.Unix(1_800_000_000, 0)
	claims := Claims{Issuer: "https://iss/", Subject: "db|1", Audience: Audience{"api", "https://iss/userinfo"}, IssuedAt: now.Unix(), Expiry: now.Add(time.Hour).Unix()}
	access, _ := signer.SignAccessToken(claims)
	id, _ := signer.SignIDToken(claims)
	hsSigner, _ := NewSigner(jose.HS256, make([]byte, 32), "k1")
	hs, _ := hsSigner.SignAccessToken(claims)

	if got, err := VerifyAccessToken(access, keys, "https://iss/", "https://iss/userinfo", now); err != nil || got.Subject != "db|1" {
		t.Fatalf("valid token: %+v, %v", got, err)
	}
	for _, tc := range []struct {
		name, token, issuer, audience string
		at                            time.Time
	}{
		{"id_token is not an access token", id, "https://iss/", "api", now},
		{"HS256 token with the kid of an asymmetric key", hs, "https://iss/", "api", now},
		{"other issuer", access, "https://other/", "api", now},
		{"other audience", access, "https://iss/", "other", now},
		{"expired", access, "https://iss/", "api", now.Add(time.Hour)},
		{"tampered", access[:len(access)-4] + "AAAA", "https://iss/", "api", now},
	} {
		if _, err := VerifyAccessToken(tc.token, keys, tc.issuer, tc.audience, tc.at); err == nil {
			t.Errorf("%s: accepted", tc.name)
		}
	}
}
