package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// fakeResolver answers from a table. A name with several answers gets them
// in turn, the last one repeating: that is how a rebinding DNS server looks.
type fakeResolver struct {
	mu      sync.Mutex
	answers map[string][]string // name → successive answers, each "addr,addr"
	calls   map[string]int
}

func newResolver(answers map[string][]string) *fakeResolver {
	return &fakeResolver{answers: answers, calls: map[string]int{}}
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seq, ok := r.answers[strings.TrimSuffix(strings.ToLower(host), ".")]
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	n := r.calls[host]
	r.calls[host]++
	answer := seq[min(n, len(seq)-1)]
	var addrs []netip.Addr
	for _, s := range strings.Split(answer, ",") {
		addrs = append(addrs, netip.MustParseAddr(s))
	}
	return addrs, nil
}

func (r *fakeResolver) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.calls {
		n += c
	}
	return n
}

// dialLog records every address a Fetcher tries to connect to.
type dialLog struct {
	mu    sync.Mutex
	addrs []string
}

func (l *dialLog) all() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.addrs...)
}

// observe makes f record its connection attempts in the returned log. When
// redirect maps an address, the connection goes to the other address
// instead (without the Control check), standing in for a public server.
func observe(f *Fetcher, redirect map[netip.AddrPort]netip.AddrPort) *dialLog {
	log := &dialLog{}
	orig := f.connect
	f.connect = func(ctx context.Context, ap netip.AddrPort) (net.Conn, error) {
		log.mu.Lock()
		log.addrs = append(log.addrs, ap.String())
		log.mu.Unlock()
		if to, ok := redirect[ap]; ok {
			var d net.Dialer
			return d.DialContext(ctx, "tcp", to.String())
		}
		return orig(ctx, ap)
	}
	return log
}

// countingListener counts the connections a test server accepts.
type countingListener struct {
	net.Listener
	accepts atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// serve starts an HTTP server on addr ("127.0.0.1:0" when empty) whose
// accepted connections are counted.
func serve(t *testing.T, addr string, h http.Handler) (*httptest.Server, *countingListener) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s: %v", addr, err)
	}
	cl := &countingListener{Listener: ln}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener = cl
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cl
}

func port(t *testing.T, srv *httptest.Server) string {
	t.Helper()
	_, p, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// images serves the bytes of each format under its name, with a misleading
// Content-Type, and a text file under /text.png.
func images() http.Handler {
	files := map[string]string{
		"/a.png":    pngBytes,
		"/a.jpg":    jpegBytes,
		"/a.gif":    gif89,
		"/old.gif":  gif87,
		"/a.webp":   webpBytes,
		"/text.png": "just some text, not an image\n",
		"/empty":    "",
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/text") {
			w.Header().Set("Content-Type", "image/png")
		} else {
			w.Header().Set("Content-Type", "text/plain")
		}
		io.WriteString(w, body)
	})
}

var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}

func newFetcher(t *testing.T, opts Options) *Fetcher {
	t.Helper()
	f := New(opts)
	t.Cleanup(f.CloseIdleConnections)
	return f
}

// result is what a test compares: the format and size on success, the
// Reason on failure.
type result struct {
	Format string
	Len    int
	Reason string
}

func fetch(t *testing.T, f *Fetcher, ctx context.Context, rawURL string) result {
	t.Helper()
	data, format, err := f.Image(ctx, rawURL)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Image(%q) error %T %v, want *Error", rawURL, err, err)
		}
		if data != nil || format != "" {
			t.Errorf("Image(%q) returned data with error %v", rawURL, err)
		}
		return result{Reason: e.Reason}
	}
	return result{Format: format, Len: len(data)}
}

func TestImageFormatFromBytes(t *testing.T) {
	srv, _ := serve(t, "", images())
	p := port(t, srv)
	f := newFetcher(t, Options{AllowPrivate: loopback, Resolver: newResolver(map[string][]string{"img.test": {"127.0.0.1"}})})
	tests := []struct {
		path string
		want result
	}{
		{"/a.png", result{Format: "png", Len: len(pngBytes)}},
		{"/a.jpg", result{Format: "jpeg", Len: len(jpegBytes)}},
		{"/a.gif", result{Format: "gif", Len: len(gif89)}},
		{"/old.gif", result{Format: "gif", Len: len(gif87)}},
		{"/a.webp", result{Format: "webp", Len: len(webpBytes)}},
		{"/text.png", result{Reason: ReasonNotAnImage}}, // says image/png, is text
		{"/empty", result{Reason: ReasonNotAnImage}},
		{"/missing.png", result{Reason: ReasonBadStatus}},
	}
	for _, tt := range tests {
		for _, host := range []string{"127.0.0.1", "img.test", "IMG.test."} {
			t.Run(host+tt.path, func(t *testing.T) {
				got := fetch(t, f, t.Context(), "http://"+host+":"+p+tt.path)
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
			})
		}
	}
}

