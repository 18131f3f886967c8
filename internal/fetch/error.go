package fetch

// Reasons an image fetch is refused or fails: the Reason of an [Error].
const (
	ReasonBadURL            = "bad_url"            // malformed URL, credentials, zone id, numeric host trick, bad port
	ReasonUnsupportedScheme = "unsupported_scheme" // anything but http and https
	ReasonNotAllowedHost    = "not_allowed_host"   // host not on Options.AllowHosts
	ReasonBlockedAddress    = "blocked_address"    // host is or resolves to a non-public address
	ReasonTooManyRedirects  = "too_many_redirects" // more than Options.MaxRedirects
	ReasonTimeout           = "timeout"            // the whole fetch exceeded Options.Timeout
	ReasonCanceled          = "canceled"           // the caller's context ended
	ReasonFetchFailed       = "fetch_failed"       // DNS, connect, TLS or protocol failure
	ReasonBadStatus         = "bad_status"         // the final answer was not HTTP 200
	ReasonTooLarge          = "too_large"          // more than Options.MaxBytes
	ReasonNotAnImage        = "not_an_image"       // not PNG, JPEG, GIF or WebP by its magic bytes
)

// Error is why an image could not be fetched. Every error returned by
// [Fetcher.Image] is an *Error. Message is safe to show a client as is: it may
// name the host of the URL the client sent, but never an address the gateway
// resolved nor the target of a redirect; Cause is for logs only.
type Error struct {
	Reason  string // one of the Reason constants
	Message string // what went wrong, in a sentence a client can act on
	Cause   error  // internal detail (may name resolved addresses); never sent
}

// Error returns the client-safe message.
func (e *Error) Error() string { return e.Message }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

func newError(reason, message string, cause error) *Error {
	return &Error{Reason: reason, Message: message, Cause: cause}
}
