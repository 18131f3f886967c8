package converse

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/jsonstr"
)

// ResponsesStream translates the events of one ConverseStream answer into
// the Responses API's server-sent events: response.created and
// response.in_progress; per Bedrock content block one output item, opened
// by response.output_item.added and closed by response.output_item.done,
// with its deltas in between (output_text for text, reasoning summary text
// for reasoning, function_call_arguments for a tool call); then
// response.completed, or response.incomplete, with the whole response and
// its usage, once both messageStop and metadata arrived. Every event
// carries sequence_number, from 0, and an "event:" line equal to its type.
// There is no [DONE].
//
// Create one per request with NewResponsesStream, feed it every event in
// order with AppendEvent, then call End when the event channel closes
// without error, or Fail when the stream failed. It is not safe for
// concurrent use.
type ResponsesStream struct {
	meta    ResponsesMeta
	resp    *Response
	seq     int
	started bool
	stopped bool
	hasMeta bool
	ended   bool // the terminal event was sent
	stop    types.StopReason
	usage   Usage

	cur            *openItem
	reasoningBytes int
}

// openItem is the output item of the content block being streamed.
type openItem struct {
	block int32
	kind  int // itemText, itemReasoning, itemCall, itemJSON
	index int // output_index
	item  OutputItem
	text  []byte // the text, reasoning text or tool input so far
	sig   string
	data  []byte // redacted reasoning
}

const (
	itemText = iota
	itemReasoning
	itemCall
	itemJSON // the structured-output tool's input, shown as text
)

// NewResponsesStream returns the translator of one streamed response.
func NewResponsesStream(meta ResponsesMeta) *ResponsesStream {
	return &ResponsesStream{meta: meta, resp: meta.base()}
}

// AppendEvent translates one Converse stream event, appending the SSE
// events to send now to dst. Events of unknown types, content after
// messageStop and repeated messageStart, messageStop or metadata add
// nothing.
func (s *ResponsesStream) AppendEvent(dst []byte, ev types.ConverseStreamOutput) []byte {
	if s.ended {
		return dst
	}
	switch ev := ev.(type) {
	case *types.ConverseStreamOutputMemberMessageStart:
		return s.start(dst)
	case *types.ConverseStreamOutputMemberContentBlockStart:
		tu, ok := ev.Value.Start.(*types.ContentBlockStartMemberToolUse)
		if !ok || s.stopped {
			return dst
		}
		dst = s.start(dst)
		dst = s.closeItem(dst)
		idx := blockIndex(ev.Value.ContentBlockIndex)
		if name := stringValue(tu.Value.Name); s.meta.JSONTool != "" && name == s.meta.JSONTool {
			return s.openText(dst, idx, itemJSON)
		}
		n := len(s.resp.Output)
		it := s.meta.callItem(n, stringValue(tu.Value.ToolUseId), stringValue(tu.Value.Name), "", "in_progress")
		s.cur = &openItem{block: idx, kind: itemCall, index: n, item: it}
		return s.emit(dst, "response.output_item.added", struct {
			OutputIndex int        `json:"output_index"`
			Item        OutputItem `json:"item"`
		}{n, it})
	case *types.ConverseStreamOutputMemberContentBlockDelta:
		if s.stopped {
			return dst
		}
		idx := blockIndex(ev.Value.ContentBlockIndex)
		switch d := ev.Value.Delta.(type) {
		case *types.ContentBlockDeltaMemberText:
			if d.Value == "" || s.meta.JSONTool != "" {
				return dst
			}
			dst = s.start(dst)
			if c := s.cur; c == nil || c.block != idx || c.kind != itemText {
				dst = s.closeItem(dst)
				dst = s.openText(dst, idx, itemText)
			}
			return s.textDelta(dst, d.Value)
		case *types.ContentBlockDeltaMemberToolUse:
			c := s.cur
			input := stringValue(d.Value.Input)
			if c == nil || c.block != idx || input == "" {
				return dst // a fragment of no tool call that started
			}
			switch c.kind {
			case itemJSON:
				return s.textDelta(dst, input)
			case itemCall:
				c.text = append(c.text, input...)
				if c.item.Type != "function_call" {
					return dst // a custom tool's input is sent whole, when it is complete
				}
				dst = s.deltaHead(dst, "response.function_call_arguments.delta", c)
				dst = append(dst, `,"delta":`...)
				dst = jsonstr.Append(dst, input)
				return append(dst, "}\n\n"...)
			}
			return dst
		case *types.ContentBlockDeltaMemberReasoningContent:
			dst = s.start(dst)
			if c := s.cur; c == nil || c.block != idx || c.kind != itemReasoning {
				dst = s.closeItem(dst)
				n := len(s.resp.Output)
				it := reasoningItem(s.meta.itemID("rs", n), "", ReasoningDetail{}, "in_progress")
				s.cur = &openItem{block: idx, kind: itemReasoning, index: n, item: it}
				dst = s.emit(dst, "response.output_item.added", struct {
					OutputIndex int        `json:"output_index"`
					Item        OutputItem `json:"item"`
				}{n, it})
			}
			return s.reasoningDelta(dst, d.Value)
		}
		return dst
	case *types.ConverseStreamOutputMemberContentBlockStop:
		if c := s.cur; c != nil && c.block == blockIndex(ev.Value.ContentBlockIndex) {
			return s.closeItem(dst)
		}
		return dst
	case *types.ConverseStreamOutputMemberMessageStop:
		if s.stopped {
			return dst
		}
		dst = s.start(dst)
		dst = s.closeItem(dst)
		s.stopped, s.stop = true, ev.Value.StopReason
		return s.finish(dst)
	case *types.ConverseStreamOutputMemberMetadata:
		if s.hasMeta {
			return dst
		}
		s.hasMeta = true
		s.usage = usageFrom(ev.Value.Usage)
		return s.finish(dst)
	}
	return dst
}

