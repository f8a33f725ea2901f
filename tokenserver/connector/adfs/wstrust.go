package adfs

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Namespaces of a WS-Trust 1.3 exchange over SOAP 1.2 (ws-trust-1.3-spec-os, SOAP 1.2
// Part 1, WS-Addressing 1.0, WS-Security 1.0 and its UsernameToken profile).
const (
	nsSOAP12     = "http://www.w3.org/2003/05/soap-envelope"
	nsAddressing = "http://www.w3.org/2005/08/addressing"
	nsSecurity   = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
	nsUtility    = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
	nsTrust13    = "http://docs.oasis-open.org/ws-sx/ws-trust/200512"
	nsPolicy     = "http://schemas.xmlsoap.org/ws/2004/09/policy"

	actionIssue  = nsTrust13 + "/RST/Issue"
	passwordText = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText"
)

// wsTrust asks ADFS's usernamemixed endpoint for a SAML assertion for the relying party.
type wsTrust struct {
	cfg      snapshot.ADFS
	client   *http.Client
	now      func() time.Time
	metadata *metadataCache
}

func newWSTrust(cfg snapshot.ADFS, client *http.Client, now func() time.Time, log *slog.Logger) *wsTrust {
	return &wsTrust{cfg: cfg, client: client, now: now,
		metadata: &metadataCache{url: cfg.URL + MetadataPath, client: client, now: now, log: log}}
}

func (w *wsTrust) login(ctx context.Context, username, password string) (claims, error) {
	fed, err := w.metadata.get(ctx)
	if err != nil {
		return nil, err
	}
	assertion, err := w.requestToken(ctx, username, password)
	if err != nil {
		return nil, err
	}
	policy := assertionPolicy{issuer: fed.entityID, audience: w.cfg.RelyingParty, now: w.now()}
	got, err := verifyAssertion(assertion, fed.certs, policy)
	if errors.Is(err, errUnverified) {
		// ADFS may have rolled its token-signing certificate over since the metadata
		// was read: read it again (at most once per metadataMinInterval) and retry.
		if fresh, refreshed, refreshErr := w.metadata.refresh(ctx); refreshErr == nil && refreshed {
			policy.issuer = fresh.entityID
			got, err = verifyAssertion(assertion, fresh.certs, policy)
		}
	}
	return got, err
}

// requestToken sends the RST and returns the one assertion of ADFS's RSTR.
func (w *wsTrust) requestToken(ctx context.Context, username, password string) (*etree.Element, error) {
	endpoint := w.cfg.URL + UsernameMixedPath
	rst, err := requestSecurityToken(endpoint, w.cfg.RelyingParty, username, password, w.now())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(rst))
	if err != nil {
		return nil, err
	}
	// SOAP 1.2 carries the action in the media type (RFC 3902).
	req.Header.Set("Content-Type", `application/soap+xml; charset=utf-8; action="`+actionIssue+`"`)
	resp, err := w.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close() // ReadBody closes it already; bodyclose cannot see that across packages
	body, err := upstream.ReadBody(resp)
	if err != nil {
		return nil, err
	}
	doc, err := readXML(body)
	if err != nil {
		if resp.StatusCode != http.StatusOK {
			return nil, &upstream.StatusError{Code: resp.StatusCode}
		}
		return nil, fmt.Errorf("the usernamemixed answer: %w", err)
	}
	soapBody, err := envelopeBody(doc)
	if err != nil {
		return nil, err
	}
	if fault := child(soapBody, nsSOAP12, "Fault"); fault != nil {
		return nil, faultError(fault)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &upstream.StatusError{Code: resp.StatusCode}
	}
	return theAssertion(doc, soapBody)
}

