package api_test

import (
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/fetch"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// onePixelPNG is a valid 1×1 PNG.
var onePixelPNG, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")

// TestImageURLsCheckedBeforeFetch: image URLs are fetched only once the
// request may be served: more images than Bedrock takes is a 400, and a key
// whose budget cannot cover the images alone a 429, both before any fetch
// (issue 13, point 3b: a $0 key's 16 KB request of 200 URLs made the
// gateway fetch 740 MB).
func TestImageURLsCheckedBeforeFetch(t *testing.T) {
	const model = "anthropic.claude-3-haiku-20240307-v1:0"
	var fetches atomic.Int64
	images := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "image/png")
		w.Write(onePixelPNG)
	}))
	t.Cleanup(images.Close)
	p, err := policy.Parse(map[string][]byte{"p.yaml": []byte(fmt.Sprintf(`
keys:
  - {id: broke, sha256: %s, monthly_budget_usd: 0}
  - {id: small, sha256: %s, monthly_budget_usd: 0.001}
  - {id: free, sha256: %s}
`, policy.HashSecret("broke"), policy.HashSecret("small"), policy.HashSecret("free")))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  &replyingBedrock{},
		Catalog:  fakeCatalog{},
		Budget:   budget.New(memory.New(), budget.Options{}),
		Images:   fetch.New(fetch.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}),
	}))
	t.Cleanup(srv.Close)
	body := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"type":"image_url","image_url":{"url":"%s/img%d.png"}}`, images.URL, i)
		}
		return fmt.Sprintf(`{"model":%q,"max_tokens":10,"messages":[{"role":"user","content":[{"type":"text","text":"What is this?"},%s]}]}`,
			model, strings.Join(parts, ","))
	}
	tests := []struct {
		name, key   string
		images      int
		wantStatus  int
		wantCode    string
		wantFetches int64
	}{
		{"more images than Bedrock takes", "free", 200, 400, "too_many_images", 0},
		{"a $0 key", "broke", 20, 429, "budget_exceeded", 0},
		// $0.001 covers 2 images of Claude 3 Haiku (1,600 tokens at 0.25
		// USD per 1M: 400 micro-USD each), not 20.
		{"a key that cannot pay for the images", "small", 20, 429, "budget_exceeded", 0},
		{"an uncapped key", "free", 3, 200, "", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fetches.Load()
			status, got := post(t, srv.URL+"/v1/chat/completions", tt.key, body(tt.images))
			if status != tt.wantStatus || (tt.wantCode != "" && !strings.Contains(got, `"code":"`+tt.wantCode+`"`)) {
				t.Errorf("status %d %.300s, want %d %s", status, got, tt.wantStatus, tt.wantCode)
			}
			if n := fetches.Load() - before; n != tt.wantFetches {
				t.Errorf("%d images fetched, want %d", n, tt.wantFetches)
			}
		})
	}
}
