package upstream

import (
	"context"
	"errors"
	"net"
	"strings"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"

	"github.com/tollgate-gw/tollgate"
)

// invalidModelMessage is what Bedrock answers, as a ValidationException, for a
// model id it does not know. OpenAI clients expect a 404 model_not_found.
const invalidModelMessage = "The provided model identifier is invalid"

// MapError turns an error from a Bedrock call into a *tollgate.Error that
// says what Bedrock said. It maps by the smithy error code, which is stable
// across SDK versions, and falls back to the HTTP status.
func MapError(err error) *tollgate.Error {
	if err == nil {
		return nil
	}
	var te *tollgate.Error
	if errors.As(err, &te) {
		return te
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &tollgate.Error{Kind: tollgate.GatewayTimeout, Code: "upstream_timeout",
			Message: "Bedrock did not answer in time.", Cause: err}
	}
	if errors.Is(err, context.Canceled) {
		return &tollgate.Error{Kind: tollgate.BadGateway, Code: "client_closed",
			Message: "The request was cancelled.", Cause: err}
	}
	var api smithy.APIError
	if !errors.As(err, &api) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return &tollgate.Error{Kind: tollgate.GatewayTimeout, Code: "upstream_timeout",
				Message: "Bedrock did not answer in time.", Cause: err}
		}
		return &tollgate.Error{Kind: tollgate.BadGateway, Code: "upstream_error",
			Message: "Could not reach Bedrock: the connection failed.", Cause: err}
	}
	msg := api.ErrorMessage()
	if msg == "" {
		msg = api.ErrorCode()
	}
	e := &tollgate.Error{Message: "Bedrock: " + msg, Cause: err}
	switch code := strings.ToLower(api.ErrorCode()); code {
	case "throttlingexception", "servicequotaexceededexception", "toomanyrequestsexception":
		e.Kind, e.Code, e.RetryAfter = tollgate.RateLimited, "rate_limit_exceeded", time.Second
	case "modelnotreadyexception":
		e.Kind, e.Code, e.RetryAfter = tollgate.RateLimited, "rate_limit_exceeded", 5*time.Second
	case "validationexception":
		e.Kind = tollgate.Invalid
		if strings.Contains(msg, invalidModelMessage) {
			e.Kind, e.Code, e.Param = tollgate.NotFound, "model_not_found", "model"
		}
	case "accessdeniedexception", "unrecognizedclientexception":
		e.Kind, e.Code = tollgate.PermissionDenied, "upstream_access_denied"
	case "resourcenotfoundexception":
		e.Kind, e.Code, e.Param = tollgate.NotFound, "model_not_found", "model"
	case "modeltimeoutexception":
		e.Kind, e.Code = tollgate.GatewayTimeout, "upstream_timeout"
	case "serviceunavailableexception":
		e.Kind, e.Code, e.RetryAfter = tollgate.Unavailable, "upstream_unavailable", time.Second
	default:
		e.Kind, e.Code = tollgate.BadGateway, "upstream_error"
		if status := httpStatus(err); status == 429 {
			e.Kind, e.Code, e.RetryAfter = tollgate.RateLimited, "rate_limit_exceeded", time.Second
		}
	}
	return e
}

// ErrorCode returns Bedrock's error code for err ("ThrottlingException"), or
// "" when err did not come from Bedrock.
func ErrorCode(err error) string {
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode()
	}
	return ""
}

// RequestID returns Bedrock's x-amzn-RequestId for a failed call, if any.
func RequestID(err error) string {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.ServiceRequestID()
	}
	return ""
}

func httpStatus(err error) int {
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// HTTPStatus returns the HTTP status of Bedrock's answer to a failed call, 0
// when Bedrock did not answer.
func HTTPStatus(err error) int { return httpStatus(err) }
