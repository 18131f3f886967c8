package bedrocksim

import (
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxMarkerLatency bounds [sim:latency=...] so that a typo cannot hang a test
// run for hours.
const maxMarkerLatency = 5 * time.Minute

// markers are the [sim:...] instructions found in the text of the last user
// message. The zero value asks for nothing.
type markers struct {
	err       string        // [sim:error=Name]: answer with that HTTP error
	errOn     string        // [sim:error=Name@part]: only on model ids that contain part
	exception string        // [sim:exception=name]: exception event mid-stream
	latency   time.Duration // [sim:latency=D]: wait before answering
	cut       bool          // [sim:cut]: drop the connection
	stall     bool          // [sim:stall]: stop sending after the first delta
	tokens    int           // [sim:tokens=N]: the text reply is N tokens long; 0 = natural length
	stop      string        // [sim:stop=reason]: report this stop reason
	tool      bool          // [sim:tool]: call a tool
	parallel  bool          // [sim:parallel]: call two tools
	guardrail bool          // [sim:guardrail]: a guardrailConfig, if any, intervenes
}

var markerRE = lazyRegexp(`\[sim:([a-z]+)(?:=([^\]\s]*))?\]`)

// stripMarkers removes every [sim:...] marker from s.
func stripMarkers(s string) string { return markerRE().ReplaceAllString(s, "") }

// parseMarkers reads the markers in the text blocks of the last message when
// it is a user message. A malformed or unknown marker is a ValidationException,
// so that a typo does not silently produce a normal answer.
func parseMarkers(msgs []message) (markers, *apiError) {
	var mk markers
	if len(msgs) == 0 || msgs[len(msgs)-1].Role != "user" {
		return mk, nil
	}
	for _, b := range msgs[len(msgs)-1].Content {
		if b.Text == nil {
			continue
		}
		for _, m := range markerRE().FindAllStringSubmatch(*b.Text, -1) {
			if err := mk.set(m[1], m[2]); err != nil {
				return markers{}, validationErrorf("bedrocksim: marker %s: %s", m[0], err)
			}
		}
	}
	return mk, nil
}

func (mk *markers) set(name, value string) error {
	switch name {
	case "error":
		value, mk.errOn, _ = strings.Cut(value, "@")
		code, ok := lookupFold(exceptions, value)
		if !ok {
			return fmt.Errorf("unknown exception; known: %s", strings.Join(ErrorNames(), ", "))
		}
		mk.err = code
	case "exception":
		code, ok := lookupFold(streamExceptions, value)
		if !ok {
			return fmt.Errorf("unknown stream exception; known: %s", strings.Join(StreamExceptionNames(), ", "))
		}
		mk.exception = code
	case "latency":
		d, err := time.ParseDuration(value)
		if err != nil || d < 0 || d > maxMarkerLatency {
			return fmt.Errorf("want a duration between 0 and %s", maxMarkerLatency)
		}
		mk.latency = d
	case "tokens":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive integer")
		}
		mk.tokens = n
	case "stop":
		if value == "" {
			return fmt.Errorf("want a stop reason")
		}
		mk.stop = value
	case "cut", "stall", "tool", "parallel", "guardrail":
		if value != "" {
			return fmt.Errorf("takes no value")
		}
		switch name {
		case "cut":
			mk.cut = true
		case "stall":
			mk.stall = true
		case "tool":
			mk.tool = true
		case "parallel":
			mk.tool, mk.parallel = true, true
		case "guardrail":
			mk.guardrail = true
		}
	default:
		return fmt.Errorf("unknown marker")
	}
	return nil
}

// failure returns the error the markers inject on a call to modelID, ""
// for none: [sim:error=Name@part] fails only the models whose id contains
// part (a fallback chain's primary, say).
func (mk markers) failure(modelID string) string {
	if mk.errOn != "" && !strings.Contains(modelID, mk.errOn) {
		return ""
	}
	return mk.err
}

// lookupFold returns the key of m equal to name under case folding.
func lookupFold[V any](m map[string]V, name string) (string, bool) {
	for k := range m {
		if strings.EqualFold(k, name) {
			return k, true
		}
	}
	return "", false
}

// sleep waits for d or until ctx ends, and reports whether the full wait
// elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// dropConnection closes the client's connection without finishing the
// response, as a network failure would: whatever was flushed stays sent, the
// rest never comes. It hijacks the connection when the server allows it and
// otherwise aborts the handler, which net/http also answers by closing the
// connection.
func dropConnection(w http.ResponseWriter) {
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler)
}

// lazyRegexp returns a function compiling expr on its first call: the
// simulator's patterns are linked into every gateway binary, and a gateway
// without -sim never uses them, so they are not compiled at its start.
func lazyRegexp(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}
