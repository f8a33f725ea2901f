// Package adfstest is a local HTTPS stand-in for an ADFS 2016+ federation service, for
// tests of the connectors that talk to one (the adfs connector, and Azure AD's federated
// users, whose password MSAL checks at ADFS's usernamemixed endpoint). It is not ADFS:
// each answer has the shape Microsoft documents, or the shape Microsoft's own library
// parses, and the comments cite where each shape comes from:
//
//   - /FederationMetadata/2007-06/FederationMetadata.xml: SAML 2.0 metadata
//     (saml-metadata-2.0-os) with the WS-Federation SecurityTokenServiceType role ADFS
//     publishes, listing its token-signing certificates (rotatable: RotateSigningKey);
//   - /adfs/services/trust/mex: the WS-MetadataExchange document listing the
//     usernamemixed endpoint, with the names MSAL Go reads
//     (apps/internal/oauth/ops/wstrust/defs/mex_document_definitions.go), for Entra ID's
//     federated users;
//   - /adfs/services/trust/13/usernamemixed: WS-Trust 1.3 (ws-trust-1.3-spec-os) over
//     SOAP 1.2: an RSTR collection holding a SAML 1.1 assertion (or SAML 2.0 when the
//     RST's TokenType asks for it) signed with goxmldsig as ADFS signs them (RSA-SHA256,
//     exclusive canonicalisation), the collection shape that MSAL Go parses
//     (apps/internal/oauth/ops/wstrust/defs/saml_assertion_definitions.go); a
//     wsse:FailedAuthentication SOAP fault (WS-Security 1.0 §12) for a bad password;
//   - /adfs/.well-known/openid-configuration, /adfs/discovery/keys and
//     /adfs/oauth2/token: ADFS's OpenID Connect discovery, its JWKS and its password
//     grant (https://learn.microsoft.com/en-us/windows-server/identity/ad-fs/overview/ad-fs-openid-connect-oauth-flows-scenarios),
//     with the id_token claims of [MS-OIDCE] §2.2.2.1 (upn, unique_name, email) and
//     RFC 6749 §5.2 error bodies carrying ADFS's MSIS codes.
package adfstest

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is the SHA-1 thumbprint of a certificate (RFC 7517 §4.8), as ADFS publishes it
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	jose "github.com/go-jose/go-jose/v4"
	josejwt "github.com/go-jose/go-jose/v4/jwt"
	dsig "github.com/russellhaering/goxmldsig"
)

// Claim types ADFS issues (the claim descriptions of a default ADFS farm).
const (
	ClaimUPN   = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
	ClaimEmail = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
	ClaimName  = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name"
	ClaimGroup = "http://schemas.xmlsoap.org/claims/Group"
)

// jwtClaimNames are the id_token names ADFS maps its claim types to.
var jwtClaimNames = map[string]string{ClaimUPN: "upn", ClaimEmail: "email", ClaimName: "unique_name", ClaimGroup: "group"}

// User is an account of the stand-in.
type User struct {
	Password string
	// Claims by claim type; each becomes a SAML attribute and, mapped, an id_token claim.
	Claims map[string][]string
}

// Key is a token-signing key and its self-signed certificate, as ADFS generates them.
type Key struct {
	Signer *rsa.PrivateKey
	Cert   *x509.Certificate
}

// NewKey generates a token-signing key.
func NewKey(t testing.TB) Key {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "ADFS Signing - stand-in"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return Key{Signer: key, Cert: cert}
}

// Answers shape the stand-in's next answers, so that tests can see each refused.
type Answers struct {
	// Status, when set, answers every request with this HTTP status and no body.
	Status int
	// Delay holds every answer back this long.
	Delay time.Duration
	// SAML2 issues SAML 2.0 assertions even to requests that name no TokenType.
	SAML2 bool
	// Unsigned issues assertions without a signature.
	Unsigned bool
	// SignWith signs assertions and id_tokens with this key instead of a published one.
	SignWith *Key
	// Audience, when set, issues assertions for this relying party and id_tokens for
	// this client instead of the requested ones.
	Audience string
	// Lifetime of assertions and id_tokens, counted from the time of issue (an hour
	// when zero); negative ones are expired.
	Lifetime time.Duration
	// TamperRSTR, when set, edits each RSTR document after its assertion was signed.
	TamperRSTR func(rstr *etree.Document)
	// MetadataPadding adds this many bytes to the federation metadata.
	MetadataPadding int
}

// Server is the stand-in. Its methods are safe for concurrent use.
type Server struct {
	// RelyingParty is the identifier of the one relying party trust.
	RelyingParty string
	// ClientID (and ClientSecret, for a confidential application) of the ADFS
	// application allowed the password grant.
	ClientID, ClientSecret string

	srv *httptest.Server

	mu        sync.Mutex
	users     map[string]User
	published []Key // newest first; published[0] signs
	answers   Answers
	requests  map[string]int
}

