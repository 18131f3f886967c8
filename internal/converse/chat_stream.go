package converse

import (
	"encoding/base64"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/jsonstr"
)

// Stream translates the events of one ConverseStream answer into OpenAI
// chat.completion.chunk server-sent events. It is a small state machine:
// create one per request with NewStream, feed it every event in order with
// Event (or AppendEvent), then call End when the event channel closes
// without error. A Stream is not safe for concurrent use.
//
// Chunks are encoded by hand: the part every chunk shares (id, object,
// created, model) is encoded once, and only the delta's strings are escaped
// per event.
type Stream struct {
	head         []byte // `data: {"id":...,"object":...,"created":N,"model":...`
	open         []byte // head + `,"choices":[{"index":0,"delta":`
	includeUsage bool

	started   bool // the role chunk was sent
	stopped   bool // messageStop was seen
	hasMeta   bool // metadata was seen
	usageSent bool

	tools    map[int32]int // content block index → OpenAI tool call index
	nextTool int
	usage    Usage
	outBytes int

	thinkTags      bool
	jsonTool       string         // Meta.JSONTool
	jsonBlocks     map[int32]bool // content blocks that call jsonTool
	jsonSeen       bool           // the JSON tool was called
	reasoning      []byte         // the current reasoning block's text, until its signature
	reasoningBytes int            // all reasoning text so far
	details        int            // reasoning details sent
	thinkOpen      bool           // a <think> tag is open in content
}

// NewStream returns the translator for one streamed answer. With
// includeUsage (the request's stream_options.include_usage), every chunk
// carries "usage":null and a last chunk with empty choices carries the usage.
func NewStream(meta Meta, includeUsage bool) *Stream {
	head := make([]byte, 0, 96+len(meta.ID)+len(meta.Model))
	head = append(head, `data: {"id":`...)
	head = jsonstr.Append(head, meta.ID)
	head = append(head, `,"object":"chat.completion.chunk","created":`...)
	head = strconv.AppendInt(head, meta.Created, 10)
	head = append(head, `,"model":`...)
	head = jsonstr.Append(head, meta.Model)
	open := append(head[:len(head):len(head)], `,"choices":[{"index":0,"delta":`...)
	return &Stream{head: head, open: open, includeUsage: includeUsage, thinkTags: meta.ThinkTags, jsonTool: meta.JSONTool}
}

// Event translates one Converse stream event and returns the SSE bytes to
// write now: zero or more complete "data: {json}\n\n" chunks, nil when the
// event produces none. The slice is the caller's to keep. Event never blocks
// and never panics: events of unknown types, and events that arrive after
// messageStop (content) or a second time (messageStart, messageStop,
// metadata) produce nothing.
//
// Reasoning text deltas become delta.reasoning_content (or content inside
// <think> tags with Meta.ThinkTags); a reasoning block's signature (or its
// redacted content) becomes one delta.reasoning_details entry holding the
// block's whole text and signature, for the client to echo. With
// Meta.JSONTool, that tool's input fragments become content deltas, no
// tool call is shown for it, and text deltas are dropped (the answer is
// the JSON).
func (s *Stream) Event(ev types.ConverseStreamOutput) []byte {
	size := len(s.open) + 96
	if d, ok := ev.(*types.ConverseStreamOutputMemberContentBlockDelta); ok {
		n := deltaLen(d.Value.Delta)
		size += n + n/8
	}
	return s.AppendEvent(make([]byte, 0, size), ev)
}

