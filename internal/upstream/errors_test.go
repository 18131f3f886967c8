package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/upstream"
)

func TestMapError(t *testing.T) {
	apiErr := func(code, msg string) error {
		// Wrapped as the SDK wraps it, in an operation error.
		return &smithy.OperationError{ServiceID: "Bedrock Runtime", OperationName: "Converse",
			Err: &smithy.GenericAPIError{Code: code, Message: msg}}
	}
	type want struct {
		Kind       tollgate.Kind
		Code       string
		Param      string
		RetryAfter time.Duration
	}
	tests := []struct {
		name string
		err  error
		want want
	}{
		{"throttling", apiErr("ThrottlingException", "Too many requests"), want{tollgate.RateLimited, "rate_limit_exceeded", "", time.Second}},
		{"model not ready", apiErr("ModelNotReadyException", "warming up"), want{tollgate.RateLimited, "rate_limit_exceeded", "", 5 * time.Second}},
		{"quota", apiErr("ServiceQuotaExceededException", "quota"), want{tollgate.RateLimited, "rate_limit_exceeded", "", time.Second}},
		{"validation", apiErr("ValidationException", "messages.0: blank"), want{tollgate.Invalid, "", "", 0}},
		{"invalid model id", apiErr("ValidationException", "The provided model identifier is invalid."), want{tollgate.NotFound, "model_not_found", "model", 0}},
		{"access denied", apiErr("AccessDeniedException", "no access"), want{tollgate.PermissionDenied, "upstream_access_denied", "", 0}},
		{"not found", apiErr("ResourceNotFoundException", "gone"), want{tollgate.NotFound, "model_not_found", "model", 0}},
		{"model timeout", apiErr("ModelTimeoutException", "slow"), want{tollgate.GatewayTimeout, "upstream_timeout", "", 0}},
		{"unavailable", apiErr("ServiceUnavailableException", "down"), want{tollgate.Unavailable, "upstream_unavailable", "", time.Second}},
		{"internal", apiErr("InternalServerException", "oops"), want{tollgate.BadGateway, "upstream_error", "", 0}},
		{"model error", apiErr("ModelErrorException", "bad"), want{tollgate.BadGateway, "upstream_error", "", 0}},
		{"stream error (event code)", apiErr("modelStreamErrorException", "bad"), want{tollgate.BadGateway, "upstream_error", "", 0}},
		{"stream throttling (event code)", apiErr("throttlingException", "slow down"), want{tollgate.RateLimited, "rate_limit_exceeded", "", time.Second}},
		{"deadline", fmt.Errorf("call: %w", context.DeadlineExceeded), want{tollgate.GatewayTimeout, "upstream_timeout", "", 0}},
		{"connection", errors.New("dial tcp: connection refused"), want{tollgate.BadGateway, "upstream_error", "", 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := upstream.MapError(tt.err)
			got := want{e.Kind, e.Code, e.Param, e.RetryAfter}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if e.Message == "" || !errors.Is(e, tt.err) && e.Cause != tt.err {
				t.Errorf("message %q, cause %v", e.Message, e.Cause)
			}
		})
	}
	if upstream.MapError(nil) != nil {
		t.Error("MapError(nil) != nil")
	}
}
