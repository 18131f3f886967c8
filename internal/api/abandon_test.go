package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// hangingBedrock never answers: each call waits for its context to end, as
// a Bedrock still generating does past the gateway's upstream timeout.
type hangingBedrock struct{ *fakeBedrock }

func (hangingBedrock) Converse(ctx context.Context, _ *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	<-ctx.Done()
	return nil, &tollgate.Error{Kind: tollgate.GatewayTimeout, Code: "upstream_timeout", Message: "Bedrock did not answer in time.", Cause: ctx.Err()}
}

func (hangingBedrock) ConverseStream(ctx context.Context, _ *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseStreamEventStream, error) {
	<-ctx.Done()
	return nil, &tollgate.Error{Kind: tollgate.GatewayTimeout, Code: "upstream_timeout", Message: "Bedrock did not answer in time.", Cause: ctx.Err()}
}

// TestAbandonedCallIsBilled: a call the gateway gives up on at the upstream
// timeout is settled at the estimate (its input and its whole output cap,
// marked estimated), not at 0: Bedrock goes on generating and bills it
// (issue 13, point 6).
func TestAbandonedCallIsBilled(t *testing.T) {
	const secret = "sk-abandon-test"
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(fmt.Sprintf("keys:\n  - {id: k, sha256: %s, monthly_budget_usd: 10}\n", policy.HashSecret(secret)))})
	if err != nil {
		t.Fatal(err)
	}
	k, _ := p.KeyByID("k")
	price, _ := p.Price(model)
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			guard := budget.New(memory.New(), budget.Options{})
			logs := &lockedWriter{}
			srv := httptest.NewServer(api.NewServer(api.Deps{
				Logger:          slog.New(slog.NewJSONHandler(logs, nil)),
				Policies:        policy.NewHolder(p),
				Bedrock:         hangingBedrock{&fakeBedrock{}},
				Catalog:         fakeCatalog{},
				Budget:          guard,
				UpstreamTimeout: 100 * time.Millisecond,
			}))
			t.Cleanup(srv.Close)
			body := fmt.Sprintf(`{"model":%q,"max_tokens":100,"stream":%v,"messages":[{"role":"user","content":"hello"}]}`, model, stream)
			req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+secret)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 504 {
				t.Fatalf("status %d %s, want 504", resp.StatusCode, b)
			}
			st, err := guard.Status(context.Background(), p, k)
			if err != nil {
				t.Fatal(err)
			}
			// The whole output cap, and the input of "hello" and its
			// framing: a few dozen tokens.
			low, high := price.Cost(1, 100, 0, 0), price.Cost(200, 100, 0, 0)
			if st.Key.Spent < low || st.Key.Spent > high || st.Key.Reserved != 0 {
				t.Errorf("spent %d, reserved %d micro-USD; want spent in [%d, %d] (the estimate of input + 100 output tokens), nothing reserved", st.Key.Spent, st.Key.Reserved, low, high)
			}
			if rec := logs.logLine(t); rec["usage_estimated"] != true {
				t.Errorf("the request log does not mark the usage estimated: %v", rec)
			}
		})
	}
}
