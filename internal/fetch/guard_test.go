package fetch

import (
	"net/netip"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		addr string
		want string // "" means public, may be dialed
	}{
		// Public.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.215.14", ""},
		{"100.63.255.255", ""},  // just below CGNAT
		{"100.128.0.0", ""},     // just above CGNAT
		{"172.15.255.255", ""},  // just below 172.16/12
		{"172.32.0.0", ""},      // just above
		{"169.253.255.255", ""}, // just below link-local
		{"198.17.255.255", ""},  // just below benchmarking
		{"198.20.0.0", ""},      // just above
		{"223.255.255.255", ""}, // just below multicast
		{"2606:4700:4700::1111", ""},
		{"2a00:1450:4001::200e", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::808:808", ""},                     // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},                      // 6to4 of 8.8.8.8
		{"2001:0:4136:e378:8000:63bf:f7f7:f7f7", ""}, // Teredo: server 65.54.227.120, client 8.8.8.8
		{"2001:470:1f04:0:0:5efe:808:808", ""},       // ISATAP of 8.8.8.8
		{"2001:470:1f04::1", ""},

		// IPv4.
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this-network"},
		{"10.0.0.1", "private"},
		{"10.255.255.255", "private"},
		{"100.64.0.1", "shared (CGNAT)"},
		{"100.100.100.200", "shared (CGNAT)"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"169.254.169.254", "link-local"},
		{"169.254.170.2", "link-local"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.0.0.192", "IETF protocol assignments"},
		{"192.0.2.1", "documentation"},
		{"192.88.99.1", "6to4 relay anycast"},
		{"192.168.1.1", "private"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"198.51.100.7", "documentation"},
		{"203.0.113.9", "documentation"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"240.0.0.1", "reserved"},
		{"255.255.255.254", "reserved"},
		{"255.255.255.255", "broadcast"},

		// IPv4-mapped IPv6.
		{"::ffff:127.0.0.1", "IPv4-mapped loopback"},
		{"::ffff:169.254.169.254", "IPv4-mapped link-local"},
		{"::ffff:10.0.0.1", "IPv4-mapped private"},
		{"::ffff:0.0.0.0", "IPv4-mapped unspecified"},
		{"::ffff:255.255.255.255", "IPv4-mapped broadcast"},

		// IPv6.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"::127.0.0.1", "IPv4-compatible (deprecated)"},
		{"::8.8.8.8", "IPv4-compatible (deprecated)"},
		{"fe80::1", "link-local"},
		{"febf::1", "link-local"},
		{"fec0::1", "site-local (deprecated)"},
		{"fc00::1", "unique-local (private)"},
		{"fd00:ec2::254", "unique-local (private)"},
		{"ff02::1", "multicast"},
		{"ff05::1:3", "multicast"},
		{"100::1", "discard-only"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"2001:2::1", "IETF protocol assignments"},
		{"2001:10::1", "IETF protocol assignments"},
		{"5f00::1", "not global unicast (reserved)"},
		{"4000::1", "not global unicast (reserved)"},
		{"1::1", "not global unicast (reserved)"},
		{"64:ff9b:1::1", "NAT64 local-use"},
		{"fe80::1%eth0", "zoned"},

		// Forms that embed an IPv4 address.
		{"64:ff9b::7f00:1", "NAT64 embedding loopback (127.0.0.1)"},
		{"64:ff9b::a9fe:a9fe", "NAT64 embedding link-local (169.254.169.254)"},
		{"64:ff9b::a00:1", "NAT64 embedding private (10.0.0.1)"},
		{"64:ff9b::", "NAT64 embedding unspecified (0.0.0.0)"},
		{"2002:7f00:1::1", "6to4 embedding loopback (127.0.0.1)"},
		{"2002:a9fe:a9fe::", "6to4 embedding link-local (169.254.169.254)"},
		{"2002:c0a8:101::1", "6to4 embedding private (192.168.1.1)"},
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", "Teredo client embedding loopback (127.0.0.1)"},
		{"2001:0:a00:1::1", "Teredo server embedding private (10.0.0.1)"},
		{"2001:470:1f04:0:0:5efe:a9fe:a9fe", "ISATAP embedding link-local (169.254.169.254)"},
		{"2001:470:1f04:0:200:5efe:a00:1", "ISATAP embedding private (10.0.0.1)"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got := classify(netip.MustParseAddr(tt.addr))
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("classify(%s) (-want +got):\n%s", tt.addr, diff)
			}
		})
	}
	if got := classify(netip.Addr{}); got != "invalid" {
		t.Errorf("classify(zero Addr) = %q, want invalid", got)
	}
}

func TestGuardAllowPrivate(t *testing.T) {
	g := newGuard([]netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"),
		netip.MustParsePrefix("10.20.0.0/16"),
		netip.MustParsePrefix("::ffff:192.168.7.0/120"), // a mapped prefix counts as IPv4
		netip.MustParsePrefix("fd12::/16"),
		netip.MustParsePrefix("0.0.0.0/0"), // never covers unspecified, multicast or broadcast
		netip.MustParsePrefix("ff00::/8"),
	})
	tests := []struct {
		addr string
		want bool // allowed
	}{
		{"8.8.8.8", true},
		{"127.0.0.1", true},
		{"::ffff:127.0.0.1", true},
		{"10.20.3.4", true},
		{"192.168.7.9", true},
		{"fd12::1", true},
		{"::1", false},
		{"fd13::1", false},
		{"64:ff9b::7f00:1", false}, // the dialed address is the NAT64 one, not 127.0.0.1
		{"fe80::1%eth0", false},
		// 0.0.0.0/0 is in the list, yet these stay refused.
		{"0.0.0.0", false},
		{"::ffff:0.0.0.0", false},
		{"224.0.0.1", false},
		{"255.255.255.255", false},
		{"ff02::1", false},
		{"::", false},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			got := g.check(netip.MustParseAddr(tt.addr)) == nil
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("check(%s) allowed (-want +got):\n%s", tt.addr, diff)
			}
		})
	}
}
