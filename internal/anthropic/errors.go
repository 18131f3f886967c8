package anthropic

import (
	"encoding/json"
	"net/http"

	"github.com/tollgate-gw/tollgate"
)

// StatusOverloaded is Anthropic's status for an overloaded service, which its
// clients retry.
const StatusOverloaded = 529

// Status is this protocol's one table from an error kind to the HTTP status
// and Anthropic error type a client gets. A budget refusal (QuotaExceeded) is
// a 429 rate_limit_error that [Retryable] says not to retry.
func Status(k tollgate.Kind) (status int, errType string) {
	switch k {
	case tollgate.Invalid:
		return http.StatusBadRequest, "invalid_request_error"
	case tollgate.MethodNotAllowed:
		return http.StatusMethodNotAllowed, "invalid_request_error"
	case tollgate.UnsupportedMedia:
		return http.StatusUnsupportedMediaType, "invalid_request_error"
	case tollgate.RequestTimeout:
		return http.StatusRequestTimeout, "invalid_request_error"
	case tollgate.Unauthenticated:
		return http.StatusUnauthorized, "authentication_error"
	case tollgate.PermissionDenied:
		return http.StatusForbidden, "permission_error"
	case tollgate.NotFound:
		return http.StatusNotFound, "not_found_error"
	case tollgate.TooLarge:
		return http.StatusRequestEntityTooLarge, "request_too_large"
	case tollgate.RateLimited, tollgate.QuotaExceeded:
		return http.StatusTooManyRequests, "rate_limit_error"
	case tollgate.BadGateway:
		return http.StatusBadGateway, "api_error"
	case tollgate.Unavailable:
		return StatusOverloaded, "overloaded_error"
	case tollgate.GatewayTimeout:
		return http.StatusGatewayTimeout, "timeout_error"
	default: // Internal, and any kind this table does not know
		return http.StatusInternalServerError, "api_error"
	}
}

// Retryable reports whether a client should retry an error of kind k: not a
// budget refusal, which stands until the budget resets (Anthropic's clients
// honour x-should-retry: false).
func Retryable(k tollgate.Kind) bool { return k != tollgate.QuotaExceeded }

type errorBody struct {
	Type  string      `json:"type"`
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// ErrorBody returns the HTTP status of e and Anthropic's error envelope for
// it: {"type":"error","error":{"type":...,"message":...}}.
func ErrorBody(e *tollgate.Error) (status int, body []byte) {
	status, typ := Status(e.Kind)
	body, _ = json.Marshal(errorBody{Type: "error", Error: errorDetail{Type: typ, Message: e.Message}}) // strings always encode
	return status, body
}

// ErrorEvent returns the SSE frame Anthropic sends when a stream fails after
// it started: "event: error" and the envelope.
func ErrorEvent(e *tollgate.Error) []byte {
	_, body := ErrorBody(e)
	out := make([]byte, 0, len(body)+24)
	out = append(out, "event: error\ndata: "...)
	out = append(out, body...)
	return append(out, "\n\n"...)
}
