package budget_test

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/converse"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// boundModels are simulated models of three families, between them taking
// every part type: images, documents, tools, thinking (echoed reasoning),
// structured output and prompt caching; and Claude Code's default, Opus 5.5,
// whose id has no version suffix and which reasons with an effort.
var boundModels = []string{
	"global.anthropic.claude-sonnet-4-5-20250929-v1:0",
	"anthropic.claude-3-haiku-20240307-v1:0",
	"amazon.nova-pro-v1:0",
	"us.anthropic.claude-opus-5-5",
}

// boundPricing prices them as Claude is priced: cache writes dearer than
// input (1.25×), cache reads cheaper.
const boundPricing = `
pricing:
  anthropic.claude-sonnet-4-5-20250929-v1:0: {input: 1, output: 10, cache_read: 0.1, cache_write: 1.25}
  anthropic.claude-3-haiku-20240307-v1:0: {input: 1, output: 10, cache_read: 0.1, cache_write: 1.25}
  amazon.nova-pro-v1:0: {input: 1, output: 10, cache_read: 0.1, cache_write: 1.25}
  anthropic.claude-opus-5-5: {input: 1, output: 10, cache_read: 0.1, cache_write: 1.25}
`

// chatBudgetRequest describes body to the guard as the chat handler does.
func chatBudgetRequest(t *testing.T, body []byte, model string, route policy.Route) (budget.Request, *bedrockruntime.ConverseInput, int) {
	t.Helper()
	req, err := converse.ParseChatRequest(body)
	if err != nil {
		t.Fatalf("ParseChatRequest: %v\n%s", err, body)
	}
	in, err := converse.ToConverse(req, model, converse.Options{})
	if err != nil {
		t.Fatalf("ToConverse: %v\n%s", err, body)
	}
	size, framing := converse.MeasureInput(req, len(body)), converse.FramingOf(in)
	maxTokens, thinking := converse.OutputCap(req, model)
	return budget.Request{
		Route:      route,
		InputBytes: size.TextBytes, Images: size.Images,
		Texts:          func() []string { return converse.InputTexts(in) },
		DocumentTokens: converse.DocumentTokens(in),
		Blocks:         framing.Blocks, Tools: framing.Tools, CacheWrite: framing.CachePoints,
		MaxOutput: maxTokens,
	}, in, thinking
}

// TestReservationBoundsSimulatorBill sends random requests mixing every
// part type (text in several scripts, system prompts, images, text and PDF
// documents, tools and tool calls, echoed reasoning, JSON schemas, cache
// points) to the simulator, and checks that what the guard reserved for
// each, with the byte bound on a roomy key and with the precise count on a
// key just too tight for the byte bound, is never below the cost settled
// from the usage the simulator reports.
func TestReservationBoundsSimulatorBill(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	simURL, err := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	client := bedrockruntime.New(bedrockruntime.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(simURL), Retryer: aws.NopRetryer{},
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "secret"}, nil
		}),
	})
	p, err := policy.Parse(map[string][]byte{"policy.yaml": []byte("keys:\n  - id: k\n    sha256: \"" + policy.HashSecret("k") + "\"\n" + boundPricing)})
	if err != nil {
		t.Fatal(err)
	}
	key, _ := p.KeyByID("k")
	f := newFixture(t, "keys: []\n", budget.Options{})

	const n = 150
	rnd := rand.New(rand.NewPCG(12, 0))
	parts := map[string]int{}
	for i := range n {
		model := boundModels[i%len(boundModels)]
		body, has := randomChat(t, rnd, model)
		for _, h := range has {
			parts[h]++
		}
		route, err := p.Route(key, model)
		if err != nil {
			t.Fatal(err)
		}
		r, in, thinking := chatBudgetRequest(t, body, model, route)

		// The byte bound, on a key with room for it; then the precise
		// count, on a key whose cap is one micro-dollar short of it.
		roomy := f.reserve(t, r, "1000000", i, "roomy")
		tight := f.reserve(t, r, budget.USD(roomy.amount - 1)[1:], i, "tight")
		for _, res := range []reservation{roomy, tight} {
			if res.amount == 0 {
				continue // refused: nothing reserved, nothing sent
			}
			call := *in
			converse.CapOutput(&call, res.maxOutput, thinking)
			out, err := client.Converse(ctx, &call)
			if err != nil {
				t.Fatalf("request %d (%s): Converse: %v\n%s", i, model, err, body)
			}
			u := budget.Usage{Input: int64(aws.ToInt32(out.Usage.InputTokens)), Output: int64(aws.ToInt32(out.Usage.OutputTokens)),
				CacheRead: int64(aws.ToInt32(out.Usage.CacheReadInputTokens)), CacheWrite: int64(aws.ToInt32(out.Usage.CacheWriteInputTokens))}
			if cost := route.Price.Cost(u.Input, u.Output, u.CacheRead, u.CacheWrite); cost > res.amount {
				t.Errorf("request %d (%s, %s path, parts %v): reserved %d micro-USD, the simulator's usage %+v costs %d\n%.2000s",
					i, model, res.path, has, res.amount, u, cost, body)
			}
		}
	}
	for _, part := range []string{"system", "text", "unicode", "image", "txt", "pdf", "tools", "tool_calls", "reasoning", "schema", "cache"} {
		if parts[part] == 0 {
			t.Errorf("no request had a %s part: the generator misses it", part)
		}
	}
	t.Logf("parts over %d requests: %v", n, parts)
}

