package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/tollgate-gw/tollgate"
)

// corsExposed are the response headers that browser code may read besides
// the CORS-safelisted ones: those the OpenAI, Anthropic and AWS SDKs read
// (request ids, rate limits, whether and when to retry, Bedrock's error
// type) and the model that answered.
var corsExposed = strings.Join([]string{
	"x-request-id",
	"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
	"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
	"anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset",
	"anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
	"retry-after", "x-should-retry", "x-tollgate-model",
	"x-amzn-requestid", "x-amzn-errortype",
}, ", ")

// corsMaxAge is how long, in seconds, a browser may cache a preflight's
// answer: Chromium caps it at two hours, Firefox at a day.
const corsMaxAge = "7200"

// ParseCORSOrigins reads the -cors-origins setting: comma-separated origins
// that browser pages may call the gateway from. Each is "*" (any origin) or
// scheme://host[:port], as a browser writes an Origin header, in which "*"
// stands for any run of characters but ':' and '/': "https://*.example.com"
// is any subdomain of example.com (on the default port),
// "http://localhost:*" is localhost on any port. Empty: none, and no CORS
// headers at all. The error names the pattern at fault; the caller names
// the setting.
func ParseCORSOrigins(s string) ([]string, error) {
	var out []string
	for _, p := range strings.Split(s, ",") {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		if p != "*" {
			if err := checkOriginPattern(p); err != nil {
				return nil, fmt.Errorf("%q: %w", p, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

// checkOriginPattern checks that p (lower case, not "*") has an origin's
// shape: scheme://host[:port] and nothing more.
func checkOriginPattern(p string) error {
	scheme, rest, ok := strings.Cut(p, "://")
	if !ok || scheme == "" || !validScheme(scheme) {
		return fmt.Errorf("not an origin: write it as scheme://host[:port], e.g. https://app.example.com or http://localhost:*")
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		return fmt.Errorf("an origin has no path, query or fragment: write %s://%s", scheme, rest[:i])
	}
	if strings.Contains(rest, "@") {
		return fmt.Errorf("an origin has no user name: write %s://%s", scheme, rest[strings.LastIndex(rest, "@")+1:])
	}
	host, port, hasPort := strings.Cut(rest, ":")
	if strings.HasPrefix(rest, "[") { // an IPv6 literal: [::1]:8080
		end := strings.Index(rest, "]")
		if end < 0 {
			return fmt.Errorf("unclosed [ in the host")
		}
		host, port = rest[:end+1], strings.TrimPrefix(rest[end+1:], ":")
		hasPort = len(rest) > end+1
		if hasPort && rest[end+1] != ':' {
			return fmt.Errorf("the host [...] is followed by %q, want :port", rest[end+1:])
		}
	} else if strings.Contains(port, ":") {
		return fmt.Errorf("more than one ':' after the scheme; an IPv6 address is written in brackets: http://[::1]:8080")
	}
	if host == "" {
		return fmt.Errorf("no host")
	}
	if hasPort && port != "*" {
		if port == "" || strings.Trim(port, "0123456789") != "" || len(port) > 5 {
			return fmt.Errorf("port %q is not a number or *", port)
		}
	}
	return nil
}

func validScheme(s string) bool {
	for i, r := range s {
		switch {
		case 'a' <= r && r <= 'z':
		case i > 0 && ('0' <= r && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// corsOriginAllowed reports whether origin (an Origin header) matches one
// of patterns (ParseCORSOrigins').
func corsOriginAllowed(patterns []string, origin string) bool {
	if origin == "" {
		return false
	}
	origin = strings.ToLower(origin)
	for _, p := range patterns {
		if p == "*" || globMatch(p, origin) {
			return true
		}
	}
	return false
}

// globMatch matches s against pattern, in which '*' stands for any run of
// characters but ':' and '/', and every other character for itself. It
// takes time linear in len(pattern)*len(s) at worst.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0 // the last '*' seen, and where in s its run ends
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0 && s[mark] != ':' && s[mark] != '/':
			// The last '*' takes one more character and the rest is
			// matched again after it.
			mark++
			p, i = star+1, mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// cors lets browser pages from origins matching patterns call the API
// (ParseCORSOrigins). It answers a preflight (OPTIONS with
// Access-Control-Request-Method) itself, without authentication: 204 with
// the methods the API serves and the request headers the page asked for
// (the OpenAI SDK sends its own x-stainless-*), or 403 for an origin not
// allowed. On every other request from an allowed origin it sets the
// response headers before any handler runs, so that errors and event
// streams carry them as well as answers. The gateway's keys travel in
// headers, never in cookies, so credentials are never allowed: a page
// must hold a key to use one.
//
// It runs after requireOrigin: the front door adds its secret to
// preflights as to every request, and a request that bypassed it is
// refused before its origin is even read.
func cors(patterns []string) gin.HandlerFunc {
	return func(c *gin.Context) {
		h := c.Writer.Header()
		h.Add("Vary", "Origin") // the answer depends on it, allowed or not
		origin := c.Request.Header.Get("Origin")
		allowed := corsOriginAllowed(patterns, origin)
		if c.Request.Method == http.MethodOptions && origin != "" && c.Request.Header.Get("Access-Control-Request-Method") != "" {
			h.Add("Vary", "Access-Control-Request-Method")
			h.Add("Vary", "Access-Control-Request-Headers")
			if !allowed {
				writeError(c, &tollgate.Error{Kind: tollgate.PermissionDenied, Code: "cors_origin_not_allowed",
					Message: fmt.Sprintf("Browser pages from %.200s may not call this gateway. Its operator lists the origins that may in -cors-origins (TOLLGATE_CORS_ORIGINS).", origin)})
				return
			}
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Allow-Methods", "GET, POST")
			if hs := requestedHeaders(c.Request.Header.Values("Access-Control-Request-Headers")); hs != "" {
				h.Set("Access-Control-Allow-Headers", hs)
			}
			h.Set("Access-Control-Max-Age", corsMaxAge)
			c.AbortWithStatus(http.StatusNoContent)
			return
		}
		if allowed {
			h.Set("Access-Control-Allow-Origin", origin)
			h.Set("Access-Control-Expose-Headers", corsExposed)
		}
		c.Next()
	}
}

// requestedHeaders returns the header names of Access-Control-Request-Headers
// values, lower case and comma-separated, dropping anything that is not a
// header name.
func requestedHeaders(values []string) string {
	var names []string
	for _, v := range values {
		for _, n := range strings.Split(v, ",") {
			n = strings.ToLower(strings.TrimSpace(n))
			if n != "" && isToken(n) {
				names = append(names, n)
			}
		}
	}
	return strings.Join(names, ", ")
}

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), the
// syntax of a header name.
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}