// requestSecurityToken builds a WS-Trust 1.3 Issue request for a bearer token that
// applies to relyingParty, authenticated by a WS-Security UsernameToken, as MSAL
// builds it for ADFS (apps/internal/oauth/ops/wstrust/defs/wstrust_endpoint.go of
// microsoft-authentication-library-for-go). It names no TokenType, so ADFS issues
// the relying party's default, SAML 1.1. etree escapes the user's input.
func requestSecurityToken(endpoint, relyingParty, username, password string, now time.Time) ([]byte, error) {
	messageID, err := randomID()
	if err != nil {
		return nil, err
	}
	tokenID, err := randomID()
	if err != nil {
		return nil, err
	}
	doc := etree.NewDocument()
	env := doc.CreateElement("s:Envelope")
	env.CreateAttr("xmlns:s", nsSOAP12)
	env.CreateAttr("xmlns:a", nsAddressing)
	env.CreateAttr("xmlns:u", nsUtility)
	header := env.CreateElement("s:Header")
	action := header.CreateElement("a:Action")
	action.CreateAttr("s:mustUnderstand", "1")
	action.SetText(actionIssue)
	header.CreateElement("a:MessageID").SetText("urn:uuid:" + messageID)
	header.CreateElement("a:ReplyTo").CreateElement("a:Address").SetText(nsAddressing + "/anonymous")
	to := header.CreateElement("a:To")
	to.CreateAttr("s:mustUnderstand", "1")
	to.SetText(endpoint)
	security := header.CreateElement("o:Security")
	security.CreateAttr("s:mustUnderstand", "1")
	security.CreateAttr("xmlns:o", nsSecurity)
	timestamp := security.CreateElement("u:Timestamp")
	timestamp.CreateAttr("u:Id", "_0")
	timestamp.CreateElement("u:Created").SetText(now.UTC().Format("2006-01-02T15:04:05.000Z"))
	timestamp.CreateElement("u:Expires").SetText(now.UTC().Add(10 * time.Minute).Format("2006-01-02T15:04:05.000Z"))
	token := security.CreateElement("o:UsernameToken")
	token.CreateAttr("u:Id", "uuid-"+tokenID)
	token.CreateElement("o:Username").SetText(username)
	pw := token.CreateElement("o:Password")
	pw.CreateAttr("Type", passwordText)
	pw.SetText(password)

	rst := env.CreateElement("s:Body").CreateElement("trust:RequestSecurityToken")
	rst.CreateAttr("xmlns:trust", nsTrust13)
	appliesTo := rst.CreateElement("wsp:AppliesTo")
	appliesTo.CreateAttr("xmlns:wsp", nsPolicy)
	appliesTo.CreateElement("a:EndpointReference").CreateElement("a:Address").SetText(relyingParty)
	rst.CreateElement("trust:KeyType").SetText(nsTrust13 + "/Bearer")
	rst.CreateElement("trust:RequestType").SetText(nsTrust13 + "/Issue")
	return doc.WriteToBytes()
}

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:], nil
}

// envelopeBody is the Body of a SOAP 1.2 envelope.
func envelopeBody(doc *etree.Document) (*etree.Element, error) {
	env := doc.Root()
	if env == nil || env.Tag != "Envelope" || env.NamespaceURI() != nsSOAP12 {
		return nil, errors.New("the usernamemixed answer is not a SOAP 1.2 envelope")
	}
	body := child(env, nsSOAP12, "Body")
	if body == nil {
		return nil, errors.New("the usernamemixed answer has no SOAP Body")
	}
	return body, nil
}

// faultError classifies a SOAP 1.2 fault (SOAP 1.2 Part 1 §5.4). WS-Security 1.0 §12
// names the subcode wsse:FailedAuthentication "the security token could not be
// authenticated or authorized": ADFS answers it for a wrong password and for an
// unknown, disabled or locked-out user. Any other fault is ADFS refusing the request
// itself (an unknown relying party, a disabled endpoint).
func faultError(fault *etree.Element) error {
	ns, local := "", ""
	if code := child(fault, nsSOAP12, "Code"); code != nil {
		if sub := child(code, nsSOAP12, "Subcode"); sub != nil {
			if value := child(sub, nsSOAP12, "Value"); value != nil {
				ns, local = qname(value)
			}
		}
	}
	reason := ""
	if r := child(fault, nsSOAP12, "Reason"); r != nil {
		if text := child(r, nsSOAP12, "Text"); text != nil {
			reason = codeIn(text.Text())
		}
	}
	if ns == nsSecurity && local == "FailedAuthentication" {
		return &refusal{code: strings.TrimSpace("FailedAuthentication " + reason)}
	}
	if !isNCName(local) {
		local = "(unrecognised subcode)"
	}
	return fmt.Errorf("ADFS answered the WS-Trust request with the SOAP fault %s %s: check the relying party trust and that the usernamemixed endpoint is enabled", local, reason)
}