// reservation is what a guard reserved for a request: micro-USD and the
// output cap it was admitted with; amount 0 when it was refused.
type reservation struct {
	path      string
	amount    int64
	maxOutput int
}

// reserve admits r on a fresh key capped at capUSD, on f's guard (one
// guard, so that tiktoken loads once), and returns what it reserved.
func (f *fixture) reserve(t *testing.T, r budget.Request, capUSD string, i int, path string) reservation {
	t.Helper()
	id := fmt.Sprintf("k%d-%s", i, path)
	pol := parsePolicy(t, "keys:\n  - id: "+id+"\n    sha256: \"#"+id+"\"\n    monthly_budget_usd: "+capUSD+"\n")
	k, _ := pol.KeyByID(id)
	r.ID, r.Policy, r.Key = id, pol, k
	tk, err := f.guard.Admit(context.Background(), r)
	if err != nil {
		if asQuota(err) == nil {
			t.Fatalf("Admit: %v", err)
		}
		return reservation{path: path}
	}
	return reservation{path: path, amount: f.totals(t, tk.Period, keyScope(id))[keyScope(id)].Reserved, maxOutput: tk.MaxOutput}
}

// words mixes English, other scripts, digits and code, whose tokens per
// byte differ.
var words = strings.Fields(`the of and to in is that it for on with as was at by an be this from or have not
are but which one all were when there can more if out so what up about into than them some could would
international configuration implementation responsibility approximately notwithstanding
café naïve façade Größe über Ñandú déjà-vu
日本語 中文字符 한국어 текст слово ελληνικά العربية हिन्दी 🙂 🚀 ∑∫√
0 42 3.14159 1e-9 0xFF 2026-12-02
func() {}; x := map[string]int{"a": 1} if(a&&b||!c){return;} <div class="x"></div> SELECT * FROM t;`)

// text returns n random words.
func text(rnd *rand.Rand, n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(words[rnd.IntN(len(words))])
	}
	return b.String()
}

