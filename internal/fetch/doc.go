// Package fetch decides whether the gateway may fetch an image a client names
// by URL, and fetches it.
//
// An image URL in a chat request makes the gateway open a connection on the
// client's behalf, from inside the network the gateway runs in. Without a
// guard that is server-side request forgery (SSRF): a client could read the
// cloud metadata service at 169.254.169.254, an admin port on loopback or a
// service on the private network, and see the answer come back as an error
// message or a model's description of it.
//
// The guarantee: every TCP connection a [Fetcher] opens goes to an address
// that passed the guard, checked on the exact IP that is dialed, after DNS
// resolution, once per connection. The host name is resolved once, every
// address it resolves to is checked (one blocked address refuses the whole
// host) and the checked address is dialed directly, so DNS rebinding between
// a check and a connect is impossible; the dialer's Control hook checks the
// socket's address once more just before connect. Redirects are followed by
// the same client, so every hop passes the same URL checks and the same
// dialer. The connection pool only ever holds connections made this way.
//
// Around that: only http and https; no credentials in the URL; no IPv6 zone
// identifiers; no IPv4 literals in non-standard forms (decimal, octal, hex or
// shortened, which some resolvers would quietly turn into 127.0.0.1); no proxy
// from the environment; an optional host allowlist; a byte cap enforced while
// reading; a deadline for the whole fetch, redirects included; and the image
// format taken from the bytes, never from Content-Type or the file name.
//
// docs/ssrf.md describes the threat model, the refused ranges and the options.
package fetch