// start sends response.created and response.in_progress once.
func (s *ResponsesStream) start(dst []byte) []byte {
	if s.started {
		return dst
	}
	s.started = true
	dst = s.emitResponse(dst, "response.created")
	return s.emitResponse(dst, "response.in_progress")
}

func (s *ResponsesStream) emitResponse(dst []byte, typ string) []byte {
	return s.emit(dst, typ, struct {
		Response *Response `json:"response"`
	}{s.resp})
}

// openText opens a message item with its one output_text part.
func (s *ResponsesStream) openText(dst []byte, block int32, kind int) []byte {
	n := len(s.resp.Output)
	it := OutputItem{ID: s.meta.itemID("msg", n), Type: "message", Status: "in_progress", Role: RoleAssistant}
	s.cur = &openItem{block: block, kind: kind, index: n, item: it}
	dst = s.emit(dst, "response.output_item.added", struct {
		OutputIndex int        `json:"output_index"`
		Item        OutputItem `json:"item"`
	}{n, it})
	return s.emit(dst, "response.content_part.added", struct {
		ItemID       string     `json:"item_id"`
		OutputIndex  int        `json:"output_index"`
		ContentIndex int        `json:"content_index"`
		Part         OutputPart `json:"part"`
	}{it.ID, n, 0, outputText("")})
}

func (s *ResponsesStream) textDelta(dst []byte, text string) []byte {
	c := s.cur
	c.text = append(c.text, text...)
	dst = s.deltaHead(dst, "response.output_text.delta", c)
	dst = append(dst, `,"content_index":0,"delta":`...)
	dst = jsonstr.Append(dst, text)
	return append(dst, ",\"logprobs\":[]}\n\n"...)
}

