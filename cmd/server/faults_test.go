package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

// faultTimeouts bound the fault tests: a stalled or slow upstream must end
// within the upstream timeout, a stream whose client left within the drain
// timeout.
const (
	faultUpstreamTimeout = 2 * time.Second
	faultDrainTimeout    = time.Second
)

// faultGateway is a gateway on the simulator with short upstream and drain
// timeouts, and the capped key of budgetPolicy holding 20 USD, so that every
// request reserves budget.
func faultGateway(t *testing.T) *gateway {
	t.Helper()
	dir := t.TempDir()
	writeBudgetPolicy(t, dir, "20")
	return startGateway(t, nil, "-sim", "-policies", dir, "-store", "bolt://"+dir+"/usage.db",
		"-upstream-timeout", faultUpstreamTimeout.String(), "-drain-timeout", faultDrainTimeout.String())
}

// micros is an amount of /v1/usage in micro-USD.
func micros(usd float64) int64 { return int64(math.Round(usd * 1e6)) }

// faultWant is what a fault must produce. status is the HTTP status; for a
// stream that started (status 200 with errCode or errType set) the error
// is the last SSE event instead of the body.
type faultWant struct {
	status   int
	errType  string // "" with status 200 and no error: a normal answer
	errCode  string // "" means null
	upstream string // the tollgate_upstream_errors_total code label counted, "" for none
	billed   bool   // something is spent: the answer, or an estimate of a broken stream
	estimate bool   // the spend is an estimate (tollgate_usage_estimated_total)
}

// wantForError is the documented mapping (upstream.MapError, api.openAIStatus)
// of each Bedrock exception the simulator can inject as an HTTP error.
var wantForError = map[string]faultWant{
	"AccessDeniedException":         {403, "permission_error", "upstream_access_denied", "AccessDeniedException", false, false},
	"ConflictException":             {502, "server_error", "upstream_error", "ConflictException", false, false},
	"InternalServerException":       {502, "server_error", "upstream_error", "InternalServerException", false, false},
	"ModelErrorException":           {502, "server_error", "upstream_error", "ModelErrorException", false, false},
	"ModelNotReadyException":        {429, "requests", "rate_limit_exceeded", "ModelNotReadyException", false, false},
	"ModelTimeoutException":         {504, "server_error", "upstream_timeout", "ModelTimeoutException", false, false},
	"ResourceNotFoundException":     {404, "invalid_request_error", "model_not_found", "ResourceNotFoundException", false, false},
	"ServiceQuotaExceededException": {429, "requests", "rate_limit_exceeded", "ServiceQuotaExceededException", false, false},
	"ServiceUnavailableException":   {503, "server_error", "upstream_unavailable", "ServiceUnavailableException", false, false},
	"ThrottlingException":           {429, "requests", "rate_limit_exceeded", "ThrottlingException", false, false},
	"ValidationException":           {400, "invalid_request_error", "", "ValidationException", false, false},
}

// wantForStreamException is the error event that ends a stream whose
// Bedrock stream delivered that exception event after two deltas. The
// metric's code label is the SDK's error code, the exception's type name.
var wantForStreamException = map[string]faultWant{
	"internalServerException":     {200, "server_error", "upstream_error", "InternalServerException", true, true},
	"modelStreamErrorException":   {200, "server_error", "upstream_error", "ModelStreamErrorException", true, true},
	"serviceUnavailableException": {200, "server_error", "upstream_unavailable", "ServiceUnavailableException", true, true},
	"throttlingException":         {200, "requests", "rate_limit_exceeded", "ThrottlingException", true, true},
	"validationException":         {200, "invalid_request_error", "", "ValidationException", true, true},
}

type faultCase struct {
	name   string
	prompt string
	stream bool
	want   faultWant
}

