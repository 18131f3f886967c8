package bedrockapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/tollgate-gw/tollgate"
)

// Status is this protocol's one table from an error kind to the HTTP status
// and the error type (x-amzn-ErrorType) an AWS SDK raises as a typed
// exception. A budget refusal (QuotaExceeded) is a 400
// ServiceQuotaExceededException, which neither the SDKs nor Claude Code
// retry; a rate limit is a 429 ThrottlingException, which they do retry.
func Status(k tollgate.Kind) (status int, errType string) {
	switch k {
	case tollgate.Invalid, tollgate.UnsupportedMedia, tollgate.MethodNotAllowed:
		return http.StatusBadRequest, "ValidationException"
	case tollgate.TooLarge:
		return http.StatusRequestEntityTooLarge, "ValidationException"
	case tollgate.RequestTimeout:
		return http.StatusRequestTimeout, "ValidationException"
	case tollgate.Unauthenticated:
		return http.StatusForbidden, "UnrecognizedClientException"
	case tollgate.PermissionDenied:
		return http.StatusForbidden, "AccessDeniedException"
	case tollgate.NotFound:
		return http.StatusNotFound, "ResourceNotFoundException"
	case tollgate.RateLimited:
		return http.StatusTooManyRequests, "ThrottlingException"
	case tollgate.QuotaExceeded:
		return http.StatusBadRequest, "ServiceQuotaExceededException"
	case tollgate.Unavailable:
		return http.StatusServiceUnavailable, "ServiceUnavailableException"
	case tollgate.GatewayTimeout:
		return http.StatusRequestTimeout, "ModelTimeoutException"
	default: // Internal, BadGateway and any kind this table does not know
		return http.StatusInternalServerError, "InternalServerException"
	}
}

// ErrorBody returns Bedrock's error body for message: {"message": ...}.
func ErrorBody(message string) []byte {
	b, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{message}) // a string always encodes
	return b
}

// ExceptionFrame returns the event-stream frame of an exception: errType is
// the exception's name as x-amzn-ErrorType spells it
// ("ThrottlingException"), sent in lower camel case as Bedrock's exception
// events are.
func ExceptionFrame(errType, message string) []byte {
	name := errType
	if name != "" {
		name = strings.ToLower(name[:1]) + name[1:]
	}
	var buf bytes.Buffer
	_ = eventstream.NewEncoder().Encode(&buf, eventstream.Message{ // a bytes.Buffer never fails a write
		Headers: eventstream.Headers{
			{Name: ":message-type", Value: eventstream.StringValue("exception")},
			{Name: ":exception-type", Value: eventstream.StringValue(name)},
			{Name: ":content-type", Value: eventstream.StringValue("application/json")},
		},
		Payload: ErrorBody(message),
	})
	return buf.Bytes()
}

// EventType returns the event type of an event-stream frame
// (":event-type", e.g. "metadata"), or for an exception its type
// (":exception-type"); "" for a frame that is neither.
func EventType(frame []byte) string {
	msg, err := eventstream.NewDecoder().Decode(bytes.NewReader(frame), nil)
	if err != nil {
		return ""
	}
	for _, name := range []string{":event-type", ":exception-type"} {
		if v := msg.Headers.Get(name); v != nil {
			return v.String()
		}
	}
	return ""
}
