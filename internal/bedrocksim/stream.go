package bedrocksim

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// faultAfterDeltas is how many deltas a stream sends before [sim:cut] or
// [sim:exception=...] strikes.
const faultAfterDeltas = 2

// Stream shaping: text goes out a few words per delta, tool input in a few
// fragments.
const (
	wordsPerDelta  = 3
	inputFragments = 3
)

// streamEvent is one event of a ConverseStream answer.
type streamEvent struct {
	typ     string // :event-type
	payload map[string]any
	delta   bool // a contentBlockDelta, where faults strike
}

// events returns the events of r in Bedrock's order, except the final
// metadata event, whose latency is measured when it is sent. Text blocks get
// no contentBlockStart, as on Bedrock.
func (r *reply) events() []streamEvent {
	evs := []streamEvent{{typ: "messageStart", payload: map[string]any{"role": "assistant"}}}
	index := 0
	block := func(start map[string]any, deltas []map[string]any) {
		if start != nil {
			evs = append(evs, streamEvent{typ: "contentBlockStart", payload: map[string]any{"contentBlockIndex": index, "start": start}})
		}
		for _, d := range deltas {
			evs = append(evs, streamEvent{typ: "contentBlockDelta", payload: map[string]any{"contentBlockIndex": index, "delta": d}, delta: true})
		}
		evs = append(evs, streamEvent{typ: "contentBlockStop", payload: map[string]any{"contentBlockIndex": index}})
		index++
	}
	if rs := r.reasoning; rs != nil {
		var deltas []map[string]any
		for _, t := range splitWords(rs.Text, wordsPerDelta) {
			deltas = append(deltas, map[string]any{"reasoningContent": map[string]any{"text": t}})
		}
		deltas = append(deltas, map[string]any{"reasoningContent": map[string]any{"signature": rs.Signature}})
		block(nil, deltas)
	}
	if r.text != "" || (len(r.tools) == 0 && r.reasoning == nil) {
		var deltas []map[string]any
		for _, t := range splitWords(r.text, wordsPerDelta) {
			deltas = append(deltas, map[string]any{"text": t})
		}
		block(nil, deltas)
	}
	for _, t := range r.tools {
		var deltas []map[string]any
		for _, f := range splitN(string(t.Input), inputFragments) {
			deltas = append(deltas, map[string]any{"toolUse": map[string]any{"input": f}})
		}
		block(map[string]any{"toolUse": map[string]any{"toolUseId": t.ToolUseID, "name": t.Name}}, deltas)
	}
	return append(evs, streamEvent{typ: "messageStop", payload: map[string]any{"stopReason": r.stopReason}})
}

// stream sends inv's reply as a ConverseStream event stream, flushing after
// every event and applying the stream markers.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, inv *invocation) {
	ctx := r.Context()
	rc := http.NewResponseController(w)
	enc := eventstream.NewEncoder()
	send := func(msg eventstream.Message) bool {
		if enc.Encode(w, msg) != nil {
			return false
		}
		return rc.Flush() == nil
	}

	events := inv.reply.events()
	// Faults strike after a few deltas, or after the last one of a short reply.
	strikeAt := 0
	for _, ev := range events {
		if ev.delta && strikeAt < faultAfterDeltas {
			strikeAt++
		}
	}
	mk := inv.marks

	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	deltas := 0
	for _, ev := range events {
		if !send(eventMessage(ev.typ, ev.payload)) {
			return
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
	send(eventMessage("metadata", map[string]any{
		"usage":   inv.usage,
		"metrics": metrics{LatencyMs: s.now().Sub(inv.start).Milliseconds()},
	}))
}

// stall holds a stream open, sending nothing, until the client goes away or
// StallTimeout passes, and reports whether it timed out.
func (s *Server) stall(ctx context.Context) bool {
	t := time.NewTimer(s.opts.StallTimeout)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// exceptionCode returns the exception name of a stream exception type
// ("throttlingException" → "ThrottlingException"), as Stats counts it.
func exceptionCode(typ string) string {
	return strings.ToUpper(typ[:1]) + typ[1:]
}

// eventMessage frames an event as Bedrock does. Payloads other than metadata
// carry Bedrock's "p" padding member, which hides the token lengths from
// traffic analysis and which clients must ignore.
func eventMessage(typ string, payload map[string]any) eventstream.Message {
	if typ != "metadata" {
		payload["p"] = padding(payload)
	}
	body, _ := json.Marshal(payload)
	var msg eventstream.Message
	msg.Headers.Set(":event-type", eventstream.StringValue(typ))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Payload = body
	return msg
}

// exceptionMessage frames an exception event: :message-type exception,
// :exception-type the lower-camel union member name, JSON {"message":...}.
func exceptionMessage(typ, message string) eventstream.Message {
	body, _ := json.Marshal(map[string]string{"message": message})
	var msg eventstream.Message
	msg.Headers.Set(":exception-type", eventstream.StringValue(typ))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Payload = body
	return msg
}

const paddingAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// padding returns a deterministic "p" value whose length varies with the
// payload, like Bedrock's.
func padding(payload map[string]any) string {
	b, _ := json.Marshal(payload)
	return paddingAlphabet[:1+len(b)%(len(paddingAlphabet)-1)]
}

// splitWords splits s into chunks of n words, each keeping the space that
// follows its words, so that the chunks concatenate back to s.
func splitWords(s string, n int) []string {
	var out []string
	for s != "" {
		cut, words := len(s), 0
		for i, r := range s {
			if r == ' ' {
				words++
				if words == n {
					cut = i + 1
					break
				}
			}
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}

// splitN splits s into at most n fragments of about equal length, at rune
// boundaries.
func splitN(s string, n int) []string {
	size := max(1, (len(s)+n-1)/n)
	var out []string
	for s != "" {
		cut := min(size, len(s))
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	return out
}
