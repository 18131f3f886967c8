// Package tollgate holds the domain types shared by every layer of the gateway:
// the error kinds. Each client protocol's front end maps a kind to its own
// status and error type (internal/api's openAIStatus for OpenAI's).
package tollgate

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"
)

// Kind classifies an Error. Each front end maps each kind to exactly one
// status and error type of its protocol; the comments give OpenAI's.
type Kind int

// The error kinds. The zero Kind is Internal.
const (
	Internal         Kind = iota // 500 server_error
	Invalid                      // 400 invalid_request_error
	Unauthenticated              // 401 invalid_request_error
	PermissionDenied             // 403 permission_error
	NotFound                     // 404 invalid_request_error
	MethodNotAllowed             // 405 invalid_request_error
	TooLarge                     // 413 invalid_request_error
	RequestTimeout               // 408 invalid_request_error
	UnsupportedMedia             // 415 invalid_request_error
	RateLimited                  // 429 requests (clients retry)
	QuotaExceeded                // 429 insufficient_quota (clients do not retry)
	BadGateway                   // 502 server_error
	Unavailable                  // 503 server_error
	GatewayTimeout               // 504 server_error
)

// Error is a failure that a client is told about. Message is shown to the
// client as is, so it must never hold a secret; Cause is for logs only.
type Error struct {
	Kind       Kind
	Code       string        // OpenAI error.code, e.g. "invalid_api_key"; may be empty
	Param      string        // OpenAI error.param, e.g. "messages[2].content"; may be empty
	Message    string        // what went wrong and what to fix
	RetryAfter time.Duration // sent as retry-after when positive
	Cause      error         // internal detail, logged, never sent
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Param != "" {
		return fmt.Sprintf("%s (param %s)", e.Message, e.Param)
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// Errorf builds an Error of the given kind with a formatted message. String
// arguments longer than MaxQuoted bytes are clipped: messages quote what the
// client sent, and a 500 KB value must not come back as a 500 KB error body
// (nor reach logs that keep messages).
func Errorf(kind Kind, code, param, format string, args ...any) *Error {
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > MaxQuoted {
			args[i] = Clip(s)
		}
	}
	return &Error{Kind: kind, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// MaxQuoted is the most bytes of a client's value an error message quotes.
const MaxQuoted = 128

// Clip returns s cut to at most MaxQuoted bytes, on a rune boundary, marked
// with "…" when it was cut.
func Clip(s string) string {
	if len(s) <= MaxQuoted {
		return s
	}
	cut := MaxQuoted
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// AsError returns err as an *Error. An error that is not one becomes an
// Internal error with a generic message, keeping err as the cause.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Internal, Message: "The server had an error while processing your request.", Cause: err}
}
