package converse_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/converse"
)

// benchBody is a typical agent request: a system prompt, a tool, and a tool
// round trip.
const benchBody = `{"model":"us.anthropic.claude-sonnet-4-5-20250929-v1:0","stream":true,"stream_options":{"include_usage":true},
	"max_tokens":1024,"temperature":0.7,"top_p":0.9,
	"tools":[{"type":"function","function":{"name":"get_weather","description":"Current weather for a city.","parameters":{"type":"object","properties":{"city":{"type":"string","description":"City name"},"unit":{"type":"string","enum":["c","f"]}},"required":["city"]}}}],
	"messages":[
		{"role":"system","content":"You are a helpful assistant. Answer briefly."},
		{"role":"user","content":"What's the weather in Paris and in Rome?"},
		{"role":"assistant","content":null,"tool_calls":[
			{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
			{"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\",\"unit\":\"c\"}"}}]},
		{"role":"tool","tool_call_id":"call_1","content":"18C, sunny"},
		{"role":"tool","tool_call_id":"call_2","content":"24C, cloudy"}]}`

func BenchmarkParseChatRequest(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := converse.ParseChatRequest([]byte(benchBody)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToConverse(b *testing.B) {
	r, err := converse.ParseChatRequest([]byte(benchBody))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := converse.ToConverse(r, r.Model, converse.Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromConverse(b *testing.B) {
	out := converseOutput(b, `{"output":{"message":{"role":"assistant","content":[{"text":"Paris is sunny at 18C; Rome is cloudy at 24C."},
		{"toolUse":{"toolUseId":"tooluse_1","name":"get_weather","input":{"city":"Milan","unit":"c"}}}]}},
		"stopReason":"tool_use","usage":{"inputTokens":812,"outputTokens":64,"totalTokens":876}}`)
	meta := converse.Meta{ID: converse.NewID(), Created: 1700000000, Model: "claude"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := converse.FromConverse(out, meta); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkStreamTextDelta measures one text delta event turned into one
// chunk: ns/op and allocs/op are per chunk.
func BenchmarkStreamTextDelta(b *testing.B) {
	meta := converse.Meta{ID: converse.NewID(), Created: 1700000000, Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
	s := converse.NewStream(meta, true)
	s.Event(msgStart())
	ev := text(0, "The quick brown fox jumps over the \"lazy\" dog.\n")
	b.ReportAllocs()
	for b.Loop() {
		if len(s.Event(ev)) == 0 {
			b.Fatal("no chunk")
		}
	}
}

// BenchmarkStreamAppendEvent is BenchmarkStreamTextDelta with a reused
// buffer.
func BenchmarkStreamAppendEvent(b *testing.B) {
	meta := converse.Meta{ID: converse.NewID(), Created: 1700000000, Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
	s := converse.NewStream(meta, true)
	s.Event(msgStart())
	var ev types.ConverseStreamOutput = text(0, "The quick brown fox jumps over the \"lazy\" dog.\n")
	var buf []byte
	b.ReportAllocs()
	for b.Loop() {
		buf = s.AppendEvent(buf[:0], ev)
	}
}

// BenchmarkResponsesStreamTextDelta is BenchmarkStreamAppendEvent for the
// Responses API's stream: one text delta turned into one
// response.output_text.delta event, in streams of 100 deltas (the stream
// keeps the text for the done events).
func BenchmarkResponsesStreamTextDelta(b *testing.B) {
	meta := converse.ResponsesMeta{ID: converse.NewResponseID(), CreatedAt: 1700000000, Model: "us.anthropic.claude-sonnet-4-5-20250929-v1:0"}
	var ev types.ConverseStreamOutput = text(0, "The quick brown fox jumps over the \"lazy\" dog.\n")
	var buf []byte
	var s *converse.ResponsesStream
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if i%100 == 0 {
			b.StopTimer()
			s = converse.NewResponsesStream(meta)
			buf = s.AppendEvent(buf[:0], msgStart())
			b.StartTimer()
		}
		buf = s.AppendEvent(buf[:0], ev)
	}
}
