package adfs

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector/upstream"
)

// Namespaces of SAML 2.0 metadata (saml-metadata-2.0-os) and XML Signature, in which
// ADFS publishes its federation metadata and token-signing certificates.
const (
	nsMetadata = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig     = "http://www.w3.org/2000/09/xmldsig#"
)

// How long federation metadata is used before it is read again, and how often at most
// an assertion that does not verify makes the connector read it again: an ADFS that
// rolled its token-signing certificate over is followed within a login, and a stream
// of bad assertions cannot make it fetch more than once per interval.
const (
	metadataMaxAge      = time.Hour
	metadataMinInterval = 30 * time.Second
)

// federation is what the federation metadata says about ADFS: its entity ID, which is
// the Issuer of its assertions, and its token-signing certificates.
type federation struct {
	entityID string
	certs    []*x509.Certificate
}

// metadataCache holds ADFS's federation metadata.
type metadataCache struct {
	url    string
	client *http.Client
	now    func() time.Time
	log    *slog.Logger

	mu      sync.Mutex
	current *federation
	fetched time.Time
}

// get returns the metadata, read again once it is metadataMaxAge old. When that read
// fails, the metadata read before is used, as long as there is one.
func (m *metadataCache) get(ctx context.Context) (*federation, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current != nil && m.now().Sub(m.fetched) < metadataMaxAge {
		return m.current, nil
	}
	return m.fetchLocked(ctx)
}

// refresh reads the metadata again unless it was read within metadataMinInterval, and
// says whether it was.
func (m *metadataCache) refresh(ctx context.Context) (*federation, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current != nil && m.now().Sub(m.fetched) < metadataMinInterval {
		return m.current, false, nil
	}
	f, err := m.fetchLocked(ctx)
	return f, err == nil, err
}

func (m *metadataCache) fetchLocked(ctx context.Context) (*federation, error) {
	f, err := fetchMetadata(ctx, m.client, m.url)
	if err != nil {
		if m.current != nil {
			// Tried again in metadataMinInterval, not at every login meanwhile.
			m.fetched = m.now().Add(metadataMinInterval - metadataMaxAge)
			m.log.Warn("cannot read ADFS's federation metadata again; the certificates read before stay in use", "error", err)
			return m.current, nil
		}
		return nil, err
	}
	m.current, m.fetched = f, m.now()
	return f, nil
}

// fetchMetadata reads and parses the federation metadata at url.
func fetchMetadata(ctx context.Context, client *http.Client, url string) (*federation, error) {
	body, err := upstream.Get(ctx, client, url)
	if err != nil {
		return nil, fmt.Errorf("reading the federation metadata: %w", err)
	}
	f, err := parseMetadata(body)
	if err != nil {
		return nil, fmt.Errorf("the federation metadata: %w", err)
	}
	return f, nil
}

// parseMetadata reads the entity ID and the token-signing certificates of an
// EntityDescriptor: the signing keys of its security token service role (the
// RoleDescriptor of WS-Federation's SecurityTokenServiceType) and of its IDPSSODescriptor,
// where ADFS publishes its primary and, during a rollover, its secondary token-signing
// certificate. The document comes over TLS from the Connection's URL, which is what
// makes it trusted; its own signature adds nothing to that and is not checked.
func parseMetadata(body []byte) (*federation, error) {
	doc, err := readXML(body)
	if err != nil {
		return nil, err
	}
	root := doc.Root()
	if root == nil || root.Tag != "EntityDescriptor" || root.NamespaceURI() != nsMetadata {
		return nil, errors.New("it is not a SAML metadata EntityDescriptor")
	}
	f := &federation{entityID: root.SelectAttrValue("entityID", "")}
	if f.entityID == "" {
		return nil, errors.New("its EntityDescriptor has no entityID")
	}
	for _, role := range root.ChildElements() {
		if role.NamespaceURI() != nsMetadata || role.Tag != "RoleDescriptor" && role.Tag != "IDPSSODescriptor" {
			continue
		}
		for _, key := range children(role, nsMetadata, "KeyDescriptor") {
			if use := key.SelectAttrValue("use", "signing"); use != "signing" {
				continue
			}
			certs, err := keyCertificates(key)
			if err != nil {
				return nil, err
			}
			f.certs = appendNew(f.certs, certs...)
		}
	}
	if len(f.certs) == 0 {
		return nil, errors.New("it names no token-signing certificate")
	}
	return f, nil
}

// keyCertificates parses the X509Certificate elements of a KeyDescriptor's KeyInfo.
func keyCertificates(key *etree.Element) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for _, info := range children(key, nsDSig, "KeyInfo") {
		for _, data := range children(info, nsDSig, "X509Data") {
			for _, c := range children(data, nsDSig, "X509Certificate") {
				der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(c.Text()), ""))
				if err != nil {
					return nil, errors.New("a signing certificate is not base64")
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fmt.Errorf("a signing certificate does not parse: %w", err)
				}
				out = append(out, cert)
			}
		}
	}
	return out, nil
}

func appendNew(certs []*x509.Certificate, more ...*x509.Certificate) []*x509.Certificate {
	for _, c := range more {
		known := false
		for _, have := range certs {
			known = known || have.Equal(c)
		}
		if !known {
			certs = append(certs, c)
		}
	}
	return certs
}

// readXML parses an upstream's XML strictly. Go's decoder expands no external entities
// and no DTD, so neither can make it read files or grow without bound; bodies are
// bounded by upstream.MaxBody.
func readXML(body []byte) (*etree.Document, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.ValidateInput = true
	if err := doc.ReadFromBytes(body); err != nil {
		return nil, errors.New("it is not well-formed XML")
	}
	return doc, nil
}

// children are el's child elements named tag in namespace ns.
func children(el *etree.Element, ns, tag string) []*etree.Element {
	var out []*etree.Element
	for _, c := range el.ChildElements() {
		if c.Tag == tag && c.NamespaceURI() == ns {
			out = append(out, c)
		}
	}
	return out
}

// child is el's first child element named tag in namespace ns, or nil.
func child(el *etree.Element, ns, tag string) *etree.Element {
	if c := children(el, ns, tag); len(c) > 0 {
		return c[0]
	}
	return nil
}