func (s *ResponsesStream) reasoningDelta(dst []byte, d types.ReasoningContentBlockDelta) []byte {
	c := s.cur
	switch d := d.(type) {
	case *types.ReasoningContentBlockDeltaMemberText:
		if d.Value == "" {
			return dst
		}
		if len(c.text) == 0 {
			dst = s.emit(dst, "response.reasoning_summary_part.added", struct {
				ItemID       string      `json:"item_id"`
				OutputIndex  int         `json:"output_index"`
				SummaryIndex int         `json:"summary_index"`
				Part         SummaryPart `json:"part"`
			}{c.item.ID, c.index, 0, SummaryPart{Type: "summary_text"}})
		}
		c.text = append(c.text, d.Value...)
		s.reasoningBytes += len(d.Value)
		dst = s.deltaHead(dst, "response.reasoning_summary_text.delta", c)
		dst = append(dst, `,"summary_index":0,"delta":`...)
		dst = jsonstr.Append(dst, d.Value)
		return append(dst, "}\n\n"...)
	case *types.ReasoningContentBlockDeltaMemberSignature:
		c.sig += d.Value
	case *types.ReasoningContentBlockDeltaMemberRedactedContent:
		c.data = append(c.data, d.Value...)
	}
	return dst
}

// closeItem sends the done events of the open item, which joins the
// response's output.
func (s *ResponsesStream) closeItem(dst []byte) []byte {
	c := s.cur
	if c == nil {
		return dst
	}
	s.cur = nil
	it := c.item
	it.Status = "completed"
	switch c.kind {
	case itemText, itemJSON:
		text := string(c.text)
		part := outputText(text)
		it.Content = []OutputPart{part}
		dst = s.emit(dst, "response.output_text.done", struct {
			ItemID       string `json:"item_id"`
			OutputIndex  int    `json:"output_index"`
			ContentIndex int    `json:"content_index"`
			Text         string `json:"text"`
			Logprobs     []any  `json:"logprobs"`
		}{it.ID, c.index, 0, text, []any{}})
		dst = s.emit(dst, "response.content_part.done", struct {
			ItemID       string     `json:"item_id"`
			OutputIndex  int        `json:"output_index"`
			ContentIndex int        `json:"content_index"`
			Part         OutputPart `json:"part"`
		}{it.ID, c.index, 0, part})
	case itemCall:
		args := string(c.text)
		if args == "" {
			args = "{}"
		}
		if it.Type == "function_call" {
			if compact, err := compactJSON(args); err == nil {
				args = compact
			}
			it.Arguments = &args
			dst = s.emit(dst, "response.function_call_arguments.done", struct {
				ItemID      string `json:"item_id"`
				OutputIndex int    `json:"output_index"`
				Name        string `json:"name"`
				Arguments   string `json:"arguments"`
			}{it.ID, c.index, it.Name, args})
		} else {
			it = s.meta.callItem(c.index, it.CallID, it.Name, args, "completed")
			dst = s.emit(dst, "response.custom_tool_call_input.delta", struct {
				ItemID      string `json:"item_id"`
				OutputIndex int    `json:"output_index"`
				Delta       string `json:"delta"`
			}{it.ID, c.index, *it.Input})
			dst = s.emit(dst, "response.custom_tool_call_input.done", struct {
				ItemID      string `json:"item_id"`
				OutputIndex int    `json:"output_index"`
				Input       string `json:"input"`
			}{it.ID, c.index, *it.Input})
		}
	case itemReasoning:
		text := string(c.text)
		var d ReasoningDetail
		switch {
		case len(c.data) > 0:
			d = ReasoningDetail{Type: ReasoningEncrypted, Data: base64.StdEncoding.EncodeToString(c.data)}
		case c.sig != "":
			d = ReasoningDetail{Type: ReasoningText, Text: text, Signature: c.sig}
		}
		it = reasoningItem(it.ID, text, d, "completed")
		if text != "" {
			dst = s.emit(dst, "response.reasoning_summary_text.done", struct {
				ItemID       string `json:"item_id"`
				OutputIndex  int    `json:"output_index"`
				SummaryIndex int    `json:"summary_index"`
				Text         string `json:"text"`
			}{it.ID, c.index, 0, text})
			dst = s.emit(dst, "response.reasoning_summary_part.done", struct {
				ItemID       string      `json:"item_id"`
				OutputIndex  int         `json:"output_index"`
				SummaryIndex int         `json:"summary_index"`
				Part         SummaryPart `json:"part"`
			}{it.ID, c.index, 0, it.Summary[0]})
		}
	}
	s.resp.Output = append(s.resp.Output, it)
	return s.emit(dst, "response.output_item.done", struct {
		OutputIndex int        `json:"output_index"`
		Item        OutputItem `json:"item"`
	}{c.index, it})
}

