package policy_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// FuzzPolicyParse: Parse never panics on any YAML, in one file or split
// over two; it either returns a policy or a *policy.ValidationError with at
// least one problem, each naming its file. A policy it accepts can be used:
// authenticating, routing and pricing never panic.
func FuzzPolicyParse(f *testing.F) {
	hash := policy.HashSecret("sk-fuzz")
	for _, seed := range []string{
		"",
		"keys: []\n",
		"keys:\n  - id: alice\n    sha256: \"" + hash + "\"\n    team: research\n    models: [\"anthropic.claude-3-haiku-*\", \"fast\"]\n    deny: [\"*opus*\"]\n    monthly_budget_usd: 20\n    alert_at: 0.8\n    enabled: true\n    expires: 2027-01-01\n" +
			"teams:\n  - id: research\n    monthly_budget_usd: 100\n    alert_at: 0.9\n" +
			"budget:\n  monthly_budget_usd: 1000\n  alert_at: 0.9\n" +
			"aliases:\n  fast: anthropic.claude-3-haiku-20240307-v1:0\n" +
			"pricing:\n  anthropic.claude-3-haiku-20240307-v1:0: {input: 0.25, output: 1.25, cache_read: 0.03, cache_write: 0.30}\n",
		"keys: [{id: a, sha256: \"" + hash + "\"}, {id: a, sha256: \"" + hash + "\"}]\n",
		"keys: [oops\n",
		"keys: {id: a}\n",
		"a: &a [*a, *a]\nkeys: *a\n",
		"x: &x [1,2,3,4,5,6,7,8,9]\ny: &y [*x,*x,*x,*x,*x,*x,*x,*x,*x]\nz: &z [*y,*y,*y,*y,*y,*y,*y,*y,*y]\nkeys: [*z,*z,*z,*z,*z,*z,*z,*z,*z]\n",
		"budget: {monthly_budget_usd: -1}\n",
		"budget: {monthly_budget_usd: .nan}\n",
		"budget: {monthly_budget_usd: 1e309}\n",
		"pricing:\n  \"m\": {input: .inf, output: -0}\n",
		"keys: [{id: \"\\u0000\", sha256: \"zz\", expires: 2026-02-30}]\n",
		"--- \n...\n--- \nkeys: []\n",
		"!!binary aGVsbG8=\n",
		"keys: [{id: a, sha256: \"" + hash + "\", models: [\"[\", \"**\", \"?\"]}]\n",
		"aliases: {a: b, b: a}\n",
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, split bool) {
		files := map[string][]byte{"fuzz.yaml": data}
		if split {
			half := len(data) / 2
			files = map[string][]byte{"a.yaml": data[:half], "b.yml": data[half:]}
		}
		p, err := policy.Parse(files)
		if err != nil {
			var ve *policy.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("error %T %v is not a *policy.ValidationError", err, err)
			}
			if len(ve.Problems) == 0 || ve.Error() == "" {
				t.Fatalf("a ValidationError without problems: %v", err)
			}
			for _, prob := range ve.Problems {
				if s := prob.String(); !strings.Contains(s, ".yaml") && !strings.Contains(s, ".yml") {
					t.Fatalf("problem %q does not name its file", s)
				}
			}
			return
		}
		if p == nil || p.Version == "" {
			t.Fatalf("Parse returned %v, nil", p)
		}
		now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		k, err := p.Authenticate("sk-fuzz", now)
		if err == nil && k != nil {
			for _, model := range []string{"anthropic.claude-3-haiku-20240307-v1:0", "fast", "", "../x"} {
				if r, err := p.Route(k, model); err == nil {
					_, _ = p.Price(r.ModelID)
				}
				_ = p.Visible(k, model)
			}
			_ = p.Caps(k)
			_ = p.Alerts(k)
			_ = p.AliasesFor(k)
		}
		_, _ = p.Authenticate("sk-wrong", now)
		_ = p.Teams()
		_, _ = p.PricedModels()
	})
}
