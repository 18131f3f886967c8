package converse_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

// The fuzz targets of the translation: request parsing and the stream state
// machine must never panic on any input, and fail only in the documented
// way. Seed corpora are in testdata/fuzz/<FuzzName>/; CI runs each target
// for a few seconds (see docs/reliability.md).

// FuzzParseChatRequest: ParseChatRequest never panics, and every error is a
// *tollgate.Error of Kind Invalid; what it accepts, ToConverse (and the
// budget's input measures) can translate without panicking, failing only
// with Kind Invalid.
func FuzzParseChatRequest(f *testing.F) {
	for _, seed := range []string{
		`{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"m","stream":true,"stream_options":{"include_usage":true},"max_tokens":10,"temperature":0.5,"top_p":0.9,"stop":["\n"],"messages":[{"role":"system","content":"be terse"},{"role":"user","content":[{"type":"text","text":"hi"}]}]}`,
		`{"model":"m","messages":[{"role":"user","content":"w?"},{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},{"role":"tool","tool_call_id":"c1","content":"ok"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"integer"}}}}}],"tool_choice":"auto"}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]}`,
		`{"model":"m","messages":[{"role":"developer","content":"x"},{"role":"user","content":"y"},{"role":"assistant","content":[{"type":"refusal","refusal":"no"}]},{"role":"user","content":"z"}],"tool_choice":{"type":"function","function":{"name":"g"}},"tools":[{"type":"function","function":{"name":"g"}}]}`,
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"n":1,"logprobs":false,"response_format":{"type":"text"},"max_completion_tokens":2147483647}`,
		`{"model":"m","messages":[]}`,
		`{"model":"m","messages":null}`,
		`{"model":"m","messages":[null]}`,
		`{"model":"m","messages":["hi"]}`,
		`{"model":"m","messages":[{"role":"user","content":"a\"b\u00e9\n"}]}`,
		"{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"bad \xff utf-8\"}]}",
		`{"model":"m","Messages":[{"role":"user","content":"case"}],"messages":[{"role":"user","content":"dup"}]}`,
		`{"model":"m","messages":[{"role":"user","content":"x"}],"messages":"again"}`,
		`{"model":"m","messages":[{"role":"user","content":  "spaced"  }]}`,
		`{"model":"m","messages":[{"role":"user","content":"x","role":"assistant"}]}`,
		`{"model":`,
		`[]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, err := converse.ParseChatRequest(body)
		// The one-pass fast path must agree with the careful path.
		careful, cerr := converse.ParseChatRequestCareful(body)
		switch {
		case (err == nil) != (cerr == nil):
			t.Fatalf("ParseChatRequest error %v, careful path error %v", err, cerr)
		case err != nil && err.Error() != cerr.Error():
			t.Fatalf("ParseChatRequest error %q, careful path error %q", err, cerr)
		case err == nil:
			if diff := cmp.Diff(careful, req, cmp.AllowUnexported(converse.Message{})); diff != "" {
				t.Fatalf("ParseChatRequest and the careful path disagree (-careful +fast):\n%s", diff)
			}
		}
		if err != nil {
			checkInvalid(t, "ParseChatRequest", err)
			return
		}
		if req == nil {
			t.Fatal("ParseChatRequest returned neither a request nor an error")
		}
		_ = converse.MeasureInput(req, len(body))
		_ = req.MaxOutputTokens()
		in, err := converse.ToConverse(req, req.Model, converse.Options{})
		if err != nil {
			checkInvalid(t, "ToConverse", err)
			return
		}
		if in == nil || in.ModelId == nil || *in.ModelId != req.Model {
			t.Fatalf("ToConverse returned %+v for model %q", in, req.Model)
		}
		_ = converse.InputTexts(in)
		_ = converse.FramingOf(in)
		_ = converse.DocumentTokens(in)
		_, thinking := converse.OutputCap(req, req.Model)
		converse.CapOutput(in, 1, thinking)
	})
}

func checkInvalid(t *testing.T, fn string, err error) {
	t.Helper()
	var te *tollgate.Error
	if !errors.As(err, &te) || te != err {
		t.Fatalf("%s: error %T %v is not a *tollgate.Error", fn, err, err)
	}
	if te.Kind != tollgate.Invalid {
		t.Fatalf("%s: error %q has kind %d, want Invalid", fn, te.Message, te.Kind)
	}
	if te.Message == "" {
		t.Fatalf("%s: error without a message", fn)
	}
}