// Start starts a stand-in with one relying party, one OAuth client and a generated
// token-signing key; it stops when the test ends.
func Start(t testing.TB, relyingParty, clientID, clientSecret string) *Server {
	t.Helper()
	s := &Server{RelyingParty: relyingParty, ClientID: clientID, ClientSecret: clientSecret,
		users: map[string]User{}, published: []Key{NewKey(t)}, requests: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /FederationMetadata/2007-06/FederationMetadata.xml", s.metadata)
	mux.HandleFunc("POST /adfs/services/trust/13/usernamemixed", s.usernameMixed)
	mux.HandleFunc("GET "+MexPath, s.mex)
	mux.HandleFunc("GET /adfs/.well-known/openid-configuration", s.discovery)
	mux.HandleFunc("GET /adfs/discovery/keys", s.keys)
	mux.HandleFunc("POST /adfs/oauth2/token", s.token)
	s.srv = httptest.NewTLSServer(s.shaped(mux))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the federation service's URL, https://127.0.0.1:port.
func (s *Server) URL() string { return s.srv.URL }

// CAPEM is the PEM of the certificate the stand-in serves TLS with.
func (s *Server) CAPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw}))
}

// TLSConfig trusts the stand-in, for clients other than Gatehouse's.
func (s *Server) TLSConfig() *tls.Config {
	return s.srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
}

// EntityID is the federation service identifier, the Issuer of its assertions:
// http://<host>/adfs/services/trust, as ADFS names itself.
func (s *Server) EntityID() string {
	return "http://" + strings.TrimPrefix(s.srv.URL, "https://") + "/adfs/services/trust"
}

// MexURL is the URL of its WS-MetadataExchange document.
func (s *Server) MexURL() string { return s.srv.URL + MexPath }

// SigningCertificates are the published token-signing certificates, the signing one first.
func (s *Server) SigningCertificates() []*x509.Certificate {
	_, published := s.state()
	certs := make([]*x509.Certificate, len(published))
	for i, k := range published {
		certs[i] = k.Cert
	}
	return certs
}

// Issuer is the iss of its id_tokens: <URL>/adfs.
func (s *Server) Issuer() string { return s.srv.URL + "/adfs" }

// AddUser adds or replaces the account username.
func (s *Server) AddUser(username string, u User) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[strings.ToLower(username)] = u
}

// SetAnswers shapes the answers from now on; the zero Answers are ADFS's.
func (s *Server) SetAnswers(a Answers) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.answers = a
}

// RotateSigningKey makes key the token-signing key. With keepPrevious the previous key
// stays published (as ADFS's secondary certificate during an automatic rollover);
// without it only key is.
func (s *Server) RotateSigningKey(key Key, keepPrevious bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if keepPrevious {
		s.published = append([]Key{key}, s.published...)
	} else {
		s.published = []Key{key}
	}
}

// Requests counts the requests the stand-in answered to path.
func (s *Server) Requests(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests[path]
}

func (s *Server) state() (Answers, []Key) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.answers, append([]Key(nil), s.published...)
}

// check returns the user whose password is right, if any.
func (s *Server) check(username, password string) (User, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.users[strings.ToLower(username)]
	return u, ok && u.Password == password
}

// shaped applies Answers' status and delay, and counts requests.
func (s *Server) shaped(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.requests[r.URL.Path]++
		a := s.answers
		s.mu.Unlock()
		if a.Delay > 0 {
			select {
			case <-time.After(a.Delay):
			case <-r.Context().Done():
				return
			}
		}
		if a.Status != 0 {
			w.WriteHeader(a.Status)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// signer is the key answers are signed with.
func signer(a Answers, published []Key) Key {
	if a.SignWith != nil {
		return *a.SignWith
	}
	return published[0]
}

func (a Answers) lifetime() time.Duration {
	if a.Lifetime == 0 {
		return time.Hour
	}
	return a.Lifetime
}

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "_" + hex.EncodeToString(b)
}

// thumbprint is a certificate's x5t, which ADFS uses as kid too.
func thumbprint(cert *x509.Certificate) string {
	sum := sha1.Sum(cert.Raw) //nolint:gosec // see the import
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// pairwiseSub is a stable sub for a user and a client, as ADFS derives one per
// application.
func pairwiseSub(username, clientID string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(username) + "|" + clientID))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeXML(w http.ResponseWriter, status int, doc *etree.Document) {
	w.Header().Set("Content-Type", "application/soap+xml; charset=utf-8")
	w.WriteHeader(status)
	_, _ = doc.WriteTo(w)
}

// signJWT signs claims with key as RS256, with ADFS's kid and x5t headers.
func signJWT(key Key, claims map[string]any) (string, error) {
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", thumbprint(key.Cert)).WithHeader("x5t", thumbprint(key.Cert))
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key.Signer}, opts)
	if err != nil {
		return "", err
	}
	return josejwt.Signed(sig).Claims(claims).Serialize()
}

// signAssertion signs a SAML assertion enveloped, as ADFS does: RSA-SHA256 over exclusive
// canonicalisation, the certificate in KeyInfo.
func signAssertion(key Key, assertion *etree.Element, idAttribute string) (*etree.Element, error) {
	ctx, err := dsig.NewSigningContext(key.Signer, [][]byte{key.Cert.Raw})
	if err != nil {
		return nil, err
	}
	ctx.Hash = crypto.SHA256
	ctx.IdAttribute = idAttribute
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	return ctx.SignEnveloped(assertion)
}

// Close stops the stand-in before the test ends, to play an ADFS that is down.
func (s *Server) Close() { s.srv.Close() }
