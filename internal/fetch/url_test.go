package fetch

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseHost(t *testing.T) {
	tests := []struct {
		host string
		want string // the canonical host, or the Reason of the refusal
	}{
		{"example.com", "example.com"},
		{"Images.Example.COM", "images.example.com"},
		{"example.com.", "example.com"},
		{"cdn_1.example-2.com", "cdn_1.example-2.com"},
		{"1e100.net", "1e100.net"},
		{"123.example", "123.example"},
		{"8.8.8.8", "8.8.8.8"},
		{"127.0.0.1", "127.0.0.1"}, // canonical: parsed, then judged by the guard
		{"::1", "::1"},
		{"::FFFF:127.0.0.1", "::ffff:127.0.0.1"},

		// IPv4 in forms netip does not parse but C resolvers and browsers do.
		{"2130706433", ReasonBadURL},
		{"0x7f000001", ReasonBadURL},
		{"0X7F000001", ReasonBadURL},
		{"017700000001", ReasonBadURL},
		{"0x7f.1", ReasonBadURL},
		{"0x7f.0.0.1", ReasonBadURL},
		{"0177.0.0.1", ReasonBadURL},
		{"127.1", ReasonBadURL},
		{"127.0.1", ReasonBadURL},
		{"127.0.0.1.", ReasonBadURL},
		{"1.2.3.4.5", ReasonBadURL},
		{"0", ReasonBadURL},
		{"0x", ReasonBadURL},
		{"example.0x10", ReasonBadURL},
		{"example.123", ReasonBadURL},

		// Zones, non-ASCII, empty.
		{"fe80::1%eth0", ReasonBadURL},
		{"fe80::1%25eth0", ReasonBadURL},
		{"ⓔxample.com", ReasonBadURL},
		{"exa mple.com", ReasonBadURL},
		{"a..b", ReasonBadURL},
		{".", ReasonBadURL},
		{"", ReasonBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			tg, err := parseHost(tt.host)
			got := tg.host
			if err != nil {
				got = err.Reason
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseHost(%q) (-want +got):\n%s", tt.host, diff)
			}
		})
	}
}

func TestHostAllowed(t *testing.T) {
	f := New(Options{AllowHosts: []string{"Images.Example.com.", "*.cdn.test", " [::1] "}})
	tests := []struct {
		host string
		want bool
	}{
		{"images.example.com", true},
		{"example.com", false},
		{"x.images.example.com", false},
		{"images.example.com.evil.test", false},
		{"a.cdn.test", true},
		{"a.b.cdn.test", true},
		{"cdn.test", false},
		{"evilcdn.test", false},
		{"a.cdn.test.evil", false},
		{"::1", true},
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, f.hostAllowed(tt.host)); diff != "" {
				t.Errorf("hostAllowed(%q) (-want +got):\n%s", tt.host, diff)
			}
		})
	}
	if !New(Options{}).hostAllowed("anything.test") {
		t.Error("no allowlist must allow every host")
	}
}
