package ldap

import (
	"log/slog"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

func TestServersThatFailedAreTriedLastUntilTheirBackoffEnds(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	d, err := newDirectory(snapshot.Transport{URLs: []string{"ldaps://a", "ldaps://b", "ldaps://c"}},
		"cn=svc", slog.New(slog.DiscardHandler), func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	order := func() string {
		var hosts string
		for _, s := range d.serversByPreference(now) {
			hosts += s.url.Host
		}
		return hosts
	}
	if got := order(); got != "abc" {
		t.Fatalf("order = %s, want abc", got)
	}
	d.servers[0].setFailedUntil(now.Add(failedServerBackoff))
	if got := order(); got != "bca" {
		t.Fatalf("order after a failed = %s, want bca", got)
	}
	now = now.Add(failedServerBackoff)
	if got := order(); got != "abc" {
		t.Fatalf("order after the backoff = %s, want abc", got)
	}
}

func TestNewDirectoryRefusesInsecureOrMalformedURLs(t *testing.T) {
	tests := []struct {
		name string
		t    snapshot.Transport
	}{
		{"no URL", snapshot.Transport{}},
		{"clear text", snapshot.Transport{URLs: []string{"ldap://a"}}},
		{"startTLS on ldaps", snapshot.Transport{URLs: []string{"ldaps://a"}, StartTLS: true}},
		{"other scheme", snapshot.Transport{URLs: []string{"http://a"}, InsecureNoTLS: true}},
		{"path", snapshot.Transport{URLs: []string{"ldaps://a/dc=x"}}},
		{"CA without certificates", snapshot.Transport{URLs: []string{"ldaps://a"}, CAPEM: "not PEM"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := newDirectory(tt.t, "cn=svc", slog.New(slog.DiscardHandler), time.Now); err == nil {
				t.Fatal("newDirectory accepted it")
			}
		})
	}
	for _, ok := range []snapshot.Transport{
		{URLs: []string{"ldaps://a:636"}},
		{URLs: []string{"ldap://a", "ldap://b:389/"}, StartTLS: true},
		{URLs: []string{"ldap://a"}, InsecureNoTLS: true},
	} {
		if _, err := newDirectory(ok, "cn=svc", slog.New(slog.DiscardHandler), time.Now); err != nil {
			t.Errorf("newDirectory(%v) = %v", ok.URLs, err)
		}
	}
}
