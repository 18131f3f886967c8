package bedrockapi_test

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/bedrockapi"
)

// TestStatus: the kinds the SDKs and Claude Code treat differently map to
// the exceptions that make them do so.
func TestStatus(t *testing.T) {
	tests := []struct {
		kind       tollgate.Kind
		wantStatus int
		wantType   string
	}{
		{tollgate.Invalid, 400, "ValidationException"},
		{tollgate.Unauthenticated, 403, "UnrecognizedClientException"},
		{tollgate.PermissionDenied, 403, "AccessDeniedException"},
		{tollgate.NotFound, 404, "ResourceNotFoundException"},
		{tollgate.RateLimited, 429, "ThrottlingException"},             // retried
		{tollgate.QuotaExceeded, 400, "ServiceQuotaExceededException"}, // not retried
		{tollgate.Unavailable, 503, "ServiceUnavailableException"},
		{tollgate.Internal, 500, "InternalServerException"},
	}
	for _, tt := range tests {
		status, typ := bedrockapi.Status(tt.kind)
		if status != tt.wantStatus || typ != tt.wantType {
			t.Errorf("kind %d: %d %s, want %d %s", tt.kind, status, typ, tt.wantStatus, tt.wantType)
		}
	}
}

// TestExceptionFrame: the frame decodes as Bedrock's exception events do.
func TestExceptionFrame(t *testing.T) {
	frame := bedrockapi.ExceptionFrame("ModelStreamErrorException", "cut")
	msg, err := eventstream.NewDecoder().Decode(bytes.NewReader(frame), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, h := range msg.Headers {
		got[h.Name] = h.Value.String()
	}
	want := map[string]string{":message-type": "exception", ":exception-type": "modelStreamErrorException", ":content-type": "application/json"}
	if diff := cmp.Diff(want, got); diff != "" || string(msg.Payload) != `{"message":"cut"}` {
		t.Errorf("headers (-want +got)\n%s\npayload %s", diff, msg.Payload)
	}
	if typ := bedrockapi.EventType(frame); typ != "modelStreamErrorException" {
		t.Errorf("EventType = %q", typ)
	}
}

// TestMeter: Bedrock's invocation metrics win, for any model; Claude's own
// usage counts when the stream broke before them.
func TestMeter(t *testing.T) {
	m := bedrockapi.NewMeter("meta.llama3-8b-instruct-v1:0")
	m.Add([]byte(`{"generation":"Hello"}`))
	if _, ok := m.Usage(); ok || m.OutputBytes() == 0 {
		t.Errorf("usage reported before the metrics, or no output counted")
	}
	m.Add([]byte(`{"generation":"","amazon-bedrock-invocationMetrics":{"inputTokenCount":7,"outputTokenCount":3}}`))
	if u, ok := m.Usage(); !ok || u != (bedrockapi.Usage{Input: 7, Output: 3}) {
		t.Errorf("usage %+v %v, want 7 in, 3 out, reported", u, ok)
	}

	c := bedrockapi.NewMeter("anthropic.claude-3-haiku-20240307-v1:0")
	c.Add([]byte(`{"type":"message_start","message":{"usage":{"input_tokens":11,"output_tokens":1}}}`))
	c.Add([]byte(`{"type":"content_block_delta","delta":{"type":"text_delta","text":"Hello"}}`))
	if u, ok := c.Usage(); ok || u.Input != 11 || c.OutputBytes() != 5 {
		t.Errorf("broken Claude stream: usage %+v reported %v, %d bytes; want the input of message_start, 5 bytes, not reported", u, ok, c.OutputBytes())
	}
}
