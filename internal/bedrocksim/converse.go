package bedrocksim

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"
)

// minFirstByte is the least time the simulator takes to answer a runtime
// request. aws-sdk-go-v2 (smithy-go v1.28) closes a request's body as soon as
// the response headers arrive, and the closed body's WriteTo then fails with
// io.EOF; when that happens before net/http's writer has finished with the
// body (it reads once more after sending it), the writer fails and net/http
// closes the connection under the response being read: the stream ends
// early, Err() "use of closed network connection". A loopback server that
// answers within microseconds hits that window on about one request in five;
// 10ms makes it vanishingly rare. Real Bedrock never answers that fast.
// Clients avoid the race altogether by hiding the request body's WriterTo
// (see the package documentation).
const minFirstByte = 10 * time.Millisecond

// invocation is one Converse or ConverseStream request on its way to an
// answer.
type invocation struct {
	start   time.Time
	modelID string // as the client sent it
	model   Model
	req     converseRequest
	marks   markers
	reply   *reply
	usage   usage
}

// serveConverse answers Converse and ConverseStream: decode, wait the
// latency, inject a requested error, resolve the model, validate, generate,
// bill, answer.
func (s *Server) serveConverse(w http.ResponseWriter, r *http.Request, modelID, region string, stream bool) {
	inv := &invocation{start: s.now(), modelID: modelID}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequestBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.fail(w, validationError("Input is too long for requested model."))
		}
		return // the client is gone
	}
	// Every answer, errors included, waits at least minFirstByte (see there)
	// plus the configured latency; a bad body or marker is answered after
	// that wait too.
	var apiErr *apiError
	if err := json.Unmarshal(body, &inv.req); err != nil {
		apiErr = serializationError("Could not parse the request body: " + err.Error())
	} else {
		inv.marks, apiErr = parseMarkers(inv.req.Messages)
	}
	if !sleep(r.Context(), max(minFirstByte, s.opts.Latency+inv.marks.latency)) {
		return
	}
	if apiErr != nil {
		s.fail(w, apiErr)
		return
	}
	if code := inv.marks.failure(modelID); code != "" {
		s.fail(w, injectedError(code))
		return
	}
	if inv.model, apiErr = resolveModel(modelID, region); apiErr != nil {
		s.fail(w, apiErr)
		return
	}
	if apiErr = validate(&inv.req, inv.model, stream); apiErr != nil {
		s.fail(w, apiErr)
		return
	}

	meter := measurePrompt(inv.model.ID, &inv.req)
	inv.reply = generate(inv.model, &inv.req, meter.digest(), inv.marks)
	inv.usage = s.charge(inv.model, meter, inv.reply)
	s.bill(modelID, inv.usage)

	if stream {
		s.stream(w, r, inv)
		return
	}
	if inv.marks.cut {
		dropConnection(w)
		return
	}
	var resp converseResponse
	resp.Output.Message = message{Role: "assistant", Content: inv.reply.content()}
	resp.StopReason = inv.reply.stopReason
	resp.Usage = inv.usage
	resp.Metrics.LatencyMs = s.now().Sub(inv.start).Milliseconds()
	writeJSON(w, resp)
}

// charge computes the usage Bedrock reports for a reply to the measured
// prompt, consulting and updating the prompt cache.
func (s *Server) charge(m Model, meter *promptMeter, r *reply) usage {
	read, write := s.cache.charge(meter.checkpoints, m.CacheMinTokens)
	u := usage{
		InputTokens:           max(1, meter.tokens()-read-write),
		OutputTokens:          r.outputTokens(),
		CacheReadInputTokens:  read,
		CacheWriteInputTokens: write,
	}
	u.TotalTokens = u.InputTokens + u.OutputTokens + read + write
	return u
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		writeError(w, &apiError{status: http.StatusInternalServerError, code: "InternalServerException", message: err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}
