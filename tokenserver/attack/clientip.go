package attack

import (
	"fmt"
	"net/netip"
	"strings"
)

// TrustedProxies are the addresses whose X-Forwarded-For is believed: the load
// balancers and ingress controllers in front of the token server.
type TrustedProxies []netip.Prefix

// ParseTrustedProxies reads comma-separated CIDRs and addresses, such as
// "10.0.0.0/8,192.168.1.10".
func ParseTrustedProxies(s string) (TrustedProxies, error) {
	var out TrustedProxies
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if p, err := netip.ParsePrefix(item); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(item)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR", item)
		}
		ip = ip.Unmap()
		out = append(out, netip.PrefixFrom(ip, ip.BitLen()))
	}
	return out, nil
}

func (p TrustedProxies) trust(ip netip.Addr) bool {
	for _, prefix := range p {
		if prefix.Contains(ip) {
			return true
		}
	}
	return false
}

// ClientIP is the address of the client behind peer, the TCP peer of a request. Only a
// trusted peer's X-Forwarded-For headers (forwardedFor, in the order received) are read:
// from the right, each trusted proxy hands over to the address it received from, and
// the first address that is not a trusted proxy is the client. Entries left of it were
// written by the client and are never believed; a malformed entry stops the walk at the
// proxy that wrote it.
func (p TrustedProxies) ClientIP(peer netip.Addr, forwardedFor []string) netip.Addr {
	client := peer.Unmap()
	if !p.trust(client) {
		return client
	}
	for i := len(forwardedFor) - 1; i >= 0; i-- {
		entries := strings.Split(forwardedFor[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			ip, err := ParseIP(entries[j])
			if err != nil {
				return client
			}
			client = ip
			if !p.trust(client) {
				return client
			}
		}
	}
	return client
}

// ParseIP reads one IP address, with surrounding spaces, as headers carry it.
func ParseIP(s string) (netip.Addr, error) {
	ip, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return netip.Addr{}, err
	}
	return ip.Unmap().WithZone(""), nil
}
