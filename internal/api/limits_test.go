package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/fetch"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// limitsPolicy: a key with a $0 budget (every model request is refused by
// the budget), and an uncapped key.
const limitsPolicy = `
keys:
  - id: broke
    sha256: %q
    monthly_budget_usd: 0
  - id: free
    sha256: %q
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.1, output: 10}
`

const (
	brokeSecret = "sk-limits-broke-0123456789"
	freeSecret  = "sk-limits-free-0123456789"
)

// converseBedrock answers every Converse call with "ok", and counts them.
type converseBedrock struct {
	fakeBedrock
	calls atomic.Int64
}

func (f *converseBedrock) Converse(context.Context, *bedrockruntime.ConverseInput) (*bedrockruntime.ConverseOutput, error) {
	f.calls.Add(1)
	return &bedrockruntime.ConverseOutput{
		Output: &types.ConverseOutputMemberMessage{Value: types.Message{
			Role: types.ConversationRoleAssistant, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: "ok"}},
		}},
		StopReason: types.StopReasonEndTurn,
		Usage:      &types.TokenUsage{InputTokens: aws.Int32(3), OutputTokens: aws.Int32(1), TotalTokens: aws.Int32(4)},
	}, nil
}

// limitsServer is the handler with the keys of limitsPolicy, fetching
// image URLs from loopback, with deps' tweaks applied.
func limitsServer(t *testing.T, tweak func(*api.Deps)) (*httptest.Server, *converseBedrock) {
	t.Helper()
	p, err := policy.Parse(map[string][]byte{"policy.yaml": fmt.Appendf(nil, limitsPolicy, policy.HashSecret(brokeSecret), policy.HashSecret(freeSecret))})
	if err != nil {
		t.Fatal(err)
	}
	br := &converseBedrock{}
	d := api.Deps{
		Logger:   slog.New(slog.NewJSONHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  br,
		Catalog:  fakeCatalog{},
		Budget:   budget.New(memory.New(), budget.Options{}),
		Images:   fetch.New(fetch.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}),
	}
	if tweak != nil {
		tweak(&d)
	}
	srv := httptest.NewServer(api.NewServer(d))
	t.Cleanup(srv.Close)
	return srv, br
}

// postErr posts body to url with secret, and returns the status and the
// OpenAI error's code and message (if any).
func postErr(t *testing.T, url, secret, body string) (status int, code, message string) {
	t.Helper()
	status, b := post(t, url, secret, body)
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.Unmarshal([]byte(b), &e)
	return status, e.Error.Code, e.Error.Message
}

// imageURLsBody is a chat request naming n image URLs of srv.
func imageURLsBody(srv string, n int) string {
	var b bytes.Buffer
	b.WriteString(`{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"}`)
	for i := range n {
		fmt.Fprintf(&b, `,{"type":"image_url","image_url":{"url":"%s/img%d.png"}}`, srv, i)
	}
	b.WriteString(`]}]}`)
	return b.String()
}

// TestImageURLsNotFetchedBeforeAdmission (issue 13, 3b): a key whose
// budget is spent makes the gateway fetch nothing, and more images than
// Bedrock takes in one request are refused before any fetch, naming the
// limit.
func TestImageURLsNotFetchedBeforeAdmission(t *testing.T) {
	var hits atomic.Int64
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n" + strings.Repeat("x", 1<<20)))
	}))
	t.Cleanup(images.Close)
	srv, br := limitsServer(t, nil)
	url := srv.URL + "/v1/chat/completions"

	tests := []struct {
		name, secret string
		images       int
		status       int
		code, says   string
	}{
		{"200 URLs, spent key", brokeSecret, 200, 400, "too_many_images", "at most 20 images"},
		{"200 URLs, free key", freeSecret, 200, 400, "too_many_images", "at most 20 images"},
		{"21 URLs", freeSecret, 21, 400, "too_many_images", "at most 20 images"},
		{"20 URLs, spent key", brokeSecret, 20, 429, "budget_exceeded", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hits.Store(0)
			start := time.Now()
			status, code, msg := postErr(t, url, tt.secret, imageURLsBody(images.URL, tt.images))
			if status != tt.status || code != tt.code || !strings.Contains(msg, tt.says) {
				t.Errorf("got %d %s %q, want %d %s saying %q", status, code, msg, tt.status, tt.code, tt.says)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the gateway fetched %d images before refusing the request", n)
			}
			t.Logf("refused in %s", time.Since(start))
		})
	}
	if n := br.calls.Load(); n != 0 {
		t.Errorf("Bedrock called %d times", n)
	}

	// The Responses route goes the same way (prepareConverse).
	var parts []string
	for i := range 30 {
		parts = append(parts, fmt.Sprintf(`{"type":"input_image","image_url":"%s/r%d.png"}`, images.URL, i))
	}
	for _, n := range []int{30, 20} {
		hits.Store(0)
		body := `{"model":"anthropic.claude-3-haiku-20240307-v1:0","input":[{"role":"user","content":[` + strings.Join(parts[:n], ",") + `]}]}`
		status, code, msg := postErr(t, srv.URL+"/v1/responses", brokeSecret, body)
		if want := map[int]int{30: 400, 20: 429}[n]; status != want || hits.Load() != 0 {
			t.Errorf("Responses, %d URLs from a spent key: %d %s %q and %d fetches, want %d and none", n, status, code, msg, hits.Load(), want)
		}
	}

	// Under the limit and admitted, the images are fetched and sent.
	hits.Store(0)
	if status, code, msg := postErr(t, url, freeSecret, imageURLsBody(images.URL, 3)); status != 200 {
		t.Fatalf("3 images from the free key: %d %s %s", status, code, msg)
	}
	if n := hits.Load(); n != 3 {
		t.Errorf("3 images fetched %d times", n)
	}
}

