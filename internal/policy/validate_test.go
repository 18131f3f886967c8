package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate/internal/policy"
)

// key renders a key entry with alice's hash and extra fields.
func key(id string, extra ...string) string {
	s := "  - id: " + id + "\n    sha256: " + policy.HashSecret(id) + "\n"
	for _, e := range extra {
		s += "    " + e + "\n"
	}
	return s
}

func TestPolicyValidationErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
		want  string // the whole error: one problem per line
	}{
		// Syntax and shape.
		{"not yaml", files("p.yaml", "keys: [\n"),
			"p.yaml:1: did not find expected node content"},
		{"two documents", files("p.yaml", "keys: []\n---\nteams: []\n"),
			"p.yaml:2: a policy file holds one YAML document: split the documents into files"},
		{"top level is a list", files("p.yaml", "- id: a\n"),
			"p.yaml:1: the top level must be a mapping of sections: keys, teams, budget, aliases, fallbacks, pricing, models, alerts"},
		{"unknown section", files("p.yaml", "keys: []\nkey:\n  - id: a\n"),
			"p.yaml:2: key: unknown section: a policy file has keys, teams, budget, aliases, fallbacks, pricing, models, alerts"},
		{"section twice in a file", files("p.yaml", "keys: []\nkeys: []\n"),
			"p.yaml:2: keys: section appears twice in this file (first at line 1)"},
		{"keys not a list", files("p.yaml", "keys:\n  id: a\n"),
			"p.yaml:1: keys: must be a list (items start with '- ')"},
		{"aliases not a mapping", files("p.yaml", "aliases: [a]\n"),
			"p.yaml:1: aliases: must be a mapping (name: value entries)"},

		// Unknown fields, wrong types.
		{"unknown key field", files("p.yaml", "keys:\n"+key("a", "modles: [x]")),
			"p.yaml:4: keys[0].modles: unknown field: the fields are id, sha256, team, models, deny, monthly_budget_usd, weekly_budget_usd, daily_budget_usd, alert_at, enabled, expires, guardrail, prompt_cache, requests_per_minute, tokens_per_minute, max_concurrent_requests"},
		{"unknown team field", files("p.yaml", "teams:\n  - id: t\n    budget: 3\n"),
			"p.yaml:3: teams[0].budget: unknown field: the fields are id, monthly_budget_usd, weekly_budget_usd, daily_budget_usd, alert_at, share_prompt_cache, requests_per_minute, tokens_per_minute, max_concurrent_requests"},
		{"unknown budget field", files("p.yaml", "budget:\n  monthly_usd: 3\n"),
			"p.yaml:2: budget.monthly_usd: unknown field: the fields are monthly_budget_usd, weekly_budget_usd, daily_budget_usd, alert_at"},
		{"unknown price field", files("p.yaml", "pricing:\n  m.x-v1:0: {input: 1, output: 2, cached: 1}\n"),
			"p.yaml:2: pricing[m.x-v1:0].cached: unknown field: the fields are input, output, cache_read, cache_write"},
		{"field twice", files("p.yaml", "keys:\n"+key("a", "team: x", "team: y")),
			"p.yaml:4: keys[0].team: defined twice in this entry"},
		{"budget not a number", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: twenty")),
			"p.yaml:4: keys[0].monthly_budget_usd: must be a number"},
		{"models not a list", files("p.yaml", "keys:\n"+key("a", "models: anthropic.*")),
			`p.yaml:4: keys[0].models: must be a list of strings, e.g. ["a", "b"]`},
		{"rate limit not a whole number", files("p.yaml", "keys:\n"+key("a", "requests_per_minute: 1.5")),
			"p.yaml:4: keys[0].requests_per_minute: must be a whole number"},
		{"rate limit zero", files("p.yaml", "keys:\n"+key("a", "tokens_per_minute: 0")),
			"p.yaml:4: keys[0].tokens_per_minute: 0 must be at least 1: leave tokens_per_minute out for no limit, or disable the key (enabled: false) to refuse every request"},
		{"team rate limit too large", files("p.yaml", "teams:\n  - id: t\n    max_concurrent_requests: 100001\n"),
			"p.yaml:3: teams[0].max_concurrent_requests: 100001 is too large (at most 100000)"},
		{"enabled not a bool", files("p.yaml", "keys:\n"+key("a", "enabled: maybe")),
			"p.yaml:4: keys[0].enabled: must be true or false"},
		{"bad date", files("p.yaml", "keys:\n"+key("a", "expires: 2027-13-01")),
			`p.yaml:4: keys[0].expires: "2027-13-01" is not a date: write it as YYYY-MM-DD, e.g. 2027-01-01`},
		{"date with a time", files("p.yaml", "keys:\n"+key("a", "expires: 2027-01-01T10:00:00Z")),
			`p.yaml:4: keys[0].expires: "2027-01-01T10:00:00Z" is not a date: write it as YYYY-MM-DD, e.g. 2027-01-01`},
		{"alias target not a string", files("p.yaml", "aliases:\n  fast: [a]\n"),
			"p.yaml:2: aliases[fast]: must be a Bedrock model id (a string)"},

		// Keys.
		{"bad id", files("p.yaml", "keys:\n  - id: \"a b\"\n    sha256: "+aliceHash+"\n"),
			`p.yaml:2: keys[0].id: "a b" must be 1-64 letters, digits, '.', '_' or '-'`},
		{"bad hash", files("p.yaml", "keys:\n  - id: a\n    sha256: abc\n"),
			`p.yaml:3: keys[0].sha256: key "a" needs the 64 hex digits of the secret's SHA-256 (tollgate key new prints them)`},
		{"hash of the empty secret", files("p.yaml", "keys:\n  - id: a\n    sha256: "+policy.HashSecret("")+"\n"),
			"p.yaml:3: keys[0].sha256: this is the SHA-256 of an empty secret"},
		{"duplicate id across files", files(
			"a.yaml", "keys:\n"+key("a"),
			"b.yaml", "keys:\n  - id: a\n    sha256: "+bobHash+"\n"),
			`b.yaml:2: keys[0].id: duplicate key id "a" (also in a.yaml:2)`},
		{"duplicate hash across files", files(
			"a.yaml", "keys:\n  - id: a\n    sha256: "+aliceHash+"\n",
			"b.yaml", "keys:\n"+key("x")+"  - id: b\n    sha256: "+aliceHash+"\n"),
			`b.yaml:5: keys[1].sha256: keys "a" and "b" have the same sha256 (also in a.yaml:2): each key needs its own secret`},
		{"undefined team", files("p.yaml", "keys:\n"+key("a", "team: research")+"teams:\n  - id: ops\n"),
			`p.yaml:4: keys[0].team: team "research" is not defined: add it to a teams section`},
		{"empty pattern", files("p.yaml", "keys:\n"+key("a", `models: [""]`)),
			"p.yaml:4: keys[0].models[0]: empty model pattern"},
		{"pattern with a space", files("p.yaml", "keys:\n"+key("a", "models:", `  - "anthropic.*"`, `  - "claude 3"`)),
			`p.yaml:6: keys[0].models[1]: "claude 3" can never match a model: ids and ARNs hold only letters, digits, '.', '_', ':', '/' and '-', with the globs '*' and '?'`},
		{"deny with brackets", files("p.yaml", "keys:\n"+key("a", `deny: ["*[opus]*"]`)),
			`p.yaml:4: keys[0].deny[0]: "*[opus]*" can never match a model: ids and ARNs hold only letters, digits, '.', '_', ':', '/' and '-', with the globs '*' and '?'`},

		// Amounts and alerts.
		{"negative key budget", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: -1")),
			"p.yaml:4: keys[0].monthly_budget_usd: -1 must not be negative"},
		{"NaN team budget", files("p.yaml", "teams:\n  - id: t\n    monthly_budget_usd: .nan\n"),
			"p.yaml:3: teams[0].monthly_budget_usd: NaN is not an amount: use a plain number of US dollars"},
		{"infinite global budget", files("p.yaml", "budget:\n  monthly_budget_usd: .inf\n"),
			"p.yaml:2: budget.monthly_budget_usd: +Inf is not an amount: use a plain number of US dollars"},
		{"negative daily key budget", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: 5", "daily_budget_usd: -0.5")),
			"p.yaml:5: keys[0].daily_budget_usd: -0.5 must not be negative"},
		{"weekly team budget not a number", files("p.yaml", "teams:\n  - id: t\n    weekly_budget_usd: lots\n"),
			"p.yaml:3: teams[0].weekly_budget_usd: must be a number"},
		{"NaN global daily budget", files("p.yaml", "budget:\n  daily_budget_usd: .nan\n"),
			"p.yaml:2: budget.daily_budget_usd: NaN is not an amount: use a plain number of US dollars"},
		{"daily budget too large", files("p.yaml", "keys:\n"+key("a", "daily_budget_usd: 2e9")),
			"p.yaml:4: keys[0].daily_budget_usd: 2e+09 is too large (at most 1e+09)"},
		{"alert 0", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: 5", "alert_at: 0")),
			"p.yaml:5: keys[0].alert_at: 0 must be a fraction of the budget, more than 0 and at most 1 (e.g. 0.8)"},
		{"alert above 1", files("p.yaml", "teams:\n  - id: t\n    monthly_budget_usd: 5\n    alert_at: 1.5\n"),
			"p.yaml:4: teams[0].alert_at: 1.5 must be a fraction of the budget, more than 0 and at most 1 (e.g. 0.8)"},
		{"alert without a budget", files("p.yaml", "budget:\n  alert_at: 0.9\n"),
			"p.yaml:2: budget.alert_at: an alert needs a budget (daily_budget_usd, weekly_budget_usd or monthly_budget_usd) in the same entry"},
		{"alert list item above 1", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: 5", "alert_at:", "  - 0.5", "  - 1.2")),
			"p.yaml:7: keys[0].alert_at[1]: 1.2 must be a fraction of the budget, more than 0 and at most 1 (e.g. 0.8)"},
		{"alert empty list", files("p.yaml", "budget:\n  monthly_budget_usd: 5\n  alert_at: []\n"),
			"p.yaml:3: budget.alert_at: an empty list: give a fraction of the budget (e.g. 0.8) or a list of them (e.g. [0.5, 0.8])"},
		{"alert not a number", files("p.yaml", "budget:\n  monthly_budget_usd: 5\n  alert_at: high\n"),
			"p.yaml:3: budget.alert_at: must be a number or a list of numbers, e.g. 0.8 or [0.5, 0.8]"},
		{"alerts webhook url", files("p.yaml", "alerts:\n  webhook:\n    url: ftp://x\n"),
			`p.yaml:3: alerts.webhook.url: "ftp://x" must be an http or https URL, e.g. https://hooks.example.com/tollgate`},
		{"alerts unknown destination", files("p.yaml", "alerts:\n  slack:\n    url: https://x\n"),
			"p.yaml:2: alerts.slack: unknown alert destination: the destinations are webhook, sns, eventbridge"},
		{"alerts sns topic", files("p.yaml", "alerts:\n  sns:\n    topic_arn: my-topic\n"),
			`p.yaml:3: alerts.sns.topic_arn: "my-topic" must be an SNS topic ARN (arn:aws:sns:region:account:name)`},
		{"alerts unknown webhook field", files("p.yaml", "alerts:\n  webhook:\n    url: https://x\n    secret: s\n"),
			"p.yaml:4: alerts.webhook.secret: unknown field: the fields are url"},
		{"alerts twice across files", files("a.yaml", "alerts:\n  webhook: {url: https://x}\n", "b.yaml", "alerts:\n  webhook: {url: https://y}\n"),
			"b.yaml:1: alerts: the alerts section is already defined in a.yaml:1: define it once"},
		{"budget twice across files", files("a.yaml", "budget:\n  monthly_budget_usd: 1\n", "b.yaml", "\nbudget:\n  monthly_budget_usd: 2\n"),
			"b.yaml:2: budget: the global budget is already defined in a.yaml:1: define it once"},

		// Aliases.
		{"alias to an alias", files("p.yaml", "aliases:\n  fast: cheap\n  cheap: amazon.nova-micro-v1:0\n"),
			`p.yaml:2: aliases[fast]: target "cheap" is itself an alias (in p.yaml:3): point every alias at a Bedrock model id`},
		{"alias loop", files("a.yaml", "aliases:\n  x: y\n", "b.yaml", "aliases:\n  y: x\n"),
			`a.yaml:2: aliases[x]: target "y" is itself an alias (in b.yaml:2): point every alias at a Bedrock model id` + "\n" +
				`b.yaml:2: aliases[y]: target "x" is itself an alias (in a.yaml:2): point every alias at a Bedrock model id`},
		{"alias to itself", files("p.yaml", "aliases:\n  x: x\n"),
			`p.yaml:2: aliases[x]: target "x" is itself an alias (in p.yaml:2): point every alias at a Bedrock model id`},
		{"alias twice in a file", files("p.yaml", "aliases:\n  x: a.b\n  x: a.c\n"),
			"p.yaml:3: aliases[x]: defined twice in this file (first at line 2)"},
		{"alias twice across files", files("a.yaml", "aliases:\n  x: a.b\n", "b.yaml", "aliases:\n  x: a.b\n"),
			`b.yaml:2: aliases[x]: alias "x" is already defined in a.yaml:2: define it once`},
		{"alias names differing in case", files("p.yaml", "aliases:\n  GPT-4o: a.b\n  gpt-4o: a.c\n"),
			`p.yaml:3: aliases[gpt-4o]: alias "gpt-4o" differs only in case from alias "GPT-4o" in p.yaml:2: clients would confuse them`},
		{"alias to a glob", files("p.yaml", "aliases:\n  any: anthropic.*\n"),
			`p.yaml:2: aliases[any]: target: "anthropic.*" is a glob: name one model`},
		{"alias name with a space", files("p.yaml", "aliases:\n  my model: a.b\n"),
			`p.yaml:2: aliases[my model]: alias name: "my model" is not a model id: ids and ARNs hold only letters, digits, '.', '_', ':', '/' and '-'`},

		// Pricing.
		{"price missing output", files("p.yaml", "pricing:\n  m.x-v1:0:\n    input: 1\n"),
			"p.yaml:2: pricing[m.x-v1:0].output: missing: give the output price in USD per 1M tokens (0 if the model has none)"},
		{"negative price", files("p.yaml", "pricing:\n  m.x-v1:0:\n    input: 1\n    output: -2\n"),
			"p.yaml:4: pricing[m.x-v1:0].output: -2 must not be negative"},
		{"price of a glob", files("p.yaml", "pricing:\n  m.*: {input: 1, output: 1}\n"),
			`p.yaml:2: pricing[m.*]: "m.*" is a glob: name one model`},
		{"price twice across files", files("a.yaml", "pricing:\n  m.x: {input: 1, output: 1}\n", "b.yaml", "pricing:\n  m.x: {input: 1, output: 1}\n"),
			`b.yaml:2: pricing[m.x]: the price of "m.x" is already defined in a.yaml:2: define it once`},

		// A budgeted key must be able to pay for every model it names.
		{"key budget, unpriced model", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: 5", "models: [anthropic.*, my.model-v1:0]")),
			`p.yaml:5: keys[0].models[1]: the key has a budget, but "my.model-v1:0" has no price: add it to a pricing section (USD per 1M tokens), or remove it from models`},
		{"team budget, unpriced alias target", files(
			"keys.yaml", "keys:\n"+key("a", "team: t", "models: [fast]"),
			"org.yaml", "teams:\n  - id: t\n    monthly_budget_usd: 5\naliases:\n  fast: my.model-v1:0\n"),
			`keys.yaml:5: keys[0].models[0]: the key's team "t" has a budget, but "my.model-v1:0" has no price: add it to a pricing section (USD per 1M tokens), or remove it from models`},
		{"global budget, unpriced profile", files("p.yaml", "budget:\n  monthly_budget_usd: 5\nkeys:\n"+key("a", "models: [us.my.model-v1:0]")),
			`p.yaml:6: keys[0].models[0]: the global budget is set, but "us.my.model-v1:0" has no price: add it to a pricing section (USD per 1M tokens), or remove it from models`},

		// Every problem is reported at once.
		{"several problems", files("p.yaml", "keys:\n  - id: a\n    sha256: abc\n    alert_at: 2\n"),
			`p.yaml:3: keys[0].sha256: key "a" needs the 64 hex digits of the secret's SHA-256 (tollgate key new prints them)` + "\n" +
				"p.yaml:4: keys[0].alert_at: 2 must be a fraction of the budget, more than 0 and at most 1 (e.g. 0.8)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse(tt.files)
			if err == nil {
				t.Fatal("Parse accepted the policy")
			}
			var ve *policy.ValidationError
			if !errors.As(err, &ve) {
				t.Errorf("error %T is not a *ValidationError", err)
			}
			if diff := cmp.Diff(strings.Split(tt.want, "\n"), strings.Split(err.Error(), "\n")); diff != "" {
				t.Errorf("Parse error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyValidationAccepts(t *testing.T) {
	tests := []struct {
		name  string
		files map[string][]byte
	}{
		{"empty", nil},
		{"empty sections", files("p.yaml", "keys:\nteams:\naliases:\npricing:\n")},
		{"budgeted key with globs and priced literals", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: 0", "models: [anthropic.*, fast, us.anthropic.claude-3-haiku-20240307-v1:0]")+"aliases:\n  fast: amazon.nova-micro-v1:0\n")},
		{"budgeted key with a model the policy prices", files("p.yaml", "keys:\n"+key("a", "monthly_budget_usd: 1", "models: [my.model-v1:0]")+"pricing:\n  my.model-v1:0: {input: 0, output: 0}\n")},
		{"uncapped key with an unpriced model", files("p.yaml", "keys:\n"+key("a", "models: [my.model-v1:0]"))},
		{"ARN patterns", files("p.yaml", "keys:\n"+key("a", "models: [\"arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/*\"]"))},
		{"YAML anchors", files("p.yaml", "keys:\n  - id: a\n    sha256: "+aliceHash+"\n    models: &m [anthropic.*]\n  - id: b\n    sha256: "+bobHash+"\n    models: *m\n")},
		{"quoted date", files("p.yaml", "keys:\n"+key("a", `expires: "2027-01-01"`))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := policy.Parse(tt.files); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestFallbacksValidation(t *testing.T) {
	const aliases = "aliases:\n  sonnet: us.anthropic.claude-sonnet-4-20250514-v1:0\n"
	tests := []struct {
		name, file, want string
	}{
		{"unknown alias", aliases + "fallbacks:\n  sonnet: [sonet]\n",
			`p.yaml:4: fallbacks[sonnet][0]: "sonet" is neither an alias of the aliases section nor a Bedrock model id (provider.model, a profile id or an ARN)`},
		{"unknown model alias", aliases + "fallbacks:\n  sonet: [eu.anthropic.claude-sonnet-4-20250514-v1:0]\n",
			`p.yaml:4: fallbacks[sonet]: "sonet" is neither an alias of the aliases section nor a Bedrock model id (provider.model, a profile id or an ARN)`},
		{"empty list", aliases + "fallbacks:\n  sonnet: []\n",
			"p.yaml:4: fallbacks[sonnet]: empty list: name at least one model to fall back to, or remove the entry"},
		{"not a list", aliases + "fallbacks:\n  sonnet: eu.x.y\n",
			`p.yaml:4: fallbacks[sonnet]: must be a list of model ids or aliases, e.g. ["eu.anthropic.claude-sonnet-4-20250514-v1:0"]`},
		{"itself through its alias", aliases + "fallbacks:\n  sonnet:\n    - us.anthropic.claude-sonnet-4-20250514-v1:0\n",
			`p.yaml:5: fallbacks[sonnet][0]: "us.anthropic.claude-sonnet-4-20250514-v1:0" is the model itself: a fallback must be another model or region`},
		{"twice", aliases + "fallbacks:\n  sonnet:\n    - eu.a.b\n    - eu.a.b\n",
			`p.yaml:6: fallbacks[sonnet][1]: "eu.a.b" is already in the list: each model is called at most once`},
		{"cycle", aliases + "fallbacks:\n  sonnet: [eu.a.b]\n  eu.a.b: [us.anthropic.claude-sonnet-4-20250514-v1:0]\n",
			"p.yaml:4: fallbacks[sonnet]: the fallbacks form a cycle (sonnet → eu.a.b → us.anthropic.claude-sonnet-4-20250514-v1:0): a chain must end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := policy.Parse(files("p.yaml", tt.file))
			var ve *policy.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Parse: %v, want a ValidationError", err)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}

	p, err := policy.Parse(files("p.yaml", aliases+"fallbacks:\n  sonnet: [eu.a.b, apac.a.b]\n  eu.a.b: [apac.a.b]\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		requested, modelID string
		want               []string
	}{
		{"sonnet", "us.anthropic.claude-sonnet-4-20250514-v1:0", []string{"eu.a.b", "apac.a.b"}},
		{"eu.a.b", "eu.a.b", []string{"apac.a.b"}},
		{"apac.a.b", "apac.a.b", nil},
	} {
		if diff := cmp.Diff(c.want, p.Fallbacks(c.requested, c.modelID)); diff != "" {
			t.Errorf("Fallbacks(%q) (-want +got):\n%s", c.requested, diff)
		}
	}
}