// FuzzStream builds a sequence of ConverseStream events from the fuzz bytes
// (any order, repeats, unknown blocks, nil fields, invalid UTF-8) and feeds
// it to a Stream: it never panics, and what it writes, followed by [DONE]
// or by the error event the gateway sends when End fails, is a valid OpenAI
// SSE transcript.
func FuzzStream(f *testing.F) {
	f.Add([]byte{0, 1, 0, 5, 'H', 'e', 'l', 'l', 'o', 4, 0, 5, 0, 6, 0, 5, 0, 3, 0, 0, 0, 0}, false)
	f.Add([]byte{0, 2, 1, 3, 'i', 'd', '1', 3, 'g', 'e', 't', 3, 1, 6, '{', '"', 'a', '"', ':', '1', 3, 1, 1, '}', 4, 1, 5, 1, 6, 0, 7, 0, 9, 0, 0}, true)
	f.Add([]byte{1, 0, 2, 0xff, 0xfe, 5, 2}, true)
	f.Add([]byte{6, 0, 1, 0, 1, 5, 0, 0, 1, 0, 1, 'x'}, true)
	f.Add([]byte{7, 0, 7, 1, 7, 2, 7, 3}, false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, includeUsage bool) {
		events := decodeEvents(data)
		meta := converse.Meta{ID: "chatcmpl-fuzz", Created: 1700000000, Model: "anthropic.claude-3-haiku-20240307-v1:0"}
		s := converse.NewStream(meta, includeUsage)
		var out []byte
		for _, ev := range events {
			n := len(out)
			out = s.AppendEvent(out, ev)
			if chunk := out[n:]; len(chunk) > 0 && (!bytes.HasPrefix(chunk, []byte("data: ")) || !bytes.HasSuffix(chunk, []byte("\n\n"))) {
				t.Fatalf("chunk %q is not SSE data", chunk)
			}
		}
		if out2 := s.Event(nil); len(out2) != 0 {
			t.Fatalf("a nil event produced %q", out2)
		}
		tail, err := s.End()
		if err != nil {
			var te *tollgate.Error
			if !errors.As(err, &te) || te.Kind != tollgate.BadGateway || te.Code != "upstream_stream_incomplete" {
				t.Fatalf("End: %v, want a BadGateway upstream_stream_incomplete", err)
			}
			// What api.streamErrorEvent sends.
			tail = []byte(`data: {"error":{"message":"` + "The Bedrock stream ended before it was complete." + `","type":"server_error","param":null,"code":"upstream_stream_incomplete"}}` + "\n\n")
		}
		out = append(out, tail...)
		if s.OutputBytes() < 0 {
			t.Fatalf("OutputBytes %d", s.OutputBytes())
		}
		openapitest.ValidateSSE(t, out)
	})
}

