package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

// The adversarial tests replay the attacks of issue 13 that got through, end
// to end against the gateway in -sim mode; each is bounded in time (a
// request that hangs fails the test instead of hanging CI). SECURITY.md
// lists them.

const adversarialPolicy = `
keys:
  - {id: no-haiku, sha256: %q, deny: ["anthropic.claude-3-haiku-*"]}
  - {id: no-haiku-glob, sha256: %q, deny: ["*claude-3-haiku*"]}
  - {id: broke, sha256: %q, monthly_budget_usd: 0}
  - {id: spy, sha256: %q, team: apart}
  - {id: victim, sha256: %q, team: apart}
  - {id: mate1, sha256: %q, team: sharing}
  - {id: mate2, sha256: %q, team: sharing}
teams:
  - {id: apart}
  - {id: sharing, share_prompt_cache: true}
models:
  "*claude-3-7-sonnet*":
    prompt_cache: true
`

// adversarialKeys are the secrets of adversarialPolicy's keys, in order.
var adversarialKeys = []string{"no-haiku", "no-haiku-glob", "broke", "spy", "victim", "mate1", "mate2"}

func adversarialSecret(id string) string { return "sk-test-adversarial-" + id }

func adversarialGateway(t *testing.T) *gateway {
	t.Helper()
	dir := t.TempDir()
	args := make([]any, len(adversarialKeys))
	for i, id := range adversarialKeys {
		args[i] = policy.HashSecret(adversarialSecret(id))
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(fmt.Sprintf(adversarialPolicy, args...)), 0o644); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
}

// post sends a chat body with a key, bounded by timeout.
func (g *gateway) post(t *testing.T, key, body string, timeout time.Duration) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", g.baseURL+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("the gateway did not answer within %s: %v", timeout, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestAdversarialServedModel: a key denying Claude 3 Haiku cannot reach it
// by any of its names, and GET /v1/models lists none of them (issue 13,
// point 2).
func TestAdversarialServedModel(t *testing.T) {
	g := adversarialGateway(t)
	names := []string{
		haiku,
		"us." + haiku,
		"arn:aws:bedrock:us-east-1::foundation-model/" + haiku,
		"arn:aws:bedrock:us-east-1:" + bedrocksim.Account + ":inference-profile/us." + haiku,
		bedrocksim.AppProfileARN,
		"arn:aws:bedrock:us-east-1:" + bedrocksim.Account + ":application-inference-profile/unknown",
	}
	for _, key := range []string{"no-haiku", "no-haiku-glob"} {
		for _, name := range names {
			status, body := g.post(t, adversarialSecret(key), fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, name), 30*time.Second)
			if status != 403 || !strings.Contains(body, `"code":"model_not_allowed"`) {
				t.Errorf("%s asking for %s: %d %s, want 403 model_not_allowed", key, name, status, body)
			}
		}
		status, _, b := g.do(t, "GET", "/v1/models", adversarialSecret(key), "", "")
		if status != 200 {
			t.Fatalf("GET /v1/models: %d %s", status, b)
		}
		var list struct{ Data []struct{ ID string } }
		if err := json.Unmarshal(b, &list); err != nil {
			t.Fatal(err)
		}
		for _, m := range list.Data {
			if strings.Contains(m.ID, "claude-3-haiku") || m.ID == bedrocksim.AppProfileARN {
				t.Errorf("%s: GET /v1/models lists %s, which routes to a denied model", key, m.ID)
			}
		}
	}
	for _, line := range strings.Split(g.logs.String(), "\n") {
		if strings.Contains(line, `"key_id":"no-haiku`) && strings.Contains(line, `"upstream_request_id"`) {
			t.Errorf("a request of a key denying Haiku reached Bedrock: %s", line)
		}
	}
}

// TestAdversarialExhaustedKey: a key with a $0 budget is refused before the
// gateway does any work on its body: a large body that is not even JSON
// gets the 429, not the 400 that parsing it would give, and a megabyte of
// one character (which took seconds of CPU to count) is refused promptly
// (issue 13, point 3a).
func TestAdversarialExhaustedKey(t *testing.T) {
	g := adversarialGateway(t)
	key := adversarialSecret("broke")
	status, body := g.post(t, key, `{"model":"`+haiku+`","messages":[`+strings.Repeat("x", 200<<10), 30*time.Second)
	if status != 429 || !strings.Contains(body, `"code":"budget_exceeded"`) {
		t.Errorf("a large invalid body from a $0 key: %d %.300s, want 429 budget_exceeded before parsing", status, body)
	}
	for _, n := range []int{80 << 10, 1 << 20} {
		start := time.Now()
		status, body = g.post(t, key, fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":%q}]}`, haiku, strings.Repeat("=", n)), 30*time.Second)
		if status != 429 {
			t.Errorf("%d bytes of '=' from a $0 key: %d %.300s, want 429", n, status, body)
		}
		t.Logf("%d bytes of '=' from a $0 key refused in %s", n, time.Since(start).Round(time.Millisecond))
	}
}

// TestAdversarialPromptCache: a key cannot read another key's cached prompt
// by guessing it; the keys of a team that shares its cache can (issue 13,
// point 7).
func TestAdversarialPromptCache(t *testing.T) {
	g := adversarialGateway(t)
	ctx := context.Background()
	system := strings.Repeat("Confidential: the launch is on 3 March. Never reveal it. ", 120) // past the 1,024-token minimum
	params := openai.ChatCompletionNewParams{
		Model:    sonnet37,
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(system), openai.UserMessage("Hello")},
	}
	cached := func(key string) int64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		client := g.client(t, adversarialSecret(key))
		resp, err := client.Chat.Completions.New(ctx, params)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		return resp.Usage.PromptTokensDetails.CachedTokens
	}
	if n := cached("victim"); n != 0 {
		t.Fatalf("the victim's first request read %d cached tokens: the cache is not fresh", n)
	}
	if n := cached("victim"); n < 1024 {
		t.Errorf("the victim's second request read %d cached tokens, want its own prefix cached", n)
	}
	if n := cached("spy"); n != 0 {
		t.Errorf("the spy read %d tokens of the victim's cached prompt", n)
	}
	cached("mate1")
	if n := cached("mate2"); n < 1024 {
		t.Errorf("a key of a team sharing its cache read %d cached tokens, want its teammate's prefix", n)
	}
}
