package anthropic

import (
	"bytes"
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

// Meter reads the events of one InvokeModelWithResponseStream answer for
// what the call costs: the usage (message_start for input and cache tokens,
// message_delta for output, Bedrock's invocation metrics, which win, at
// message_stop) and the bytes generated so far, for an estimate when the
// stream breaks first. It is kept apart from what the client is sent
// ([AppendFrame]), so that the bill does not depend on the client. Create
// one per request with [NewMeter]; it is not safe for concurrent use.
type Meter struct {
	usage      Usage
	metrics    bool // Bedrock's invocation metrics arrived
	done       bool // message_stop arrived
	outputText int  // bytes of generated text, thinking and tool input so far
}

// NewMeter returns a Meter for one answer.
func NewMeter() *Meter { return &Meter{} }

// event is what the Meter reads of one Anthropic event.
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

// Add reads the bytes of one chunk (the JSON of one Anthropic event). A
// chunk that is not an event counts for nothing.
func (m *Meter) Add(chunk []byte) {
	var ev event
	if json.Unmarshal(chunk, &ev) != nil {
		return
	}
	switch ev.Type {
	case "message_start":
		if ev.Message != nil {
			ev.Message.Usage.merge(&m.usage)
		}
	case "message_delta":
		ev.Usage.merge(&m.usage)
	case "content_block_delta":
		if d := ev.Delta; d != nil {
			m.outputText += len(d.Text) + len(d.Thinking) + len(d.PartialJSON)
		}
	case "message_stop":
		m.done = true
		if mt := ev.Metrics; mt != nil {
			m.metrics = true
			for _, f := range []struct {
				src *int
				dst *int
			}{{mt.InputTokenCount, &m.usage.Input}, {mt.OutputTokenCount, &m.usage.Output}, {mt.CacheReadInputTokenCount, &m.usage.CacheRead}, {mt.CacheWriteInputTokenCount, &m.usage.CacheWrite}} {
				if f.src != nil {
					*f.dst = *f.src
				}
			}
		}
	}
}

// Done reports whether message_stop arrived: a stream that ends without it
// failed.
func (m *Meter) Done() bool { return m.done }

// Usage returns the usage so far and whether Bedrock reported it in full
// (message_stop arrived). A stream that broke before has the input usage
// of message_start and the output counted so far.
func (m *Meter) Usage() (u Usage, reported bool) { return m.usage, m.done || m.metrics }

// OutputBytes returns the bytes of text, thinking and tool input generated
// so far, for an estimate when the stream broke before its usage.
func (m *Meter) OutputBytes() int { return m.outputText }

// typePrefix is how every Anthropic event Bedrock sends begins.
const typePrefix = `{"type":"`

// AppendFrame appends to dst the SSE frame Anthropic sends for one chunk's
// event: "event: <type>\ndata: <json>\n\n". Events pass through as Bedrock
// sent them, except message_stop, which loses Bedrock's invocation metrics.
// A chunk that is not an event with a type is an error of kind BadGateway.
func AppendFrame(dst, chunk []byte) ([]byte, error) {
	typ, ok := eventType(chunk)
	if !ok {
		return dst, &tollgate.Error{Kind: tollgate.BadGateway, Code: "upstream_error",
			Message: "Bedrock sent a stream event that is not an Anthropic event."}
	}
	if typ == "message_stop" {
		chunk = []byte(`{"type":"message_stop"}`)
	}
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: "...)
	dst = append(dst, chunk...)
	return append(dst, "\n\n"...), nil
}

// eventType reads an event's type: at once when it comes first, as Bedrock
// sends it, else by decoding the event.
func eventType(chunk []byte) (string, bool) {
	if rest, ok := bytes.CutPrefix(chunk, []byte(typePrefix)); ok {
		if i := bytes.IndexByte(rest, '"'); i > 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			return string(rest[:i]), true
		}
	}
	var ev struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(chunk, &ev) != nil || ev.Type == "" {
		return "", false
	}
	return ev.Type, true
}

// Ping is the SSE frame of Anthropic's keep-alive event.
var Ping = []byte("event: ping\ndata: {\"type\": \"ping\"}\n\n")
