package anthropic

import (
	"encoding/json"

	"github.com/tollgate-gw/tollgate"
)

// Usage is the token usage of one call, as Bedrock bills it: Input excludes
// the cache reads and writes.
type Usage struct {
	Input, Output, CacheRead, CacheWrite int
}

// wireUsage is Anthropic's usage object.
type wireUsage struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// merge sets the counts w carries.
func (w *wireUsage) merge(u *Usage) {
	if w == nil {
		return
	}
	for _, f := range []struct {
		src *int
		dst *int
	}{{w.InputTokens, &u.Input}, {w.OutputTokens, &u.Output}, {w.CacheCreationInputTokens, &u.CacheWrite}, {w.CacheReadInputTokens, &u.CacheRead}} {
		if f.src != nil {
			*f.dst = *f.src
		}
	}
}

// ParseUsage reads the usage of a plain answer, Anthropic's message object.
// An answer without usage is an error of kind BadGateway: Bedrock bills the
// call, so it must be known.
func ParseUsage(body []byte) (Usage, error) {
	var msg struct {
		Type  string     `json:"type"`
		Usage *wireUsage `json:"usage"`
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Usage == nil || msg.Usage.InputTokens == nil {
		return Usage{}, &tollgate.Error{Kind: tollgate.BadGateway, Code: "upstream_error",
			Message: "Bedrock answered without the token usage of the message.", Cause: err}
	}
	var u Usage
	msg.Usage.merge(&u)
	return u, nil
}

// metricsKey is where Bedrock puts its own counts in the last event of a
// stream; it is Bedrock's, not Anthropic's, and never reaches the client.
const metricsKey = "amazon-bedrock-invocationMetrics"

// Stream turns the events of one InvokeModelWithResponseStream answer into
// Anthropic's server-sent events and keeps their usage. Create one per
// request with [NewStream]; it is not safe for concurrent use.
type Stream struct {
	usage      Usage
	metrics    bool // Bedrock's invocation metrics arrived: the usage is final
	done       bool // message_stop arrived
	started    bool // message_start arrived
	outputText int  // bytes of generated text, thinking and tool input so far
}

// NewStream returns a Stream for one answer.
func NewStream() *Stream { return &Stream{} }

// event is what the Stream reads of one Anthropic event.
type event struct {
	Type    string `json:"type"`
	Message *struct {
		Usage *wireUsage `json:"usage"`
	} `json:"message"`
	Usage *wireUsage `json:"usage"`
	Delta *struct {
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		PartialJSON string `json:"partial_json"`
	} `json:"delta"`
	Metrics *struct {
		InputTokenCount           *int `json:"inputTokenCount"`
		OutputTokenCount          *int `json:"outputTokenCount"`
		CacheReadInputTokenCount  *int `json:"cacheReadInputTokenCount"`
		CacheWriteInputTokenCount *int `json:"cacheWriteInputTokenCount"`
	} `json:"amazon-bedrock-invocationMetrics"`
}

// Event takes the bytes of one chunk (the JSON of one Anthropic event) and
// returns the SSE frame to send: "event: <type>\ndata: <json>\n\n". Events
// pass through as Bedrock sent them, except message_stop, which loses
// Bedrock's invocation metrics. An event that is not JSON with a type is an
// error of kind BadGateway.
func (s *Stream) Event(chunk []byte) ([]byte, error) {
	var ev event
	if err := json.Unmarshal(chunk, &ev); err != nil || ev.Type == "" {
		return nil, &tollgate.Error{Kind: tollgate.BadGateway, Code: "upstream_error",
			Message: "Bedrock sent a stream event that is not an Anthropic event.", Cause: err}
	}
	switch ev.Type {
	case "message_start":
		s.started = true
		if ev.Message != nil {
			ev.Message.Usage.merge(&s.usage)
		}
	case "message_delta":
		ev.Usage.merge(&s.usage)
	case "content_block_delta":
		if d := ev.Delta; d != nil {
			s.outputText += len(d.Text) + len(d.Thinking) + len(d.PartialJSON)
		}
	case "message_stop":
		s.done = true
		if m := ev.Metrics; m != nil {
			s.metrics = true
			for _, f := range []struct {
				src *int
				dst *int
			}{{m.InputTokenCount, &s.usage.Input}, {m.OutputTokenCount, &s.usage.Output}, {m.CacheReadInputTokenCount, &s.usage.CacheRead}, {m.CacheWriteInputTokenCount, &s.usage.CacheWrite}} {
				if f.src != nil {
					*f.dst = *f.src
				}
			}
			chunk = []byte(`{"type":"message_stop"}`)
		}
	}
	return frame(ev.Type, chunk), nil
}

// frame renders one SSE event.
func frame(typ string, data []byte) []byte {
	out := make([]byte, 0, len(typ)+len(data)+16)
	out = append(out, "event: "...)
	out = append(out, typ...)
	out = append(out, "\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// Ping is the SSE frame of Anthropic's keep-alive event.
var Ping = []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n")

// Done reports whether message_stop arrived: a stream that ends without it
// failed.
func (s *Stream) Done() bool { return s.done }

// Started reports whether message_start arrived.
func (s *Stream) Started() bool { return s.started }

// Usage returns the usage so far and whether it is final (Bedrock's
// invocation metrics, or message_stop, arrived). A stream that broke before
// reports input usage from message_start and the output counted so far.
func (s *Stream) Usage() (u Usage, final bool) { return s.usage, s.done || s.metrics }

// OutputBytes returns the bytes of text, thinking and tool input generated
// so far, for an estimate when the stream broke before its usage.
func (s *Stream) OutputBytes() int { return s.outputText }
