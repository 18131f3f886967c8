package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/openapitest"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/testsvc"
)

const rateSecret = "sk-test-rate-0123456789"

// writeRatePolicy writes a policy file, name in dir, whose one key, rate,
// may make 60 requests a minute.
func writeRatePolicy(t *testing.T, dir, name string) {
	t.Helper()
	body := fmt.Sprintf("keys:\n  - id: rate\n    sha256: %q\n    requests_per_minute: 60\n", policy.HashSecret(rateSecret))
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// burst sends 300 chat completions at once, the i-th to bases[i%len], and
// counts the answers by status; a 429 must be OpenAI's rate-limit error.
func burst(t *testing.T, bases []string) map[int]int {
	t.Helper()
	body := chatBody("Hi [sim:latency=200ms]", 20, false)
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for i := range 300 {
		wg.Go(func() {
			req, _ := http.NewRequest("POST", bases[i%len(bases)]+"/v1/chat/completions", strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+rateSecret)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			mu.Lock()
			codes[resp.StatusCode]++
			mu.Unlock()
			switch resp.StatusCode {
			case 200:
			case 429:
				openapitest.Validate(t, "ErrorResponse", b)
				if !strings.Contains(string(b), `"type":"requests"`) || !strings.Contains(string(b), `"code":"rate_limit_exceeded"`) ||
					resp.Header.Get("Retry-After") == "" || resp.Header.Get("X-Ratelimit-Remaining-Requests") != "0" {
					t.Errorf("429 %v %s", resp.Header, b)
				}
			default:
				t.Errorf("status %d: %s", resp.StatusCode, b)
			}
		})
	}
	wg.Wait()
	return codes
}

// TestRateLimitExact: 300 concurrent requests of a key allowed 60 a minute,
// exactly 60 admitted, with one gateway on bbolt.
func TestRateLimitExact(t *testing.T) {
	dir := t.TempDir()
	writeRatePolicy(t, dir, "policy.yaml")
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "bolt://"+filepath.Join(t.TempDir(), "usage.db"))
	codes := burst(t, []string{g.baseURL})
	if codes[200] != 60 || codes[429] != 240 {
		t.Fatalf("answers by status %v, want exactly 60 200s and 240 429s", codes)
	}
	// Each refusal is counted once, by the key's window and the kind of
	// limit, and once among the rejections by its error code.
	m := g.scrape(t)
	for _, c := range []struct {
		series string
		want   float64
	}{
		{"tollgate_rate_limit_refusals_total{key=rate,scope=key,type=requests}", 240},
		{"tollgate_budget_rejections_total{key=rate,reason=rate_limit_exceeded}", 240},
	} {
		if m[c.series] != c.want {
			t.Errorf("%s = %v, want %v", c.series, m[c.series], c.want)
		}
	}
}

// TestRateLimitTwoGateways: the same across two gateway processes sharing a
// DynamoDB table (DynamoDB Local), where the window is kept.
func TestRateLimitTwoGateways(t *testing.T) {
	endpoint := testsvc.DynamoDB(t)
	env := []string{"AWS_ENDPOINT_URL_DYNAMODB=" + endpoint, "AWS_ACCESS_KEY_ID=local", "AWS_SECRET_ACCESS_KEY=local", "AWS_REGION=us-east-1"}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	table := fmt.Sprintf("rate_%d", time.Now().UnixNano())
	if err := run(context.Background(), []string{"store", "init", "-store", "dynamodb://" + table}, func(string) string { return "" }, io.Discard, io.Discard); err != nil {
		t.Fatalf("store init: %v", err)
	}
	dir := t.TempDir()
	writeRatePolicy(t, dir, "policy.yaml")
	args := []string{"-sim", "-policies", dir, "-store", "dynamodb://" + table}
	bin := tollgateBinary(t)
	a := startGatewayProc(t, bin, env, args...)
	b := startGatewayProc(t, bin, env, args...)
	start := time.Now()
	codes := burst(t, []string{a.baseURL, b.baseURL})
	t.Logf("300 requests over two gateways in %v: %v", time.Since(start).Round(time.Millisecond), codes)
	if codes[200] != 60 || codes[429] != 240 {
		t.Fatalf("answers by status %v, want exactly 60 200s and 240 429s", codes)
	}
}

// TestRateLimitReloads: a rate limit changed in the policy file applies to
// the next request, without a restart.
func TestRateLimitReloads(t *testing.T) {
	dir := t.TempDir()
	write := func(rpm int) {
		body := fmt.Sprintf("keys:\n  - id: rate\n    sha256: %q\n    requests_per_minute: %d\n", policy.HashSecret(rateSecret), rpm)
		if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(1)
	g := startGateway(t, nil, "-sim", "-policies", dir, "-store", "memory://")
	body := chatBody("hi", 10, false)
	if status, h, b := g.do(t, "POST", "/v1/chat/completions", rateSecret, "application/json", body); status != 200 || h.Get("X-Ratelimit-Limit-Requests") != "1" {
		t.Fatalf("first request: %d %v %s", status, h, b)
	}
	if status, _, _ := g.do(t, "POST", "/v1/chat/completions", rateSecret, "application/json", body); status != 429 {
		t.Fatalf("second request under 1 a minute: %d, want 429", status)
	}
	write(5)
	waitFor(t, 3*time.Second, func() bool {
		status, h, _ := g.do(t, "POST", "/v1/chat/completions", rateSecret, "application/json", body)
		return status == 200 && h.Get("X-Ratelimit-Limit-Requests") == "5"
	})
}
