package openapitest

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// ValidateSSE checks a whole chat completion stream transcript, the body of a
// `stream: true` response, as OpenAI sends it:
//
//   - only `data: <payload>` lines, each followed by a blank line ("\n\n");
//   - each payload a JSON chunk valid against
//     CreateChatCompletionStreamResponse, or an error event {"error":{...}}
//     valid against ErrorResponse, after which nothing may follow;
//   - the last event `data: [DONE]`, unless the stream ended with an error
//     event;
//   - every chunk with the id, created and model of the first.
//
// Each violation fails t, which goes on. ValidateSSE returns the parsed
// payloads in order, without [DONE]: the chunks, then the error event if the
// stream ended with one. Numbers in them are json.Number.
func ValidateSSE(t testing.TB, transcript []byte) []map[string]any {
	t.Helper()
	events, errs := checkSSE(transcript)
	for _, err := range errs {
		t.Errorf("%v", err)
	}
	if len(errs) > 0 {
		t.Logf("transcript:\n%s", abbreviate(transcript))
	}
	return events
}

// eventError is a violation in event Event (counted from 1) of a transcript;
// Event 0 is the transcript as a whole.
type eventError struct {
	Event int
	Err   error
}

func (e *eventError) Error() string {
	if e.Event == 0 {
		return fmt.Sprintf("SSE transcript: %v", e.Err)
	}
	return fmt.Sprintf("SSE event %d: %v", e.Event, e.Err)
}

func (e *eventError) Unwrap() error { return e.Err }

func checkSSE(transcript []byte) (events []map[string]any, errs []error) {
	fail := func(event int, format string, args ...any) {
		errs = append(errs, &eventError{event, fmt.Errorf(format, args...)})
	}
	if len(transcript) == 0 {
		fail(0, "empty: want data: lines ending with data: [DONE]")
		return nil, errs
	}
	if bytes.IndexByte(transcript, '\r') >= 0 {
		fail(0, `contains "\r": OpenAI separates lines with "\n" only`)
		transcript = bytes.ReplaceAll(transcript, []byte("\r"), nil)
	}
	body, ok := bytes.CutSuffix(transcript, []byte("\n\n"))
	if !ok {
		fail(0, "does not end with a blank line: the last event is cut short")
		body = bytes.TrimRight(transcript, "\n")
	}

	var (
		first  map[string]any // the first chunk, whose id, created, model all share
		ended  string         // why the stream has ended: "[DONE]" or "an error event"
		chunks = 0
	)
	for i, ev := range bytes.Split(body, []byte("\n\n")) {
		n := i + 1
		if len(ev) == 0 {
			fail(n, "empty event (more than one blank line)")
			continue
		}
		if bytes.IndexByte(ev, '\n') >= 0 {
			fail(n, "has more than one line, want a single data: line: %q", abbreviate(ev))
			continue
		}
		payload, ok := bytes.CutPrefix(ev, []byte("data: "))
		if !ok {
			fail(n, "is not a data: line: %q", abbreviate(ev))
			continue
		}
		if ended != "" {
			fail(n, "follows %s: %s", ended, abbreviate(payload))
			continue
		}
		if string(payload) == "[DONE]" {
			ended = "[DONE]"
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

		if _, isErr := obj["error"]; isErr {
			ended = "an error event"
			if err := checkCompiled("ErrorResponse", obj); err != nil {
				errs = append(errs, &eventError{n, err})
			}
			continue
		}
		chunks++
		if err := checkCompiled("CreateChatCompletionStreamResponse", obj); err != nil {
			errs = append(errs, &eventError{n, err})
		}
		if first == nil {
			first = obj
			continue
		}
		for _, k := range []string{"id", "created", "model"} {
			if !reflect.DeepEqual(obj[k], first[k]) {
				fail(n, "%s is %v, the first chunk's is %v: every chunk must share it", k, obj[k], first[k])
			}
		}
	}
	if ended == "" {
		fail(0, "ends without data: [DONE] (or an error event) after %d chunk(s)", chunks)
	}
	return events, errs
}

// checkCompiled is Check on an already decoded value.
func checkCompiled(schema string, v any) error {
	s, err := compile(schema)
	if err != nil {
		return err
	}
	return checkValue(schema, s, v)
}
