package attack

import (
	"net/netip"
	"strings"
	"testing"
)

func TestKeys(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.1")
	logins := []Login{
		{Tenant: "uid-a", Connection: "users", Username: "alice", IP: ip},
		{Tenant: "uid-a", Connection: "users", Username: "alice", IP: netip.MustParseAddr("192.0.2.10")},
		{Tenant: "uid-a", Connection: "corp", Username: "alice", IP: ip},
		{Tenant: "uid-a", Connection: "users", Username: "alice2", IP: ip},
		{Tenant: "uid-a", Connection: "users", Username: "bob", IP: netip.MustParseAddr("2001:db8::1")},
		{Tenant: "uid-ab", Connection: "users", Username: "alice", IP: ip},
		{Tenant: "uid/a", Connection: "users", Username: "alice", IP: ip},
	}
	var keys []string
	for _, l := range logins {
		keys = append(keys, UserIPKey(l), IPKey(l.Tenant, l.IP))
	}
	for i, k := range keys {
		if !strings.HasSuffix(k, "/") {
			t.Errorf("key %q does not end in /", k)
		}
		for _, secret := range []string{"alice", "bob", "192.0.2", "2001:db8", "users", "corp"} {
			if strings.Contains(k, secret) {
				t.Errorf("key %q holds %q in clear", k, secret)
			}
		}
		for j, other := range keys {
			if k != other && strings.HasPrefix(other, k) {
				t.Errorf("key %d %q is a prefix of key %d %q", i, k, j, other)
			}
		}
	}

	// The prefixes an unblock resets select exactly one tenant, or one login of it.
	alice := UserPrefix("uid-a", " ALICE")
	for i, l := range logins {
		wantUser := l.Tenant == "uid-a" && l.Username == "alice"
		if got := strings.HasPrefix(UserIPKey(l), alice); got != wantUser {
			t.Errorf("login %d under alice's prefix: %v, want %v", i, got, wantUser)
		}
		for _, k := range []string{UserIPKey(l), IPKey(l.Tenant, l.IP)} {
			if got := strings.HasPrefix(k, TenantPrefix("uid-a")); got != (l.Tenant == "uid-a") {
				t.Errorf("key %q of tenant %s under uid-a's prefix: %v", k, l.Tenant, got)
			}
		}
	}
}

func TestClientIP(t *testing.T) {
	proxies, err := ParseTrustedProxies(" 10.0.0.0/8, 192.168.1.10,fd00::/8 ,")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		peer         string
		forwardedFor []string
		want         string
	}{
		{"untrusted peer: its header is ignored", "203.0.113.9", []string{"198.51.100.1"}, "203.0.113.9"},
		{"trusted peer without header", "10.1.2.3", nil, "10.1.2.3"},
		{"trusted peer", "10.1.2.3", []string{"198.51.100.1"}, "198.51.100.1"},
		{"entries the client wrote are ignored", "10.1.2.3", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, "198.51.100.1"},
		{"a chain of trusted proxies", "10.1.2.3", []string{"1.1.1.1, 198.51.100.1, 192.168.1.10", "10.9.9.9"}, "198.51.100.1"},
		{"a single address trusted", "192.168.1.10", []string{"198.51.100.1"}, "198.51.100.1"},
		{"an address next to a trusted one is not", "192.168.1.11", []string{"198.51.100.1"}, "192.168.1.11"},
		{"malformed entry stops at the proxy that wrote it", "10.1.2.3", []string{"198.51.100.1, 10.0.0.7, unknown"}, "10.1.2.3"},
		{"malformed entry further left", "10.1.2.3", []string{"garbage, 198.51.100.1"}, "198.51.100.1"},
		{"address with a port is malformed", "10.1.2.3", []string{"198.51.100.1:4711"}, "10.1.2.3"},
		{"every entry trusted: the leftmost", "10.1.2.3", []string{"10.0.0.1, 10.0.0.2"}, "10.0.0.1"},
		{"IPv6", "fd00::1", []string{"2001:db8::7"}, "2001:db8::7"},
		{"IPv4 in IPv6 peer", "::ffff:10.1.2.3", []string{"198.51.100.1"}, "198.51.100.1"},
		{"IPv4 in IPv6 entry", "10.1.2.3", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := proxies.ClientIP(netip.MustParseAddr(tc.peer), tc.forwardedFor); got.String() != tc.want {
				t.Errorf("ClientIP = %s, want %s", got, tc.want)
			}
		})
	}
	if got := TrustedProxies(nil).ClientIP(netip.MustParseAddr("10.1.2.3"), []string{"198.51.100.1"}); got.String() != "10.1.2.3" {
		t.Errorf("without trusted proxies ClientIP = %s, want the peer", got)
	}
}

func TestParseTrustedProxiesRefusesGarbage(t *testing.T) {
	for _, s := range []string{"10.0.0.0/33", "proxy.local", "10.0.0.1:80"} {
		if _, err := ParseTrustedProxies(s); err == nil {
			t.Errorf("ParseTrustedProxies(%q) accepted it", s)
		}
	}
}
