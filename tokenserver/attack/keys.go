package attack

import (
	"crypto/sha256"
	"encoding/base64"
	"net/netip"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/tokenserver/snapshot"
)

// Login is one login attempt: who, against which directory, from where.
type Login struct {
	// Tenant is the Tenant's UID.
	Tenant string
	// Connection is the name of the Connection that checks the password.
	Connection string
	// Username as the client sent it; it is counted as the directories match it,
	// trimmed and in lower case.
	Username string
	// IP is the client's address.
	IP netip.Addr
}

// Counter keys are paths of segments that each end in "/":
//
//	<tenant>/u/<digest(user)>/<digest(connection)>/<digest(address)>/   one login from one address
//	<tenant>/ip/<digest(address)>/                                     one address, every login
//	/unblock/<tenant>/<digest(value)>/                                  an unblock value applied
//
// Every key ends in "/" and no segment holds one, so no key is a prefix of another, and
// TenantPrefix and UserPrefix select what an unblock clears. Users and addresses are
// digested because replicas that share counts send keys to each other.

// tenantOf is the tenant whose budget a key counts against, and the tenant of a prefix
// that names one: the first segment, or the second of an unblock mark. ok is false for a
// prefix too short to name a tenant, which may then match keys of any; a key that names
// none (tests count such) counts against the budget of tenant "".
func tenantOf(s string) (uid string, ok bool) {
	uid, _, ok = strings.Cut(strings.TrimPrefix(s, unblockMarksPrefix), "/")
	if !ok || uid == "" {
		return "", false
	}
	return uid, true
}

// tenantOfKey is the tenant whose budget key counts against.
func tenantOfKey(key string) string {
	uid, _ := tenantOf(key)
	return uid
}

// TenantPrefix is the prefix of every key of a tenant.
func TenantPrefix(tenantUID string) string {
	return url.PathEscape(tenantUID) + "/"
}

// UserPrefix is the prefix of the keys of one login of a tenant, from every address and
// against every Connection.
func UserPrefix(tenantUID, username string) string {
	return TenantPrefix(tenantUID) + "u/" + digest(snapshot.NormalizeLogin(username)) + "/"
}

// UserIPKey is the key counting the failures of l's login from l's address.
func UserIPKey(l Login) string {
	return UserPrefix(l.Tenant, l.Username) + digest(l.Connection) + "/" + digest(addressOf(l.IP)) + "/"
}

// IPKey is the key counting the failures from ip across the logins of a tenant.
func IPKey(tenantUID string, ip netip.Addr) string {
	return TenantPrefix(tenantUID) + "ip/" + digest(addressOf(ip)) + "/"
}

// addressOf is what an address counts as: an IPv4 address, or the /64 of an IPv6 one,
// since a single host commonly holds a whole /64 and could otherwise change address at
// every guess.
func addressOf(ip netip.Addr) string {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64) // never fails for an IPv6 address
		return p.String()
	}
	return ip.String()
}

// digest is 128 bits of SHA-256, in base64url: enough to tell keys apart, and no "/".
func digest(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.RawURLEncoding.EncodeToString(sum[:16])
}
