package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// smallCapPolicy caps a key at $0.50 and prices Claude 3 Haiku at $1 per
// 1,000 tokens, input and output (1,000 USD per million): a 2-token "hello"
// answered in 10 tokens costs $0.012.
const smallCapPolicy = `
keys:
  - id: small
    sha256: %q
    monthly_budget_usd: %s
pricing:
  anthropic.claude-3-haiku-20240307-v1:0: {input: %s, output: %s}
`

const smallSecret = "sk-test-small-0123456789"

func boundGateway(t *testing.T, capUSD, priceUSDPerMillion string) *gateway {
	t.Helper()
	dir := t.TempDir()
	body := fmt.Sprintf(smallCapPolicy, policy.HashSecret(smallSecret), capUSD, priceUSDPerMillion, priceUSDPerMillion)
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
}

// budgetRefusal checks that a 429 is a budget refusal clients do not retry
// and returns its message.
func budgetRefusal(t *testing.T, h map[string][]string, b []byte) string {
	t.Helper()
	var e struct {
		Error struct{ Message, Type, Code string }
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatalf("429 body %s: %v", b, err)
	}
	if e.Error.Type != "insufficient_quota" || e.Error.Code != "budget_exceeded" {
		t.Errorf("429 type, code = %q, %q, want insufficient_quota, budget_exceeded", e.Error.Type, e.Error.Code)
	}
	if got := strings.Join(h["X-Should-Retry"], ","); got != "false" {
		t.Errorf("429 x-should-retry = %q, want false", got)
	}
	return e.Error.Message
}

// TestSmallCapIsUsable spends a $0.50 key on $0.012 requests, one after
// another and from 200 clients at once, each client stopping at its first
// refusal: most of the cap is served, and a refusal while money is left
// says what is left and what would fit, never "exhausted".
func TestSmallCapIsUsable(t *testing.T) {
	const hello = `{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":10,"messages":[{"role":"user","content":"hello"}]}`
	const capMicros = 500_000
	t.Run("serial", func(t *testing.T) {
		g := boundGateway(t, "0.50", "1000")
		served := 0
		for {
			status, h, b := g.do(t, "POST", "/v1/chat/completions", smallSecret, "application/json", hello)
			if status == 429 {
				msg := budgetRefusal(t, h, b)
				spent := int64(g.usage(t, smallSecret).Key.SpentUSD*1e6 + 0.5)
				if spent < capMicros && strings.Contains(msg, "exhausted") {
					t.Errorf("refused with %d micro-USD left as %q", capMicros-spent, msg)
				}
				if !strings.Contains(msg, "max_tokens") && !strings.Contains(msg, "shorten the prompt") {
					t.Errorf("refusal %q says nothing of what to do", msg)
				}
				t.Logf("served %d requests one after another: %d of %d micro-USD spent (%.1f%%); refusal: %s",
					served, spent, capMicros, 100*float64(spent)/capMicros, msg)
				if spent*10 < capMicros*9 {
					t.Errorf("spent %d micro-USD of %d before the first refusal: under 90%%", spent, capMicros)
				}
				return
			}
			if status != 200 {
				t.Fatalf("status %d: %s", status, b)
			}
			served++
		}
	})
	t.Run("200 concurrent clients", func(t *testing.T) {
		g := boundGateway(t, "0.50", "1000")
		var served, refused atomic.Int64
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				for {
					status, h, b := g.do(t, "POST", "/v1/chat/completions", smallSecret, "application/json", hello)
					switch status {
					case 200:
						served.Add(1)
						continue
					case 429:
						budgetRefusal(t, h, b)
						refused.Add(1)
					default:
						t.Errorf("status %d: %s", status, b)
					}
					return
				}
			})
		}
		wg.Wait()
		u := g.usage(t, smallSecret)
		spent := int64(u.Key.SpentUSD*1e6 + 0.5)
		t.Logf("200 clients: %d served, %d refused: %d of %d micro-USD spent (%.1f%%)", served.Load(), refused.Load(), spent, capMicros, 100*float64(spent)/capMicros)
		if spent > capMicros || u.Key.ReservedUSD != 0 {
			t.Errorf("spent %d micro-USD of %d, %v USD still reserved", spent, capMicros, u.Key.ReservedUSD)
		}
		if spent*2 < capMicros {
			t.Errorf("spent %d micro-USD of %d: under half the cap", spent, capMicros)
		}
	})
	t.Run("200 requests at once", func(t *testing.T) {
		// One request per client, all at once: while they are in flight
		// each holds its worst case, so this measures how tight it is.
		g := boundGateway(t, "0.50", "1000")
		var served atomic.Int64
		var wg sync.WaitGroup
		for range 200 {
			wg.Go(func() {
				if status, _, _ := g.do(t, "POST", "/v1/chat/completions", smallSecret, "application/json", hello); status == 200 {
					served.Add(1)
				}
			})
		}
		wg.Wait()
		spent := int64(g.usage(t, smallSecret).Key.SpentUSD*1e6 + 0.5)
		t.Logf("200 requests at once: %d served: %d of %d micro-USD spent (%.1f%%)", served.Load(), spent, capMicros, 100*float64(spent)/capMicros)
		if spent > capMicros {
			t.Errorf("spent %d micro-USD of %d", spent, capMicros)
		}
	})
}

