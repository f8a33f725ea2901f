package ldap

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-ldap/ldap/v3"

	"github.com/gatehouse-dev/gatehouse/tokenserver/connector"
)

func TestFormatGUID(t *testing.T) {
	// The bytes of {00112233-4455-6677-8899-aabbccddeeff} as AD stores them.
	raw := []byte{0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	if got, want := formatGUID(raw), "00112233-4455-6677-8899-aabbccddeeff"; got != want {
		t.Errorf("formatGUID = %q, want %q", got, want)
	}
	if got := formatGUID(raw[:15]); got != "" {
		t.Errorf("formatGUID of 15 bytes = %q, want empty", got)
	}
}

func TestSubjectFilterValue(t *testing.T) {
	tests := []struct {
		attr, id string
		want     string
		ok       bool
	}{
		{"objectGUID", "00112233-4455-6677-8899-aabbccddeeff", `\33\22\11\00\55\44\77\66\88\99\aa\bb\cc\dd\ee\ff`, true},
		{"objectGUID", "00112233-4455-6677-8899-aabbccddeefg", "", false},
		{"objectGUID", "0011223344556677-8899-aabbccddeeff--", "", false},
		{"objectGUID", "*", "", false},
		{"entryUUID", "a*)(uid=*", `a\2a\29\28uid=\2a`, true},
	}
	for _, tt := range tests {
		got, ok := subjectFilterValue(tt.attr, tt.id)
		if got != tt.want || ok != tt.ok {
			t.Errorf("subjectFilterValue(%s, %q) = %q, %v; want %q, %v", tt.attr, tt.id, got, ok, tt.want, tt.ok)
		}
	}
}

// toFileTime is the inverse of fileTime, for building entries.
func toFileTime(t time.Time) string {
	return strconv.FormatInt((t.Unix()+11644473600)*1e7, 10)
}

func TestAccountUsable(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		attrs  map[string]string
		reason string // empty when the account may log in
	}{
		{"normal account", map[string]string{"userAccountControl": "512", "accountExpires": "9223372036854775807"}, ""},
		{"never expires as 0", map[string]string{"userAccountControl": "512", "accountExpires": "0"}, ""},
		{"expires later", map[string]string{"userAccountControl": "512", "accountExpires": toFileTime(now.Add(time.Hour))}, ""},
		{"expired", map[string]string{"userAccountControl": "512", "accountExpires": toFileTime(now.Add(-time.Hour))}, "expired"},
		{"disabled", map[string]string{"userAccountControl": "514"}, "disabled"},
		{"locked by the computed flag", map[string]string{"userAccountControl": "512", attrComputedControl: "16"}, "locked"},
		{"lockout time without the computed flag", map[string]string{"userAccountControl": "512", "lockoutTime": "133000000000000000"}, "locked"},
		{"old lockout time the computed flag clears", map[string]string{"userAccountControl": "512", "lockoutTime": "133000000000000000", attrComputedControl: "0"}, ""},
		{"password expired", map[string]string{"userAccountControl": "512", attrComputedControl: "8388608"}, "password expired"},
		{"garbage control", map[string]string{"userAccountControl": "x"}, "not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entry := ldap.NewEntry("CN=x,DC=corp", map[string][]string{})
			for k, v := range tt.attrs {
				entry.Attributes = append(entry.Attributes, ldap.NewEntryAttribute(k, []string{v}))
			}
			err := accountUsable(entry, now)
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("accountUsable = %v, want nil", err)
			case tt.reason != "" && (!errors.Is(err, connector.ErrInvalidCredentials) || !strings.Contains(err.Error(), tt.reason)):
				t.Fatalf("accountUsable = %v, want ErrInvalidCredentials for %q", err, tt.reason)
			}
		})
	}
}

func TestActiveDirectoryUserFilter(t *testing.T) {
	p := &adProfile{domain: "corp.example.com"}
	tests := []struct{ username, want string }{
		{"alice", "(&(objectCategory=person)(objectClass=user)(|(sAMAccountName=alice)(userPrincipalName=alice)(mail=alice)))"},
		{"Alice@CORP.example.com", "(&(objectCategory=person)(objectClass=user)(|(|(sAMAccountName=Alice@CORP.example.com)(userPrincipalName=Alice@CORP.example.com)(mail=Alice@CORP.example.com))(sAMAccountName=Alice)))"},
		{"*)(x=*@corp.example.com", `(&(objectCategory=person)(objectClass=user)(|(|(sAMAccountName=\2a\29\28x=\2a@corp.example.com)(userPrincipalName=\2a\29\28x=\2a@corp.example.com)(mail=\2a\29\28x=\2a@corp.example.com))(sAMAccountName=\2a\29\28x=\2a)))`},
	}
	for _, tt := range tests {
		if got := p.userFilter(tt.username); got != tt.want {
			t.Errorf("userFilter(%q) =\n %s\nwant\n %s", tt.username, got, tt.want)
		}
	}
}

func TestGroupNames(t *testing.T) {
	got := groupNames([]string{"CN=Engineers,OU=Groups,DC=corp", "cn=engineers,ou=other,dc=corp", "cn=A\\2C B,dc=corp", "not a dn"})
	want := []string{"Engineers", "A, B"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("groupNames = %q, want %q", got, want)
	}
}
