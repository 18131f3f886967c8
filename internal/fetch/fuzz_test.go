package fetch

import (
	"net/netip"
	"testing"
)

// FuzzGuardAddr checks the address classifier's invariants on any address:
// 4 bytes (IPv4), 16 bytes (IPv6) or any other input parsed as text.
// The committed corpus is in testdata/fuzz/FuzzGuardAddr.
func FuzzGuardAddr(f *testing.F) {
	for _, s := range blockedAddrs {
		a := netip.MustParseAddr(s)
		f.Add([]byte(s))
		f.Add(a.AsSlice())
	}
	f.Add([]byte("8.8.8.8"))
	f.Add([]byte("2606:4700:4700::1111"))

	open := newGuard([]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")})
	f.Fuzz(func(t *testing.T, b []byte) {
		var a netip.Addr
		switch len(b) {
		case 4:
			a = netip.AddrFrom4([4]byte(b))
		case 16:
			a = netip.AddrFrom16([16]byte(b))
		default:
			var err error
			if a, err = netip.ParseAddr(string(b)); err != nil {
				return
			}
		}
		class := classify(a)
		blocked := class != ""
		if got := (guard{}).check(a) != nil; got != blocked {
			t.Fatalf("%s: check refuses = %v, classify = %q", a, got, class)
		}

		// Whatever the standard library calls non-public is refused.
		u := a.Unmap()
		if (u.Zone() != "" || u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() ||
			u.IsLinkLocalMulticast() || u.IsInterfaceLocalMulticast() || u.IsMulticast() ||
			u.IsUnspecified() || !u.IsGlobalUnicast()) && !blocked {
			t.Fatalf("%s: not public by net/netip, but classify allows it", a)
		}

		// No allowance, however wide, makes these dialable.
		if (u.Zone() != "" || u.IsUnspecified() || u.IsMulticast() || u == broadcast) && open.check(a) == nil {
			t.Fatalf("%s: allowed by 0.0.0.0/0 and ::/0, but must never be", a)
		}

		// The text form means the same.
		if a.Zone() == "" {
			p, err := netip.ParseAddr(a.String())
			if err != nil {
				t.Fatalf("%s: does not parse back: %v", a, err)
			}
			if c := classify(p); c != class {
				t.Fatalf("%s: classify = %q, of its text form %q", a, class, c)
			}
		}

		if a.Is4() {
			// Every IPv6 spelling of an IPv4 address gets its verdict.
			b4 := a.As4()
			forms := map[string]netip.Addr{
				"IPv4-mapped": netip.AddrFrom16([16]byte{10: 0xff, 11: 0xff, 12: b4[0], 13: b4[1], 14: b4[2], 15: b4[3]}),
				"NAT64":       netip.AddrFrom16([16]byte{0: 0x00, 1: 0x64, 2: 0xff, 3: 0x9b, 12: b4[0], 13: b4[1], 14: b4[2], 15: b4[3]}),
				"6to4":        netip.AddrFrom16([16]byte{0: 0x20, 1: 0x02, 2: b4[0], 3: b4[1], 4: b4[2], 5: b4[3], 15: 1}),
				// Teredo with a public server (65.54.227.120) and this client.
				"Teredo": netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 4: 65, 5: 54, 6: 227, 7: 120,
					12: ^b4[0], 13: ^b4[1], 14: ^b4[2], 15: ^b4[3]}),
				"ISATAP": netip.AddrFrom16([16]byte{0: 0x20, 1: 0x01, 2: 0x04, 3: 0x70, 10: 0x5e, 11: 0xfe,
					12: b4[0], 13: b4[1], 14: b4[2], 15: b4[3]}),
			}
			for form, v6 := range forms {
				if got := classify(v6) != ""; got != blocked {
					t.Fatalf("%s: refused = %v, but as %s %s refused = %v", a, blocked, form, v6, got)
				}
			}
		}

		if a.Is6() && !a.Is4In6() {
			// The forms that embed an IPv4 address are judged by it.
			b16 := a.As16()
			var embeds []netip.Addr
			switch {
			case nat64.Contains(a):
				embeds = append(embeds, v4(b16[12:], 0))
			case sixToFour.Contains(a):
				embeds = append(embeds, v4(b16[2:6], 0))
			case teredo.Contains(a):
				embeds = append(embeds, v4(b16[4:8], 0), v4(b16[12:], 0xff))
			}
			if embeds != nil {
				want := false
				for _, e := range embeds {
					want = want || classify(e) != ""
				}
				if want != blocked {
					t.Fatalf("%s: refused = %v, embedded %v refused = %v", a, blocked, embeds, want)
				}
			}
		}
	})
}