// finish sends response.completed (or response.incomplete) once both
// messageStop and metadata arrived, whichever came first.
func (s *ResponsesStream) finish(dst []byte) []byte {
	if !s.stopped || !s.hasMeta || s.ended {
		return dst
	}
	s.ended = true
	r := s.resp
	r.Status, r.IncompleteDetails = incomplete(s.stop)
	if r.Status == "completed" {
		r.CompletedAt = ptr(s.meta.now())
	}
	u := s.usage.Responses(s.reasoningBytes)
	r.Usage = &u
	return s.emitResponse(dst, "response."+r.Status)
}

// End is called when the event channel closed with no error. A complete
// stream (messageStop and metadata seen) has sent its terminal event: End
// returns nil, nil. Otherwise it returns the error of [Stream.End]: the
// caller ends the stream with Fail.
func (s *ResponsesStream) End() ([]byte, error) {
	if s.ended {
		return nil, nil
	}
	st := Stream{stopped: s.stopped, hasMeta: s.hasMeta}
	return st.End()
}

// Fail appends the end of a failed stream to dst: an error event, then
// response.failed with the output so far and the error. code is the
// response error code: rate_limit_exceeded or server_error.
func (s *ResponsesStream) Fail(dst []byte, e *tollgate.Error) []byte {
	if s.ended {
		return dst
	}
	dst = s.start(dst)
	dst = s.closeItem(dst)
	s.ended = true
	code := "server_error"
	if e.Kind == tollgate.RateLimited {
		code = "rate_limit_exceeded"
	}
	var param *string
	if e.Param != "" {
		param = &e.Param
	}
	errCode := e.Code
	if errCode == "" {
		errCode = code
	}
	dst = s.emit(dst, "error", struct {
		Code    string  `json:"code"`
		Message string  `json:"message"`
		Param   *string `json:"param"`
	}{errCode, e.Message, param})
	s.resp.Status = "failed"
	s.resp.Error = &ResponseError{Code: code, Message: e.Message}
	return s.emitResponse(dst, "response.failed")
}

// deltaHead starts a delta event of item c by hand, up to its
// output_index: deltas are most of a stream's events, and encoding/json
// would cost a reflection pass and an allocation each.
func (s *ResponsesStream) deltaHead(dst []byte, typ string, c *openItem) []byte {
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, typ...)
	dst = append(dst, `","sequence_number":`...)
	dst = strconv.AppendInt(dst, int64(s.seq), 10)
	s.seq++
	dst = append(dst, `,"item_id":`...)
	dst = jsonstr.Append(dst, c.item.ID)
	dst = append(dst, `,"output_index":`...)
	return strconv.AppendInt(dst, int64(c.index), 10)
}

// emit appends one event: its "event:" line, and its data, the JSON of
// fields (a struct) with type and sequence_number first.
func (s *ResponsesStream) emit(dst []byte, typ string, fields any) []byte {
	b, _ := json.Marshal(fields) // structs of strings, numbers and raw JSON checked at parse
	dst = append(dst, "event: "...)
	dst = append(dst, typ...)
	dst = append(dst, "\ndata: {\"type\":\""...)
	dst = append(dst, typ...)
	dst = append(dst, `","sequence_number":`...)
	dst = strconv.AppendInt(dst, int64(s.seq), 10)
	s.seq++
	if len(b) > 2 {
		dst = append(dst, ',')
		dst = append(dst, b[1:]...)
	} else {
		dst = append(dst, '}')
	}
	return append(dst, "\n\n"...)
}

func compactJSON(s string) (string, error) {
	var b bytes.Buffer
	err := json.Compact(&b, []byte(s))
	return b.String(), err
}