// decodeEvents turns fuzz bytes into events: an opcode byte, then its
// operands (block index, strings of a length byte and that many bytes,
// 32-bit counts), each read from what is left and zero when nothing is.
func decodeEvents(data []byte) []types.ConverseStreamOutput {
	r := &fuzzReader{data: data}
	var events []types.ConverseStreamOutput
	for len(r.data) > 0 && len(events) < 256 {
		switch r.byte() % 8 {
		case 0:
			events = append(events, &types.ConverseStreamOutputMemberMessageStart{Value: types.MessageStartEvent{Role: types.ConversationRoleAssistant}})
		case 1:
			events = append(events, &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
				ContentBlockIndex: r.index(), Delta: &types.ContentBlockDeltaMemberText{Value: r.string()}}})
		case 2:
			events = append(events, &types.ConverseStreamOutputMemberContentBlockStart{Value: types.ContentBlockStartEvent{
				ContentBlockIndex: r.index(), Start: &types.ContentBlockStartMemberToolUse{Value: types.ToolUseBlockStart{ToolUseId: r.optString(), Name: r.optString()}}}})
		case 3:
			events = append(events, &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
				ContentBlockIndex: r.index(), Delta: &types.ContentBlockDeltaMemberToolUse{Value: types.ToolUseBlockDelta{Input: r.optString()}}}})
		case 4:
			events = append(events, &types.ConverseStreamOutputMemberContentBlockStop{Value: types.ContentBlockStopEvent{ContentBlockIndex: r.index()}})
		case 5:
			// Bedrock's stop reasons, and "" (none). Unknown ones are
			// TestStreamUnknownStopReason's.
			reasons := append(types.StopReason("").Values(), "")
			reason := reasons[int(r.byte())%len(reasons)]
			events = append(events, &types.ConverseStreamOutputMemberMessageStop{Value: types.MessageStopEvent{StopReason: reason}})
		case 6:
			var u *types.TokenUsage
			if r.byte()%8 != 0 {
				u = &types.TokenUsage{InputTokens: r.int32(), OutputTokens: r.int32(), TotalTokens: r.int32(),
					CacheReadInputTokens: r.int32(), CacheWriteInputTokens: r.int32()}
			}
			events = append(events, &types.ConverseStreamOutputMemberMetadata{Value: types.ConverseStreamMetadataEvent{Usage: u}})
		case 7:
			switch r.byte() % 4 {
			case 0:
				events = append(events, &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{
					ContentBlockIndex: r.index(), Delta: &types.ContentBlockDeltaMemberReasoningContent{Value: &types.ReasoningContentBlockDeltaMemberText{Value: r.string()}}}})
			case 1:
				events = append(events, &types.ConverseStreamOutputMemberContentBlockDelta{Value: types.ContentBlockDeltaEvent{ContentBlockIndex: r.index()}})
			case 2:
				events = append(events, &types.ConverseStreamOutputMemberContentBlockStart{Value: types.ContentBlockStartEvent{ContentBlockIndex: r.index()}})
			case 3:
				events = append(events, &types.UnknownUnionMember{Tag: r.string(), Value: []byte(r.string())})
			}
		}
	}
	return events
}

// TestStreamUnknownStopReason: a stop reason Bedrock adds after this SDK
// version must still end the stream with a finish_reason OpenAI clients
// know. FuzzStream found it.
func TestStreamUnknownStopReason(t *testing.T) {
	for _, reason := range []types.StopReason{"0", "some_new_reason"} {
		s := converse.NewStream(converse.Meta{ID: "chatcmpl-x", Created: 1, Model: "m"}, false)
		var out []byte
		for _, ev := range []types.ConverseStreamOutput{
			&types.ConverseStreamOutputMemberMessageStart{Value: types.MessageStartEvent{Role: types.ConversationRoleAssistant}},
			&types.ConverseStreamOutputMemberMessageStop{Value: types.MessageStopEvent{StopReason: reason}},
			&types.ConverseStreamOutputMemberMetadata{Value: types.ConverseStreamMetadataEvent{Usage: &types.TokenUsage{InputTokens: aws.Int32(1), OutputTokens: aws.Int32(1), TotalTokens: aws.Int32(2)}}},
		} {
			out = s.AppendEvent(out, ev)
		}
		tail, err := s.End()
		if err != nil {
			t.Fatal(err)
		}
		if got := converse.FinishReason(reason); got != "stop" {
			t.Errorf("converse.FinishReason(%q) = %q, want stop for a reason OpenAI has no name for", reason, got)
		}
		openapitest.ValidateSSE(t, append(out, tail...))
	}
}

type fuzzReader struct{ data []byte }

func (r *fuzzReader) byte() byte {
	if len(r.data) == 0 {
		return 0
	}
	b := r.data[0]
	r.data = r.data[1:]
	return b
}

func (r *fuzzReader) string() string {
	n := min(int(r.byte()), len(r.data))
	s := string(r.data[:n])
	r.data = r.data[n:]
	return s
}

func (r *fuzzReader) optString() *string {
	if r.byte()%8 == 7 {
		return nil
	}
	return aws.String(r.string())
}

func (r *fuzzReader) index() *int32 {
	b := r.byte()
	if b == 0xff {
		return nil
	}
	return aws.Int32(int32(b % 4))
}

func (r *fuzzReader) int32() *int32 {
	var b [4]byte
	n := copy(b[:], r.data)
	r.data = r.data[n:]
	v := int32(binary.LittleEndian.Uint32(b[:]))
	if v == -1 {
		return nil
	}
	return aws.Int32(v)
}
