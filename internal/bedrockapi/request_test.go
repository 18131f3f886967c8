package bedrockapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/bedrockapi"
)

const (
	claudeFamily = "anthropic.claude-3-haiku-20240307-v1:0"
	llamaFamily  = "meta.llama3-8b-instruct-v1:0"
	titanFamily  = "amazon.titan-text-express-v1"
	embedFamily  = "amazon.titan-embed-text-v2:0"
)

// measures is what a test compares of a Call.
type measures struct {
	Images, Blocks, MaxOutput, ThinkingBudget int
	Tools, CacheWrite                         bool
	Texts                                     []string
}

func measure(c *bedrockapi.Call) measures {
	return measures{Images: c.Images, Blocks: c.Blocks, MaxOutput: c.MaxOutput, ThinkingBudget: c.ThinkingBudget,
		Tools: c.Tools, CacheWrite: c.CacheWrite, Texts: c.Texts()}
}

func TestParseConverse(t *testing.T) {
	tests := []struct {
		name string
		body string
		want measures
	}{
		{"text and cap", `{"messages":[{"role":"user","content":[{"text":"Hi"}]}],"inferenceConfig":{"maxTokens":100}}`,
			measures{Blocks: 2, MaxOutput: 100, Texts: []string{"Hi"}}},
		{"image, system, tools, cache point, thinking", `{"messages":[{"role":"user","content":[{"image":{"format":"png","source":{"bytes":"aGVsbG8="}}},{"cachePoint":{"type":"default"}}]}],
			"system":[{"text":"Be brief."}],"toolConfig":{"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{}}}}]},
			"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2048}}}`,
			measures{Images: 1, Blocks: 5, ThinkingBudget: 2048, Tools: true, CacheWrite: true, Texts: []string{"default", "Be brief.", "f"}}},
		{"text document: its bytes are text", `{"messages":[{"role":"user","content":[{"document":{"format":"txt","name":"notes","source":{"bytes":"aGVsbG8gd29ybGQ="}}}]}]}`,
			measures{Blocks: 2, Texts: []string{"hello world", "notes"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := bedrockapi.ParseConverse([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, measure(c)); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
			if c.InputBytes > len(tt.body) || (strings.Contains(tt.body, `"bytes":"aGVsbG8="`) && c.InputBytes > len(tt.body)-8) {
				t.Errorf("input bound %d of a %d-byte body keeps the image's base64", c.InputBytes, len(tt.body))
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, family, body, want string
	}{
		{"converse not JSON", "", `{`, "must be a Converse request"},
		{"converse cap below 1", "", `{"inferenceConfig":{"maxTokens":0}}`, "inferenceConfig.maxTokens must be at least 1"},
		{"claude without max_tokens", claudeFamily, `{"anthropic_version":"bedrock-2023-05-31","messages":[{"role":"user","content":"Hi"}]}`, "max_tokens"},
		{"claude with a model", claudeFamily, `{"model":"x","max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}`, "the model is in the path"},
		{"llama cap not a number", llamaFamily, `{"prompt":"Hi","max_gen_len":"many"}`, "max_gen_len must be a positive integer"},
		{"not an object", titanFamily, `[1]`, "must be a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.family == "" {
				_, err = bedrockapi.ParseConverse([]byte(tt.body))
			} else {
				_, err = bedrockapi.ParseInvoke(tt.family, []byte(tt.body))
			}
			e := tollgate.AsError(err)
			if err == nil || e.Kind != tollgate.Invalid || !strings.Contains(e.Message, tt.want) {
				t.Errorf("error %v, want an Invalid error saying %q", err, tt.want)
			}
		})
	}
}

// TestSetOutputCap: the cap is written where each family keeps it, and a
// thinking budget that no longer fits is halved or turned off.
func TestSetOutputCap(t *testing.T) {
	tests := []struct {
		name, family, body string
		cap                int
		want               string // the body's members after, as JSON
		path               []string
	}{
		{"converse without a cap", "", `{"messages":[]}`, 4096, `4096`, []string{"inferenceConfig", "maxTokens"}},
		{"converse thinking halved", "", `{"inferenceConfig":{"maxTokens":8000},"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":6000}}}`, 3000,
			`{"thinking":{"budget_tokens":1500,"type":"enabled"}}`, []string{"additionalModelRequestFields"}},
		{"claude thinking off", claudeFamily, `{"max_tokens":8000,"thinking":{"type":"enabled","budget_tokens":4000},"messages":[{"role":"user","content":"Hi"}]}`, 1500,
			`null`, []string{"thinking"}},
		{"llama", llamaFamily, `{"prompt":"Hi","max_gen_len":2048}`, 300, `300`, []string{"max_gen_len"}},
		{"titan", titanFamily, `{"inputText":"Hi"}`, 300, `300`, []string{"textGenerationConfig", "maxTokenCount"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *bedrockapi.Call
			var err error
			if tt.family == "" {
				c, err = bedrockapi.ParseConverse([]byte(tt.body))
			} else {
				c, err = bedrockapi.ParseInvoke(tt.family, []byte(tt.body))
			}
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := c.SetOutputCap(tt.cap); !ok || err != nil {
				t.Fatalf("SetOutputCap: %v %v", ok, err)
			}
			var doc any
			if err := json.Unmarshal(c.Body(), &doc); err != nil {
				t.Fatal(err)
			}
			for _, k := range tt.path {
				doc, _ = doc.(map[string]any)[k]
			}
			got, _ := json.Marshal(doc)
			if string(got) != tt.want {
				t.Errorf("%v = %s, want %s (body %s)", tt.path, got, tt.want, c.Body())
			}
		})
	}
	c, err := bedrockapi.ParseInvoke(embedFamily, []byte(`{"inputText":"Hi"}`))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.SetOutputCap(10); ok || string(c.Body()) != `{"inputText":"Hi"}` {
		t.Errorf("an embedding body got an output cap: %s", c.Body())
	}
}

// TestClaudeBodyCleaned: what Bedrock's Claude refuses is dropped, the rest
// passes through.
func TestClaudeBodyCleaned(t *testing.T) {
	c, err := bedrockapi.ParseInvoke(claudeFamily, []byte(`{"anthropic_version":"bedrock-2023-05-31","max_tokens":5,
		"metadata":{"user_id":"u"},"anthropic_beta":["interleaved-thinking-2025-05-14","made-up-2099-01-01"],"messages":[{"role":"user","content":"Hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	_ = json.Unmarshal(c.Body(), &got)
	want := map[string]any{"anthropic_version": "bedrock-2023-05-31", "max_tokens": 5.0, "anthropic_beta": []any{"interleaved-thinking-2025-05-14"},
		"messages": []any{map[string]any{"role": "user", "content": "Hi"}}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("body (-want +got)\n%s", diff)
	}
}

// TestScopeCache: a body with cache points opens with the key's scope and
// keeps no cache point on its tools; one without is left alone.
func TestScopeCache(t *testing.T) {
	tests := []struct {
		name, family, body, want string
	}{
		{"converse", "", `{"system":[{"text":"S"},{"cachePoint":{"type":"default"}}],"toolConfig":{"tools":[{"toolSpec":{"name":"f"}},{"cachePoint":{"type":"default"}}]}}`,
			`{"system":[{"text":"[cache scope k1]"},{"text":"S"},{"cachePoint":{"type":"default"}}],"toolConfig":{"tools":[{"toolSpec":{"name":"f"}}]}}`},
		{"converse without cache points", "", `{"system":[{"text":"S"}]}`, `{"system":[{"text":"S"}]}`},
		{"claude", claudeFamily, `{"max_tokens":5,"system":"S","tools":[{"name":"f","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":[{"type":"text","text":"Hi","cache_control":{"type":"ephemeral"}}]}]}`,
			`{"max_tokens":5,"messages":[{"content":[{"cache_control":{"type":"ephemeral"},"text":"Hi","type":"text"}],"role":"user"}],"system":[{"text":"[cache scope k1]","type":"text"},{"text":"S","type":"text"}],"tools":[{"name":"f"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *bedrockapi.Call
			var err error
			if tt.family == "" {
				c, err = bedrockapi.ParseConverse([]byte(tt.body))
			} else {
				c, err = bedrockapi.ParseInvoke(tt.family, []byte(tt.body))
			}
			if err != nil {
				t.Fatal(err)
			}
			if err := c.ScopeCache("k1"); err != nil {
				t.Fatal(err)
			}
			var got, want any
			_ = json.Unmarshal(c.Body(), &got)
			_ = json.Unmarshal([]byte(tt.want), &want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("body (-want +got)\n%s", diff)
			}
		})
	}
}
