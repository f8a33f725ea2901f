package ldap

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Bits of userAccountControl and msDS-User-Account-Control-Computed.
const (
	uacAccountDisabled  = 0x2
	uacLockout          = 0x10
	uacPasswordExpired  = 0x800000
	attrComputedControl = "msDS-User-Account-Control-Computed"
)

// adUserFilter matches user accounts.
const adUserFilter = "(objectCategory=person)(objectClass=user)"

// adProfile finds Active Directory users by sAMAccountName, userPrincipalName or mail,
// and refuses disabled, locked and expired accounts before any bind as them (the login
// binds as a decoy instead, as one the search refused).
type adProfile struct {
	domain string
}

// NewActiveDirectory returns a Connector for the activeDirectory connection called name.
func NewActiveDirectory(name string, cfg snapshot.ActiveDirectory, opts ...Option) (*Connector, error) {
	if cfg.Domain == "" {
		return nil, fmt.Errorf("activeDirectory connection %q: domain is empty", name)
	}
	return newConnector(name, cfg.Transport, cfg.BindUsername, &adProfile{domain: cfg.Domain},
		activeDirectoryBaseDN(cfg), ldap.ScopeWholeSubtree, nil, opts)
}

// activeDirectoryBaseDN is the configured base DN, or the domain's own DN.
func activeDirectoryBaseDN(cfg snapshot.ActiveDirectory) string {
	return cmp.Or(cfg.BaseDN, "DC="+strings.Join(strings.Split(cfg.Domain, "."), ",DC="))
}

func (p *adProfile) userFilter(username string) string {
	attrs := []string{"sAMAccountName", "userPrincipalName", "mail"}
	match := anyEquals(attrs, username)
	// user@domain also names the account whose sAMAccountName is user, since not every
	// account has a userPrincipalName.
	if local, ok := cutSuffixFold(username, "@"+p.domain); ok && local != "" {
		match = fmt.Sprintf("(|%s(sAMAccountName=%s))", match, ldap.EscapeFilter(local))
	}
	return fmt.Sprintf("(&%s%s)", adUserFilter, match)
}

func (p *adProfile) subjectFilter(id string) (string, bool) {
	value, ok := subjectFilterValue("objectGUID", id)
	return fmt.Sprintf("(&%s(objectGUID=%s))", adUserFilter, value), ok
}

func (p *adProfile) attributes() []string {
	return []string{"objectGUID", "sAMAccountName", "userPrincipalName", "mail", "displayName", "cn",
		"memberOf", "userAccountControl", "lockoutTime", "accountExpires", attrComputedControl}
}

func (p *adProfile) identity(entry *ldap.Entry, now time.Time) (connector.Identity, error) {
	if err := accountUsable(entry, now); err != nil {
		return connector.Identity{}, err
	}
	guid := formatGUID(entry.GetRawAttributeValue("objectGUID"))
	if guid == "" {
		return connector.Identity{}, refused("entry has no objectGUID")
	}
	return connector.Identity{
		UserID:   guid,
		Username: entry.GetAttributeValue("sAMAccountName"),
		Email:    entry.GetAttributeValue("mail"),
		Name:     firstValue(entry, "displayName", "cn"),
		Groups:   groupNames(entry.GetAttributeValues("memberOf")),
	}, nil
}

// accountUsable refuses disabled, locked and expired accounts, saying which for the logs.
func accountUsable(entry *ldap.Entry, now time.Time) error {
	control, err := intAttribute(entry, "userAccountControl")
	if err != nil {
		return refused("%v", err)
	}
	if control&uacAccountDisabled != 0 {
		return refused("account disabled")
	}
	computed, err := intAttribute(entry, attrComputedControl)
	if err != nil {
		return refused("%v", err)
	}
	locked := computed&uacLockout != 0
	if entry.GetAttributeValue(attrComputedControl) == "" {
		// Only without the computed flag: lockoutTime stays set after the lockout
		// duration has passed, until the next successful logon.
		lockoutTime, err := intAttribute(entry, "lockoutTime")
		if err != nil {
			return refused("%v", err)
		}
		locked = lockoutTime > 0
	}
	if locked {
		return refused("account locked out")
	}
	if computed&uacPasswordExpired != 0 {
		return refused("password expired")
	}
	expires, err := intAttribute(entry, "accountExpires")
	if err != nil {
		return refused("%v", err)
	}
	if at, ok := fileTime(expires); ok && !now.Before(at) {
		return refused("account expired at %s", at.UTC().Format(time.RFC3339))
	}
	return nil
}

// intAttribute reads an integer attribute; a missing attribute reads as 0.
func intAttribute(entry *ldap.Entry, attr string) (int64, error) {
	v := entry.GetAttributeValue(attr)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not an integer: %w", attr, errors.Unwrap(err))
	}
	return n, nil
}

// fileTime converts a Windows FILETIME (100 ns intervals since 1601-01-01 UTC). AD writes
// 0 and the largest int64 for "never".
func fileTime(v int64) (time.Time, bool) {
	if v <= 0 || v == math.MaxInt64 {
		return time.Time{}, false
	}
	const secondsFrom1601To1970 = 11644473600
	return time.Unix(v/1e7-secondsFrom1601To1970, (v%1e7)*100), true
}

// cutSuffixFold is strings.CutSuffix, ignoring case.
func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) < len(suffix) || !strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s, false
	}
	return s[:len(s)-len(suffix)], true
}