// slowBodies opens n connections to srv that send a chat request's headers
// from secret, announcing a 1,000-byte body, and 10 bytes of it; then
// nothing. They stay open until the test ends.
func slowBodies(t *testing.T, srv *httptest.Server, secret string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		_, err = io.WriteString(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "+secret+
			"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":")
		if err != nil {
			t.Fatal(err)
		}
		conns[i] = c
	}
	return conns
}

const helloBody = `{"model":"anthropic.claude-3-haiku-20240307-v1:0","messages":[{"role":"user","content":"hello"}]}`

// TestSlowBodiesDoNotStarveOtherKeys (issue 13, 4): bodies still arriving
// hold no model-request slot, and one key (or one client address) can have
// only so many of them; another key is served meanwhile.
func TestSlowBodiesDoNotStarveOtherKeys(t *testing.T) {
	srv, _ := limitsServer(t, func(d *api.Deps) { d.MaxConcurrent = 8; d.MaxPendingPerKey = 16 })
	url := srv.URL + "/v1/chat/completions"
	slowBodies(t, srv, brokeSecret, 64)

	// The flooding key meets its bound of pending bodies: a 429 at once,
	// even for a body sent whole.
	waitFor(t, 5*time.Second, func() bool {
		status, code, _ := postErr(t, url, brokeSecret, helloBody)
		return status == 429 && code == "too_many_pending_requests"
	})
	// Another key is served throughout, many times over the 8 slots.
	for i := range 40 {
		if status, code, msg := postErr(t, url, freeSecret, helloBody); status != 200 {
			t.Fatalf("request %d of another key during the flood: %d %s %s", i, status, code, msg)
		}
	}
}

// TestSlowBodiesBoundedPerAddress: many keys from one client address meet
// the address's bound.
func TestSlowBodiesBoundedPerAddress(t *testing.T) {
	srv, _ := limitsServer(t, func(d *api.Deps) { d.MaxConcurrent = 8; d.MaxPendingPerKey = 100; d.MaxPendingPerAddr = 16 })
	url := srv.URL + "/v1/chat/completions"
	slowBodies(t, srv, brokeSecret, 16)
	waitFor(t, 5*time.Second, func() bool {
		status, code, _ := postErr(t, url, freeSecret, helloBody)
		return status == 429 && code == "too_many_pending_requests"
	})
}

// waitFor polls ok until it holds or limit passes.
func waitFor(t *testing.T, limit time.Duration, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(10 * time.Millisecond) {
		if ok() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true after %s", limit)
		}
	}
}

// allocated serves one request in process and returns its status and the
// bytes allocated meanwhile (an upper bound of its peak memory).
func allocated(t *testing.T, h http.Handler, path, secret string, body []byte) (int, uint64) {
	t.Helper()
	req := httptest.NewRequest("POST", path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+secret)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	h.ServeHTTP(rec, req)
	runtime.ReadMemStats(&after)
	if rec.Code != 200 {
		t.Logf("%s: %d %.300s", path, rec.Code, rec.Body.String())
	}
	return rec.Code, after.TotalAlloc - before.TotalAlloc
}

