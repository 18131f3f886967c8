package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Defaults for Options.
const (
	DefaultMaxBytes     = 3_750_000 // Bedrock's per-image limit, 3.75 MB
	DefaultTimeout      = 10 * time.Second
	DefaultMaxRedirects = 3
	DefaultUserAgent    = "Tollgate-image-fetch/1"
)

// Resolver resolves host names to addresses; *net.Resolver is one.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a Fetcher; zero values take safe defaults.
type Options struct {
	// MaxBytes caps an image's size in bytes; default DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds the whole fetch: resolution, connections, redirects and
	// the body; default DefaultTimeout.
	Timeout time.Duration
	// AllowHosts, if set, is the only host names that may be fetched, on the
	// first URL and on every redirect: exact names, or "*.example.com" for
	// any name under example.com. Matching ignores case and a trailing dot.
	// It narrows what may be fetched; it never lifts the address guard.
	AllowHosts []string
	// AllowPrivate lists address ranges that may be dialed despite the guard,
	// for an internal image server (or a test server on 127.0.0.1). It never
	// allows unspecified, multicast or broadcast addresses. Default none.
	AllowPrivate []netip.Prefix
	// MaxRedirects is how many redirects are followed; default
	// DefaultMaxRedirects, negative for none.
	MaxRedirects int
	// Resolver resolves host names; default net.DefaultResolver.
	Resolver Resolver
	// UserAgent is sent as User-Agent; default DefaultUserAgent.
	UserAgent string
}

// Fetcher fetches images by URL behind the SSRF guard described in the
// package documentation. It is safe for concurrent use; it keeps idle
// connections (every one of them to a checked address) until
// [Fetcher.CloseIdleConnections].
type Fetcher struct {
	maxBytes     int64
	timeout      time.Duration
	allowHosts   []string
	guard        guard
	maxRedirects int
	resolver     Resolver
	userAgent    string

	transport *http.Transport
	client    *http.Client

	// connect opens a TCP connection to an address the guard has passed.
	// Tests replace it to observe (or fake) connection attempts.
	connect func(ctx context.Context, ap netip.AddrPort) (net.Conn, error)
}

// New returns a Fetcher configured by opts.
func New(opts Options) *Fetcher {
	f := &Fetcher{
		maxBytes:     opts.MaxBytes,
		timeout:      opts.Timeout,
		guard:        newGuard(opts.AllowPrivate),
		maxRedirects: opts.MaxRedirects,
		resolver:     opts.Resolver,
		userAgent:    opts.UserAgent,
	}
	if f.maxBytes <= 0 {
		f.maxBytes = DefaultMaxBytes
	}
	if f.timeout <= 0 {
		f.timeout = DefaultTimeout
	}
	switch {
	case f.maxRedirects == 0:
		f.maxRedirects = DefaultMaxRedirects
	case f.maxRedirects < 0:
		f.maxRedirects = 0
	}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	if f.userAgent == "" {
		f.userAgent = DefaultUserAgent
	}
	for _, h := range opts.AllowHosts {
		h = strings.TrimSuffix(strings.Trim(strings.ToLower(strings.TrimSpace(h)), "[]"), ".")
		if h != "" {
			f.allowHosts = append(f.allowHosts, h)
		}
	}

	dialer := &net.Dialer{
		Timeout:   f.timeout,
		KeepAlive: 30 * time.Second,
		// The last word: whatever dials through this Dialer, the socket
		// connects only to an address the guard passes.
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return blockedError(fmt.Errorf("fetch: control: %w", err))
			}
			if err := f.guard.check(ap.Addr()); err != nil {
				return blockedError(err)
			}
			return nil
		},
	}
	f.connect = func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
		network := "tcp6"
		if ap.Addr().Is4() {
			network = "tcp4"
		}
		return dialer.DialContext(ctx, network, ap.String())
	}

	f.transport = &http.Transport{
		Proxy:                  nil, // never HTTP(S)_PROXY: the proxy would connect where the guard cannot see
		DialContext:            f.dial,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    f.timeout,
		ResponseHeaderTimeout:  f.timeout,
		DisableCompression:     true, // images are compressed already; bytes read are bytes on the wire
		MaxResponseHeaderBytes: 64 << 10,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    4,
		IdleConnTimeout:        90 * time.Second,
	}
	f.client = &http.Client{Transport: f.transport}
	return f
}

// CloseIdleConnections closes the idle connections kept for reuse.
func (f *Fetcher) CloseIdleConnections() { f.transport.CloseIdleConnections() }

// errTimeout is the cause of a fetch context that ran out of Options.Timeout.
var errTimeout = errors.New("fetch: timeout")