// FailedAuthentication reports whether body, an answer of a usernamemixed endpoint, is
// the WS-Security FailedAuthentication fault by which ADFS refuses the user's
// credentials, and the code it names, for logs. The azureAD connector reads with it the
// answers that MSAL gets from the federation server of a federated domain.
func FailedAuthentication(body []byte) (code string, refused bool) {
	doc, err := readXML(body)
	if err != nil {
		return "", false
	}
	soapBody, err := envelopeBody(doc)
	if err != nil {
		return "", false
	}
	fault := child(soapBody, nsSOAP12, "Fault")
	if fault == nil {
		return "", false
	}
	var r *refusal
	if errors.As(faultError(fault), &r) {
		return r.code, true
	}
	return "", false
}

// qname resolves the prefixed name in el's text with the namespaces in scope at el.
func qname(el *etree.Element) (namespace, local string) {
	prefix, local, found := strings.Cut(strings.TrimSpace(el.Text()), ":")
	if !found {
		prefix, local = "", prefix
	}
	scope, err := etreeutils.NSBuildParentContext(el)
	if err != nil {
		return "", local
	}
	if scope, err = scope.SubContext(el); err != nil {
		return "", local
	}
	namespace, _ = scope.LookupPrefix(prefix)
	return namespace, local
}

func isNCName(s string) bool {
	return s != "" && len(s) <= 64 && !strings.ContainsFunc(s, func(r rune) bool {
		return (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '_' && r != '-' && r != '.'
	})
}

// theAssertion returns the assertion of a WS-Trust 1.3 answer
// (RequestSecurityTokenResponseCollection / RequestSecurityTokenResponse /
// RequestedSecurityToken, ws-trust-1.3-spec-os §4.4), refusing an answer that holds any
// other assertion anywhere: ADFS sends exactly one, and a second one is an attempt to
// have claims read from an element the signature does not cover.
func theAssertion(doc *etree.Document, soapBody *etree.Element) (*etree.Element, error) {
	if n := countAssertions(doc.Root()); n != 1 {
		return nil, fmt.Errorf("the usernamemixed answer holds %d SAML assertions, not one", n)
	}
	collection := child(soapBody, nsTrust13, "RequestSecurityTokenResponseCollection")
	if collection == nil {
		return nil, errors.New("the usernamemixed answer holds no RequestSecurityTokenResponseCollection")
	}
	responses := children(collection, nsTrust13, "RequestSecurityTokenResponse")
	if len(responses) != 1 {
		return nil, fmt.Errorf("the usernamemixed answer holds %d RequestSecurityTokenResponses, not one", len(responses))
	}
	token := child(responses[0], nsTrust13, "RequestedSecurityToken")
	if token == nil {
		return nil, errors.New("the usernamemixed answer holds no RequestedSecurityToken")
	}
	for _, ns := range []string{nsSAML1, nsSAML2} {
		if a := child(token, ns, "Assertion"); a != nil {
			return a, nil
		}
	}
	return nil, errors.New("the RequestedSecurityToken is not a SAML assertion")
}

func countAssertions(el *etree.Element) int {
	n := 0
	if el.Tag == "Assertion" && (el.NamespaceURI() == nsSAML1 || el.NamespaceURI() == nsSAML2) {
		n++
	}
	for _, c := range el.ChildElements() {
		n += countAssertions(c)
	}
	return n
}
