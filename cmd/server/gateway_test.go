package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/tollgate-gw/tollgate/internal/openapitest"
)

// gateway is a Tollgate started through run, as a user would start it.
type gateway struct {
	baseURL  string // http://127.0.0.1:PORT
	adminURL string // the admin listener, serving /metrics
	logs     *logBuffer
	stdout   *logBuffer // EMF lines, when on
	stop     func() error
}

// logBuffer collects the JSON log lines run writes to stderr.
type logBuffer struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines chan string
}

func newLogBuffer() *logBuffer { return &logBuffer{lines: make(chan string, 1024)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for _, line := range strings.Split(strings.TrimSpace(string(p)), "\n") {
		select {
		case l.lines <- line:
		default:
		}
	}
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// startGateway runs `tollgate serve -addr 127.0.0.1:0 args...` and waits
// until /healthz answers. It stops the gateway when the test ends, and fails
// the test if run then returns an error.
func startGateway(t *testing.T, env map[string]string, args ...string) *gateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs, stdout := newLogBuffer(), newLogBuffer()
	done := make(chan error, 1)
	getenv := func(k string) string { return env[k] }
	go func() {
		done <- run(ctx, append([]string{"serve", "-addr", "127.0.0.1:0", "-admin-addr", "127.0.0.1:0"}, args...), getenv, stdout, logs)
	}()

	var addr, admin string
	deadline := time.After(10 * time.Second)
	for addr == "" {
		select {
		case line := <-logs.lines:
			var rec struct{ Msg, Addr string }
			if json.Unmarshal([]byte(line), &rec) == nil {
				switch rec.Msg {
				case "listening":
					addr = rec.Addr
				case "admin listening":
					admin = rec.Addr
				}
			}
		case err := <-done:
			cancel()
			t.Fatalf("run returned before listening: %v\nlogs:\n%s", err, logs)
		case <-deadline:
			cancel()
			t.Fatalf("gateway did not start in time; logs:\n%s", logs)
		}
	}
	g := &gateway{baseURL: "http://" + addr, logs: logs, stdout: stdout}
	if admin != "" {
		g.adminURL = "http://" + admin
	}
	var once sync.Once
	var stopErr error
	g.stop = func() error {
		once.Do(func() { cancel(); stopErr = <-done })
		return stopErr
	}
	t.Cleanup(func() {
		if err := g.stop(); err != nil {
			t.Errorf("run returned %v after shutdown", err)
		}
	})
	resp, err := http.Get(g.baseURL + "/healthz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz: %v %v", resp, err)
	}
	resp.Body.Close()
	return g
}

// exchange is one HTTP response an SDK client saw, kept for validation.
type exchange struct {
	method, path string
	status       int
	contentType  string
	body         []byte
}

// recorder is an openai-go middleware that keeps every raw response so that
// the test can validate it against OpenAI's specification.
type recorder struct {
	mu        sync.Mutex
	exchanges []exchange
}

func (r *recorder) middleware(req *http.Request, next option.MiddlewareNext) (*http.Response, error) {
	resp, err := next(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	r.mu.Lock()
	r.exchanges = append(r.exchanges, exchange{req.Method, req.URL.Path, resp.StatusCode, resp.Header.Get("Content-Type"), body})
	r.mu.Unlock()
	return resp, nil
}

// validateAll checks every recorded response against the schema OpenAI's
// specification gives for it, and returns how many it checked.
func (r *recorder) validateAll(t *testing.T) int {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ex := range r.exchanges {
		switch {
		case ex.status >= 400:
			openapitest.Validate(t, "ErrorResponse", ex.body)
		case strings.HasSuffix(ex.path, "/responses") && strings.HasPrefix(ex.contentType, "text/event-stream"):
			openapitest.ValidateResponsesSSE(t, ex.body)
		case strings.HasSuffix(ex.path, "/responses"):
			openapitest.Validate(t, "Response", ex.body)
		case strings.HasPrefix(ex.contentType, "text/event-stream"):
			openapitest.ValidateSSE(t, ex.body)
		case strings.HasSuffix(ex.path, "/chat/completions"):
			openapitest.Validate(t, "CreateChatCompletionResponse", ex.body)
		case strings.HasSuffix(ex.path, "/embeddings"):
			validateEmbeddings(t, ex.body)
		case strings.HasSuffix(ex.path, "/models"):
			openapitest.Validate(t, "ListModelsResponse", ex.body)
		case strings.Contains(ex.path, "/models/"):
			openapitest.Validate(t, "Model", ex.body)
		default:
			t.Errorf("no schema for %s %s", ex.method, ex.path)
		}
	}
	return len(r.exchanges)
}

// client returns an official OpenAI Go SDK client for the gateway whose every
// response is validated against OpenAI's specification when the test ends.
func (g *gateway) client(t *testing.T, key string) openai.Client {
	rec := &recorder{}
	t.Cleanup(func() { rec.validateAll(t) })
	return openai.NewClient(
		option.WithBaseURL(g.baseURL+"/v1/"),
		option.WithAPIKey(key),
		option.WithMaxRetries(0),
		option.WithMiddleware(rec.middleware),
	)
}

// do sends a raw request and returns the status, headers and body.
func (g *gateway) do(t *testing.T, method, path, key, contentType, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, g.baseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// sseEvents splits an SSE transcript into its data payloads.
func sseEvents(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, data)
		}
	}
	return out
}
