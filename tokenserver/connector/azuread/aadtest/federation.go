package aadtest

import (
	"crypto/x509"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// Grant types of the SAML bearer grant MSAL sends for a federated user (MSAL,
// apps/internal/oauth/ops/internal/grant), with the federation server's assertion.
const (
	grantSAML11 = "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
	grantSAML20 = "urn:ietf:params:oauth:grant-type:saml2-bearer"
)

// cloudAudience is the audience Entra ID's federation servers issue assertions for, the
// cloud_audience_urn of user-realm discovery and the AppliesTo of MSAL's WS-Trust request.
const cloudAudience = "urn:federation:MicrosoftOnline"

// claimUPN is the claim type by which the stand-in finds the cloud user an assertion
// speaks for (Entra ID matches the ImmutableID; the stand-in's users have none).
const claimUPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"

// Federation is a domain of the tenant federated to a federation server (AD FS). Its
// users are added with AddUser without a password: the federation server checks it.
type Federation struct {
	Domain string
	// MexURL is the federation server's WS-MetadataExchange document, which user-realm
	// discovery answers as federation_metadata_url.
	MexURL string
	// Issuer is the federation server's entity ID, the Issuer of its assertions.
	Issuer string
	// Certificates are the federation server's token-signing certificates, as the
	// domain's federation settings hold them in Entra ID.
	Certificates func() []*x509.Certificate
}

// Federate federates f.Domain.
func (s *Server) Federate(f Federation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.federation = &f
}

// TokenRequests are the forms the token endpoint received, oldest first.
func (s *Server) TokenRequests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.tokenRequests...)
}

func (s *Server) federated(domain string) *Federation {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.federation != nil && strings.EqualFold(domain, s.federation.Domain) {
		return s.federation
	}
	return nil
}

// federatedRealm is user-realm discovery's answer for a federated domain: the fields
// MSAL requires of one (MSAL, apps/internal/oauth/ops/authority/authority.go UserRealm,
// and public/public_test.go's passwordFederated answer).
func federatedRealm(f *Federation) map[string]any {
	return map[string]any{
		"ver": "1.0", "account_type": "Federated", "domain_name": f.Domain,
		"federation_protocol": "WSTrust", "federation_metadata_url": f.MexURL,
		"cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": cloudAudience,
	}
}

// samlGrant answers the SAML bearer grant of a federated user: the assertion (base64 of
// its XML) must verify with the federation's token-signing certificates, come from its
// issuer, be for the cloud's audience and be valid now; its UPN names the user.
func (s *Server) samlGrant(w http.ResponseWriter, form url.Values) {
	raw, err := base64.StdEncoding.DecodeString(form.Get("assertion"))
	if err != nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_request", 90014, "The assertion is not base64.")
		return
	}
	upn, ok := s.verifyAssertion(raw, form.Get("grant_type"))
	if !ok {
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", 50008, "SAML token is invalid.")
		return
	}
	_, domain, _ := strings.Cut(upn, "@")
	s.mu.Lock()
	user, known := s.users[strings.ToLower(upn)]
	s.mu.Unlock()
	if !known || s.federated(domain) == nil {
		s.oauthError(w, http.StatusBadRequest, "invalid_grant", 50034, "The user account does not exist in the directory.")
		return
	}
	s.tokens(w, form.Get("scope"), user)
}

// verifyAssertion returns the UPN of a SAML assertion the federation signed.
func (s *Server) verifyAssertion(raw []byte, grantType string) (upn string, ok bool) {
	s.mu.Lock()
	f := s.federation
	s.mu.Unlock()
	doc := etree.NewDocument()
	if f == nil || doc.ReadFromBytes(raw) != nil || doc.Root() == nil {
		return "", false
	}
	v := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: f.Certificates()})
	v.IdAttribute = "ID"
	if grantType == grantSAML11 {
		v.IdAttribute = "AssertionID"
	}
	signed, err := v.Validate(doc.Root())
	if err != nil {
		return "", false
	}
	issuer := signed.SelectAttrValue("Issuer", "")
	if el := signed.FindElement("./Issuer"); el != nil {
		issuer = el.Text()
	}
	audience := signed.FindElement(".//Audience")
	conditions := signed.FindElement("./Conditions")
	if issuer != f.Issuer || audience == nil || audience.Text() != cloudAudience || conditions == nil {
		return "", false
	}
	notOnOrAfter, err := time.Parse(time.RFC3339, conditions.SelectAttrValue("NotOnOrAfter", ""))
	if err != nil || !time.Now().Before(notOnOrAfter) {
		return "", false
	}
	for _, attr := range signed.FindElements(".//Attribute") {
		name := attr.SelectAttrValue("Name", attr.SelectAttrValue("AttributeNamespace", "")+"/"+attr.SelectAttrValue("AttributeName", ""))
		if value := attr.FindElement("./AttributeValue"); name == claimUPN && value != nil {
			return value.Text(), true
		}
	}
	return "", false
}