// randomChat returns a random chat request for model and the names of the
// parts it holds.
func randomChat(t *testing.T, rnd *rand.Rand, model string) ([]byte, []string) {
	t.Helper()
	var has []string
	claude45 := strings.Contains(model, "sonnet-4-5") || strings.Contains(model, "opus-5-5") // echoed reasoning
	size := func() int { return []int{1, 5, 40, 300, 1500}[rnd.IntN(5)] }
	var msgs []any
	if rnd.IntN(2) == 0 {
		msgs = append(msgs, map[string]any{"role": "system", "content": text(rnd, size())})
		has = append(has, "system")
	}
	user := []any{map[string]any{"type": "text", "text": text(rnd, size())}}
	has = append(has, "text")
	if strings.ContainsFunc(user[0].(map[string]any)["text"].(string), func(r rune) bool { return r > 0x7f }) {
		has = append(has, "unicode")
	}
	if !strings.Contains(model, "haiku") || rnd.IntN(2) == 0 {
		for range rnd.IntN(3) {
			user = append(user, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64," + pngOf(t, rnd)}})
			has = append(has, "image")
		}
	}
	if rnd.IntN(3) == 0 {
		user = append(user, map[string]any{"type": "file", "file": map[string]any{"filename": "notes.txt",
			"file_data": "data:text/plain;base64," + base64.StdEncoding.EncodeToString([]byte(text(rnd, size())))}})
		has = append(has, "txt")
	}
	if rnd.IntN(3) == 0 {
		user = append(user, map[string]any{"type": "file", "file": map[string]any{"filename": "report.pdf",
			"file_data": "data:application/pdf;base64," + base64.StdEncoding.EncodeToString(pdfOf(t, text(rnd, size())))}})
		has = append(has, "pdf")
	}
	msgs = append(msgs, map[string]any{"role": "user", "content": user})
	tools := rnd.IntN(2) == 0
	body := map[string]any{"model": model, "max_tokens": []int{1, 16, 300, 2000}[rnd.IntN(4)]}
	if tools {
		body["tools"] = []any{map[string]any{"type": "function", "function": map[string]any{
			"name": "lookup", "description": text(rnd, size()),
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string", "description": text(rnd, size())}}},
		}}}
		has = append(has, "tools")
		if rnd.IntN(2) == 0 {
			call := map[string]any{"role": "assistant", "content": text(rnd, size()),
				"tool_calls": []any{map[string]any{"id": "call_1", "type": "function", "function": map[string]any{"name": "lookup", "arguments": `{"q":` + mustJSON(t, text(rnd, size())) + `}`}}}}
			if claude45 {
				call["reasoning_details"] = []any{map[string]any{"type": "reasoning.text", "text": text(rnd, size()), "signature": "c2ln", "format": "bedrock-converse", "index": 0}}
				body["reasoning_effort"] = "low"
				has = append(has, "reasoning")
			}
			msgs = append(msgs, call, map[string]any{"role": "tool", "tool_call_id": "call_1", "content": text(rnd, size())})
			has = append(has, "tool_calls")
		}
	}
	if rnd.IntN(3) == 0 && body["reasoning_effort"] == nil {
		body["response_format"] = map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "answer", "description": text(rnd, size()),
			"schema": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string", "description": text(rnd, size())}}}}}
		has = append(has, "schema")
	}
	if !strings.Contains(model, "3-haiku") && rnd.IntN(2) == 0 {
		body["prompt_cache"] = true
		has = append(has, "cache")
	}
	body["messages"] = msgs
	return []byte(mustJSON(t, body)), has
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// pngOf returns a small random PNG, base64.
func pngOf(t *testing.T, rnd *rand.Rand) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2+rnd.IntN(30), 2+rnd.IntN(30)))
	for i := range img.Pix {
		img.Pix[i] = uint8(rnd.IntN(256))
	}
	img.Set(0, 0, color.RGBA{A: 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// pdfOf returns a minimal PDF whose one content stream holds text,
// Flate-compressed.
func pdfOf(t *testing.T, text string) []byte {
	t.Helper()
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	fmt.Fprintf(zw, "BT /F1 12 Tf (%s) Tj ET", text)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "%%PDF-1.4\n1 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n", z.Len())
	b.Write(z.Bytes())
	b.WriteString("\nendstream\nendobj\ntrailer\n<< >>\n%%EOF\n")
	return b.Bytes()
}
