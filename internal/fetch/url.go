package fetch

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// maxURLLength bounds the URL a client may send; image URLs are short.
const maxURLLength = 8192

// target is a URL that passed [Fetcher.checkURL].
type target struct {
	host string     // lower case, without a trailing dot or brackets
	addr netip.Addr // set when host is an IP literal
}

// checkURL applies every check that needs no network: scheme, credentials,
// host syntax (numeric tricks, zones), port, the host allowlist, and the
// guard for IP literals. It runs on the URL the client sent and on every
// redirect target. The dialer checks resolved names; this is what lets an
// IP literal be refused without a connection being attempted.
func (f *Fetcher) checkURL(u *url.URL) (target, *Error) {
	switch u.Scheme {
	case "http", "https":
	default:
		return target{}, newError(ReasonUnsupportedScheme,
			"only http and https URLs are supported", nil)
	}
	if u.User != nil {
		return target{}, newError(ReasonBadURL, "credentials (user:password@) are not allowed in the URL", nil)
	}
	if u.Opaque != "" || u.Host == "" {
		return target{}, newError(ReasonBadURL, "the URL has no host", nil)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return target{}, newError(ReasonBadURL, "the URL's port is not between 1 and 65535", nil)
		}
	}
	t, err := parseHost(u.Hostname())
	if err != nil {
		return target{}, err
	}
	if !f.hostAllowed(t.host) {
		return target{}, newError(ReasonNotAllowedHost, "the host is not on the gateway's list of allowed image hosts", nil)
	}
	if t.addr.IsValid() {
		if err := f.guard.check(t.addr); err != nil {
			return target{}, blockedError(err)
		}
	}
	return t, nil
}

// parseHost accepts an IP literal in its standard form (dotted-quad IPv4, or
// IPv6 without a zone) or an ASCII host name whose last label is not numeric.
//
// A host whose last label is all digits or 0x-hex is an IPv4 address in a
// non-standard form to browsers (WHATWG URL) and to C resolvers (inet_aton):
// 2130706433, 0x7f.1, 0177.0.0.1 and 127.1 all mean 127.0.0.1. netip parses
// none of them, so they would reach the resolver as names; they are refused
// here instead, whatever address they spell.
func parseHost(h string) (target, *Error) {
	h = strings.ToLower(h)
	if strings.Contains(h, "%") {
		return target{}, newError(ReasonBadURL, "IPv6 zone identifiers are not allowed in the URL", nil)
	}
	if a, err := netip.ParseAddr(h); err == nil {
		return target{host: h, addr: a}, nil
	}
	name := strings.TrimSuffix(h, ".")
	if name == "" {
		return target{}, newError(ReasonBadURL, "the URL has no host", nil)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return target{}, newError(ReasonBadURL,
				"the URL's host must be an IP address or an ASCII host name (punycode for international names)", nil)
		}
	}
	labels := strings.Split(name, ".")
	for _, l := range labels {
		if l == "" {
			return target{}, newError(ReasonBadURL, "the URL's host has an empty label", nil)
		}
	}
	if numericLabel(labels[len(labels)-1]) {
		return target{}, newError(ReasonBadURL,
			"the URL's host is a numeric address in a non-standard form; write IPv4 addresses as four decimal numbers (a.b.c.d)", nil)
	}
	return target{host: name}, nil
}

// numericLabel reports whether l is all decimal digits or 0x followed by hex
// digits (possibly none), the label forms WHATWG URL parsing treats as an
// IPv4 number.
func numericLabel(l string) bool {
	digits := "0123456789"
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		l, digits = l[2:], "0123456789abcdefABCDEF"
		if l == "" {
			return true
		}
	}
	return l != "" && strings.Trim(l, digits) == ""
}

// hostAllowed reports whether host matches Options.AllowHosts: an exact name,
// or "*.example.com", which matches any name ending in ".example.com" (but not
// example.com itself). No allowlist allows every host.
func (f *Fetcher) hostAllowed(host string) bool {
	if len(f.allowHosts) == 0 {
		return true
	}
	for _, pat := range f.allowHosts {
		if suffix, ok := strings.CutPrefix(pat, "*"); ok {
			if strings.HasPrefix(suffix, ".") && len(host) > len(suffix) && strings.HasSuffix(host, suffix) {
				return true
			}
		} else if host == pat {
			return true
		}
	}
	return false
}

func blockedError(cause error) *Error {
	return newError(ReasonBlockedAddress,
		"the host is, or resolves to, an address the gateway may not fetch from (loopback, private, link-local, metadata or another non-public range)", cause)
}
