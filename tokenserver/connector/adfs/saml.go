package adfs

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Namespaces of SAML assertions: ADFS issues SAML 1.1 (whose namespace says 1.0) to
// WS-Trust 1.3 requests that name no token type, and SAML 2.0 to those that ask for it.
const (
	nsSAML1 = "urn:oasis:names:tc:SAML:1.0:assertion"
	nsSAML2 = "urn:oasis:names:tc:SAML:2.0:assertion"
)

// assertionPolicy is what a verified assertion must say: who issued it, for whom, and
// when.
type assertionPolicy struct {
	issuer   string
	audience string
	now      time.Time
}

// errUnverified is an assertion whose signature does not verify with the certificates
// the connector knows; a refreshed metadata may know its key.
var errUnverified = errors.New("the assertion's signature does not verify with the federation metadata's token-signing certificates")

// verifyAssertion checks assertion's enveloped signature with certs and returns the
// claims of the element the signature covers, after checking that element's issuer,
// audience and validity period. Nothing outside the signed element is read.
func verifyAssertion(assertion *etree.Element, certs []*x509.Certificate, p assertionPolicy) (claims, error) {
	ns := assertion.NamespaceURI()
	idAttribute := map[string]string{nsSAML1: "AssertionID", nsSAML2: "ID"}[ns]
	if idAttribute == "" {
		return nil, fmt.Errorf("the assertion is neither SAML 1.1 nor SAML 2.0 (namespace %q)", ns)
	}
	// The assertion sits in a SOAP envelope that may declare its prefixes; detached, it
	// carries the declarations it uses, as its canonical form does.
	scope, err := etreeutils.NSBuildParentContext(assertion)
	if err != nil {
		return nil, fmt.Errorf("the assertion's namespaces: %w", err)
	}
	detached, err := etreeutils.NSDetatch(scope, assertion)
	if err != nil {
		return nil, fmt.Errorf("the assertion's namespaces: %w", err)
	}
	validation := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: certs})
	validation.IdAttribute = idAttribute
	signed, err := validation.Validate(detached)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUnverified, err)
	}
	if signed.Tag != "Assertion" || signed.NamespaceURI() != ns {
		return nil, errors.New("the signature covers no assertion")
	}
	if ns == nsSAML1 {
		return saml1Claims(signed, p)
	}
	return saml2Claims(signed, p)
}

// saml1Claims reads a SAML 1.1 assertion (oasis-sstc-saml-core-1.1 §2.3): Issuer is an
// attribute, audiences are in AudienceRestrictionCondition, and a claim type is an
// Attribute's AttributeNamespace and AttributeName joined by "/" (how ADFS splits
// http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn into "…/claims" and "upn").
func saml1Claims(a *etree.Element, p assertionPolicy) (claims, error) {
	if err := checkIssuer(a.SelectAttrValue("Issuer", ""), p); err != nil {
		return nil, err
	}
	if err := checkConditions(child(a, nsSAML1, "Conditions"), nsSAML1, "AudienceRestrictionCondition", p); err != nil {
		return nil, err
	}
	out := claims{}
	for _, statement := range children(a, nsSAML1, "AttributeStatement") {
		if subject := child(statement, nsSAML1, "Subject"); subject != nil {
			addNameID(out, child(subject, nsSAML1, "NameIdentifier"))
		}
		for _, attr := range children(statement, nsSAML1, "Attribute") {
			name := attr.SelectAttrValue("AttributeNamespace", "") + "/" + attr.SelectAttrValue("AttributeName", "")
			addValues(out, name, children(attr, nsSAML1, "AttributeValue"))
		}
	}
	return out, nil
}

// saml2Claims reads a SAML 2.0 assertion (saml-core-2.0-os §2.3.3): Issuer is an
// element, audiences are in AudienceRestriction, and a claim type is an Attribute's Name.
func saml2Claims(a *etree.Element, p assertionPolicy) (claims, error) {
	issuer := ""
	if el := child(a, nsSAML2, "Issuer"); el != nil {
		issuer = strings.TrimSpace(el.Text())
	}
	if err := checkIssuer(issuer, p); err != nil {
		return nil, err
	}
	if err := checkConditions(child(a, nsSAML2, "Conditions"), nsSAML2, "AudienceRestriction", p); err != nil {
		return nil, err
	}
	out := claims{}
	if subject := child(a, nsSAML2, "Subject"); subject != nil {
		addNameID(out, child(subject, nsSAML2, "NameID"))
	}
	for _, statement := range children(a, nsSAML2, "AttributeStatement") {
		for _, attr := range children(statement, nsSAML2, "Attribute") {
			addValues(out, attr.SelectAttrValue("Name", ""), children(attr, nsSAML2, "AttributeValue"))
		}
	}
	return out, nil
}

func checkIssuer(issuer string, p assertionPolicy) error {
	if issuer != p.issuer {
		return fmt.Errorf("the assertion's issuer %q is not the federation metadata's entity ID %q", issuer, p.issuer)
	}
	return nil
}

// checkConditions requires a validity period that holds now, within clockSkew, and at
// least one audience restriction, each of which names the relying party (a SAML
// assertion is for the intersection of its audience restrictions).
func checkConditions(conditions *etree.Element, ns, restriction string, p assertionPolicy) error {
	if conditions == nil {
		return errors.New("the assertion has no Conditions, so neither a validity period nor an audience")
	}
	notBefore, err := samlTime(conditions, "NotBefore")
	if err != nil {
		return err
	}
	notOnOrAfter, err := samlTime(conditions, "NotOnOrAfter")
	if err != nil {
		return err
	}
	switch {
	case notOnOrAfter.IsZero():
		return errors.New("the assertion has no NotOnOrAfter: it would never expire")
	case !notBefore.IsZero() && p.now.Add(clockSkew).Before(notBefore):
		return fmt.Errorf("the assertion is valid only from %s", notBefore.Format(time.RFC3339))
	case !p.now.Add(-clockSkew).Before(notOnOrAfter):
		return fmt.Errorf("the assertion expired at %s", notOnOrAfter.Format(time.RFC3339))
	}
	restrictions := children(conditions, ns, restriction)
	if len(restrictions) == 0 {
		return errors.New("the assertion names no audience")
	}
	for _, r := range restrictions {
		var audiences []string
		for _, a := range children(r, ns, "Audience") {
			audiences = append(audiences, strings.TrimSpace(a.Text()))
		}
		if !slices.Contains(audiences, p.audience) {
			return fmt.Errorf("the assertion is for %q, not for the relying party %q", audiences, p.audience)
		}
	}
	return nil
}

// samlTime parses an xs:dateTime attribute of el; an absent attribute is the zero time.
func samlTime(el *etree.Element, attr string) (time.Time, error) {
	raw := el.SelectAttrValue(attr, "")
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("the assertion's %s is not a date-time", attr)
	}
	return t, nil
}

// addNameID adds the subject's name identifier as the nameidentifier claim type, which
// is the claim ADFS's rules issue it from.
func addNameID(out claims, nameID *etree.Element) {
	if nameID != nil {
		if v := strings.TrimSpace(nameID.Text()); v != "" {
			out[snapshot.ClaimTypeNameIdentifier] = append(out[snapshot.ClaimTypeNameIdentifier], v)
		}
	}
}

func addValues(out claims, name string, values []*etree.Element) {
	for _, v := range values {
		out[name] = append(out[name], strings.TrimSpace(v.Text()))
	}
}
