package main

// The floor: the least any OpenAI-to-Bedrock proxy written in Go does per
// request. A child process (this program re-executed with -proxy-worker)
// serves POST /v1/chat/completions with net/http, decodes the OpenAI JSON,
// makes the same aws-sdk-go-v2 Converse or ConverseStream call as the bare-SDK
// baseline (and as the gateway: 256 idle connections), and encodes an OpenAI
// answer or SSE stream. No authentication, policy, budget, usage store,
// metering, logging or validation: its CPU per request is what serving the
// request costs before Tollgate does anything of its own, so gateway / floor
// is Tollgate's own overhead and floor / bare SDK is the cost of being an
// HTTP server at all.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
	"github.com/aws/smithy-go/transport/http/protocol/restjson1"
)

// floorIdleConns matches the gateway's upstream.MaxIdleConns.
const floorIdleConns = 256

// proxyWorker serves until SIGTERM; it logs {"msg":"listening","addr":...}
// on stderr once it accepts connections.
// wait, when positive, is slept after each non-streamed call: what waiting
// for a durable settlement costs a server that does nothing else.
func proxyWorker(simURL string, wait time.Duration, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	rt, err := newSDKClient(ctx, simURL, floorIdleConns, func(o *bedrockruntime.Options) { o.HTTPClient = inMemoryBody{o.HTTPClient} })
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/chat/completions", floorChat(rt, wait))
	srv := &http.Server{Handler: mux}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	slog.New(slog.NewJSONHandler(stderr, nil)).Info("listening", "addr", ln.Addr().String())
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// floorRequest is the part of an OpenAI chat request the floor reads.
type floorRequest struct {
	Model     string `json:"model"`
	MaxTokens int32  `json:"max_tokens"`
	Stream    bool   `json:"stream"`
	Messages  []struct {
		Role    string `json:"role"`
		Content string `json:"content"`
	} `json:"messages"`
}

type floorMessage struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

type floorChoice struct {
	Index        int           `json:"index"`
	Message      *floorMessage `json:"message,omitempty"`
	Delta        *floorMessage `json:"delta,omitempty"`
	FinishReason *string       `json:"finish_reason"`
}

type floorUsage struct {
	Prompt     int32 `json:"prompt_tokens"`
	Completion int32 `json:"completion_tokens"`
	Total      int32 `json:"total_tokens"`
}

type floorResponse struct {
	ID      string        `json:"id"`
	Object  string        `json:"object"`
	Created int64         `json:"created"`
	Model   string        `json:"model"`
	Choices []floorChoice `json:"choices"`
	Usage   *floorUsage   `json:"usage,omitempty"`
}

func floorChat(rt *bedrockruntime.Client, wait time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var req floorRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		msgs := make([]types.Message, 0, len(req.Messages))
		for _, m := range req.Messages {
			msgs = append(msgs, types.Message{Role: types.ConversationRole(m.Role),
				Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: m.Content}}})
		}
		inf := &types.InferenceConfiguration{MaxTokens: aws.Int32(req.MaxTokens)}
		resp := floorResponse{ID: "chatcmpl-floor", Object: "chat.completion", Model: req.Model}
		if req.Stream {
			floorStream(w, r, rt, &bedrockruntime.ConverseStreamInput{ModelId: &req.Model, Messages: msgs, InferenceConfig: inf}, resp)
			return
		}
		out, err := rt.Converse(r.Context(), &bedrockruntime.ConverseInput{ModelId: &req.Model, Messages: msgs, InferenceConfig: inf})
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		if wait > 0 {
			time.Sleep(wait)
		}
		text := ""
		if m, ok := out.Output.(*types.ConverseOutputMemberMessage); ok {
			for _, c := range m.Value.Content {
				if t, ok := c.(*types.ContentBlockMemberText); ok {
					text += t.Value
				}
			}
		}
		stop := "stop"
		resp.Choices = []floorChoice{{Message: &floorMessage{Role: "assistant", Content: text}, FinishReason: &stop}}
		if u := out.Usage; u != nil {
			resp.Usage = &floorUsage{aws.ToInt32(u.InputTokens), aws.ToInt32(u.OutputTokens), aws.ToInt32(u.TotalTokens)}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(resp)
	}
}

// floorStream relays a ConverseStream as OpenAI SSE: a role chunk, a chunk
// per text delta, the finish chunk, [DONE]; each flushed.
func floorStream(w http.ResponseWriter, r *http.Request, rt *bedrockruntime.Client, in *bedrockruntime.ConverseStreamInput, chunk floorResponse) {
	// smithy-go shares one event-stream decoder per client; a protocol per
	// stream, as the gateway does (see internal/upstream).
	out, err := rt.ConverseStream(r.Context(), in, func(o *bedrockruntime.Options) { o.Protocol = restjson1.New(nil) })
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	s := out.GetStream()
	defer s.Close()
	w.Header().Set("Content-Type", "text/event-stream")
	flusher, _ := w.(http.Flusher)
	chunk.Object = "chat.completion.chunk"
	send := func(d *floorMessage, finish *string) {
		chunk.Choices = []floorChoice{{Delta: d, FinishReason: finish}}
		b, _ := json.Marshal(chunk)
		fmt.Fprintf(w, "data: %s\n\n", b)
		flusher.Flush()
	}
	send(&floorMessage{Role: "assistant"}, nil)
	for ev := range s.Events() {
		switch e := ev.(type) {
		case *types.ConverseStreamOutputMemberContentBlockDelta:
			if t, ok := e.Value.Delta.(*types.ContentBlockDeltaMemberText); ok {
				send(&floorMessage{Content: t.Value}, nil)
			}
		case *types.ConverseStreamOutputMemberMessageStop:
			stop := "stop"
			send(&floorMessage{}, &stop)
		}
	}
	if s.Err() != nil {
		return // the client sees no [DONE]
	}
	fmt.Fprint(w, "data: [DONE]\n\n")
	flusher.Flush()
}

// inMemoryBody sends each request body from a reader of its own, as the
// gateway's client does (upstream.bodyWithoutWriterTo): smithy-go closes
// the body it hands net/http once the response headers arrive, and a
// writer not yet done with it then closes the connection under the
// response, which cuts a stream now and then. The floor must not fail
// where the gateway does not, nor pay for a different body.
type inMemoryBody struct{ client bedrockruntime.HTTPClient }

func (c inMemoryBody) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	}
	return c.client.Do(r)
}