// TestDocumentsCannotOverspend replays an attack of the adversarial review
// (issue 13): a key capped at $1 sent text files that the precise recount
// near the cap left out, so that each request reserved a few hundred tokens
// and settled at far more; ten in parallel spent 55 times the cap.
// Documents now count: a request whose files cost more than the cap is
// refused, and parallel requests settle within it. (Here a token costs 10
// micro-USD, so that files a tenth of the attack's size show the same.)
func TestDocumentsCannotOverspend(t *testing.T) {
	g := boundGateway(t, "1", "10")
	rnd := rand.New(rand.NewPCG(13, 0))
	vocabulary := strings.Fields("the budget of every key holds its cap while documents and files arrive in parallel from many clients")
	file := func(n int) string {
		var b strings.Builder
		for b.Len() < n {
			b.WriteString(vocabulary[rnd.IntN(len(vocabulary))])
			b.WriteByte(' ')
		}
		return base64.StdEncoding.EncodeToString([]byte(b.String()))
	}
	request := func(fileBytes int) string {
		parts := []string{`{"type":"text","text":"Summarise these files."}`}
		for i := range 5 {
			parts = append(parts, fmt.Sprintf(`{"type":"file","file":{"filename":"part%d.txt","file_data":"data:text/plain;base64,%s"}}`, i, file(fileBytes)))
		}
		return `{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":10,"messages":[{"role":"user","content":[` + strings.Join(parts, ",") + `]}]}`
	}

	// Five files of 90 KB: 450 KB of text, about 112,500 tokens ($1.13)
	// as the simulator bills them, more than the whole cap.
	status, h, b := g.do(t, "POST", "/v1/chat/completions", smallSecret, "application/json", request(90_000))
	if status != 429 {
		t.Fatalf("a request whose files cost more than the cap: status %d, want 429: %.300s", status, b)
	}
	t.Logf("refused: %s", budgetRefusal(t, h, b))

	// Ten requests of five 20 KB files ($0.25 each) in parallel.
	var served atomic.Int64
	var wg sync.WaitGroup
	for range 10 {
		body := request(20_000)
		wg.Go(func() {
			status, h, b := g.do(t, "POST", "/v1/chat/completions", smallSecret, "application/json", body)
			switch status {
			case 200:
				served.Add(1)
			case 429:
				budgetRefusal(t, h, b)
			default:
				t.Errorf("status %d: %.300s", status, b)
			}
		})
	}
	wg.Wait()
	u := g.usage(t, smallSecret)
	spent := int64(u.Key.SpentUSD*1e6 + 0.5)
	t.Logf("10 parallel requests of 100 KB of files: %d served, %d micro-USD spent of 1,000,000", served.Load(), spent)
	if spent > 1_000_000 {
		t.Errorf("spent %d micro-USD on a $1 cap", spent)
	}
	if served.Load() == 0 {
		t.Errorf("no request served: the cap affords about three")
	}
}
