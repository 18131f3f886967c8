package bedrocksim

import (
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// claudeEvent is one Anthropic stream event, sent as the bytes of a chunk.
type claudeEvent struct {
	payload map[string]any
	delta   bool // a content_block_delta, where faults strike
}

// events returns the Anthropic stream events of inv's reply, in Anthropic's
// order, except message_stop, whose invocation metrics are measured when it
// is sent: message_start (input usage, 1 output token so far), per block
// content_block_start, its deltas and content_block_stop, then message_delta
// with the stop reason and the output tokens.
func (inv *claudeInvocation) events() []claudeEvent {
	start := inv.message()
	start.Content = []map[string]any{}
	start.StopReason, start.StopSequence, start.GuardrailAction = nil, nil, ""
	start.Usage.OutputTokens = 1
	evs := []claudeEvent{{payload: map[string]any{"type": "message_start", "message": start}}}
	for i, b := range inv.blocks() {
		var deltas []map[string]any
		startBlock := map[string]any{}
		switch b["type"] {
		case "thinking":
			startBlock = map[string]any{"type": "thinking", "thinking": "", "signature": ""}
			for _, t := range splitWords(b["thinking"].(string), wordsPerDelta) {
				deltas = append(deltas, map[string]any{"type": "thinking_delta", "thinking": t})
			}
			deltas = append(deltas, map[string]any{"type": "signature_delta", "signature": b["signature"]})
		case "text":
			startBlock = map[string]any{"type": "text", "text": ""}
			for _, t := range splitWords(b["text"].(string), wordsPerDelta) {
				deltas = append(deltas, map[string]any{"type": "text_delta", "text": t})
			}
		case "tool_use":
			startBlock = map[string]any{"type": "tool_use", "id": b["id"], "name": b["name"], "input": map[string]any{}}
			for _, f := range splitN(string(b["input"].(json.RawMessage)), inputFragments) {
				deltas = append(deltas, map[string]any{"type": "input_json_delta", "partial_json": f})
			}
		}
		evs = append(evs, claudeEvent{payload: map[string]any{"type": "content_block_start", "index": i, "content_block": startBlock}})
		for _, d := range deltas {
			evs = append(evs, claudeEvent{payload: map[string]any{"type": "content_block_delta", "index": i, "delta": d}, delta: true})
		}
		evs = append(evs, claudeEvent{payload: map[string]any{"type": "content_block_stop", "index": i}})
	}
	return append(evs, claudeEvent{payload: map[string]any{
		"type":  "message_delta",
		"delta": map[string]any{"stop_reason": inv.stopReason(), "stop_sequence": inv.stopSequence()},
		"usage": map[string]any{"output_tokens": inv.usage.OutputTokens},
	}})
}

// invocationMetrics is what Bedrock adds to the last chunk of a stream.
type invocationMetrics struct {
	InputTokenCount           int   `json:"inputTokenCount"`
	OutputTokenCount          int   `json:"outputTokenCount"`
	InvocationLatency         int64 `json:"invocationLatency"`
	FirstByteLatency          int64 `json:"firstByteLatency"`
	CacheReadInputTokenCount  int   `json:"cacheReadInputTokenCount"`
	CacheWriteInputTokenCount int   `json:"cacheWriteInputTokenCount"`
}

// streamClaude sends inv's reply as an InvokeModelWithResponseStream event
// stream: one chunk event per Anthropic event, flushed one by one, applying
// the stream markers as ConverseStream does.
func (s *Server) streamClaude(w http.ResponseWriter, r *http.Request, inv *claudeInvocation) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	enc := eventstream.NewEncoder()
	send := func(msg eventstream.Message) bool {
		if enc.Encode(w, msg) != nil {
			return false
		}
		return rc.Flush() == nil
	}
	events := inv.events()
	strikeAt := 0
	for _, ev := range events {
		if ev.delta && strikeAt < faultAfterDeltas {
			strikeAt++
		}
	}
	mk := inv.marks

	h := w.Header()
	h.Set("Content-Type", "application/vnd.amazon.eventstream")
	h.Set("X-Amzn-Bedrock-Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	var firstByte int64
	deltas := 0
	for i, ev := range events {
		if !send(chunkMessage(ev.payload)) {
			return
		}
		if i == 0 {
			firstByte = s.now().Sub(inv.start).Milliseconds()
		}
		if !ev.delta {
			continue
		}
		deltas++
		switch {
		case mk.stall && deltas == 1:
			if s.stall(ctx) {
				dropConnection(w)
			}
			return
		case mk.cut && deltas == strikeAt:
			dropConnection(w)
			return
		case mk.exception != "" && deltas == strikeAt:
			s.countError(exceptionCode(mk.exception))
			send(exceptionMessage(mk.exception, streamExceptions[mk.exception]))
			return
		}
		if !sleep(ctx, s.opts.ChunkInterval) {
			return
		}
	}
	stop := map[string]any{
		"type": "message_stop",
		"amazon-bedrock-invocationMetrics": invocationMetrics{
			InputTokenCount:           inv.usage.InputTokens,
			OutputTokenCount:          inv.usage.OutputTokens,
			InvocationLatency:         s.now().Sub(inv.start).Milliseconds(),
			FirstByteLatency:          firstByte,
			CacheReadInputTokenCount:  inv.usage.CacheReadInputTokens,
			CacheWriteInputTokenCount: inv.usage.CacheWriteInputTokens,
		},
	}
	if a := inv.guardrailAction(); a != "" {
		stop["amazon-bedrock-guardrailAction"] = a
	}
	send(chunkMessage(stop))
}

// chunkMessage frames an Anthropic event as Bedrock does: a chunk event
// whose JSON payload carries the event's JSON in base64 under "bytes", and
// Bedrock's "p" padding.
func chunkMessage(event map[string]any) eventstream.Message {
	raw := eventJSON(event)
	payload := map[string]any{"bytes": base64.StdEncoding.EncodeToString(raw)}
	return eventMessage("chunk", payload)
}

// eventJSON encodes an Anthropic event with its type first, as Anthropic
// writes it (the other members in key order).
func eventJSON(event map[string]any) []byte {
	typ, _ := json.Marshal(event["type"])
	rest := make(map[string]any, len(event))
	for k, v := range event {
		if k != "type" {
			rest[k] = v
		}
	}
	body, _ := json.Marshal(rest)
	out := append([]byte(`{"type":`), typ...)
	if len(body) > 2 {
		out = append(out, ',')
		out = append(out, body[1:]...)
		return out
	}
	return append(out, '}')
}
