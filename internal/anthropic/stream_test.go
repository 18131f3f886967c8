package anthropic_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/anthropic"
	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
)

// recorded are the chunk bytes of one Bedrock stream.
var recorded = []string{
	`{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":200,"output_tokens":1}}}`,
	`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello "}}`,
	`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"there."}}`,
	`{"type":"content_block_stop","index":0}`,
	`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}`,
	`{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":12,"outputTokenCount":6,"invocationLatency":100,"firstByteLatency":20,"cacheReadInputTokenCount":200,"cacheWriteInputTokenCount":100}}`,
}

const transcript = `event: message_start
data: {"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":12,"cache_creation_input_tokens":100,"cache_read_input_tokens":200,"output_tokens":1}}}

event: content_block_start
data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello "}}

event: content_block_delta
data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"there."}}

event: content_block_stop
data: {"type":"content_block_stop","index":0}

event: message_delta
data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}

event: message_stop
data: {"type":"message_stop"}

`

func TestStream(t *testing.T) {
	s := anthropic.NewMeter()
	var out []byte
	for i, chunk := range recorded {
		var err error
		if out, err = anthropic.AppendFrame(out, []byte(chunk)); err != nil {
			t.Fatal(err)
		}
		s.Add([]byte(chunk))
		// The usage is known piece by piece: input at message_start, output
		// at message_delta, Bedrock's counts (which win) at message_stop.
		u, final := s.Usage()
		switch i {
		case 0:
			if u != (anthropic.Usage{Input: 12, Output: 1, CacheRead: 200, CacheWrite: 100}) || final {
				t.Errorf("after message_start: %+v final %v", u, final)
			}
		case 5:
			if u.Output != 5 || final || s.Done() {
				t.Errorf("after message_delta: %+v final %v", u, final)
			}
		}
	}
	if diff := cmp.Diff(transcript, string(out)); diff != "" {
		t.Errorf("SSE (-want +got)\n%s", diff)
	}
	if u, final := s.Usage(); u != (anthropic.Usage{Input: 12, Output: 6, CacheRead: 200, CacheWrite: 100}) || !final || !s.Done() {
		t.Errorf("final usage %+v %v done %v", u, final, s.Done())
	}
	if s.OutputBytes() != len("Hello there.") {
		t.Errorf("OutputBytes %d", s.OutputBytes())
	}
}

func TestStreamBroken(t *testing.T) {
	s := anthropic.NewMeter()
	for _, chunk := range recorded[:3] {
		s.Add([]byte(chunk))
	}
	s.Add([]byte(`not json`))
	if u, final := s.Usage(); s.Done() || final || u.Input != 12 || s.OutputBytes() != len("Hello ") {
		t.Errorf("a broken stream: usage %+v final %v done %v", u, final, s.Done())
	}
	_, err := anthropic.AppendFrame(nil, []byte(`not json`))
	var e *tollgate.Error
	if !errors.As(err, &e) || e.Kind != tollgate.BadGateway {
		t.Errorf("a bad chunk: %v", err)
	}
	got := string(anthropic.ErrorEvent(&tollgate.Error{Kind: tollgate.Unavailable, Message: "Bedrock: busy"}))
	want := "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Bedrock: busy\"}}\n\n"
	if got != want {
		t.Errorf("ErrorEvent = %q, want %q", got, want)
	}
}

func TestParseUsage(t *testing.T) {
	u, err := anthropic.ParseUsage([]byte(`{"type":"message","usage":{"input_tokens":3,"output_tokens":17,"cache_creation_input_tokens":4,"cache_read_input_tokens":5}}`))
	if err != nil || u != (anthropic.Usage{Input: 3, Output: 17, CacheWrite: 4, CacheRead: 5}) {
		t.Errorf("ParseUsage = %+v, %v", u, err)
	}
	if _, err := anthropic.ParseUsage([]byte(`{"type":"message"}`)); err == nil {
		t.Error("an answer without usage must be an error")
	}
}

// TestBedrockAccepts: what the gateway sends, the simulated Bedrock (whose
// beta list and refusals follow Bedrock's) accepts, for a request shaped
// like Claude Code's, plain and streamed; and the stream translates into an
// SSE transcript that ends with message_stop, with usage that matches
// Bedrock's.
func TestBedrockAccepts(t *testing.T) {
	for _, b := range anthropic.BedrockBetas() {
		if !contains(bedrocksim.ClaudeBetas(), b) {
			t.Errorf("the gateway sends %s, which Bedrock refuses", b)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sim := bedrocksim.New(bedrocksim.Options{})
	url, err := sim.Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rt := bedrockruntime.New(bedrockruntime.Options{Region: "us-east-1", BaseEndpoint: aws.String(url), Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"}, nil
		})})
	claudeCode := `{"model":"claude-sonnet-4-5-20250929","max_tokens":32000,"stream":true,
		"thinking":{"type":"enabled","budget_tokens":31999},
		"metadata":{"user_id":"user_abc_account__session_123"},
		"context_management":{"edits":[{"type":"clear_thinking_20251015","keep":"all"}]},
		"system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
		"tools":[{"name":"Bash","description":"Run a command","input_schema":{"type":"object","properties":{"command":{"type":"string"}},"required":["command"]}},
			{"name":"WebFetch","description":"Fetch","input_schema":{"type":"object"},"defer_loading":true}],
		"messages":[{"role":"system","content":"Reminder: be careful."},{"role":"user","content":[{"type":"text","text":"Say hi","cache_control":{"type":"ephemeral"}}]}]}`
	header := []string{"claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,prompt-caching-scope-2026-01-05,advanced-tool-use-2025-11-20,effort-2025-11-24"}
	r, err := anthropic.ParseRequest([]byte(claudeCode))
	if err != nil {
		t.Fatal(err)
	}
	id, _ := anthropic.BedrockModel(r.Model, "us")
	body, err := r.BedrockBody(header)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.InvokeModel(ctx, &bedrockruntime.InvokeModelInput{ModelId: aws.String(id), Body: body}); err != nil {
		t.Fatalf("InvokeModel: %v\nbody %s", err, body)
	}
	out, err := rt.InvokeModelWithResponseStream(ctx, &bedrockruntime.InvokeModelWithResponseStreamInput{ModelId: aws.String(id), Body: body})
	if err != nil {
		t.Fatalf("InvokeModelWithResponseStream: %v", err)
	}
	s := anthropic.NewMeter()
	var sse strings.Builder
	for ev := range out.GetStream().Events() {
		chunk := ev.(*types.ResponseStreamMemberChunk).Value.Bytes
		frame, err := anthropic.AppendFrame(nil, chunk)
		if err != nil {
			t.Fatal(err)
		}
		s.Add(chunk)
		sse.Write(frame)
	}
	if !s.Done() || !strings.HasSuffix(sse.String(), "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n") || strings.Contains(sse.String(), "invocationMetrics") {
		t.Errorf("transcript:\n%s", sse.String())
	}
	u, final := s.Usage()
	st := sim.Stats()
	want := anthropic.Usage{Input: int(st.ByModel[id].InputTokens / 2), Output: int(st.ByModel[id].OutputTokens / 2)}
	if u.Input != want.Input || u.Output != want.Output || !final {
		t.Errorf("usage %+v, final %v; Bedrock billed %+v per call", u, final, want)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