// Image fetches an image URL and returns its bytes and format ("png",
// "jpeg", "gif" or "webp") taken from the bytes (magic numbers), never from
// Content-Type or the extension. Only an HTTP 200 answer is an image.
//
// Every error is an *Error whose Reason tells what went wrong and whose
// Message the caller can put in a 400 naming the message and part. A
// refusal by the guard happens before any connection to the refused address
// is attempted.
func (f *Fetcher) Image(ctx context.Context, rawURL string) (data []byte, format string, err error) {
	where := "image URL"
	defer func() {
		var e *Error
		if errors.As(err, &e) {
			err = &Error{Reason: e.Reason, Message: where + ": " + e.Message, Cause: e.Cause}
		}
	}()

	if len(rawURL) > maxURLLength {
		return nil, "", newError(ReasonBadURL, fmt.Sprintf("the URL is longer than %d bytes", maxURLLength), nil)
	}
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return nil, "", newError(ReasonBadURL, "the URL is not valid", perr)
	}
	t, e := f.checkURL(u)
	if t.host != "" {
		where = fmt.Sprintf("image URL host %q", t.host)
	} else if h := u.Hostname(); h != "" && len(h) <= 255 {
		where = fmt.Sprintf("image URL host %q", h)
	}
	if e != nil {
		return nil, "", e
	}

	ctx, cancel := context.WithTimeoutCause(ctx, f.timeout, errTimeout)
	defer cancel()
	req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if rerr != nil {
		return nil, "", newError(ReasonBadURL, "the URL is not valid", rerr)
	}
	req.Header.Set("User-Agent", f.userAgent)
	req.Header.Set("Accept", "image/png, image/jpeg, image/gif, image/webp")

	// A client per call, sharing the transport, so that CheckRedirect can
	// count this fetch's redirects for the error message. Errors about a
	// redirect target never name it: only the host the client sent.
	redirects := 0
	client := *f.client
	client.CheckRedirect = func(next *http.Request, via []*http.Request) error {
		redirects = len(via) - 1 // followed so far; this one is not, yet
		if len(via) > f.maxRedirects {
			if f.maxRedirects == 0 {
				return newError(ReasonTooManyRedirects, "the server redirected, and the gateway follows no redirects", nil)
			}
			return newError(ReasonTooManyRedirects, fmt.Sprintf("more than %d redirects", f.maxRedirects), nil)
		}
		if _, e := f.checkURL(next.URL); e != nil {
			e.Message = "redirected to a URL that is refused: " + e.Message
			return e
		}
		redirects = len(via)
		return nil
	}
	resp, derr := client.Do(req)
	switch {
	case redirects == 1:
		where += " (after 1 redirect)"
	case redirects > 1:
		where += fmt.Sprintf(" (after %d redirects)", redirects)
	}
	if derr != nil {
		return nil, "", f.failure(ctx, derr)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		return nil, "", newError(ReasonBadStatus, fmt.Sprintf("the server answered HTTP %d, not 200", resp.StatusCode), nil)
	}
	if resp.ContentLength > f.maxBytes {
		return nil, "", newError(ReasonTooLarge, fmt.Sprintf("the image is %d bytes, over the %d-byte limit", resp.ContentLength, f.maxBytes), nil)
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength))
	}
	// Read one byte past the cap to tell "exactly at the cap" from "over".
	if _, rerr := buf.ReadFrom(io.LimitReader(resp.Body, f.maxBytes+1)); rerr != nil {
		return nil, "", f.failure(ctx, rerr)
	}
	if int64(buf.Len()) > f.maxBytes {
		return nil, "", newError(ReasonTooLarge, fmt.Sprintf("the image is over the %d-byte limit", f.maxBytes), nil)
	}
	data = buf.Bytes()
	format = sniff(data)
	if format == "" {
		return nil, "", newError(ReasonNotAnImage, "the content is not a PNG, JPEG, GIF or WebP image", nil)
	}
	return data, format, nil
}

// failure turns an error from the HTTP client into an *Error.
func (f *Fetcher) failure(ctx context.Context, err error) *Error {
	var e *Error
	var ne net.Error
	switch {
	case errors.As(err, &e):
		return e
	// The dial has a timer of its own (see dial) that may fire first.
	case errors.Is(context.Cause(ctx), errTimeout), errors.Is(err, errTimeout),
		errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return newError(ReasonTimeout, fmt.Sprintf("fetching the image took longer than %s", f.timeout), err)
	case ctx.Err() != nil:
		return newError(ReasonCanceled, "the request was canceled before the image was fetched", err)
	default:
		return newError(ReasonFetchFailed, "the image could not be fetched", err)
	}
}

// dial is the Transport's only way to open a connection. It resolves a name
// once through the Resolver, refuses the host if any of its addresses is
// refused by the guard, and dials the checked addresses themselves, never
// the name, so a second resolution cannot swap in another address.
func (f *Fetcher) dial(ctx context.Context, _, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, newError(ReasonBadURL, "the URL's host is not valid", err)
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return nil, newError(ReasonBadURL, "the URL's port is not between 1 and 65535", err)
	}
	// The Transport detaches dials from the request's cancellation (a late
	// connection may serve the next request), so bound them here.
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()

	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else {
		addrs, err = f.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			if ctx.Err() != nil {
				return nil, err
			}
			return nil, newError(ReasonFetchFailed, "the host could not be resolved", err)
		}
		if len(addrs) == 0 {
			return nil, newError(ReasonFetchFailed, "the host could not be resolved", fmt.Errorf("fetch: %s has no addresses", host))
		}
	}
	for _, a := range addrs {
		if err := f.guard.check(a); err != nil {
			return nil, blockedError(fmt.Errorf("fetch: %s: %w", host, err))
		}
	}

	var errs []error
	for _, a := range addrs {
		conn, err := f.connect(ctx, netip.AddrPortFrom(a.Unmap(), uint16(port)))
		if err == nil {
			return conn, nil
		}
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		if ctx.Err() != nil {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, newError(ReasonFetchFailed, "could not connect to the host", errors.Join(errs...))
}