// AppendEvent is Event appending to dst, for callers that reuse a buffer.
func (s *Stream) AppendEvent(dst []byte, ev types.ConverseStreamOutput) []byte {
	switch ev := ev.(type) {
	case *types.ConverseStreamOutputMemberMessageStart:
		return s.start(dst)
	case *types.ConverseStreamOutputMemberContentBlockStart:
		tu, ok := ev.Value.Start.(*types.ContentBlockStartMemberToolUse)
		if !ok || s.stopped {
			return dst
		}
		dst = s.start(dst)
		dst = s.closeThink(dst)
		if name := stringValue(tu.Value.Name); s.jsonTool != "" && name == s.jsonTool {
			if s.jsonBlocks == nil {
				s.jsonBlocks = make(map[int32]bool, 1)
			}
			s.jsonBlocks[blockIndex(ev.Value.ContentBlockIndex)] = true
			s.jsonSeen = true
			return dst
		}
		k := s.nextTool
		s.nextTool++
		if s.tools == nil {
			s.tools = make(map[int32]int, 2)
		}
		s.tools[blockIndex(ev.Value.ContentBlockIndex)] = k
		name := stringValue(tu.Value.Name)
		s.outBytes += len(name)
		dst = append(dst, s.open...)
		dst = append(dst, `{"tool_calls":[{"index":`...)
		dst = strconv.AppendInt(dst, int64(k), 10)
		dst = append(dst, `,"id":`...)
		dst = jsonstr.Append(dst, stringValue(tu.Value.ToolUseId))
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = jsonstr.Append(dst, name)
		dst = append(dst, `,"arguments":""}}]}`...)
		return s.close(dst, "")
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		if s.stopped {
			return dst
		}
		switch d := ev.Value.Delta.(type) {
		case *types.ContentBlockDeltaMemberText:
			if d.Value == "" {
				return dst
			}
			dst = s.start(dst)
			s.outBytes += len(d.Value)
			if s.jsonTool != "" {
				return dst // the answer is the JSON tool's input
			}
			dst = s.closeThink(dst)
			dst = append(dst, s.open...)
			dst = append(dst, `{"content":`...)
			dst = jsonstr.Append(dst, d.Value)
			dst = append(dst, '}')
			return s.close(dst, "")
		case *types.ContentBlockDeltaMemberToolUse:
			input := stringValue(d.Value.Input)
			if s.jsonBlocks[blockIndex(ev.Value.ContentBlockIndex)] {
				if input == "" {
					return dst
				}
				s.outBytes += len(input)
				return s.content(dst, input)
			}
			k, ok := s.tools[blockIndex(ev.Value.ContentBlockIndex)]
			// A fragment for a block that never started as a tool call has
			// no id to attach it to: it is dropped.
			if !ok || input == "" {
				return dst
			}
			s.outBytes += len(input)
			dst = append(dst, s.open...)
			dst = append(dst, `{"tool_calls":[{"index":`...)
			dst = strconv.AppendInt(dst, int64(k), 10)
			dst = append(dst, `,"function":{"arguments":`...)
			dst = jsonstr.Append(dst, input)
			dst = append(dst, `}}]}`...)
			return s.close(dst, "")
		case *types.ContentBlockDeltaMemberReasoningContent:
			return s.reasoningDelta(dst, d.Value)
		}
		// Citations and others have no OpenAI counterpart.
		return dst
	case *types.ConverseStreamOutputMemberMessageStop:
		if s.stopped {
			return dst
		}
		dst = s.start(dst)
		dst = s.closeThink(dst)
		s.stopped = true
		finish := FinishReason(ev.Value.StopReason)
		if s.jsonSeen && s.nextTool == 0 && finish == "tool_calls" {
			finish = "stop"
		}
		dst = append(dst, s.open...)
		dst = append(dst, `{}`...)
		dst = s.close(dst, finish)
		return s.appendUsage(dst)
	case *types.ConverseStreamOutputMemberMetadata:
		if s.hasMeta {
			return dst
		}
		s.hasMeta = true
		s.usage = usageFrom(ev.Value.Usage)
		return s.appendUsage(dst)
	}
	return dst
}

// reasoningDelta translates a reasoning delta: text, signature or redacted
// content.
func (s *Stream) reasoningDelta(dst []byte, d types.ReasoningContentBlockDelta) []byte {
	switch d := d.(type) {
	case *types.ReasoningContentBlockDeltaMemberText:
		if d.Value == "" {
			return dst
		}
		dst = s.start(dst)
		s.outBytes += len(d.Value)
		s.reasoningBytes += len(d.Value)
		s.reasoning = append(s.reasoning, d.Value...)
		if s.thinkTags {
			text := d.Value
			if !s.thinkOpen {
				s.thinkOpen = true
				text = thinkOpen + text
			}
			return s.content(dst, text)
		}
		dst = append(dst, s.open...)
		dst = append(dst, `{"reasoning_content":`...)
		dst = jsonstr.Append(dst, d.Value)
		dst = append(dst, '}')
		return s.close(dst, "")
	case *types.ReasoningContentBlockDeltaMemberSignature:
		dst = s.start(dst)
		dst = append(dst, s.open...)
		dst = append(dst, `{"reasoning_details":[{"type":"`+ReasoningText+`","text":`...)
		dst = jsonstr.Append(dst, string(s.reasoning))
		dst = append(dst, `,"signature":`...)
		dst = jsonstr.Append(dst, d.Value)
		s.reasoning = s.reasoning[:0]
		return s.closeDetail(dst)
	case *types.ReasoningContentBlockDeltaMemberRedactedContent:
		dst = s.start(dst)
		dst = append(dst, s.open...)
		dst = append(dst, `{"reasoning_details":[{"type":"`+ReasoningEncrypted+`","data":"`...)
		dst = base64.StdEncoding.AppendEncode(dst, d.Value)
		dst = append(dst, '"')
		return s.closeDetail(dst)
	}
	return dst
}

// closeDetail ends a reasoning_details chunk after its type-specific
// members.
func (s *Stream) closeDetail(dst []byte) []byte {
	dst = append(dst, `,"format":"`+reasoningFormat+`","index":`...)
	dst = strconv.AppendInt(dst, int64(s.details), 10)
	s.details++
	dst = append(dst, `}]}`...)
	return s.close(dst, "")
}

// content sends a content delta.
func (s *Stream) content(dst []byte, text string) []byte {
	dst = append(dst, s.open...)
	dst = append(dst, `{"content":`...)
	dst = jsonstr.Append(dst, text)
	dst = append(dst, '}')
	return s.close(dst, "")
}

