package bedrocksim

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
)

// Coral namespaces that real AWS appends to x-amzn-ErrorType. Bedrock's own
// exceptions carry the bedrock one; failures decided by the AWS front door
// (authentication, unknown operation, unreadable JSON) the generic one.
const (
	bedrockNamespace = "http://internal.amazon.com/coral/com.amazon.bedrock/"
	coralNamespace   = "http://internal.amazon.com/coral/com.amazon.coral.service/"
)

// apiError is an answer that Bedrock sends as an HTTP error: status, exception
// name (x-amzn-ErrorType) and message.
type apiError struct {
	status    int
	code      string
	message   string
	namespace string // bedrockNamespace unless set
	// capitalMessage sends {"Message":...} instead of {"message":...}, as the
	// AWS front door does for authentication failures.
	capitalMessage bool
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// exception describes one Bedrock runtime exception: its HTTP status (from the
// SDK's schemas: smithy httpError traits) and the message Bedrock sends when
// the simulator injects it.
type exception struct {
	status  int
	message string
}

// exceptions lists the runtime exceptions [sim:error=Name] can inject. Statuses
// are the SDK's; messages are Bedrock's wording where known.
var exceptions = map[string]exception{
	"AccessDeniedException":         {http.StatusForbidden, "You don't have access to the model with the specified model ID."},
	"InternalServerException":       {http.StatusInternalServerError, "The system encountered an unexpected error during processing. Try your request again."},
	"ModelErrorException":           {http.StatusFailedDependency, "The system encountered an unexpected error during model processing. Try your request again."},
	"ModelNotReadyException":        {http.StatusTooManyRequests, "Model is not ready to serve inference requests. Try your request again later."},
	"ModelTimeoutException":         {http.StatusRequestTimeout, "Model has timed out in processing the request. Try your request again."},
	"ResourceNotFoundException":     {http.StatusNotFound, "This model version has reached the end of its life. Please refer to the AWS documentation for more details."},
	"ServiceQuotaExceededException": {http.StatusBadRequest, "Too many tokens per day, please wait before trying again."},
	"ServiceUnavailableException":   {http.StatusServiceUnavailable, "Bedrock is unable to process your request."},
	"ThrottlingException":           {http.StatusTooManyRequests, "Too many requests, please wait before trying again."},
	"ValidationException":           {http.StatusBadRequest, "Malformed input request, please reformat your input and try again."},
	"ConflictException":             {http.StatusBadRequest, "The request could not be completed due to a conflict. Try your request again."},
}

// streamExceptions lists the exceptions ConverseStream can deliver as an
// exception event, by their :exception-type (the union member name), and the
// message each carries.
var streamExceptions = map[string]string{
	"internalServerException":     exceptions["InternalServerException"].message,
	"modelStreamErrorException":   "The system encountered an unexpected error during model streaming. Try your request again.",
	"serviceUnavailableException": exceptions["ServiceUnavailableException"].message,
	"throttlingException":         exceptions["ThrottlingException"].message,
	"validationException":         "The model produced an invalid sequence as part of ToolUse. Please refer to the model tool use troubleshooting guide.",
}

// ErrorNames returns the exception names [sim:error=Name] accepts, sorted.
func ErrorNames() []string { return sortedKeys(exceptions) }

// StreamExceptionNames returns the :exception-type names
// [sim:exception=name] accepts, sorted.
func StreamExceptionNames() []string { return sortedKeys(streamExceptions) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// injectedError returns the error [sim:error=code] asks for; parseMarkers
// has checked that code is known.
func injectedError(code string) *apiError {
	ex := exceptions[code]
	return &apiError{status: ex.status, code: code, message: ex.message}
}

func validationError(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "ValidationException", message: msg}
}

func validationErrorf(format string, args ...any) *apiError {
	return validationError(fmt.Sprintf(format, args...))
}

// constraintError words a violated model constraint the way AWS's request
// validation does.
func constraintError(value, path, constraint string) *apiError {
	return validationErrorf("1 validation error detected: Value '%s' at '%s' failed to satisfy constraint: %s", value, path, constraint)
}

// errMissingAuth is what Bedrock answers a request without an Authorization
// header (observed: 403, AccessDeniedException from the front door, capital
// "Message").
var errMissingAuth = &apiError{
	status: http.StatusForbidden, code: "AccessDeniedException", message: "Authorization header is missing",
	namespace: coralNamespace, capitalMessage: true,
}

var errUnknownOperation = &apiError{
	status: http.StatusNotFound, code: "UnknownOperationException", message: "",
	namespace: coralNamespace,
}

func serializationError(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "SerializationException", message: msg, namespace: coralNamespace}
}

// writeError sends e as Bedrock does: status, x-amzn-ErrorType with the Coral
// namespace suffix, JSON body with the message.
func writeError(w http.ResponseWriter, e *apiError) {
	ns := e.namespace
	if ns == "" {
		ns = bedrockNamespace
	}
	key := "message"
	if e.capitalMessage {
		key = "Message"
	}
	body, _ := json.Marshal(map[string]string{key: e.message})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("x-amzn-ErrorType", e.code+":"+ns)
	w.WriteHeader(e.status)
	_, _ = w.Write(body)
}
