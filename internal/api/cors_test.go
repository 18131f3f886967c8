package api_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/api"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

func TestParseCORSOrigins(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string // a part of the error; "" for none
	}{
		{"unset: none", "", nil, ""},
		{"blank and empty items: none", " , ,", nil, ""},
		{"any", "*", []string{"*"}, ""},
		{"several, trimmed and lower-cased", " https://App.Example.com , http://localhost:*,https://*.example.com:8443",
			[]string{"https://app.example.com", "http://localhost:*", "https://*.example.com:8443"}, ""},
		{"IPv6 literal", "http://[::1]:8080", []string{"http://[::1]:8080"}, ""},
		{"browser extension", "chrome-extension://abcdefghijkl", []string{"chrome-extension://abcdefghijkl"}, ""},
		{"no scheme", "app.example.com", nil, `"app.example.com": not an origin: write it as scheme://host[:port]`},
		{"trailing slash", "https://app.example.com/", nil, "no path, query or fragment: write https://app.example.com"},
		{"a path", "https://app.example.com/chat", nil, "write https://app.example.com"},
		{"user name", "https://me@app.example.com", nil, "no user name: write https://app.example.com"},
		{"no host", "https://", nil, "no host"},
		{"bad port", "http://localhost:80a", nil, `port "80a" is not a number or *`},
		{"empty port", "http://localhost:", nil, `port "" is not a number or *`},
		{"bare IPv6", "http://::1", nil, "IPv6 address is written in brackets"},
		{"null is no pattern", "null", nil, "not an origin"},
		{"one bad among good", "https://a.example.com,https://b.example.com/", nil, `"https://b.example.com/"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := api.ParseCORSOrigins(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("origins (-want +got):\n%s", diff)
			}
		})
	}
}

// corsServer serves the gateway on the Bedrock simulator with the given
// CORS origins and origin secrets; its key sk-cors is allowed 100
// requests a minute, so that responses carry x-ratelimit-* headers.
func corsServer(t *testing.T, origins, secrets []string) *httptest.Server {
	t.Helper()
	return simServer(t, fmt.Sprintf(`
keys:
  - {id: cors, sha256: %s, requests_per_minute: 100}
  - {id: spent, sha256: %s, requests_per_minute: 1}
`, policy.HashSecret("sk-cors"), policy.HashSecret("sk-spent")), func(d *api.Deps) {
		d.CORSOrigins, d.OriginSecrets = origins, secrets
	})
}

// corsHeaders are the CORS response headers of resp, "" for one absent.
type corsHeaders struct {
	AllowOrigin, AllowMethods, AllowHeaders, MaxAge, Expose, AllowCredentials string
}

func corsOf(resp *http.Response) corsHeaders {
	return corsHeaders{
		AllowOrigin:      resp.Header.Get("Access-Control-Allow-Origin"),
		AllowMethods:     resp.Header.Get("Access-Control-Allow-Methods"),
		AllowHeaders:     resp.Header.Get("Access-Control-Allow-Headers"),
		MaxAge:           resp.Header.Get("Access-Control-Max-Age"),
		Expose:           resp.Header.Get("Access-Control-Expose-Headers"),
		AllowCredentials: resp.Header.Get("Access-Control-Allow-Credentials"),
	}
}

// The headers the OpenAI SDK's preflight asks for (openai 6.x in Chromium).
const sdkRequestHeaders = "authorization,content-type,x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"

// TestCORSPreflight: a preflight from an allowed origin (exact, or by a
// glob) is answered 204 without a key, naming the origin and echoing the
// headers asked for; one from another origin gets 403 and no CORS
// headers; no preflight reaches authentication or Bedrock.
func TestCORSPreflight(t *testing.T) {
	srv := corsServer(t, []string{"https://app.example.com", "https://*.tools.example.com", "http://localhost:*", "http://[::1]:*"}, nil)
	echoed := strings.ReplaceAll(sdkRequestHeaders, ",", ", ")
	allowed := func(origin, headers string) corsHeaders {
		return corsHeaders{AllowOrigin: origin, AllowMethods: "GET, POST", AllowHeaders: headers, MaxAge: "7200"}
	}
	tests := []struct {
		name       string
		path       string
		origin     string
		reqHeaders []string // values of Access-Control-Request-Headers
		wantStatus int
		want       corsHeaders
	}{
		{"exact origin", "/v1/chat/completions", "https://app.example.com", []string{sdkRequestHeaders}, 204, allowed("https://app.example.com", echoed)},
		{"origin in another case", "/v1/chat/completions", "https://APP.example.com", []string{"authorization"}, 204, allowed("https://APP.example.com", "authorization")},
		{"subdomain glob", "/v1/chat/completions", "https://a.tools.example.com", []string{"authorization"}, 204, allowed("https://a.tools.example.com", "authorization")},
		{"glob spans several labels", "/v1/messages", "https://a.b.tools.example.com", []string{"x-api-key, anthropic-version"}, 204, allowed("https://a.b.tools.example.com", "x-api-key, anthropic-version")},
		{"port glob", "/v1/models", "http://localhost:5173", []string{"authorization"}, 204, allowed("http://localhost:5173", "authorization")},
		{"IPv6 literal", "/v1/models", "http://[::1]:3000", []string{"authorization"}, 204, allowed("http://[::1]:3000", "authorization")},
		{"Bedrock's API", "/bedrock/model/x/converse", "https://app.example.com", []string{"authorization"}, 204, allowed("https://app.example.com", "authorization")},
		{"no headers asked for", "/v1/models", "https://app.example.com", nil, 204, allowed("https://app.example.com", "")},
		{"headers in two fields, one not a name", "/v1/models", "https://app.example.com", []string{"authorization, not a name", "x-stainless-os"}, 204, allowed("https://app.example.com", "authorization, x-stainless-os")},
		{"other origin", "/v1/chat/completions", "https://evil.example.net", []string{"authorization"}, 403, corsHeaders{}},
		{"the glob's parent", "/v1/chat/completions", "https://tools.example.com", nil, 403, corsHeaders{}},
		{"the glob as a prefix of another domain", "/v1/chat/completions", "https://a.tools.example.com.evil.net", nil, 403, corsHeaders{}},
		{"a host glob does not match a port", "/v1/chat/completions", "https://a.tools.example.com:8443", nil, 403, corsHeaders{}},
		{"other scheme", "/v1/chat/completions", "http://app.example.com", nil, 403, corsHeaders{}},
		{"other port", "/v1/chat/completions", "https://app.example.com:444", nil, 403, corsHeaders{}},
		{"a port glob needs a port", "/v1/chat/completions", "http://localhost", nil, 403, corsHeaders{}},
		{"a port glob matches no path", "/v1/chat/completions", "http://localhost:1/x", nil, 403, corsHeaders{}},
		{"opaque origin", "/v1/chat/completions", "null", nil, 403, corsHeaders{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, srv.URL+tt.path, nil)
			req.Header.Set("Origin", tt.origin)
			req.Header.Set("Access-Control-Request-Method", "POST")
			for _, v := range tt.reqHeaders {
				req.Header.Add("Access-Control-Request-Headers", v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			if diff := cmp.Diff(tt.want, corsOf(resp)); diff != "" {
				t.Errorf("CORS headers (-want +got):\n%s", diff)
			}
			if got := resp.Header.Values("Vary"); !cmp.Equal(got, []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}) {
				t.Errorf("Vary %q", got)
			}
			if tt.wantStatus == 204 {
				if len(body) != 0 {
					t.Errorf("a 204 with a body: %s", body)
				}
				return
			}
			var e struct {
				Error struct{ Type, Code, Message string }
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if e.Error.Type != "permission_error" || e.Error.Code != "cors_origin_not_allowed" || !strings.Contains(e.Error.Message, "-cors-origins") {
				t.Errorf("error %+v, want permission_error cors_origin_not_allowed naming -cors-origins", e.Error)
			}
		})
	}
}

// TestCORSResponses: a request from an allowed origin gets
// Access-Control-Allow-Origin and the exposed headers on every answer:
// plain, streamed, listed, and errors of each protocol, whichever
// middleware wrote them (authentication, the rate limit, the handler);
// one from another origin, or without an Origin, gets none but is
// otherwise served as before; credentials are never allowed.
func TestCORSResponses(t *testing.T) {
	srv := corsServer(t, []string{"https://app.example.com"}, nil)
	const chat = `{"model":"anthropic.claude-3-haiku-20240307-v1:0","max_tokens":20,"stream":%v,"messages":[{"role":"user","content":"Hi"}]}`
	// The spent key's one request a minute goes first.
	tests := []struct {
		name, method, path, key, origin, body string
		headers                               map[string]string
		wantStatus                            int
		wantBody                              string // a part of the body
		wantRead                              string // an exposed header the answer carries
	}{
		{"spend the limited key", "POST", "/v1/chat/completions", "sk-spent", "https://app.example.com", fmt.Sprintf(chat, false), nil, 200, `"chat.completion"`, "x-ratelimit-remaining-requests"},
		{"plain chat", "POST", "/v1/chat/completions", "sk-cors", "https://app.example.com", fmt.Sprintf(chat, false), nil, 200, `"chat.completion"`, "x-ratelimit-remaining-requests"},
		{"streamed chat", "POST", "/v1/chat/completions", "sk-cors", "https://app.example.com", fmt.Sprintf(chat, true), nil, 200, "data: [DONE]", "x-ratelimit-remaining-requests"},
		{"streamed messages", "POST", "/v1/messages", "sk-cors", "https://app.example.com",
			`{"model":"claude-3-haiku-20240307","max_tokens":20,"stream":true,"messages":[{"role":"user","content":"Hi"}]}`,
			map[string]string{"anthropic-version": "2023-06-01"}, 200, "event: message_stop", "anthropic-ratelimit-requests-remaining"},
		{"models", "GET", "/v1/models", "sk-cors", "https://app.example.com", "", nil, 200, `"object":"list"`, "x-request-id"},
		{"no key", "POST", "/v1/chat/completions", "", "https://app.example.com", fmt.Sprintf(chat, false), nil, 401, "invalid_api_key", "x-request-id"},
		{"rate limited", "POST", "/v1/chat/completions", "sk-spent", "https://app.example.com", fmt.Sprintf(chat, false), nil, 429, "rate_limit_exceeded", "retry-after"},
		{"bad request", "POST", "/v1/chat/completions", "sk-cors", "https://app.example.com", `{"model":`, nil, 400, "invalid_request_error", "x-request-id"},
		{"Anthropic's error", "POST", "/v1/messages", "", "https://app.example.com", `{}`, map[string]string{"anthropic-version": "2023-06-01"}, 401, `"authentication_error"`, "x-request-id"},
		{"unknown URL", "GET", "/v2/models", "sk-cors", "https://app.example.com", "", nil, 404, "unknown_url", "x-request-id"},
		{"other origin: served, no CORS headers", "POST", "/v1/chat/completions", "sk-cors", "https://evil.example.net", fmt.Sprintf(chat, false), nil, 200, `"chat.completion"`, ""},
		{"no origin: served, no CORS headers", "POST", "/v1/chat/completions", "sk-cors", "", fmt.Sprintf(chat, true), nil, 200, "data: [DONE]", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, srv.URL+tt.path, strings.NewReader(tt.body))
			if tt.key != "" {
				req.Header.Set("Authorization", "Bearer "+tt.key)
			}
			req.Header.Set("Content-Type", "application/json")
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			for k, v := range tt.headers {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(body), tt.wantBody) {
				t.Fatalf("status %d, body %s; want %d and %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			got := corsOf(resp)
			if tt.wantRead == "" {
				if diff := cmp.Diff(corsHeaders{}, got); diff != "" {
					t.Errorf("CORS headers (-want +got):\n%s", diff)
				}
			} else {
				if got.AllowOrigin != tt.origin || got.AllowCredentials != "" || got.AllowMethods != "" {
					t.Errorf("CORS headers %+v, want the origin allowed, no credentials, no preflight headers", got)
				}
				exposed := strings.Split(got.Expose, ", ")
				if !slices.Contains(exposed, tt.wantRead) || resp.Header.Get(tt.wantRead) == "" {
					t.Errorf("%s: exposed %v, sent %q; want it sent and exposed", tt.wantRead, exposed, resp.Header.Get(tt.wantRead))
				}
			}
			if got := resp.Header.Values("Vary"); !slices.Contains(got, "Origin") {
				t.Errorf("Vary %q, want Origin", got)
			}
		})
	}
}

// TestCORSExposesWhatClientsRead: every header the SDKs read, that the
// gateway sends, is exposed.
func TestCORSExposesWhatClientsRead(t *testing.T) {
	srv := corsServer(t, []string{"*"}, nil)
	req, _ := http.NewRequest("GET", srv.URL+"/v1/models", nil)
	req.Header.Set("Origin", "https://anything.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://anything.example" {
		t.Fatalf("Access-Control-Allow-Origin %q with \"*\" allowed", got)
	}
	exposed := strings.Split(resp.Header.Get("Access-Control-Expose-Headers"), ", ")
	for _, h := range []string{
		"x-request-id", "retry-after", "x-should-retry",
		"x-ratelimit-limit-requests", "x-ratelimit-remaining-requests", "x-ratelimit-reset-requests",
		"x-ratelimit-limit-tokens", "x-ratelimit-remaining-tokens", "x-ratelimit-reset-tokens",
		"anthropic-ratelimit-requests-limit", "anthropic-ratelimit-requests-remaining", "anthropic-ratelimit-requests-reset",
		"anthropic-ratelimit-tokens-limit", "anthropic-ratelimit-tokens-remaining", "anthropic-ratelimit-tokens-reset",
		"x-amzn-requestid", "x-amzn-errortype",
	} {
		if !slices.Contains(exposed, h) {
			t.Errorf("%s is not exposed: %v", h, exposed)
		}
	}
}

// TestCORSBehindFrontDoor: with an origin secret, a preflight without it
// is refused as any request is (origin_forbidden, no CORS headers), and
// one with it, as the front door sends it, is answered.
func TestCORSBehindFrontDoor(t *testing.T) {
	srv := corsServer(t, []string{"https://app.example.com"}, []string{originCurrent})
	for _, tt := range []struct {
		name       string
		secret     string
		wantStatus int
		wantOrigin string
	}{
		{"bypassing the front door", "", 403, ""},
		{"through the front door", originCurrent, 204, "https://app.example.com"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/v1/chat/completions", nil)
			req.Header.Set("Origin", "https://app.example.com")
			req.Header.Set("Access-Control-Request-Method", "POST")
			req.Header.Set("Access-Control-Request-Headers", "authorization")
			if tt.secret != "" {
				req.Header.Set(api.OriginHeader, tt.secret)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus || resp.Header.Get("Access-Control-Allow-Origin") != tt.wantOrigin {
				t.Fatalf("status %d, Access-Control-Allow-Origin %q; want %d, %q; body %s",
					resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), tt.wantStatus, tt.wantOrigin, body)
			}
			if tt.wantStatus == 403 && !strings.Contains(string(body), "origin_forbidden") {
				t.Errorf("body %s, want origin_forbidden", body)
			}
		})
	}
}

// TestCORSOff: without allowed origins nothing changes: a preflight is a
// method not allowed, and no answer carries CORS headers.
func TestCORSOff(t *testing.T) {
	srv := corsServer(t, nil, nil)
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/v1/chat/completions", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || corsOf(resp) != (corsHeaders{}) || resp.Header.Get("Vary") != "" {
		t.Errorf("preflight: status %d, CORS %+v, Vary %q; want 405 and none", resp.StatusCode, corsOf(resp), resp.Header.Get("Vary"))
	}
	req, _ = http.NewRequest("GET", srv.URL+"/v1/models", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Authorization", "Bearer sk-cors")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || corsOf(resp) != (corsHeaders{}) {
		t.Errorf("models: status %d, CORS %+v; want 200 and none", resp.StatusCode, corsOf(resp))
	}
}
