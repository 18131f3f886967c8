package fetch

import (
	"fmt"
	"net/netip"
)

// rangeRule names an address range the guard refuses and why.
type rangeRule struct {
	prefix netip.Prefix
	class  string
}

func rule(prefix, class string) rangeRule {
	return rangeRule{prefix: netip.MustParsePrefix(prefix), class: class}
}

// blockedV4 is every IPv4 range that is not a public unicast destination
// (IANA's IPv4 special-purpose registry, plus multicast and class E). The
// few special-purpose ranges that are globally reachable anycast services
// (AS112, AMT) are left out: they are public.
var blockedV4 = []rangeRule{
	rule("0.0.0.0/8", "this-network"), // 0.0.0.0 itself is caught earlier as unspecified
	rule("10.0.0.0/8", "private"),
	rule("100.64.0.0/10", "shared (CGNAT)"), // also Alibaba Cloud's metadata, 100.100.100.200
	rule("127.0.0.0/8", "loopback"),
	rule("169.254.0.0/16", "link-local"), // cloud metadata 169.254.169.254, ECS 169.254.170.2
	rule("172.16.0.0/12", "private"),
	rule("192.0.0.0/24", "IETF protocol assignments"), // Oracle Cloud metadata 192.0.0.192
	rule("192.0.2.0/24", "documentation"),
	rule("192.88.99.0/24", "6to4 relay anycast"),
	rule("192.168.0.0/16", "private"),
	rule("198.18.0.0/15", "benchmarking"),
	rule("198.51.100.0/24", "documentation"),
	rule("203.0.113.0/24", "documentation"),
	rule("224.0.0.0/4", "multicast"),
	rule("240.0.0.0/4", "reserved"), // 255.255.255.255 is caught earlier as broadcast
}

// blockedV6 applies to IPv6 addresses that are neither IPv4-mapped nor one
// of the forms that embed an IPv4 address (NAT64, 6to4, Teredo), which are
// judged by the address they embed. Anything outside 2000::/3 is refused
// afterwards as not global unicast; the rules before that name the class.
var blockedV6 = []rangeRule{
	rule("64:ff9b:1::/48", "NAT64 local-use"),
	rule("::/96", "IPv4-compatible (deprecated)"), // :: and ::1 are caught earlier
	rule("100::/64", "discard-only"),
	rule("fc00::/7", "unique-local (private)"), // AWS IMDS over IPv6, fd00:ec2::254
	rule("fe80::/10", "link-local"),
	rule("fec0::/10", "site-local (deprecated)"),
	rule("ff00::/8", "multicast"),
	rule("2001:db8::/32", "documentation"),
	rule("3fff::/20", "documentation"),
	rule("2001::/23", "IETF protocol assignments"), // Teredo 2001::/32 is judged by its embedded addresses first
}

var (
	globalUnicastV6 = netip.MustParsePrefix("2000::/3")
	nat64           = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour       = netip.MustParsePrefix("2002::/16")
	teredo          = netip.MustParsePrefix("2001::/32")
	broadcast       = netip.AddrFrom4([4]byte{255, 255, 255, 255})
)

// classify returns why the guard refuses a, or "" when a is a public unicast
// address. It ignores any allowance: that is [guard.check]'s business. An
// address with a zone, or the zero Addr, is always refused.
func classify(a netip.Addr) string {
	if !a.IsValid() {
		return "invalid"
	}
	if a.Zone() != "" {
		return "zoned"
	}
	if a.Is4In6() {
		if c := classify(a.Unmap()); c != "" {
			return "IPv4-mapped " + c
		}
		return ""
	}
	if a.Is4() {
		switch {
		case a.IsUnspecified():
			return "unspecified"
		case a == broadcast:
			return "broadcast"
		}
		for _, r := range blockedV4 {
			if r.prefix.Contains(a) {
				return r.class
			}
		}
		return ""
	}

	switch {
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	}
	b := a.As16()
	if nat64.Contains(a) {
		return embedded("NAT64", v4(b[12:16], 0))
	}
	if sixToFour.Contains(a) {
		return embedded("6to4", v4(b[2:6], 0))
	}
	if teredo.Contains(a) {
		// RFC 4380: the Teredo server's address in clear, the client's
		// (the NAT's public address) with every bit inverted.
		if c := embedded("Teredo server", v4(b[4:8], 0)); c != "" {
			return c
		}
		if c := embedded("Teredo client", v4(b[12:16], 0xff)); c != "" {
			return c
		}
		return ""
	}
	for _, r := range blockedV6 {
		if r.prefix.Contains(a) {
			return r.class
		}
	}
	if !globalUnicastV6.Contains(a) {
		return "not global unicast (reserved)"
	}
	// ISATAP (RFC 5214) interface ids carry an IPv4 address in the last 32
	// bits; a host with an ISATAP tunnel would route them to that address.
	if (b[8] == 0 || b[8] == 2) && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe {
		return embedded("ISATAP", v4(b[12:16], 0))
	}
	return ""
}

// v4 reads an IPv4 address from 4 bytes, each XORed with mask.
func v4(b []byte, mask byte) netip.Addr {
	return netip.AddrFrom4([4]byte{b[0] ^ mask, b[1] ^ mask, b[2] ^ mask, b[3] ^ mask})
}

func embedded(form string, a netip.Addr) string {
	if c := classify(a); c != "" {
		return fmt.Sprintf("%s embedding %s (%s)", form, c, a)
	}
	return ""
}

// guard decides whether an address may be dialed: public unicast addresses,
// and those in the allowed prefixes. It is immutable and safe for concurrent
// use.
type guard struct {
	allow []netip.Prefix // IPv4-mapped prefixes already unmapped
}

func newGuard(allow []netip.Prefix) guard {
	var g guard
	for _, p := range allow {
		if !p.IsValid() {
			continue
		}
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		g.allow = append(g.allow, p.Masked())
	}
	return g
}

// check returns nil when a may be dialed, else an error naming the class of
// address (and the address: the error is a Cause, for logs only).
//
// An allowance never covers an address that cannot be a single host:
// unspecified (on Linux, 0.0.0.0 reaches loopback), multicast, broadcast, or
// an address with a zone.
func (g guard) check(a netip.Addr) error {
	class := classify(a)
	if class == "" {
		return nil
	}
	if u := a.Unmap(); u.Zone() == "" && !u.IsUnspecified() && !u.IsMulticast() && u != broadcast {
		for _, p := range g.allow {
			if p.Contains(u) {
				return nil
			}
		}
	}
	return fmt.Errorf("fetch: address %s is %s", a, class)
}