// closeThink closes an open <think> tag before the answer goes on.
func (s *Stream) closeThink(dst []byte) []byte {
	if !s.thinkOpen {
		return dst
	}
	s.thinkOpen = false
	return s.content(dst, thinkClose)
}

// start sends the role chunk unless it was sent, so that a stream whose
// messageStart went missing still opens the way OpenAI clients expect.
func (s *Stream) start(dst []byte) []byte {
	if s.started || s.stopped {
		return dst
	}
	s.started = true
	dst = append(dst, s.open...)
	dst = append(dst, `{"role":"assistant","content":""}`...)
	return s.close(dst, "")
}

// close ends a chunk whose delta was just written; finish "" encodes null.
func (s *Stream) close(dst []byte, finish string) []byte {
	dst = append(dst, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		dst = append(dst, `null`...)
	} else {
		dst = jsonstr.Append(dst, finish)
	}
	dst = append(dst, `}]`...)
	if s.includeUsage {
		dst = append(dst, `,"usage":null`...)
	}
	return append(dst, "}\n\n"...)
}

// appendUsage sends the usage chunk once both messageStop and metadata were
// seen, whichever came first, so that it is always the last chunk.
func (s *Stream) appendUsage(dst []byte) []byte {
	if !s.includeUsage || !s.stopped || !s.hasMeta || s.usageSent {
		return dst
	}
	s.usageSent = true
	u := s.usage.Completion()
	dst = append(dst, s.head...)
	dst = append(dst, `,"choices":[],"usage":{"prompt_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokens), 10)
	dst = append(dst, `,"completion_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.CompletionTokens), 10)
	dst = append(dst, `,"total_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.TotalTokens), 10)
	dst = append(dst, `,"prompt_tokens_details":{"cached_tokens":`...)
	dst = strconv.AppendInt(dst, int64(u.PromptTokensDetails.CachedTokens), 10)
	dst = append(dst, `},"completion_tokens_details":{"reasoning_tokens":`...)
	dst = strconv.AppendInt(dst, int64(reasoningTokens(s.reasoningBytes, s.usage.Output)), 10)
	dst = append(dst, `}}}`...)
	return append(dst, "\n\n"...)
}

// doneEvent ends every complete OpenAI stream.
const doneEvent = "data: [DONE]\n\n"

// End is called when the event channel closed with no error. If the stream
// was complete (messageStop and metadata seen) it returns the remaining
// bytes, ending "data: [DONE]\n\n". Otherwise it returns nil and a
// *tollgate.Error of Kind tollgate.BadGateway, code
// "upstream_stream_incomplete": from bedrockruntime v1.63 on, a connection
// dropped mid-stream closes the channel like a clean end, so a stream
// without messageStop and metadata has failed. The caller then sends the
// error as a last SSE event and may estimate usage from OutputBytes.
func (s *Stream) End() ([]byte, error) {
	if s.stopped && s.hasMeta {
		return []byte(doneEvent), nil
	}
	missing := "messageStop and metadata"
	switch {
	case s.stopped:
		missing = "metadata"
	case s.hasMeta:
		missing = "messageStop"
	}
	return nil, tollgate.Errorf(tollgate.BadGateway, "upstream_stream_incomplete", "",
		"The Bedrock stream ended before it was complete (no %s event): the connection was probably lost, and the answer may be truncated.", missing)
}

// Usage returns the usage from the metadata event and whether that event
// arrived; the zero Usage and false before it does.
func (s *Stream) Usage() (Usage, bool) {
	return s.usage, s.hasMeta
}

// OutputBytes returns the number of bytes of text, reasoning, tool names and
// tool arguments produced so far, for estimating the usage of a broken stream.
func (s *Stream) OutputBytes() int {
	return s.outBytes
}

// TranslateStream feeds all events to a new Stream and calls End. It
// returns the whole SSE transcript, and End's error with the bytes produced
// before it. Tests and callers that buffer use it.
func TranslateStream(meta Meta, includeUsage bool, events []types.ConverseStreamOutput) ([]byte, error) {
	s := NewStream(meta, includeUsage)
	var out []byte
	for _, ev := range events {
		out = s.AppendEvent(out, ev)
	}
	tail, err := s.End()
	if err != nil {
		return out, err
	}
	return append(out, tail...), nil
}

func blockIndex(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func deltaLen(d types.ContentBlockDelta) int {
	switch d := d.(type) {
	case *types.ContentBlockDeltaMemberText:
		return len(d.Value)
	case *types.ContentBlockDeltaMemberToolUse:
		if d.Value.Input != nil {
			return len(*d.Value.Input)
		}
	case *types.ContentBlockDeltaMemberReasoningContent:
		if t, ok := d.Value.(*types.ReasoningContentBlockDeltaMemberText); ok {
			return len(t.Value) + 16
		}
		return 256
	}
	return 0
}
