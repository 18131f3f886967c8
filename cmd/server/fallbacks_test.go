package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

const (
	fbLite  = "amazon.nova-lite-v1:0"
	fbMicro = "amazon.nova-micro-v1:0"
	fbPro   = "amazon.nova-pro-v1:0"
)

// TestFallbacks: a model whose calls are throttled (the simulator's
// [sim:error=ThrottlingException@part] marker fails only the model ids
// holding part) falls back, primary first, to the next model of its chain
// the key may use; the answer is billed at the price of the model that
// answered, the client sees the model it asked for in `model` and the one
// that answered in x-tollgate-model, and every move is counted.
func TestFallbacks(t *testing.T) {
	dir := t.TempDir()
	pol := fmt.Sprintf(`keys:
  - id: fb
    sha256: %s
    monthly_budget_usd: 10
  - id: nomicro
    sha256: %s
    monthly_budget_usd: 10
    deny: ["amazon.nova-micro*"]
aliases:
  lite: %s
  claude: us.anthropic.claude-3-haiku-20240307-v1:0
fallbacks:
  lite: [%s, %s]
  claude: [anthropic.claude-3-haiku-20240307-v1:0]
`, policy.HashSecret("sk-fb-0123456789"), policy.HashSecret("sk-nomicro-0123456789"), fbLite, fbMicro, fbPro)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(pol), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := policy.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "bolt://"+t.TempDir()+"/usage.db")

	chat := func(secret, marker string, stream bool) (int, string, []byte) {
		t.Helper()
		body := fmt.Sprintf(`{"model":"lite","stream":%t,"max_tokens":50,"messages":[{"role":"user","content":"hi %s"}]}`, stream, marker)
		status, h, b := g.do(t, "POST", "/v1/chat/completions", secret, "application/json", body)
		return status, h.Get("x-tollgate-model"), b
	}
	type answer struct {
		Model string `json:"model"`
		Usage struct {
			Prompt     int64 `json:"prompt_tokens"`
			Completion int64 `json:"completion_tokens"`
		} `json:"usage"`
	}

	// The primary throttles, the first fallback answers, at its price.
	status, answered, b := chat("sk-fb-0123456789", "[sim:error=ThrottlingException@nova-lite]", false)
	var a answer
	if err := json.Unmarshal(b, &a); err != nil || status != 200 {
		t.Fatalf("primary throttled: %d %s", status, b)
	}
	if a.Model != "lite" || answered != fbMicro {
		t.Errorf("model %q, x-tollgate-model %q; want lite, %s", a.Model, answered, fbMicro)
	}
	price, _ := p.Price(fbMicro)
	want := price.Cost(a.Usage.Prompt, a.Usage.Completion, 0, 0)
	if got := micros(g.usage(t, "sk-fb-0123456789").Key.SpentUSD); got != want || want == 0 {
		t.Errorf("spent %d micro-USD, want %d (%d+%d tokens at %s's price)", got, want, a.Usage.Prompt, a.Usage.Completion, fbMicro)
	}

	// A stream falls back too, before it starts.
	status, answered, b = chat("sk-fb-0123456789", "[sim:error=ThrottlingException@nova-lite]", true)
	if status != 200 || answered != fbMicro {
		t.Errorf("stream: %d, x-tollgate-model %q: %s", status, answered, b)
	}

	// Every model throttles: the client gets Bedrock's 429, nothing spent.
	before := g.usage(t, "sk-fb-0123456789").Key.SpentUSD
	status, _, b = chat("sk-fb-0123456789", "[sim:error=ThrottlingException@nova]", false)
	if status != 429 {
		t.Errorf("all throttled: %d %s, want 429", status, b)
	}
	if u := g.usage(t, "sk-fb-0123456789").Key; u.SpentUSD != before || u.ReservedUSD != 0 {
		t.Errorf("all throttled: spent %v (was %v), reserved %v; want nothing spent or held", u.SpentUSD, before, u.ReservedUSD)
	}

	// A fallback the key may not use is skipped.
	status, answered, b = chat("sk-nomicro-0123456789", "[sim:error=ThrottlingException@nova-lite]", false)
	if status != 200 || answered != fbPro {
		t.Errorf("micro denied: %d, x-tollgate-model %q, want 200 from %s: %s", status, answered, fbPro, b)
	}

	// The Anthropic Messages route falls back in the gate too, plain and
	// streamed.
	for _, stream := range []bool{false, true} {
		status, h, b := g.do(t, "POST", "/v1/messages", "sk-fb-0123456789", "application/json",
			fmt.Sprintf(`{"model":"claude","max_tokens":50,"stream":%t,"messages":[{"role":"user","content":"hi [sim:error=ThrottlingException@us.]"}]}`, stream))
		if status != 200 || h.Get("x-tollgate-model") != "anthropic.claude-3-haiku-20240307-v1:0" {
			t.Errorf("messages (stream %t): %d, x-tollgate-model %q: %s", stream, status, h.Get("x-tollgate-model"), b)
		}
	}

	m := g.scrape(t)
	got := map[string]float64{}
	for _, mv := range [][2]string{{fbLite, fbMicro}, {fbMicro, fbPro}, {fbLite, fbPro}} {
		got[mv[0]+"→"+mv[1]] = m["tollgate_fallback_attempts_total{from="+mv[0]+",reason=throttled,to="+mv[1]+"}"]
	}
	wantMoves := map[string]float64{fbLite + "→" + fbMicro: 3, fbMicro + "→" + fbPro: 1, fbLite + "→" + fbPro: 1}
	if diff := cmp.Diff(wantMoves, got); diff != "" {
		t.Errorf("tollgate_fallback_attempts_total (-want +got):\n%s", diff)
	}

	// The fallbacks reload with the policy: without them the throttled
	// model's 429 reaches the client.
	noChain, _, found := strings.Cut(pol, "fallbacks:")
	if !found {
		t.Fatal("no fallbacks section to remove")
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(noChain), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, func() bool {
		status, answered, _ := chat("sk-fb-0123456789", "[sim:error=ThrottlingException@nova-lite]", false)
		return status == 429 && answered == ""
	})
}