// repeated is a JSON array of n copies of item.
func repeated(n int, item string) string {
	return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
}

// TestMemoryPerRequestBounded (issue 13, 3c): a body of many small items
// is refused by counting them before decoding anything, so it costs about
// its own size; a body within the bounds costs a small multiple of its
// size (docs/reliability.md, "Memory per request"). Measured as the bytes
// allocated while serving, which bounds the peak.
func TestMemoryPerRequestBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates about 200 MB")
	}
	p, err := policy.Parse(map[string][]byte{"policy.yaml": fmt.Appendf(nil, limitsPolicy, policy.HashSecret(brokeSecret), policy.HashSecret(freeSecret))})
	if err != nil {
		t.Fatal(err)
	}
	h := api.NewServer(api.Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Policies: policy.NewHolder(p),
		Bedrock: &converseBedrock{}, Catalog: fakeCatalog{}, Budget: budget.New(memory.New(), budget.Options{}),
	})
	const mb = 1 << 20
	model := `"model":"anthropic.claude-3-haiku-20240307-v1:0"`
	msg := `{"role":"user","content":"hi"}`
	text := strings.Repeat("All work and no play makes Jack a dull boy. ", 23) // 1 KiB
	schema := func(enum string) string {
		return `{` + model + `,"messages":[` + msg + `],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","enum":` + enum + `}}}]}`
	}
	tests := []struct {
		name, path string
		body       string
		status     int
		multiple   float64 // allocated ≤ multiple × body + extra MiB
		extra      float64
	}{
		{"4M token ids", "/v1/embeddings", `{"model":"amazon.titan-embed-text-v2:0","input":[` + repeated(4<<20, "1") + `]}`, 400, 1.5, 1},
		{"2M stop sequences", "/v1/chat/completions", `{` + model + `,"messages":[` + msg + `],"stop":` + repeated(2<<20, `"a"`) + `}`, 400, 1.5, 1},
		{"1M messages", "/v1/chat/completions", `{` + model + `,"messages":` + repeated(1<<20, msg) + `}`, 400, 1.5, 1},
		{"1M content parts", "/v1/chat/completions", `{` + model + `,"messages":[{"role":"user","content":` + repeated(1<<20, `{"type":"text","text":"a"}`) + `}]}`, 400, 1.5, 1},
		{"2M values in a tool schema", "/v1/chat/completions", `{` + model + `,"messages":[` + msg + `],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","enum":` + repeated(2<<20, "0") + `}}}]}`, 400, 1.5, 1},
		{"1M values in a tool schema", "/v1/chat/completions", schema(repeated(1_000_000, "0")), 400, 1.5, 1},
		{"100,000 objects in a tool schema", "/v1/chat/completions", schema(repeated(100_000, `{"a":[{},{}]}`)), 400, 1.5, 1},
		{"65,000 values in a tool schema", "/v1/chat/completions", schema(repeated(65_000, "0")), 200, 0, 16},
		{"16,000 objects in a tool schema", "/v1/chat/completions", schema(repeated(16_000, `{"a":[{},{}]}`)), 200, 0, 16},
		// A tool's schema is decoded into free-form values, its strings
		// copied several times by the chat decoder: the costliest body.
		{"200,000 values of 64 bytes in a tool schema", "/v1/chat/completions", schema(repeated(200_000, `"`+strings.Repeat("x", 61)+`"`)), 200, 10, 16},
		{"10,000 messages of 1 KiB", "/v1/chat/completions", `{` + model + `,"messages":` + repeated(10_000, `{"role":"user","content":"`+text+`"}`) + `}`, 200, 5, 1},
		{"one 16 MiB message", "/v1/chat/completions", `{` + model + `,"messages":[{"role":"user","content":"` + strings.Repeat(text, 16<<10) + `"}]}`, 200, 5, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, alloc := allocated(t, h, tt.path, freeSecret, []byte(tt.body))
			size := len(tt.body)
			t.Logf("%d: body %.1f MiB, allocated %.1f MiB (%.2f× the body)", status, float64(size)/mb, float64(alloc)/mb, float64(alloc)/float64(size))
			if status != tt.status {
				t.Errorf("status %d, want %d", status, tt.status)
			}
			if limit := tt.multiple*float64(size) + tt.extra*mb; float64(alloc) > limit {
				t.Errorf("allocated %.1f MiB for a body of %.1f MiB, want at most %.1f MiB", float64(alloc)/mb, float64(size)/mb, limit/mb)
			}
		})
	}
}
