package ldap

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// ldapProfile finds users by their configured username attributes and maps configured
// attributes to claims.
type ldapProfile struct {
	filter             string
	usernameAttributes []string
	attrs              snapshot.LDAPAttributes
}

func newLDAPProfile(cfg snapshot.LDAP) (*ldapProfile, error) {
	if cfg.UserSearch.BaseDN == "" {
		return nil, errors.New("userSearch: baseDN is empty")
	}
	p := &ldapProfile{
		filter:             cmp.Or(cfg.UserSearch.Filter, "(objectClass=person)"),
		usernameAttributes: cfg.UserSearch.UsernameAttributes,
		attrs:              cfg.Attributes,
	}
	if len(p.usernameAttributes) == 0 {
		p.usernameAttributes = []string{"uid"}
	}
	p.attrs.Subject = cmp.Or(p.attrs.Subject, "entryUUID")
	p.attrs.Email = cmp.Or(p.attrs.Email, "mail")
	p.attrs.Name = cmp.Or(p.attrs.Name, "cn")
	return p, nil
}

func (p *ldapProfile) userFilter(username string) string {
	return fmt.Sprintf("(&%s%s)", p.filter, anyEquals(p.usernameAttributes, username))
}

func (p *ldapProfile) subjectFilter(id string) (string, bool) {
	value, ok := subjectFilterValue(p.attrs.Subject, id)
	return fmt.Sprintf("(&%s(%s=%s))", p.filter, p.attrs.Subject, value), ok
}

func (p *ldapProfile) attributes() []string {
	attrs := append([]string{p.attrs.Subject, p.attrs.Email, p.attrs.Name}, p.usernameAttributes...)
	if p.attrs.Groups != "" {
		attrs = append(attrs, p.attrs.Groups)
	}
	return attrs
}

func (p *ldapProfile) identity(entry *ldap.Entry, _ time.Time) (connector.Identity, error) {
	subject := subjectValue(entry, p.attrs.Subject)
	if subject == "" {
		return connector.Identity{}, refused("entry has no %s to use as subject", p.attrs.Subject)
	}
	id := connector.Identity{
		UserID:   subject,
		Username: firstValue(entry, p.usernameAttributes...),
		Email:    entry.GetAttributeValue(p.attrs.Email),
		Name:     entry.GetAttributeValue(p.attrs.Name),
	}
	if p.attrs.Groups != "" {
		id.Groups = groupNames(entry.GetAttributeValues(p.attrs.Groups))
	}
	return id, nil
}

// anyEquals is a filter matching entries whose attribute, any of attrs, equals value.
// value is escaped, so it can only ever be compared, never change the filter.
func anyEquals(attrs []string, value string) string {
	var b strings.Builder
	b.WriteString("(|")
	escaped := ldap.EscapeFilter(value)
	for _, a := range attrs {
		fmt.Fprintf(&b, "(%s=%s)", a, escaped)
	}
	b.WriteString(")")
	return b.String()
}

// subjectValue reads a stable identifier. objectGUID is binary and becomes the usual GUID
// text; other attributes (such as entryUUID) are text already.
func subjectValue(entry *ldap.Entry, attr string) string {
	if strings.EqualFold(attr, "objectGUID") {
		return formatGUID(entry.GetRawAttributeValue(attr))
	}
	return entry.GetAttributeValue(attr)
}

// subjectFilterValue is id as the escaped value of a filter on the subject attribute attr:
// objectGUID is compared as its 16 bytes, each escaped; false when id is not a GUID.
func subjectFilterValue(attr, id string) (string, bool) {
	if !strings.EqualFold(attr, "objectGUID") {
		return ldap.EscapeFilter(id), true
	}
	raw, ok := parseGUID(id)
	if !ok {
		return "", false
	}
	var b strings.Builder
	for _, c := range raw {
		fmt.Fprintf(&b, `\%02x`, c)
	}
	return b.String(), true
}

// parseGUID is the inverse of formatGUID.
func parseGUID(s string) ([]byte, bool) {
	hexDigits := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(hexDigits) != 32 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return nil, false
	}
	b, err := hex.DecodeString(hexDigits)
	if err != nil {
		return nil, false
	}
	// The first three fields are little-endian on the wire.
	slices.Reverse(b[0:4])
	slices.Reverse(b[4:6])
	slices.Reverse(b[6:8])
	return b, true
}

// formatGUID formats a 16-byte Microsoft GUID: its first three fields are little-endian.
func formatGUID(b []byte) string {
	if len(b) != 16 {
		return ""
	}
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		uint32(b[3])<<24|uint32(b[2])<<16|uint32(b[1])<<8|uint32(b[0]),
		uint16(b[5])<<8|uint16(b[4]),
		uint16(b[7])<<8|uint16(b[6]),
		b[8:10], b[10:16])
}

func firstValue(entry *ldap.Entry, attrs ...string) string {
	for _, a := range attrs {
		if v := entry.GetAttributeValue(a); v != "" {
			return v
		}
	}
	return ""
}