func faultCases(t *testing.T) []faultCase {
	var cases []faultCase
	// Every exception the simulator knows must have a documented answer.
	for _, name := range bedrocksim.ErrorNames() {
		w, ok := wantForError[name]
		if !ok {
			t.Errorf("no expected mapping for the simulator's %s: add it to wantForError", name)
			continue
		}
		for _, stream := range []bool{false, true} {
			cases = append(cases, faultCase{fmt.Sprintf("error=%s/stream=%v", name, stream), "hi [sim:error=" + name + "]", stream, w})
		}
	}
	for _, name := range bedrocksim.StreamExceptionNames() {
		w, ok := wantForStreamException[name]
		if !ok {
			t.Errorf("no expected mapping for the simulator's stream exception %s", name)
			continue
		}
		cases = append(cases, faultCase{"exception=" + name + "/stream=true", "A long poem [sim:tokens=60] [sim:exception=" + name + "]", true, w})
	}
	ok := faultWant{200, "", "", "", true, false}
	// A call the gateway gives up on may still be generating, and Bedrock
	// bills it: it is settled at the estimate (input + the output cap).
	timeout := faultWant{504, "server_error", "upstream_timeout", "", true, true}
	cases = append(cases,
		// An exception marker applies to streams only: a plain call answers.
		faultCase{"exception=modelStreamErrorException/stream=false", "A poem [sim:exception=modelStreamErrorException]", false, ok},
		faultCase{"latency=300ms/stream=false", "hi [sim:latency=300ms]", false, ok},
		faultCase{"latency=300ms/stream=true", "hi [sim:latency=300ms]", true, ok},
		// Slower than -upstream-timeout: the gateway gives up, bills the
		// estimate (issue 13, point 6; it billed nothing before).
		faultCase{"latency=4s/stream=false", "hi [sim:latency=4s]", false, timeout},
		faultCase{"latency=4s/stream=true", "hi [sim:latency=4s]", true, timeout},
		// A plain call whose connection drops gets no answer (after the
		// SDK's retry); a stream cut after two deltas ends with an error
		// event and is billed an estimate.
		faultCase{"cut/stream=false", "hi [sim:cut]", false, faultWant{502, "server_error", "upstream_error", "", false, false}},
		faultCase{"cut/stream=true", "A long story [sim:tokens=60] [sim:cut]", true, faultWant{200, "server_error", "upstream_stream_incomplete", "", true, true}},
		// A stream that stalls after its first delta ends at the upstream
		// timeout with an error event, billed an estimate. A plain call
		// ignores the marker.
		faultCase{"stall/stream=true", "A long story [sim:tokens=60] [sim:stall]", true, faultWant{200, "server_error", "upstream_timeout", "", true, true}},
		faultCase{"stall/stream=false", "hi [sim:stall]", false, ok},
	)
	return cases
}

