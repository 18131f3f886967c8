package openapitest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// ValidateResponsesSSE checks a whole Responses API stream transcript, the
// body of a `stream: true` POST /v1/responses, as OpenAI sends it:
//
//   - events of two lines, `event: <type>` and `data: <payload>`, each
//     followed by a blank line;
//   - each payload a JSON object valid against ResponseStreamEvent, whose
//     type equals the event line's;
//   - sequence_number 0 on the first event, then one more on each;
//   - response.created first, response.in_progress second;
//   - the last event response.completed, response.incomplete or
//     response.failed, and nothing after it; no `data: [DONE]`.
//
// Each violation fails t, which goes on. It returns the payloads in order;
// numbers in them are json.Number.
func ValidateResponsesSSE(t testing.TB, transcript []byte) []map[string]any {
	t.Helper()
	events, errs := checkResponsesSSE(transcript)
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if len(errs) > 0 {
		t.Logf("transcript:\n%s", abbreviate(transcript))
	}
	return events
}

// terminal are the types that end a Responses stream.
var terminal = map[string]bool{"response.completed": true, "response.incomplete": true, "response.failed": true}

func checkResponsesSSE(transcript []byte) (events []map[string]any, errs []error) {
	fail := func(event int, format string, args ...any) {
		errs = append(errs, &eventError{event, fmt.Errorf(format, args...)})
	}
	if len(transcript) == 0 {
		fail(0, "empty: want event: and data: lines ending with response.completed")
		return nil, errs
	}
	body, ok := bytes.CutSuffix(transcript, []byte("\n\n"))
	if !ok {
		fail(0, "does not end with a blank line: the last event is cut short")
		body = bytes.TrimRight(transcript, "\n")
	}
	ended := ""
	for i, ev := range bytes.Split(body, []byte("\n\n")) {
		n := i + 1
		lines := bytes.Split(ev, []byte("\n"))
		if len(lines) != 2 {
			fail(n, "has %d lines, want an event: line and a data: line: %q", len(lines), abbreviate(ev))
			continue
		}
		typ, ok1 := bytes.CutPrefix(lines[0], []byte("event: "))
		payload, ok2 := bytes.CutPrefix(lines[1], []byte("data: "))
		if !ok1 || !ok2 {
			fail(n, "is not an event: line and a data: line: %q", abbreviate(ev))
			continue
		}
		if ended != "" {
			fail(n, "follows %s: %s", ended, abbreviate(payload))
			continue
		}
		v, err := decodeJSON(payload)
		if err != nil {
			fail(n, "payload is not JSON: %v: %s", err, abbreviate(payload))
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			fail(n, "payload is not a JSON object: %s", abbreviate(payload))
			continue
		}
		events = append(events, obj)
		if got, _ := obj["type"].(string); got != string(typ) {
			fail(n, "event line says %q, data's type is %q", typ, got)
		}
		if seq, _ := obj["sequence_number"].(json.Number); seq.String() != fmt.Sprint(i) {
			fail(n, "sequence_number is %v, want %d", obj["sequence_number"], i)
		}
		switch {
		case i == 0 && string(typ) != "response.created":
			fail(n, "is %s, want response.created first", typ)
		case i == 1 && string(typ) != "response.in_progress":
			fail(n, "is %s, want response.in_progress second", typ)
		}
		if err := checkEvent(string(typ), obj); err != nil {
			errs = append(errs, &eventError{n, err})
		}
		if terminal[string(typ)] {
			ended = string(typ)
			if r, ok := obj["response"]; ok {
				if err := checkCompiled("Response", r); err != nil {
					errs = append(errs, &eventError{n, err})
				}
			}
		}
	}
	if ended == "" {
		fail(0, "ends without response.completed, response.incomplete or response.failed after %d event(s)", len(events))
	}
	return events, errs
}

// eventSchemas are the branches of ResponseStreamEvent by the type each
// fixes, so that an event is checked against its own schema (whose errors
// are readable) rather than against the union of some sixty.
var eventSchemas struct {
	once  sync.Once
	err   error
	byTyp map[string]*jsonschema.Schema
}

// checkEvent validates a Responses stream event against the branch of
// ResponseStreamEvent its type names; an unknown type fails.
func checkEvent(typ string, v any) error {
	eventSchemas.once.Do(func() {
		u, err := compile("ResponseStreamEvent")
		if err != nil {
			eventSchemas.err = err
			return
		}
		eventSchemas.byTyp = map[string]*jsonschema.Schema{}
		for _, b := range u.AnyOf {
			s := b
			for s.Ref != nil {
				s = s.Ref
			}
			if t := s.Properties["type"]; t != nil && t.Enum != nil {
				for _, name := range t.Enum.Values {
					if n, ok := name.(string); ok {
						eventSchemas.byTyp[n] = b
					}
				}
			}
		}
	})
	if eventSchemas.err != nil {
		return eventSchemas.err
	}
	s, ok := eventSchemas.byTyp[typ]
	if !ok {
		return fmt.Errorf("type %q is no event of ResponseStreamEvent", typ)
	}
	return checkValue("ResponseStreamEvent["+typ+"]", s, v)
}
