package api_test

// Benchmarks of one chat completion through the gateway's handler, against the
// built-in simulator on a loopback port, and of the same call made with the
// bare SDK and with raw HTTP, so that the differences isolate each layer's
// cost. The simulator runs in the benchmark's process: its time and
// allocations are in every figure, the same in each. The gateway is built
// with everything cmd/server puts on a chat request's path: policy routing,
// the budget guard (the key is uncapped, so Admit reserves nothing and
// Settle records the spend) and the meter. docs/benchmarks.md reads the
// figures.
//
// The simulator answers no runtime request in less than 10 ms, so a
// benchmark that waited for each call in turn would measure that floor.
// Every benchmark here runs 64 concurrent callers (b.RunParallel), as the
// load driver does: ns/op is then wall time over throughput, and cpu-µs/op
// (the process's user+system time per op, from getrusage) is the cost.

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/metering"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage"
	"github.com/tollgate-gw/tollgate/internal/usage/bolt"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

const (
	benchModel     = "anthropic.claude-3-haiku-20240307-v1:0"
	benchPrompt    = "Hello, Bedrock! Summarise the plot of Hamlet in two sentences."
	benchMaxTokens = 1024
	benchSecret    = "sk-bench-secret"
	// benchStreamPrompt asks the simulator for 200 output tokens, streamed
	// as about 40 text deltas.
	benchStreamPrompt = "Tell me a long story. [sim:tokens=200]"
)

// benchEnv is a simulator on 127.0.0.1 and an AWS configuration that talks to
// it without looking for real credentials.
type benchEnv struct {
	simURL string
	cfg    aws.Config
}

func newBenchEnv(b *testing.B) benchEnv {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	simURL, err := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("x", "x", "")))
	if err != nil {
		b.Fatal(err)
	}
	return benchEnv{simURL: simURL, cfg: cfg}
}

// gateway builds the handler as cmd/server does, with the production JSON
// log handler writing to io.Discard: every request's log line is formatted
// and dropped, so its cost is in the figures. Spend is recorded in store;
// the meter records Prometheus metrics on a registry of its own, without EMF
// (cmd/server's default).
func (e benchEnv) gateway(b *testing.B, store usage.Store) http.Handler {
	b.Helper()
	b.Cleanup(func() { store.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	p, err := policy.Parse(nil)
	if err != nil {
		b.Fatal(err)
	}
	if p, err = p.WithKey(policy.Key{ID: "bench", SHA256: policy.HashSecret(benchSecret)}); err != nil {
		b.Fatal(err)
	}
	client := upstream.NewClient(e.cfg, e.simURL)
	meter, err := metering.New(metering.NewRegistry(), metering.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  client,
		Catalog:  upstream.NewCatalog(ctx, client, time.Minute, time.Now),
		Budget:   budget.New(store, budget.Options{}),
		Meter:    meter,
	})
}

// benchParallelism makes b.RunParallel run 64 callers on 2 CPUs: 32 per
// GOMAXPROCS.
func benchParallelism() int { return max(1, 64/runtime.GOMAXPROCS(0)) }

// runParallel runs op from 64 concurrent callers and reports the process's
// CPU time per op.
func runParallel(b *testing.B, op func() error) {
	b.Helper()
	b.ReportAllocs()
	b.SetParallelism(benchParallelism())
	before := cpuMicros()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64(cpuMicros()-before)/float64(b.N), "cpu-µs/op")
}

func cpuMicros() int64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano()/1000 + ru.Stime.Nano()/1000
}