// blockedAddrs is one or more addresses of every refused range, in IPv4,
// IPv6, IPv4-mapped and embedding forms.
var blockedAddrs = []string{
	"127.0.0.1", "127.255.255.254", "10.1.2.3", "172.16.0.1", "172.31.255.255",
	"192.168.1.1", "169.254.169.254", "169.254.170.2", "0.0.0.0", "0.1.2.3",
	"255.255.255.255", "224.0.0.1", "239.255.255.250", "100.64.0.1",
	"100.100.100.200", "192.0.0.192", "192.0.2.1", "192.88.99.1", "198.18.0.1",
	"198.51.100.7", "203.0.113.9", "240.0.0.1",
	"::1", "::", "::127.0.0.1", "fe80::1", "fec0::1", "fc00::1", "fd00:ec2::254",
	"ff02::1", "100::1", "2001:db8::1", "3fff::1", "2001:2::1", "5f00::1",
	"::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:0.0.0.0",
	"64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b:1::1",
	"2002:7f00:1::1", "2002:a9fe:a9fe::1",
	"2001:0:4136:e378:8000:63bf:80ff:fffe", "2001:0:a00:1::1",
	"2001:470:1f04:0:0:5efe:a9fe:a9fe",
}

// TestImageRefusesBlockedAddresses: every blocked address is refused, as a
// literal in the URL and as what a name resolves to, and no connection is
// attempted.
func TestImageRefusesBlockedAddresses(t *testing.T) {
	for _, addr := range blockedAddrs {
		a := netip.MustParseAddr(addr)
		literal := addr
		if a.Is6() {
			literal = "[" + addr + "]"
		}
		urls := []string{
			"http://" + literal + "/a.png",
			"https://" + literal + ":8443/a.png",
			"http://evil.test/a.png",
			"http://evil.test:81/a.png",
			"http://mixed.test/a.png", // one public address and one blocked: refused
		}
		for _, u := range urls {
			t.Run(u, func(t *testing.T) {
				r := newResolver(map[string][]string{
					"evil.test":  {addr},
					"mixed.test": {"93.184.215.14," + addr},
				})
				f := newFetcher(t, Options{Resolver: r})
				dials := observe(f, nil)
				got := fetch(t, f, t.Context(), u)
				if diff := cmp.Diff(result{Reason: ReasonBlockedAddress}, got); diff != "" {
					t.Errorf("(-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]string(nil), dials.all()); diff != "" {
					t.Errorf("connections attempted (-want +got):\n%s", diff)
				}
			})
		}
	}
}

// TestImageRefusesLoopbackServer fetches from a real server on 127.0.0.1 by
// every spelling of its address, and checks the server never saw a
// connection; the last case allows 127.0.0.1 to show the count works.
func TestImageRefusesLoopbackServer(t *testing.T) {
	srv, ln := serve(t, "", images())
	p := port(t, srv)
	r := newResolver(map[string][]string{
		"loop.test":   {"127.0.0.1"},
		"mapped.test": {"::ffff:127.0.0.1"},
		"nat64.test":  {"64:ff9b::7f00:1"},
	})
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "loop.test", "mapped.test", "nat64.test"} {
		t.Run(host, func(t *testing.T) {
			f := newFetcher(t, Options{Resolver: r})
			got := fetch(t, f, t.Context(), "http://"+host+":"+p+"/a.png")
			if diff := cmp.Diff(result{Reason: ReasonBlockedAddress}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if n := ln.accepts.Load(); n != 0 {
				t.Errorf("server accepted %d connections, want 0", n)
			}
		})
	}
	t.Run("allowed", func(t *testing.T) {
		f := newFetcher(t, Options{Resolver: r, AllowPrivate: loopback})
		got := fetch(t, f, t.Context(), "http://loop.test:"+p+"/a.png")
		if diff := cmp.Diff(result{Format: "png", Len: len(pngBytes)}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		if n := ln.accepts.Load(); n != 1 {
			t.Errorf("server accepted %d connections, want 1", n)
		}
	})
}

// TestControlRefuses checks the Dialer's Control hook on its own: even a
// direct dial that skipped the resolver's check cannot reach a refused address.
func TestControlRefuses(t *testing.T) {
	srv, ln := serve(t, "", images())
	ap := netip.MustParseAddrPort(srv.Listener.Addr().String())
	f := newFetcher(t, Options{})
	conn, err := f.connect(t.Context(), ap)
	if err == nil {
		conn.Close()
		t.Fatal("connect to 127.0.0.1 succeeded, want refused")
	}
	var e *Error
	if !errors.As(err, &e) || e.Reason != ReasonBlockedAddress {
		t.Errorf("connect error = %v, want blocked_address", err)
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Errorf("server accepted %d connections, want 0", n)
	}
}

func TestImageRefusesURLs(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		// Schemes.
		{"file:///etc/passwd", ReasonUnsupportedScheme},
		{"gopher://img.test:70/_GET%20/", ReasonUnsupportedScheme},
		{"ftp://img.test/a.png", ReasonUnsupportedScheme},
		{"data:image/png;base64,iVBORw0KGgo=", ReasonUnsupportedScheme},
		{"dict://img.test:11211/stat", ReasonUnsupportedScheme},
		{"//img.test/a.png", ReasonUnsupportedScheme},
		{"img.test/a.png", ReasonUnsupportedScheme},

		// Credentials.
		{"http://user:pass@img.test/a.png", ReasonBadURL},
		{"http://user@img.test/a.png", ReasonBadURL},
		{"http://img.test@evil.test/a.png", ReasonBadURL},
		{"http://:@img.test/a.png", ReasonBadURL},
		{`http://img.test\@127.0.0.1/a.png`, ReasonBadURL},
		{`http://127.0.0.1:80\@img.test/a.png`, ReasonBadURL},
		{"http://127.0.0.1%2f@img.test/a.png", ReasonBadURL},

		// Numeric host tricks, all meaning 127.0.0.1 to someone.
		{"http://2130706433/a.png", ReasonBadURL},
		{"http://0x7f000001/a.png", ReasonBadURL},
		{"http://017700000001/a.png", ReasonBadURL},
		{"http://0x7f.1/a.png", ReasonBadURL},
		{"http://0x7F.0.0.1/a.png", ReasonBadURL},
		{"http://0177.0.0.1/a.png", ReasonBadURL},
		{"http://127.1/a.png", ReasonBadURL},
		{"http://127.0.1/a.png", ReasonBadURL},
		{"http://127.0.0.1./a.png", ReasonBadURL},
		{"http://0/a.png", ReasonBadURL},
		{"http://2130706433:8080/a.png", ReasonBadURL},
		{"http://169.254.43518/latest/meta-data/", ReasonBadURL},
		// Standard literals reach the guard instead.
		{"http://127.0.0.1/a.png", ReasonBlockedAddress},
		{"http://[::1]/a.png", ReasonBlockedAddress},
		{"http://[0:0:0:0:0:ffff:127.0.0.1]/a.png", ReasonBlockedAddress},
		{"http://[::ffff:7f00:1]/a.png", ReasonBlockedAddress},

		// Zones, ports, malformed hosts.
		{"http://[fe80::1%25eth0]/a.png", ReasonBadURL},
		{"http://[::1%25lo]:80/a.png", ReasonBadURL},
		{"http://img.test:0/a.png", ReasonBadURL},
		{"http://img.test:65536/a.png", ReasonBadURL},
		{"http://img.test:99999999999999999999/a.png", ReasonBadURL},
		{"http://img.test:-1/a.png", ReasonBadURL},
		{"http://ⓔxample.com/a.png", ReasonBadURL},
		{"http:///a.png", ReasonBadURL},
		{"http://%zz/a.png", ReasonBadURL},
		{"http://a..test/a.png", ReasonBadURL},
		{"http://img.test/" + strings.Repeat("a", maxURLLength), ReasonBadURL},
		{"http://img.test/a.png\x00", ReasonBadURL},
	}
	for _, tt := range tests {
		t.Run(tt.url[:min(len(tt.url), 60)], func(t *testing.T) {
			r := newResolver(map[string][]string{"img.test": {"127.0.0.1"}, "evil.test": {"127.0.0.1"}})
			f := newFetcher(t, Options{Resolver: r, AllowPrivate: loopback[:0]})
			dials := observe(f, nil)
			got := fetch(t, f, t.Context(), tt.url)
			if diff := cmp.Diff(result{Reason: tt.want}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if n := r.total(); n != 0 {
				t.Errorf("resolver called %d times, want 0", n)
			}
			if diff := cmp.Diff([]string(nil), dials.all()); diff != "" {
				t.Errorf("connections attempted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestImageAllowHosts(t *testing.T) {
	srv, _ := serve(t, "", images())
	p := port(t, srv)
	names := map[string][]string{}
	for _, n := range []string{"images.example.com", "example.com", "a.cdn.test", "a.b.cdn.test", "cdn.test", "evilcdn.test", "images.example.com.evil.test"} {
		names[n] = []string{"127.0.0.1"}
	}
	f := newFetcher(t, Options{
		AllowHosts:   []string{"images.example.com", "*.cdn.test"},
		AllowPrivate: loopback,
		Resolver:     newResolver(names),
	})
	ok := result{Format: "png", Len: len(pngBytes)}
	refused := result{Reason: ReasonNotAllowedHost}
	tests := []struct {
		host string
		want result
	}{
		{"images.example.com", ok},
		{"IMAGES.example.com", ok},
		{"images.example.com.", ok},
		{"a.cdn.test", ok},
		{"a.b.cdn.test", ok},
		{"example.com", refused},
		{"cdn.test", refused},
		{"evilcdn.test", refused},
		{"images.example.com.evil.test", refused},
		{"127.0.0.1", refused}, // allowed by address, not by name
	}
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			got := fetch(t, f, t.Context(), "http://"+tt.host+":"+p+"/a.png")
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestImageRedirects(t *testing.T) {
	// A second loopback server, not allowed, that must never see a
	// connection (where 127.0.0.2 is configured, as on Linux).
	otherPort, otherAccepts := "9", func() int32 { return 0 }
	if ln, err := net.Listen("tcp", "127.0.0.2:0"); err == nil {
		cl := &countingListener{Listener: ln}
		other := httptest.NewUnstartedServer(images())
		other.Listener = cl
		other.Start()
		t.Cleanup(other.Close)
		otherPort, otherAccepts = port(t, other), cl.accepts.Load
	}

	var srvPort string
	mux := http.NewServeMux()
	mux.Handle("/", images())
	mux.HandleFunc("/hop/{n}", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.PathValue("n"))
		if n == 0 {
			http.Redirect(w, r, "/a.png", http.StatusFound)
			return
		}
		http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/to", func(w http.ResponseWriter, r *http.Request) {
		to := r.URL.Query().Get("u")
		to = strings.ReplaceAll(to, "OTHER", otherPort)
		to = strings.ReplaceAll(to, "SELF", srvPort)
		http.Redirect(w, r, to, http.StatusTemporaryRedirect)
	})
	srv, _ := serve(t, "", mux)
	srvPort = port(t, srv)

	resolver := newResolver(map[string][]string{
		"img.test":   {"127.0.0.1"},
		"other.test": {"127.0.0.2"},
		"meta.test":  {"169.254.169.254"},
		"cdn.test":   {"127.0.0.1"},
	})
	ok := result{Format: "png", Len: len(pngBytes)}
	tests := []struct {
		name  string
		opts  Options
		path  string
		want  result
		dials []string // addresses connected to, in order
	}{
		{"one hop", Options{}, "/hop/0", ok, []string{"127.0.0.1:SELF"}},
		{"three hops (the default limit)", Options{}, "/hop/2", ok, []string{"127.0.0.1:SELF"}},
		{"four hops", Options{}, "/hop/3", result{Reason: ReasonTooManyRedirects}, []string{"127.0.0.1:SELF"}},
		{"loop", Options{}, "/loop", result{Reason: ReasonTooManyRedirects}, []string{"127.0.0.1:SELF"}},
		{"loop, limit 10", Options{MaxRedirects: 10}, "/loop", result{Reason: ReasonTooManyRedirects}, []string{"127.0.0.1:SELF"}},
		{"no redirects followed", Options{MaxRedirects: -1}, "/hop/0", result{Reason: ReasonTooManyRedirects}, []string{"127.0.0.1:SELF"}},
		{"to another allowed host", Options{}, "/to?u=http://cdn.test:SELF/a.png", ok, []string{"127.0.0.1:SELF", "127.0.0.1:SELF"}},
		{"to a loopback literal not allowed", Options{}, "/to?u=http://127.0.0.2:OTHER/a.png", result{Reason: ReasonBlockedAddress}, []string{"127.0.0.1:SELF"}},
		{"to a name resolving to loopback", Options{}, "/to?u=http://other.test:OTHER/a.png", result{Reason: ReasonBlockedAddress}, []string{"127.0.0.1:SELF"}},
		{"to IPv6 loopback", Options{}, "/to?u=http://[::1]:OTHER/a.png", result{Reason: ReasonBlockedAddress}, []string{"127.0.0.1:SELF"}},
		{"to the metadata service", Options{}, "/to?u=http://169.254.169.254/latest/meta-data/", result{Reason: ReasonBlockedAddress}, []string{"127.0.0.1:SELF"}},
		{"to a name resolving to metadata", Options{}, "/to?u=http://meta.test/latest/meta-data/", result{Reason: ReasonBlockedAddress}, []string{"127.0.0.1:SELF"}},
		{"to a numeric trick", Options{}, "/to?u=http://2130706433:OTHER/a.png", result{Reason: ReasonBadURL}, []string{"127.0.0.1:SELF"}},
		{"to file", Options{}, "/to?u=file:///etc/passwd", result{Reason: ReasonUnsupportedScheme}, []string{"127.0.0.1:SELF"}},
		{"to gopher", Options{}, "/to?u=gopher://img.test:SELF/", result{Reason: ReasonUnsupportedScheme}, []string{"127.0.0.1:SELF"}},
		{"to userinfo", Options{}, "/to?u=http://u:p@img.test:SELF/a.png", result{Reason: ReasonBadURL}, []string{"127.0.0.1:SELF"}},
		{"off the allowlist", Options{AllowHosts: []string{"img.test"}}, "/to?u=http://cdn.test:SELF/a.png", result{Reason: ReasonNotAllowedHost}, []string{"127.0.0.1:SELF"}},
		{"on the allowlist", Options{AllowHosts: []string{"img.test", "*.test"}}, "/to?u=http://cdn.test:SELF/a.png", ok, []string{"127.0.0.1:SELF", "127.0.0.1:SELF"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := tt.opts
			opts.Resolver = resolver
			opts.AllowPrivate = loopback
			f := newFetcher(t, opts)
			dials := observe(f, nil)
			got := fetch(t, f, t.Context(), "http://img.test:"+srvPort+tt.path)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			var want []string
			for _, d := range tt.dials {
				want = append(want, strings.ReplaceAll(d, "SELF", srvPort))
			}
			if diff := cmp.Diff(want, dials.all()); diff != "" {
				t.Errorf("connections (-want +got):\n%s", diff)
			}
		})
	}
	if n := otherAccepts(); n != 0 {
		t.Errorf("the refused server accepted %d connections, want 0", n)
	}
}

// TestImageRebinding: a name that resolves to a public address, then to
// loopback. The gateway resolves once per connection and dials what it
// checked, so the second answer is checked (and refused) too.
func TestImageRebinding(t *testing.T) {
	var srvPort string
	srv, _ := serve(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/first" {
			// Close the connection so the next hop needs a new one.
			w.Header().Set("Connection", "close")
			http.Redirect(w, r, "http://rebind.test:"+srvPort+"/second", http.StatusFound)
			return
		}
		io.WriteString(w, pngBytes)
	}))
	srvPort = port(t, srv)
	real := netip.MustParseAddrPort(srv.Listener.Addr().String())
	public := netip.AddrPortFrom(netip.MustParseAddr("93.184.215.14"), real.Port())

	r := newResolver(map[string][]string{"rebind.test": {"93.184.215.14", "127.0.0.1"}})
	f := newFetcher(t, Options{Resolver: r})
	// The "public" address is served by the loopback test server.
	dials := observe(f, map[netip.AddrPort]netip.AddrPort{public: real})

	got := fetch(t, f, t.Context(), "http://rebind.test:"+srvPort+"/first")
	if diff := cmp.Diff(result{Reason: ReasonBlockedAddress}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{public.String()}, dials.all()); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
	if n := r.total(); n != 2 {
		t.Errorf("resolver called %d times, want 2 (once per connection)", n)
	}
}

// TestImageReusesCheckedConnections: keep-alive works, and only through
// connections the dialer made.
func TestImageReusesCheckedConnections(t *testing.T) {
	srv, ln := serve(t, "", images())
	p := port(t, srv)
	r := newResolver(map[string][]string{"img.test": {"127.0.0.1"}})
	f := newFetcher(t, Options{Resolver: r, AllowPrivate: loopback})
	dials := observe(f, nil)
	for range 3 {
		got := fetch(t, f, t.Context(), "http://img.test:"+p+"/a.png")
		if diff := cmp.Diff(result{Format: "png", Len: len(pngBytes)}, got); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	}
	if diff := cmp.Diff([]string{"127.0.0.1:" + p}, dials.all()); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
	if n := ln.accepts.Load(); n != 1 {
		t.Errorf("server accepted %d connections, want 1", n)
	}
}

func TestImageIgnoresProxyEnvironment(t *testing.T) {
	proxy, proxyLn := serve(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, pngBytes+"from the proxy")
	}))
	t.Setenv("HTTP_PROXY", proxy.URL)
	t.Setenv("HTTPS_PROXY", proxy.URL)
	t.Setenv("NO_PROXY", "")

	srv, _ := serve(t, "", images())
	r := newResolver(map[string][]string{"img.test": {"127.0.0.1"}})
	f := newFetcher(t, Options{Resolver: r, AllowPrivate: loopback})
	got := fetch(t, f, t.Context(), "http://img.test:"+port(t, srv)+"/a.png")
	if diff := cmp.Diff(result{Format: "png", Len: len(pngBytes)}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if n := proxyLn.accepts.Load(); n != 0 {
		t.Errorf("proxy accepted %d connections, want 0", n)
	}
}

func TestImageSizeCap(t *testing.T) {
	const limit = 1000
	body := func(n int) string { return pngBytes + strings.Repeat("x", n-len(pngBytes)) }
	var streamed atomic.Int64
	const streamTotal = 64 << 20
	mux := http.NewServeMux()
	mux.HandleFunc("/exact", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body(limit))
	})
	mux.HandleFunc("/declared", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body(limit+1)) // small enough for net/http to send a Content-Length
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: chunked, 64 MiB unless the client stops reading.
		chunk := []byte(body(32 << 10))
		for streamed.Load() < streamTotal {
			n, err := w.Write(chunk)
			streamed.Add(int64(n))
			if err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	})
	srv, _ := serve(t, "", mux)

	tests := []struct {
		path string
		want result
	}{
		{"/exact", result{Format: "png", Len: limit}},
		{"/declared", result{Reason: ReasonTooLarge}},
		{"/stream", result{Reason: ReasonTooLarge}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			f := newFetcher(t, Options{MaxBytes: limit, AllowPrivate: loopback})
			got := fetch(t, f, t.Context(), srv.URL+tt.path)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	srv.Close() // waits for the stream handler to give up
	if n := streamed.Load(); n >= streamTotal {
		t.Errorf("server streamed all %d bytes: the client read past the cap", n)
	}
}

// TestImageBodyLongerThanDeclared: a server that sends more than its
// Content-Length gets only the declared bytes read.
func TestImageBodyLongerThanDeclared(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				c.Read(buf)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 100\r\n\r\n%s", pngBytes)
				c.Write([]byte(strings.Repeat("x", 10<<20)))
			}()
		}
	}()
	f := newFetcher(t, Options{MaxBytes: 1000, AllowPrivate: loopback})
	got := fetch(t, f, t.Context(), "http://"+ln.Addr().String()+"/a.png")
	if diff := cmp.Diff(result{Format: "png", Len: 100}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestImageTimeout(t *testing.T) {
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/stall-headers", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/stall-body", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		io.WriteString(w, pngBytes)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/stall-redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/stall-body", http.StatusFound)
	})
	srv, _ := serve(t, "", mux)
	t.Cleanup(func() { close(release) }) // runs before srv.Close

	// A resolver that never answers.
	stallDNS := resolverFunc(func(ctx context.Context, _, _ string) ([]netip.Addr, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	})

	tests := []struct {
		name     string
		url      string
		resolver Resolver
	}{
		{"headers", srv.URL + "/stall-headers", nil},
		{"body", srv.URL + "/stall-body", nil},
		{"after a redirect", srv.URL + "/stall-redirect", nil},
		{"dns", "http://slow.test/a.png", stallDNS},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFetcher(t, Options{Timeout: 100 * time.Millisecond, AllowPrivate: loopback, Resolver: tt.resolver})
			got := fetch(t, f, t.Context(), tt.url)
			if diff := cmp.Diff(result{Reason: ReasonTimeout}, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}

	t.Run("caller canceled", func(t *testing.T) {
		f := newFetcher(t, Options{AllowPrivate: loopback})
		ctx, cancel := context.WithCancel(t.Context())
		go func() {
			time.Sleep(50 * time.Millisecond)
			cancel()
		}()
		got := fetch(t, f, ctx, srv.URL+"/stall-headers")
		if diff := cmp.Diff(result{Reason: ReasonCanceled}, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

type resolverFunc func(ctx context.Context, network, host string) ([]netip.Addr, error)

func (f resolverFunc) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	return f(ctx, network, host)
}

func TestImageFetchFailed(t *testing.T) {
	// A port with nothing listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()

	f := newFetcher(t, Options{AllowPrivate: loopback, Resolver: newResolver(map[string][]string{})})
	tests := []struct {
		name string
		url  string
	}{
		{"unknown host", "http://nowhere.test/a.png"},
		{"connection refused", "http://" + closed + "/a.png"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(result{Reason: ReasonFetchFailed}, fetch(t, f, t.Context(), tt.url)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestImageHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(images())
	t.Cleanup(srv.Close)
	p := port(t, srv)
	r := newResolver(map[string][]string{"example.com": {"127.0.0.1"}}) // a name in httptest's certificate
	f := newFetcher(t, Options{Resolver: r, AllowPrivate: loopback})
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	f.transport.TLSClientConfig = &tls.Config{RootCAs: pool}
	dials := observe(f, nil)

	got := fetch(t, f, t.Context(), "https://example.com:"+p+"/a.webp")
	if diff := cmp.Diff(result{Format: "webp", Len: len(webpBytes)}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"127.0.0.1:" + p}, dials.all()); diff != "" {
		t.Errorf("connections (-want +got):\n%s", diff)
	}
}

// TestErrorMessages: messages name the host the client sent, never a
// resolved address or a redirect target.
func TestErrorMessages(t *testing.T) {
	srv, _ := serve(t, "", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://internal-name.corp/", http.StatusFound)
	}))
	r := newResolver(map[string][]string{
		"evil.test":          {"10.11.12.13"},
		"img.test":           {"127.0.0.1"},
		"internal-name.corp": {"10.99.99.99"},
	})
	f := newFetcher(t, Options{Resolver: r, AllowPrivate: loopback})
	tests := []struct {
		url  string
		want string
	}{
		{"http://evil.test/a.png", `image URL host "evil.test": the host is, or resolves to, an address the gateway may not fetch from (loopback, private, link-local, metadata or another non-public range)`},
		{"http://img.test:" + port(t, srv) + "/", `image URL host "img.test" (after 1 redirect): the host is, or resolves to, an address the gateway may not fetch from (loopback, private, link-local, metadata or another non-public range)`},
		{"ftp://img.test/", `image URL host "img.test": only http and https URLs are supported`},
		{"http://u:p@img.test/", `image URL host "img.test": credentials (user:password@) are not allowed in the URL`},
		{"http://0x7f.1/", `image URL host "0x7f.1": the URL's host is a numeric address in a non-standard form; write IPv4 addresses as four decimal numbers (a.b.c.d)`},
		{"::", `image URL: the URL is not valid`},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			_, _, err := f.Image(t.Context(), tt.url)
			if err == nil {
				t.Fatal("no error")
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			for _, leak := range []string{"10.11.12.13", "10.99.99.99", "internal-name"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("message %q leaks %q", err.Error(), leak)
				}
			}
		})
	}
}