// TestUpstreamFaults drives every fault marker of the simulator, plain and
// streamed, through a gateway whose key is capped: each ends with the
// documented OpenAI error (status, type, code) within the upstream
// timeout, leaves nothing reserved, bills nothing for a call Bedrock failed
// before output and an estimate for a broken stream or a call abandoned at
// the upstream timeout, and is counted in the metrics.
func TestUpstreamFaults(t *testing.T) {
	g := faultGateway(t)
	model := "model=" + haiku
	for _, tc := range faultCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			before := g.usage(t, cappedSecret)
			mBefore := g.scrape(t)

			ctx, cancel := context.WithTimeout(context.Background(), faultUpstreamTimeout+10*time.Second)
			defer cancel()
			start := time.Now()
			status, hdr, b := doCtx(t, ctx, g, chatBody(tc.prompt, 200, tc.stream))
			took := time.Since(start)
			if took > faultUpstreamTimeout+5*time.Second {
				t.Errorf("took %s: longer than the %s upstream timeout allows", took, faultUpstreamTimeout)
			}

			var gotType, gotCode string
			switch {
			case status != 200:
				openapitest.Validate(t, "ErrorResponse", b)
				gotType, gotCode = errorOf(t, b)
				if tc.want.errType == "requests" && hdr.Get("Retry-After") == "" {
					t.Error("a 429 without retry-after")
				}
			case tc.stream:
				openapitest.ValidateSSE(t, b)
				events := sseEvents(b)
				last := events[len(events)-1]
				if last != "[DONE]" {
					gotType, gotCode = errorOf(t, []byte(last))
					if len(events) < 2 {
						t.Errorf("an error event with no content before it: %s", b)
					}
				}
			default:
				openapitest.Validate(t, "CreateChatCompletionResponse", b)
			}
			got := []any{status, gotType, gotCode}
			if diff := cmp.Diff([]any{tc.want.status, tc.want.errType, tc.want.errCode}, got); diff != "" {
				t.Errorf("status, type, code (-want +got):\n%s\nbody: %.600s", diff, b)
			}

			after := g.usage(t, cappedSecret)
			if after.Key.ReservedUSD != 0 {
				t.Errorf("%v USD left reserved", after.Key.ReservedUSD)
			}
			spent := micros(after.Key.SpentUSD) - micros(before.Key.SpentUSD)
			if tc.want.billed != (spent > 0) {
				t.Errorf("billed %d micro-USD; want billed: %v", spent, tc.want.billed)
			}

			m := g.scrape(t)
			delta := func(series string) float64 { return m[series] - mBefore[series] }
			if tc.want.upstream != "" {
				if d := delta("tollgate_upstream_errors_total{code=" + tc.want.upstream + "," + model + "}"); d != 1 {
					t.Errorf("tollgate_upstream_errors_total{code=%s} grew by %v, want 1", tc.want.upstream, d)
				}
			}
			if d := delta(fmt.Sprintf("tollgate_requests_total{endpoint=chat.completions,key=capped,%s,status=%d,team=none}", model, status)); d != 1 {
				t.Errorf("tollgate_requests_total{status=%d} grew by %v, want 1", status, d)
			}
			if d := delta("tollgate_usage_estimated_total{key=capped," + model + "}"); (d == 1) != tc.want.estimate {
				t.Errorf("tollgate_usage_estimated_total grew by %v; want estimated: %v", d, tc.want.estimate)
			}
			if m["tollgate_requests_in_flight{}"] != 0 {
				t.Errorf("%v requests still in flight", m["tollgate_requests_in_flight{}"])
			}
		})
	}
	if t.Failed() {
		return
	}
	// No request failed with a 5xx the gateway made up on its own.
	if strings.Contains(g.logs.String(), `"msg":"panic"`) {
		t.Errorf("a handler panicked:\n%s", g.logs)
	}
}

// TestStalledStreamClientLeaves: a client gives up on a stalled stream. The
// gateway keeps reading for at most -drain-timeout, then settles an
// estimate and releases the rest of the reservation.
func TestStalledStreamClientLeaves(t *testing.T) {
	g := faultGateway(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", g.baseURL+"/v1/chat/completions",
		strings.NewReader(chatBody("A long story [sim:tokens=60] [sim:stall]", 200, true)))
	req.Header.Set("Authorization", "Bearer "+cappedSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	if _, err := resp.Body.Read(buf); err != nil { // the first chunk arrived
		t.Fatal(err)
	}
	if u := g.usage(t, cappedSecret); u.Key.ReservedUSD == 0 {
		t.Error("nothing reserved while the stream is open")
	}
	cancel()
	resp.Body.Close()
	left := time.Now()
	waitFor(t, faultDrainTimeout+15*time.Second, func() bool { // generous: busy CI machines
		u := g.usage(t, cappedSecret)
		return u.Key.ReservedUSD == 0 && u.Key.SpentUSD > 0
	})
	t.Logf("settled %s after the client left (drain timeout %s)", time.Since(left).Round(time.Millisecond), faultDrainTimeout)
}

// doCtx posts a chat body with the capped key under ctx; a request the
// gateway does not answer in time fails the test instead of hanging it.
func doCtx(t *testing.T, ctx context.Context, g *gateway, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "POST", g.baseURL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+cappedSecret)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer: %v (read %q)", err, b)
	}
	return resp.StatusCode, resp.Header, b
}

// errorOf returns error.type and error.code ("" for null) of an OpenAI
// error body or SSE error event.
func errorOf(t *testing.T, b []byte) (typ, code string) {
	t.Helper()
	var e struct {
		Error *struct {
			Message string
			Type    string
			Code    *string
		}
	}
	if err := json.Unmarshal(b, &e); err != nil || e.Error == nil {
		t.Errorf("not an OpenAI error: %.300s (%v)", b, err)
		return "", ""
	}
	if e.Error.Message == "" {
		t.Errorf("error without a message: %s", b)
	}
	if e.Error.Code != nil {
		code = *e.Error.Code
	}
	return e.Error.Type, code
}
