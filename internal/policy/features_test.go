package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

func TestRouteFeatures(t *testing.T) {
	p := parse(t, "p.yaml", `
keys:
  - id: plain
    sha256: `+policy.HashSecret("plain")+`
  - id: guarded
    sha256: `+policy.HashSecret("guarded")+`
    guardrail: {id: keyguard, version: "3", trace: true}
    prompt_cache: false
  - id: cacher
    sha256: `+policy.HashSecret("cacher")+`
    prompt_cache: true
aliases:
  smart: us.anthropic.claude-sonnet-4-5-20250929-v1:0
models:
  "*claude-sonnet-4-5*":
    prompt_cache: true
    guardrail: {id: "arn:aws:bedrock:us-east-1:123456789012:guardrail/modelguard", version: DRAFT}
  smart:
    guardrail: {id: aliasguard, version: "1"}
  "amazon.*":
    prompt_cache: false
  amazon.nova-micro-v1:0:
    guardrail: {id: microguard, version: "2"}
`)
	modelGuard := &policy.Guardrail{ID: "arn:aws:bedrock:us-east-1:123456789012:guardrail/modelguard", Version: "DRAFT"}
	tests := []struct {
		key, model    string
		wantGuardrail *policy.Guardrail
		wantCache     bool
	}{
		{"plain", haiku, nil, false},
		{"plain", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", modelGuard, true},
		{"plain", "smart", &policy.Guardrail{ID: "aliasguard", Version: "1"}, false}, // the alias's own entry: entries do not merge
		{"plain", micro, &policy.Guardrail{ID: "microguard", Version: "2"}, false},   // an exact entry wins over a glob
		{"guarded", "us.anthropic.claude-sonnet-4-5-20250929-v1:0", &policy.Guardrail{ID: "keyguard", Version: "3", Trace: true}, false},
		{"cacher", haiku, nil, true},
		{"cacher", micro, &policy.Guardrail{ID: "microguard", Version: "2"}, true}, // the key's cache wins over the model's
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.model, func(t *testing.T) {
			k, _ := p.KeyByID(tt.key)
			r, err := p.Route(k, tt.model)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantGuardrail, r.Guardrail); diff != "" || r.PromptCache != tt.wantCache {
				t.Errorf("guardrail (-want +got):\n%s\nprompt cache %v, want %v", diff, r.PromptCache, tt.wantCache)
			}
		})
	}
}

func TestFeatureValidationErrors(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"guardrail id with a hyphen", "keys:\n" + key("a", `guardrail: {id: block-all, version: "1"}`),
			`p.yaml:4: keys[0].guardrail: id "block-all" is not a guardrail id (lower-case letters and digits) or guardrail ARN (arn:aws:bedrock:REGION:ACCOUNT:guardrail/ID)`},
		{"guardrail without version", "keys:\n" + key("a", `guardrail: {id: abc}`),
			`p.yaml:4: keys[0].guardrail: missing version: give a version number (e.g. "1") or DRAFT`},
		{"guardrail bad version", "models:\n  m.x:\n    guardrail: {id: abc, version: v2}\n",
			`p.yaml:3: models[m.x].guardrail: version "v2" must be a number from 1 to 99999999 or DRAFT`},
		{"guardrail unknown field", "keys:\n" + key("a", `guardrail: {id: abc, version: "1", tracing: true}`),
			`p.yaml:4: keys[0].guardrail: unknown field "tracing": the fields are id, version, trace`},
		{"guardrail not a mapping", "keys:\n" + key("a", `guardrail: abc`),
			`p.yaml:4: keys[0].guardrail: must be a mapping with id, version and optional trace, e.g. {id: abc123xyz, version: "1"}`},
		{"prompt_cache not a bool", "keys:\n" + key("a", `prompt_cache: sometimes`),
			`p.yaml:4: keys[0].prompt_cache: must be true or false`},
		{"share_prompt_cache not a bool", "teams:\n  - id: t\n    share_prompt_cache: always\n",
			`p.yaml:3: teams[0].share_prompt_cache: must be true or false`},
		{"models entry unknown field", "models:\n  m.x:\n    cache: true\n",
			`p.yaml:3: models[m.x].cache: unknown field: the fields are guardrail, prompt_cache`},
		{"models pattern", "models:\n  \"claude 3\":\n    prompt_cache: true\n",
			`p.yaml:2: models[claude 3]: "claude 3" can never match a model: ids and ARNs hold only letters, digits, '.', '_', ':', '/' and '-', with the globs '*' and '?'`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse(files("p.yaml", tt.yaml))
			var ve *policy.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse error = %v, want a *ValidationError", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("Parse error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestModelsAcrossFiles(t *testing.T) {
	_, err := policy.Parse(files("a.yaml", "models:\n  m.x: {prompt_cache: true}\n", "b.yaml", "models:\n  m.x: {prompt_cache: false}\n"))
	want := `b.yaml:2: models[m.x]: settings for "m.x" are already defined in a.yaml:2: define them once`
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %s", err, want)
	}
}

// TestCacheScope: each key reads only its own prompt-cache entries, unless
// its team shares its cache (issue 13, point 7: a spy key read a victim's
// cached system prompt by guessing it).
func TestCacheScope(t *testing.T) {
	p := parse(t, "p.yaml", `
keys:
  - {id: a1, sha256: `+policy.HashSecret("a1")+`, team: apart}
  - {id: a2, sha256: `+policy.HashSecret("a2")+`, team: apart}
  - {id: s1, sha256: `+policy.HashSecret("s1")+`, team: sharing}
  - {id: s2, sha256: `+policy.HashSecret("s2")+`, team: sharing}
  - {id: lone, sha256: `+policy.HashSecret("lone")+`}
teams:
  - {id: apart}
  - {id: sharing, share_prompt_cache: true}
`)
	scope := func(id string) string {
		k, _ := p.KeyByID(id)
		return p.CacheScope(k)
	}
	if scope("s1") != scope("s2") {
		t.Error("keys of a team that shares its cache have different scopes")
	}
	seen := map[string]string{}
	for _, id := range []string{"a1", "a2", "s1", "lone"} {
		s := scope(id)
		if prev, dup := seen[s]; dup {
			t.Errorf("keys %s and %s share the cache scope %s", prev, id, s)
		}
		seen[s] = id
		if len(s) != 16 || strings.Contains(s, id) {
			t.Errorf("scope of %s = %q: want 16 hex digits that do not spell the key id", id, s)
		}
	}
}