func chatRequest(prompt string, stream bool) *http.Request {
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}],"max_tokens":%d,"stream":%t}`,
		benchModel, prompt, benchMaxTokens, stream)
	r := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+benchSecret)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// BenchmarkChatCompletion is one non-streamed chat completion through the
// handler: decoding, authentication, routing, the budget guard on the
// in-memory store, translation, the SDK's Converse call over loopback HTTP,
// the response, the meter and the log line.
func BenchmarkChatCompletion(b *testing.B) {
	benchChatCompletion(b, newBenchEnv(b).gateway(b, memory.New()))
}

// BenchmarkChatCompletionBolt is BenchmarkChatCompletion with the spend
// recorded in a bbolt file, cmd/server's default store: one group-committed
// write, and its fsync, per request.
func BenchmarkChatCompletionBolt(b *testing.B) {
	store, err := bolt.Open(filepath.Join(b.TempDir(), "usage.db"))
	if err != nil {
		b.Fatal(err)
	}
	benchChatCompletion(b, newBenchEnv(b).gateway(b, store))
}

func benchChatCompletion(b *testing.B, h http.Handler) {
	runParallel(b, func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, chatRequest(benchPrompt, false))
		if rec.Code != http.StatusOK {
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
		}
		return nil
	})
}

// BenchmarkChatCompletionStream is one streamed chat completion of 200
// output tokens through the handler; chunks/op counts its data: lines.
func BenchmarkChatCompletionStream(b *testing.B) {
	h := newBenchEnv(b).gateway(b, memory.New())
	var chunks atomic.Int64
	runParallel(b, func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, chatRequest(benchStreamPrompt, true))
		if rec.Code != http.StatusOK || !bytes.HasSuffix(rec.Body.Bytes(), []byte("data: [DONE]\n\n")) {
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
		}
		chunks.Store(int64(bytes.Count(rec.Body.Bytes(), []byte("data: ")) - 1))
		return nil
	})
	b.ReportMetric(float64(chunks.Load()), "chunks/op")
}

func bareRuntime(e benchEnv) *bedrockruntime.Client {
	return bedrockruntime.NewFromConfig(e.cfg, func(o *bedrockruntime.Options) { o.BaseEndpoint = aws.String(e.simURL) })
}

func bareMessages(prompt string) []types.Message {
	return []types.Message{{Role: types.ConversationRoleUser,
		Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: prompt}}}}
}

// BenchmarkBareSDKConverse is the same conversation as
// BenchmarkChatCompletion sent with the bare aws-sdk-go-v2 client: the cost
// the gateway cannot avoid.
func BenchmarkBareSDKConverse(b *testing.B) {
	rt := bareRuntime(newBenchEnv(b))
	ctx := context.Background()
	in := &bedrockruntime.ConverseInput{ModelId: aws.String(benchModel), Messages: bareMessages(benchPrompt),
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(benchMaxTokens)}}
	runParallel(b, func() error {
		_, err := rt.Converse(ctx, in)
		return err
	})
}

// BenchmarkBareSDKConverseStream is BenchmarkChatCompletionStream's
// conversation with the bare SDK; events/op counts the stream's events.
func BenchmarkBareSDKConverseStream(b *testing.B) {
	rt := bareRuntime(newBenchEnv(b))
	ctx := context.Background()
	in := &bedrockruntime.ConverseStreamInput{ModelId: aws.String(benchModel), Messages: bareMessages(benchStreamPrompt),
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(benchMaxTokens)}}
	var events atomic.Int64
	runParallel(b, func() error {
		out, err := rt.ConverseStream(ctx, in)
		if err != nil {
			return err
		}
		s := out.GetStream()
		defer s.Close()
		n := 0
		for range s.Events() {
			n++
		}
		events.Store(int64(n))
		return s.Err()
	})
	b.ReportMetric(float64(events.Load()), "events/op")
}

// BenchmarkRawHTTPConverse posts the Converse request body with net/http, no
// SDK: the simulator's and the HTTP client's share of the figures above.
func BenchmarkRawHTTPConverse(b *testing.B) {
	e := newBenchEnv(b)
	u := e.simURL + "/model/" + url.PathEscape(benchModel) + "/converse"
	body := []byte(fmt.Sprintf(`{"messages":[{"role":"user","content":[{"text":%q}]}],"inferenceConfig":{"maxTokens":%d}}`,
		benchPrompt, benchMaxTokens))
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
	runParallel(b, func() error {
		req, _ := http.NewRequest(http.MethodPost, u, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=x/20240101/us-east-1/bedrock/aws4_request")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

func responsesRequest(prompt string, stream bool) *http.Request {
	body := fmt.Sprintf(`{"model":%q,"input":[{"role":"user","content":%q}],"max_output_tokens":%d,"stream":%t,"store":false}`,
		benchModel, prompt, benchMaxTokens, stream)
	r := httptest.NewRequest(http.MethodPost, "/v1/responses", strings.NewReader(body))
	r.Header.Set("Authorization", "Bearer "+benchSecret)
	r.Header.Set("Content-Type", "application/json")
	return r
}

// BenchmarkResponses is BenchmarkChatCompletion's conversation through the
// Responses API route.
func BenchmarkResponses(b *testing.B) {
	h := newBenchEnv(b).gateway(b, memory.New())
	runParallel(b, func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, responsesRequest(benchPrompt, false))
		if rec.Code != http.StatusOK {
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
		}
		return nil
	})
}

// BenchmarkResponsesStream is BenchmarkChatCompletionStream's stream through
// the Responses API route; events/op counts its events.
func BenchmarkResponsesStream(b *testing.B) {
	h := newBenchEnv(b).gateway(b, memory.New())
	var events atomic.Int64
	runParallel(b, func() error {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, responsesRequest(benchStreamPrompt, true))
		if rec.Code != http.StatusOK || !bytes.Contains(rec.Body.Bytes(), []byte("event: response.completed\n")) {
			return fmt.Errorf("status %d: %s", rec.Code, rec.Body)
		}
		events.Store(int64(bytes.Count(rec.Body.Bytes(), []byte("\nevent: ")) + 1))
		return nil
	})
	b.ReportMetric(float64(events.Load()), "events/op")
}
