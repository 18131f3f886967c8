package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// The adversarial tests of issue 13, points 3b, 3c and 4: work before
// admission is bounded. Each request is bounded in time.

// limitsGateway is adversarialGateway's policy served with args.
func limitsGateway(t *testing.T, args ...string) *gateway {
	t.Helper()
	dir := t.TempDir()
	hashes := make([]any, len(adversarialKeys))
	for i, id := range adversarialKeys {
		hashes[i] = policy.HashSecret(adversarialSecret(id))
	}
	if err := os.WriteFile(filepath.Join(dir, "policy.yaml"), []byte(fmt.Sprintf(adversarialPolicy, hashes...)), 0o644); err != nil {
		t.Fatal(err)
	}
	return startGateway(t, nil, append([]string{"-sim", "-policies", dir, "-store", "memory://"}, args...)...)
}

// TestAdversarialImageURLs: a $0 key naming 200 image URLs, or 20, makes
// the gateway fetch nothing (issue 13, point 3b: it fetched 740 MB).
func TestAdversarialImageURLs(t *testing.T) {
	var hits atomic.Int64
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write([]byte("\x89PNG\r\n\x1a\n" + strings.Repeat("x", 1<<20)))
	}))
	t.Cleanup(images.Close)
	g := limitsGateway(t, "-image-allow-private", "127.0.0.1/32")
	for _, tt := range []struct {
		urls   int
		status int
		code   string
	}{{200, 400, "too_many_images"}, {20, 429, "budget_exceeded"}} {
		parts := make([]string, tt.urls)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"type":"image_url","image_url":{"url":"%s/%d.png"}}`, images.URL, i)
		}
		body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":[%s]}]}`, haiku, strings.Join(parts, ","))
		start := time.Now()
		status, b := g.post(t, adversarialSecret("broke"), body, 30*time.Second)
		if status != tt.status || !strings.Contains(b, `"code":"`+tt.code+`"`) {
			t.Errorf("%d URLs from a $0 key: %d %.300s, want %d %s", tt.urls, status, b, tt.status, tt.code)
		}
		t.Logf("%d URLs from a $0 key: %d in %s", tt.urls, status, time.Since(start).Round(time.Millisecond))
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the gateway fetched %d images for a $0 key", n)
	}
}

// TestAdversarialItemFloods: bodies of millions of small items are refused
// at their bound, costing about their own size (issue 13, point 3c: 20
// million token ids in 40 MB grew memory ~2 GB; chat grew 16–21× on stop
// arrays and message lists). Here 8 MB bodies, any key.
func TestAdversarialItemFloods(t *testing.T) {
	g := limitsGateway(t)
	list := func(n int, item string) string {
		return "[" + strings.TrimSuffix(strings.Repeat(item+",", n), ",") + "]"
	}
	for _, tt := range []struct {
		name, path, body, param string
	}{
		{"4M token ids", "/v1/embeddings", `{"model":"amazon.titan-embed-text-v2:0","input":[` + list(4<<20, "1") + `]}`, "input"},
		{"2M stop sequences", "/v1/chat/completions", `{"model":"` + haiku + `","messages":[{"role":"user","content":"hi"}],"stop":` + list(2<<20, `"a"`) + `}`, "stop"},
		{"1M messages", "/v1/chat/completions", `{"model":"` + haiku + `","messages":` + list(1<<20, `{"role":"user","content":"hi"}`) + `}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", g.baseURL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer "+adversarialSecret("victim"))
			req.Header.Set("Content-Type", "application/json")
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			client := http.Client{Timeout: 30 * time.Second}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d %.200s; allocated %.1f MiB for %.1f MiB", resp.StatusCode, b, float64(alloc)/(1<<20), float64(len(tt.body))/(1<<20))
			if resp.StatusCode != 400 || !strings.Contains(string(b), `"param":"`+tt.param) && tt.param != "" {
				t.Errorf("status %d %.300s, want a 400 naming %q", resp.StatusCode, b, tt.param)
			}
			// Client and server share the process: the bound is the
			// server's 1.5× plus what the client's transport allocates.
			if limit := 2*uint64(len(tt.body)) + 8<<20; alloc > limit {
				t.Errorf("allocated %d MiB for a body of %d MiB", alloc>>20, len(tt.body)>>20)
			}
		})
	}
}

// TestAdversarialSlowBodies: half-sent bodies from a $0 key hold no
// model-request place, and another key is served throughout (issue 13,
// point 4: 1,024 of them made every other key's requests fail with 429).
func TestAdversarialSlowBodies(t *testing.T) {
	g := limitsGateway(t, "-max-concurrent-requests", "8", "-max-pending-bodies-per-key", "16")
	addr := strings.TrimPrefix(g.baseURL, "http://")
	for range 64 {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		fmt.Fprintf(c, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"model\":", adversarialSecret("broke"))
	}
	body := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}]}`, haiku)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		status, b := g.post(t, adversarialSecret("broke"), body, 30*time.Second)
		if status == 429 && strings.Contains(b, "too_many_pending_requests") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the flooding key never met its bound of pending bodies: %d %.300s", status, b)
		}
	}
	for i := range 20 {
		if status, b := g.post(t, adversarialSecret("victim"), body, 30*time.Second); status != 200 {
			t.Fatalf("request %d of another key during the flood: %d %.300s", i, status, b)
		}
	}
}
