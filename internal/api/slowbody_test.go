package api_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// TestSlowBodiesDoNotStarveOtherKeys: a key that opens many requests and
// sends only part of their bodies holds no model-request place (those are
// taken at admission), and past its own bound of unread bodies gets 429s:
// another key is still served (issue 13, point 4: 1,024 half-sent bodies
// from a $0 key made every other key's requests fail with 429).
func TestSlowBodiesDoNotStarveOtherKeys(t *testing.T) {
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(fmt.Sprintf(`
keys:
  - {id: slow, sha256: %s, monthly_budget_usd: 0}
  - {id: other, sha256: %s}
`, policy.HashSecret("slow"), policy.HashSecret("other")))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:                slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies:              policy.NewHolder(p),
		Bedrock:               &replyingBedrock{},
		Catalog:               fakeCatalog{},
		Budget:                budget.New(memory.New(), budget.Options{}),
		MaxConcurrent:         4,
		MaxUnreadBodiesPerKey: 8,
		BodyReadTimeout:       30 * time.Second,
	}))
	t.Cleanup(srv.Close)
	body := fmt.Sprintf(`{"model":%q,"max_tokens":10,"messages":[{"role":"user","content":"hello"}]}`, model)

	// 12 half-sent bodies from the slow key: 8 are read (slowly), 4 refused.
	const slow = 12
	var (
		pipes   []*io.PipeWriter
		wg      sync.WaitGroup
		mu      sync.Mutex
		refused []string
	)
	t.Cleanup(func() { // before the server closes, which waits for these requests
		for _, pw := range pipes {
			pw.Close()
		}
	})
	for range slow {
		pr, pw := io.Pipe()
		pipes = append(pipes, pw)
		req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", pr)
		req.Header.Set("Authorization", "Bearer slow")
		req.Header.Set("Content-Type", "application/json")
		req.ContentLength = int64(len(body))
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode == 429 && strings.Contains(string(b), `"code":"too_many_unread_bodies"`) {
				mu.Lock()
				refused = append(refused, string(b))
				mu.Unlock()
			}
		}()
		go func() { _, _ = pw.Write([]byte(body[:10])) }()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(refused)
		mu.Unlock()
		if n == slow-8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of the slow key's requests refused, want %d past its bound of 8 unread bodies", n, slow-8)
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Meanwhile another key is served, up to the gateway's 4 places.
	for i := range 6 {
		if status, b := post(t, srv.URL+"/v1/chat/completions", "other", body); status != 200 {
			t.Errorf("request %d of another key during the flood: %d %s", i, status, b)
		}
	}

	for _, pw := range pipes {
		_, _ = pw.Write([]byte(body[10:]))
		pw.Close()
	}
	wg.Wait()
}
