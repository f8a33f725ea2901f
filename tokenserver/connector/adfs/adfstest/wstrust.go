package adfstest

import (
	"encoding/base64"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// Namespaces of the federation metadata and the WS-Trust exchange.
const (
	nsMetadata   = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig       = "http://www.w3.org/2000/09/xmldsig#"
	nsFed        = "http://docs.oasis-open.org/wsfed/federation/200706"
	nsXSI        = "http://www.w3.org/2001/XMLSchema-instance"
	nsSOAP12     = "http://www.w3.org/2003/05/soap-envelope"
	nsAddressing = "http://www.w3.org/2005/08/addressing"
	nsSecurity   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsUtility    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsTrust13    = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	nsPolicy     = "http://schemas.xmlsoap.org/ws/2004/09/policy"
	nsSAML1      = "urn:oasis:names:tc:SAML:1.0:assertion"
	nsSAML2      = "urn:oasis:names:tc:SAML:2.0:assertion"

	// TokenTypeSAML2 is the RST TokenType asking for a SAML 2.0 assertion; without a
	// TokenType the stand-in issues SAML 1.1, as ADFS does by default.
	TokenTypeSAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
	tokenTypeSAML1 = "urn:oasis:names:tc:SAML:1.0:assertion"
)

const samlTime = "2006-01-02T15:04:05.000Z"

// metadata serves the federation metadata: an EntityDescriptor whose RoleDescriptor of
// type fed:SecurityTokenServiceType and IDPSSODescriptor list every published
// token-signing certificate as a signing KeyDescriptor (saml-metadata-2.0-os §2.4.1.1,
// WS-Federation 1.2 §3.1.2), as ADFS publishes its primary and secondary certificates.
func (s *Server) metadata(w http.ResponseWriter, _ *http.Request) {
	answers, published := s.state()
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="utf-8"`)
	entity := doc.CreateElement("EntityDescriptor")
	entity.CreateAttr("xmlns", nsMetadata)
	entity.CreateAttr("ID", randomID())
	entity.CreateAttr("entityID", s.EntityID())
	role := entity.CreateElement("RoleDescriptor")
	role.CreateAttr("xmlns:xsi", nsXSI)
	role.CreateAttr("xmlns:fed", nsFed)
	role.CreateAttr("xsi:type", "fed:SecurityTokenServiceType")
	role.CreateAttr("protocolSupportEnumeration", nsTrust13+" http://schemas.xmlsoap.org/ws/2005/02/trust "+nsFed)
	addSigningKeys(role, published)
	endpoint := role.CreateElement("fed:SecurityTokenServiceEndpoint").CreateElement("EndpointReference")
	endpoint.CreateAttr("xmlns", nsAddressing)
	endpoint.CreateElement("Address").SetText(s.URL() + "/adfs/services/trust/2005/issuedtokenmixedsymmetricbasic256")
	idp := entity.CreateElement("IDPSSODescriptor")
	idp.CreateAttr("protocolSupportEnumeration", "urn:oasis:names:tc:SAML:2.0:protocol")
	addSigningKeys(idp, published)
	if answers.MetadataPadding > 0 {
		entity.CreateElement("Extensions").CreateComment(strings.Repeat("x", answers.MetadataPadding))
	}
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	_, _ = doc.WriteTo(w)
}

func addSigningKeys(role *etree.Element, keys []Key) {
	for _, k := range keys {
		key := role.CreateElement("KeyDescriptor")
		key.CreateAttr("use", "signing")
		info := key.CreateElement("KeyInfo")
		info.CreateAttr("xmlns", nsDSig)
		info.CreateElement("X509Data").CreateElement("X509Certificate").SetText(base64.StdEncoding.EncodeToString(k.Cert.Raw))
	}
}

// rst is what the stand-in reads of a RequestSecurityToken.
type rst struct {
	username, password, appliesTo, tokenType string
}

func readRST(r *http.Request) (rst, bool) {
	doc := etree.NewDocument()
	if _, err := doc.ReadFrom(http.MaxBytesReader(nil, r.Body, 1<<20)); err != nil {
		return rst{}, false
	}
	text := func(path string) string {
		if el := doc.FindElement(path); el != nil {
			return strings.TrimSpace(el.Text())
		}
		return ""
	}
	return rst{
		username:  text("//Security/UsernameToken/Username"),
		password:  text("//Security/UsernameToken/Password"),
		appliesTo: text("//RequestSecurityToken/AppliesTo/EndpointReference/Address"),
		tokenType: text("//RequestSecurityToken/TokenType"),
	}, true
}

// usernameMixed answers a WS-Trust 1.3 Issue request authenticated by a UsernameToken.
func (s *Server) usernameMixed(w http.ResponseWriter, r *http.Request) {
	req, ok := readRST(r)
	if !ok {
		writeXML(w, http.StatusBadRequest, fault("s:Sender", nsTrust13, "InvalidRequest", "ID3137: The request is not well-formed."))
		return
	}
	if req.appliesTo != s.RelyingParty {
		// MSIS7007: ADFS's text for an AppliesTo that names no relying party trust.
		writeXML(w, http.StatusInternalServerError, fault("s:Sender", nsTrust13, "RequestFailed", "MSIS7007: The requested relying party trust '"+req.appliesTo+"' is unspecified or unsupported."))
		return
	}
	user, ok := s.check(req.username, req.password)
	if !ok {
		// ADFS answers a wrong password and an unknown user alike, with WIF's ID3242.
		writeXML(w, http.StatusInternalServerError, fault("s:Sender", nsSecurity, "FailedAuthentication", "ID3242: The security token could not be authenticated or authorized."))
		return
	}
	answers, published := s.state()
	now := time.Now().UTC()
	audience := s.RelyingParty
	if answers.Audience != "" {
		audience = answers.Audience
	}
	build, tokenType := s.saml1Assertion, tokenTypeSAML1
	if req.tokenType == TokenTypeSAML2 || answers.SAML2 {
		build, tokenType = s.saml2Assertion, TokenTypeSAML2
	}
	assertion, idAttribute := build(user, audience, now, now.Add(answers.lifetime()))
	if !answers.Unsigned {
		signed, err := signAssertion(signer(answers, published), assertion, idAttribute)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		assertion = placeSignature(signed, tokenType)
	}
	doc := rstr(assertion, tokenType, audience, now, now.Add(answers.lifetime()))
	if answers.TamperRSTR != nil {
		answers.TamperRSTR(doc)
	}
	writeXML(w, http.StatusOK, doc)
}

// rstr wraps an assertion in the RSTR collection ADFS answers (ws-trust-1.3-spec-os
// §4.3, §4.4; the element names MSAL Go parses).
func rstr(assertion *etree.Element, tokenType, audience string, created, expires time.Time) *etree.Document {
	doc := etree.NewDocument()
	env := doc.CreateElement("s:Envelope")
	env.CreateAttr("xmlns:s", nsSOAP12)
	env.CreateAttr("xmlns:a", nsAddressing)
	env.CreateAttr("xmlns:u", nsUtility)
	header := env.CreateElement("s:Header")
	action := header.CreateElement("a:Action")
	action.CreateAttr("s:mustUnderstand", "1")
	action.SetText(nsTrust13 + "/RSTRC/IssueFinal")
	security := header.CreateElement("o:Security")
	security.CreateAttr("s:mustUnderstand", "1")
	security.CreateAttr("xmlns:o", nsSecurity)
	ts := security.CreateElement("u:Timestamp")
	ts.CreateAttr("u:Id", "_0")
	ts.CreateElement("u:Created").SetText(created.Format(samlTime))
	ts.CreateElement("u:Expires").SetText(created.Add(5 * time.Minute).Format(samlTime))
	collection := env.CreateElement("s:Body").CreateElement("trust:RequestSecurityTokenResponseCollection")
	collection.CreateAttr("xmlns:trust", nsTrust13)
	resp := collection.CreateElement("trust:RequestSecurityTokenResponse")
	lifetime := resp.CreateElement("trust:Lifetime")
	lifetime.CreateElement("wsu:Created").CreateAttr("xmlns:wsu", nsUtility).Element().SetText(created.Format(samlTime))
	lifetime.CreateElement("wsu:Expires").CreateAttr("xmlns:wsu", nsUtility).Element().SetText(expires.Format(samlTime))
	applies := resp.CreateElement("wsp:AppliesTo")
	applies.CreateAttr("xmlns:wsp", nsPolicy)
	applies.CreateElement("wsa:EndpointReference").CreateAttr("xmlns:wsa", nsAddressing).Element().CreateElement("wsa:Address").SetText(audience)
	resp.CreateElement("trust:RequestedSecurityToken").AddChild(assertion)
	resp.CreateElement("trust:TokenType").SetText(tokenType)
	resp.CreateElement("trust:RequestType").SetText(nsTrust13 + "/Issue")
	resp.CreateElement("trust:KeyType").SetText(nsTrust13 + "/Bearer")
	return doc
}

// fault is a SOAP 1.2 fault (SOAP 1.2 Part 1 §5.4) with a subcode in namespace ns, as
// ADFS answers a refused RST.
func fault(code, ns, subcode, reason string) *etree.Document {
	doc := etree.NewDocument()
	env := doc.CreateElement("s:Envelope")
	env.CreateAttr("xmlns:s", nsSOAP12)
	env.CreateAttr("xmlns:a", nsAddressing)
	header := env.CreateElement("s:Header")
	action := header.CreateElement("a:Action")
	action.CreateAttr("s:mustUnderstand", "1")
	action.SetText(nsAddressing + "/soap/fault")
	f := env.CreateElement("s:Body").CreateElement("s:Fault")
	c := f.CreateElement("s:Code")
	c.CreateElement("s:Value").SetText(code)
	sub := c.CreateElement("s:Subcode").CreateElement("s:Value")
	sub.CreateAttr("xmlns:a", ns)
	sub.SetText("a:" + subcode)
	text := f.CreateElement("s:Reason").CreateElement("s:Text")
	text.CreateAttr("xml:lang", "en-US")
	text.SetText(reason)
	return doc
}

// sortedClaims lists a user's claim types in a stable order.
func sortedClaims(u User) []string {
	types := make([]string, 0, len(u.Claims))
	for t := range u.Claims {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// saml1Assertion is a SAML 1.1 assertion (oasis-sstc-saml-core-1.1 §2) as ADFS issues
// it for WS-Trust: Issuer and AssertionID as attributes, an AudienceRestrictionCondition,
// claim types split into AttributeNamespace and AttributeName at the last "/".
func (s *Server) saml1Assertion(u User, audience string, now, notOnOrAfter time.Time) (*etree.Element, string) {
	a := etree.NewElement("saml:Assertion")
	a.CreateAttr("MajorVersion", "1")
	a.CreateAttr("MinorVersion", "1")
	a.CreateAttr("AssertionID", randomID())
	a.CreateAttr("Issuer", s.EntityID())
	a.CreateAttr("IssueInstant", now.Format(samlTime))
	a.CreateAttr("xmlns:saml", nsSAML1)
	conditions := a.CreateElement("saml:Conditions")
	conditions.CreateAttr("NotBefore", now.Format(samlTime))
	conditions.CreateAttr("NotOnOrAfter", notOnOrAfter.Format(samlTime))
	conditions.CreateElement("saml:AudienceRestrictionCondition").CreateElement("saml:Audience").SetText(audience)
	statement := a.CreateElement("saml:AttributeStatement")
	subject := statement.CreateElement("saml:Subject")
	subject.CreateElement("saml:SubjectConfirmation").CreateElement("saml:ConfirmationMethod").SetText("urn:oasis:names:tc:SAML:1.0:cm:bearer")
	for _, claimType := range sortedClaims(u) {
		i := strings.LastIndex(claimType, "/")
		attr := statement.CreateElement("saml:Attribute")
		attr.CreateAttr("AttributeName", claimType[i+1:])
		attr.CreateAttr("AttributeNamespace", claimType[:i])
		for _, v := range u.Claims[claimType] {
			attr.CreateElement("saml:AttributeValue").SetText(v)
		}
	}
	auth := a.CreateElement("saml:AuthenticationStatement")
	auth.CreateAttr("AuthenticationMethod", "urn:oasis:names:tc:SAML:1.0:am:password")
	auth.CreateAttr("AuthenticationInstant", now.Format(samlTime))
	auth.CreateElement("saml:Subject").CreateElement("saml:SubjectConfirmation").CreateElement("saml:ConfirmationMethod").SetText("urn:oasis:names:tc:SAML:1.0:cm:bearer")
	return a, "AssertionID"
}

// saml2Assertion is a SAML 2.0 assertion (saml-core-2.0-os §2.3.3): Issuer as an element,
// an AudienceRestriction, claim types as Attribute Names.
func (s *Server) saml2Assertion(u User, audience string, now, notOnOrAfter time.Time) (*etree.Element, string) {
	a := etree.NewElement("Assertion")
	a.CreateAttr("xmlns", nsSAML2)
	a.CreateAttr("ID", randomID())
	a.CreateAttr("IssueInstant", now.Format(samlTime))
	a.CreateAttr("Version", "2.0")
	a.CreateElement("Issuer").SetText(s.EntityID())
	subject := a.CreateElement("Subject")
	confirmation := subject.CreateElement("SubjectConfirmation")
	confirmation.CreateAttr("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")
	confirmation.CreateElement("SubjectConfirmationData").CreateAttr("NotOnOrAfter", notOnOrAfter.Format(samlTime))
	conditions := a.CreateElement("Conditions")
	conditions.CreateAttr("NotBefore", now.Format(samlTime))
	conditions.CreateAttr("NotOnOrAfter", notOnOrAfter.Format(samlTime))
	conditions.CreateElement("AudienceRestriction").CreateElement("Audience").SetText(audience)
	statement := a.CreateElement("AttributeStatement")
	for _, claimType := range sortedClaims(u) {
		attr := statement.CreateElement("Attribute")
		attr.CreateAttr("Name", claimType)
		for _, v := range u.Claims[claimType] {
			attr.CreateElement("AttributeValue").SetText(v)
		}
	}
	authn := a.CreateElement("AuthnStatement")
	authn.CreateAttr("AuthnInstant", now.Format(samlTime))
	authn.CreateElement("AuthnContext").CreateElement("AuthnContextClassRef").SetText("urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport")
	return a, "ID"
}

// placeSignature moves a SAML 2.0 assertion's signature after its Issuer, where the
// schema wants it (saml-schema-assertion-2.0); SAML 1.1 has it last, where goxmldsig
// puts it. The enveloped-signature transform makes the place irrelevant to the digest.
func placeSignature(signed *etree.Element, tokenType string) *etree.Element {
	if tokenType != TokenTypeSAML2 {
		return signed
	}
	// goxmldsig appends the signature to Child without making it its child in
	// etree's sense, so it is moved by hand.
	last := len(signed.Child) - 1
	sig := signed.Child[last]
	signed.Child = signed.Child[:last]
	signed.InsertChildAt(1, sig)
	return signed
}
