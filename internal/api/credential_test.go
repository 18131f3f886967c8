package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/bedrocksim"
	"github.com/tollgate-gw/tollgate/internal/budget"
	"github.com/tollgate-gw/tollgate/internal/policy"
	"github.com/tollgate-gw/tollgate/internal/upstream"
	"github.com/tollgate-gw/tollgate/internal/usage/memory"
)

// TestClientCredentialNeverForwarded: whatever credential the client sends
// (a bearer token, x-api-key), Bedrock sees only Tollgate's own SigV4
// signature, on /bedrock as on the Messages route (issue 16 point 2).
func TestClientCredentialNeverForwarded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	simURL, err := bedrocksim.New(bedrocksim.Options{}).Start(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target, _ := url.Parse(simURL)
	var (
		mu   sync.Mutex
		seen []http.Header
	)
	proxy := httputil.NewSingleHostReverseProxy(target)
	tap := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Clone())
		mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(tap.Close)
	cfg, err := config.LoadDefaultConfig(ctx, config.WithRegion("us-east-1"),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("AKIDTOLLGATE", "x", "")))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "sk-client-secret-1234"
	p, err := policy.Parse(map[string][]byte{"p.yaml": fmt.Appendf(nil, "keys:\n  - {id: k, sha256: %s}\n", policy.HashSecret(secret))})
	if err != nil {
		t.Fatal(err)
	}
	client := upstream.NewClient(cfg, tap.URL)
	srv := httptest.NewServer(api.NewServer(api.Deps{
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
		Policies: policy.NewHolder(p),
		Bedrock:  client,
		Catalog:  upstream.NewCatalog(ctx, client, time.Minute, time.Now),
		Budget:   budget.New(memory.New(), budget.Options{}),
	}))
	t.Cleanup(srv.Close)

	const haiku = "anthropic.claude-3-haiku-20240307-v1:0"
	for _, tc := range []struct{ path, header, body string }{
		{"/bedrock/model/" + haiku + "/converse", "Authorization", `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":10}}`},
		{"/bedrock/model/" + haiku + "/invoke", "x-api-key", `{"anthropic_version":"bedrock-2023-05-31","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`},
		{"/v1/messages", "x-api-key", `{"model":"` + haiku + `","max_tokens":10,"messages":[{"role":"user","content":"Hi"}]}`},
	} {
		req, _ := http.NewRequest("POST", srv.URL+tc.path, strings.NewReader(tc.body))
		req.Header.Set("Content-Type", "application/json")
		if tc.header == "Authorization" {
			req.Header.Set("Authorization", "Bearer "+secret)
		} else {
			req.Header.Set(tc.header, secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("POST %s: %d %s", tc.path, resp.StatusCode, b)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	var calls int
	for _, h := range seen {
		for name, vs := range h {
			for _, v := range vs {
				if strings.Contains(v, secret) {
					t.Errorf("Bedrock got the client's key in %s", name)
				}
			}
		}
		if strings.Contains(h.Get("Authorization"), "Credential=AKIDTOLLGATE/") {
			calls++
		} else if h.Get("Authorization") != "" {
			t.Errorf("Bedrock got Authorization %q, want Tollgate's SigV4", h.Get("Authorization"))
		}
	}
	if calls < 3 {
		t.Errorf("%d signed calls reached Bedrock, want at least 3", calls)
	}
}
