package policy_test

import (
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tollgate-gw/tollgate"
	"github.com/tollgate-gw/tollgate/internal/policy"
)

const (
	haiku   = "anthropic.claude-3-haiku-20240307-v1:0"
	usHaiku = "us.anthropic.claude-3-haiku-20240307-v1:0"
	opus    = "anthropic.claude-opus-4-1-20250805-v1:0"
	usOpus  = "us.anthropic.claude-opus-4-1-20250805-v1:0"
	micro   = "amazon.nova-micro-v1:0"
	appARN  = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
)

// routePolicy has a key of each shape Route has to decide for.
func routePolicy(t *testing.T) *policy.Policy {
	return parse(t, "p.yaml", `
keys:
  - id: open            # no allowlist, no caps
    sha256: `+policy.HashSecret("open")+`
  - id: haiku-only      # an allowlist by glob, and an alias name
    sha256: `+policy.HashSecret("haiku-only")+`
    models: ["anthropic.claude-3-haiku-*", "smart"]
  - id: no-opus         # everything but opus
    sha256: `+policy.HashSecret("no-opus")+`
    deny: ["*opus*"]
  - id: capped          # a budget: only priced models
    sha256: `+policy.HashSecret("capped")+`
    monthly_budget_usd: 10
  - id: team-capped     # its team's budget makes it capped too
    sha256: `+policy.HashSecret("team-capped")+`
    team: small
  - id: us-only-no-fast  # allows a profile glob; denies an alias by name
    sha256: `+policy.HashSecret("us-only-no-fast")+`
    models: ["us.*", "fast", "cheap"]
    deny: ["fast"]
teams:
  - id: small
    monthly_budget_usd: 50
aliases:
  fast: `+micro+`
  cheap: `+haiku+`
  smart: `+opus+`
  custom: my.model-v1:0
  app: `+appARN+`
`)
}

func TestPolicyRoute(t *testing.T) {
	p := routePolicy(t)
	haikuPrice, _ := p.Price(haiku)
	opusPrice, _ := p.Price(opus)
	microPrice, _ := p.Price(micro)
	tests := []struct {
		key, model string
		want       policy.Route
		wantCode   string // error code, "" for none
	}{
		{"open", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"open", "fast", policy.Route{Requested: "fast", ModelID: micro, Price: microPrice, Priced: true}, ""},
		{"open", "my.model-v1:0", policy.Route{Requested: "my.model-v1:0", ModelID: "my.model-v1:0"}, ""},
		{"open", appARN, policy.Route{Requested: appARN, ModelID: appARN}, ""},
		{"open", "", policy.Route{}, "model_not_allowed"},

		{"haiku-only", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"haiku-only", "cheap", policy.Route{Requested: "cheap", ModelID: haiku, Price: haikuPrice, Priced: true}, ""}, // the resolved id matches
		{"haiku-only", "smart", policy.Route{Requested: "smart", ModelID: opus, Price: opusPrice, Priced: true}, ""},   // the alias name matches
		{"haiku-only", opus, policy.Route{}, "model_not_allowed"},                                                      // the alias, not the id, is allowed
		{"haiku-only", usHaiku, policy.Route{}, "model_not_allowed"},
		{"haiku-only", "fast", policy.Route{}, "model_not_allowed"},

		{"no-opus", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"no-opus", opus, policy.Route{}, "model_not_allowed"},
		{"no-opus", usOpus, policy.Route{}, "model_not_allowed"},
		{"no-opus", "smart", policy.Route{}, "model_not_allowed"}, // deny matches the resolved id

		{"capped", haiku, policy.Route{Requested: haiku, ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"capped", usHaiku, policy.Route{Requested: usHaiku, ModelID: usHaiku, Price: haikuPrice, Priced: true}, ""},
		{"capped", "my.model-v1:0", policy.Route{}, "model_not_priced"},
		{"capped", "custom", policy.Route{}, "model_not_priced"},
		{"capped", appARN, policy.Route{}, "model_not_priced"},
		{"team-capped", "app", policy.Route{}, "model_not_priced"},
		{"team-capped", "fast", policy.Route{Requested: "fast", ModelID: micro, Price: microPrice, Priced: true}, ""},

		{"us-only-no-fast", usOpus, policy.Route{Requested: usOpus, ModelID: usOpus, Price: opusPrice, Priced: true}, ""},
		{"us-only-no-fast", "cheap", policy.Route{Requested: "cheap", ModelID: haiku, Price: haikuPrice, Priced: true}, ""},
		{"us-only-no-fast", "fast", policy.Route{}, "model_not_allowed"}, // deny wins over models
		{"us-only-no-fast", haiku, policy.Route{}, "model_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.model, func(t *testing.T) {
			k, _ := p.KeyByID(tt.key)
			got, err := p.Route(k, tt.model)
			gotCode := ""
			if err != nil {
				var te *tollgate.Error
				if !errors.As(err, &te) || te.Kind != tollgate.PermissionDenied || te.Param != "model" {
					t.Fatalf("error %#v is not PermissionDenied with param model", err)
				}
				gotCode = te.Code
				got = policy.Route{}
			}
			if gotCode != tt.wantCode {
				t.Fatalf("Route error = %v, want code %q", err, tt.wantCode)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Route (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyRouteMessages(t *testing.T) {
	p := routePolicy(t)
	tests := []struct {
		key, model, want string
	}{
		{"haiku-only", opus, `Your API key is not allowed to use the model "anthropic.claude-opus-4-1-20250805-v1:0". Use one that GET /v1/models lists, or ask your Tollgate administrator to add it to the key's models.`},
		{"capped", "custom", `The model "custom" has no price, and your API key has a spending limit, so it cannot be charged. Use another model, or ask your Tollgate administrator to add a price for "my.model-v1:0" to the policy's pricing section.`},
	}
	for _, tt := range tests {
		k, _ := p.KeyByID(tt.key)
		_, err := p.Route(k, tt.model)
		var te *tollgate.Error
		if !errors.As(err, &te) {
			t.Fatalf("Route(%s, %s) error = %v", tt.key, tt.model, err)
		}
		if diff := cmp.Diff(tt.want, te.Message); diff != "" {
			t.Errorf("Route(%s, %s) message (-want +got):\n%s", tt.key, tt.model, diff)
		}
	}
}

func TestPolicyVisibleAndAliasesFor(t *testing.T) {
	p := routePolicy(t)
	listed := []string{haiku, usHaiku, opus, usOpus, micro, "my.model-v1:0", appARN}
	tests := []struct {
		key         string
		wantVisible []string
		wantAliases []string
	}{
		{"open", listed, []string{"app", "cheap", "custom", "fast", "smart"}},
		{"haiku-only", []string{haiku}, []string{"cheap", "smart"}},
		// The application profile's model cannot be told here: a key with a
		// deny list does not see it, nor the alias naming it.
		{"no-opus", []string{haiku, usHaiku, micro, "my.model-v1:0"}, []string{"cheap", "custom", "fast"}},
		{"capped", []string{haiku, usHaiku, opus, usOpus, micro}, []string{"cheap", "fast", "smart"}},
		{"us-only-no-fast", []string{usHaiku, usOpus}, []string{"cheap"}},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			k, _ := p.KeyByID(tt.key)
			var visible []string
			for _, id := range listed {
				if p.Visible(k, id) {
					visible = append(visible, id)
				}
			}
			if diff := cmp.Diff(tt.wantVisible, visible); diff != "" {
				t.Errorf("Visible (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantAliases, p.AliasesFor(k)); diff != "" {
				t.Errorf("AliasesFor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPolicyKeyAllows(t *testing.T) {
	p := routePolicy(t)
	k, _ := p.KeyByID("us-only-no-fast")
	if !k.Allows(usHaiku) || k.Allows(haiku) || k.Allows("fast") || !k.Restricted() {
		t.Error("Key.Allows does not apply models and deny")
	}
}

// TestRouteServedModel: allow and deny lists, guardrails and prices apply to
// the model Bedrock serves, whatever name the client used (issue 13, point
// 2): profile ids, foundation-model and inference-profile ARNs, application
// profile ARNs the catalog resolves, and unknown geography prefixes. A name
// whose model cannot be told is refused to a key with a deny list or an
// allowlist that does not name it exactly; an allowlist does not widen to
// other names of the model.
func TestRouteServedModel(t *testing.T) {
	const (
		euHaiku    = "eu.anthropic.claude-3-haiku-20240307-v1:0"
		xxHaiku    = "xx.anthropic.claude-3-haiku-20240307-v1:0" // a geography Bedrock may add
		fmARN      = "arn:aws:bedrock:us-east-1::foundation-model/" + haiku
		ipARN      = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/" + usHaiku
		euARN      = "arn:aws:bedrock:eu-west-1:123456789012:inference-profile/" + euHaiku
		appHaiku   = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/haiku1"
		appUSHaiku = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/haiku2"
		appUnknown = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/gone"
		router     = "arn:aws:bedrock:us-east-1:123456789012:default-prompt-router/anthropic.claude:1"
		// An ARN with a foundation model's ARN inside its resource, which a
		// substring search would take for Nova Micro.
		trick = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/x:foundation-model/" + micro
	)
	p := parse(t, "p.yaml", `
keys:
  - id: open
    sha256: `+policy.HashSecret("open")+`
  - id: deny-id
    sha256: `+policy.HashSecret("deny-id")+`
    deny: ["anthropic.claude-3-haiku-*"]
  - id: deny-glob
    sha256: `+policy.HashSecret("deny-glob")+`
    deny: ["*claude-3-haiku*"]
  - id: allow-id
    sha256: `+policy.HashSecret("allow-id")+`
    models: ["anthropic.claude-3-haiku-*"]
  - id: allow-us
    sha256: `+policy.HashSecret("allow-us")+`
    models: ["`+usHaiku+`"]
  - id: allow-all
    sha256: `+policy.HashSecret("allow-all")+`
    models: ["*"]
  - id: allow-unknown
    sha256: `+policy.HashSecret("allow-unknown")+`
    models: ["`+appUnknown+`"]
  - id: allow-unknown-deny
    sha256: `+policy.HashSecret("allow-unknown-deny")+`
    models: ["`+appUnknown+`"]
    deny: ["*opus*"]
  - id: capped
    sha256: `+policy.HashSecret("capped")+`
    monthly_budget_usd: 10
models:
  `+haiku+`:
    guardrail: {id: g1, version: "1"}
`)
	catalog := map[string]string{appHaiku: haiku, appUSHaiku: usHaiku}
	base := func(id string) (string, bool) { b, ok := catalog[id]; return b, ok }
	haikuPrice, _ := p.Price(haiku)
	microPrice, _ := p.Price(micro)
	g1 := &policy.Guardrail{ID: "g1", Version: "1"}
	haikuNames := []string{haiku, usHaiku, euHaiku, fmARN, ipARN, euARN, appHaiku, appUSHaiku}

	type want struct {
		code      string // "" when allowed
		guardrail *policy.Guardrail
		price     *policy.Price
	}
	type test struct {
		key, model string
		want       want
	}
	tests := []test{
		{"open", micro, want{price: &microPrice}},
		{"open", router, want{}},
		{"open", appUnknown, want{}},
		{"capped", appHaiku, want{guardrail: g1, price: &haikuPrice}},
		{"capped", appUSHaiku, want{guardrail: g1, price: &haikuPrice}},
		{"capped", trick, want{code: "model_not_priced"}},
		{"capped", xxHaiku, want{code: "model_not_priced"}}, // priced by known names only
		{"open", xxHaiku, want{guardrail: g1}},
		{"capped", appUnknown, want{code: "model_not_priced"}},
		{"deny-id", micro, want{price: &microPrice}},
		{"deny-id", appUnknown, want{code: "model_not_allowed"}},
		{"deny-id", router, want{code: "model_not_allowed"}},
		{"deny-id", trick, want{code: "model_not_allowed"}},
		{"deny-glob", appUnknown, want{code: "model_not_allowed"}},
		{"allow-id", haiku, want{guardrail: g1, price: &haikuPrice}},
		{"allow-id", fmARN, want{guardrail: g1, price: &haikuPrice}}, // the same model, by its ARN
		{"allow-id", usHaiku, want{code: "model_not_allowed"}},       // a profile of it is not allowed by the model's id
		{"allow-id", xxHaiku, want{code: "model_not_allowed"}},
		{"allow-id", appHaiku, want{code: "model_not_allowed"}},
		{"allow-us", usHaiku, want{guardrail: g1, price: &haikuPrice}},
		{"allow-us", ipARN, want{guardrail: g1, price: &haikuPrice}}, // the same profile, by its ARN
		{"allow-us", euHaiku, want{code: "model_not_allowed"}},       // another profile of the model
		{"allow-us", euARN, want{code: "model_not_allowed"}},
		{"allow-us", haiku, want{code: "model_not_allowed"}},
		{"allow-us", fmARN, want{code: "model_not_allowed"}},
		{"allow-us", appUSHaiku, want{code: "model_not_allowed"}},
		{"allow-all", appHaiku, want{guardrail: g1, price: &haikuPrice}},
		{"allow-all", appUnknown, want{code: "model_not_allowed"}}, // a glob does not name what cannot be told
		{"allow-all", router, want{code: "model_not_allowed"}},
		{"allow-unknown", appUnknown, want{}},
		{"allow-unknown-deny", appUnknown, want{code: "model_not_allowed"}},
	}
	for _, name := range append(haikuNames, xxHaiku) {
		tests = append(tests, test{"deny-id", name, want{code: "model_not_allowed"}}, test{"deny-glob", name, want{code: "model_not_allowed"}})
	}
	for _, name := range haikuNames {
		tests = append(tests, test{"open", name, want{guardrail: g1, price: &haikuPrice}})
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.model, func(t *testing.T) {
			k, _ := p.KeyByID(tt.key)
			r, err := p.RouteVia(k, tt.model, base)
			var got want
			if err != nil {
				var te *tollgate.Error
				if !errors.As(err, &te) || te.Kind != tollgate.PermissionDenied {
					t.Fatalf("RouteVia error = %v, want a PermissionDenied", err)
				}
				got.code = te.Code
			} else {
				if r.ModelID != tt.model {
					t.Errorf("ModelID = %q, want the requested id sent as is", r.ModelID)
				}
				if r.Priced {
					got.price = &r.Price
				}
				got.guardrail = r.Guardrail
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(want{})); diff != "" {
				t.Errorf("RouteVia (-want +got):\n%s", diff)
			}
			if visible := p.VisibleVia(k, tt.model, base); visible != (tt.want.code == "") {
				t.Errorf("VisibleVia = %v, want %v: GET /v1/models must list what Route accepts, and only that", visible, tt.want.code == "")
			}
		})
	}
}

// TestRouteUnversionedIDs: the ids of Claude Code 2.1.332's models, which
// carry no version suffix (us.anthropic.claude-opus-5-5), are matched by
// allow and deny globs through their profiles and priced from the shipped
// table; a glob for one model does not take in a longer one of its family.
func TestRouteUnversionedIDs(t *testing.T) {
	p := parse(t, "p.yaml", `
keys:
  - id: opus-5-5
    sha256: `+policy.HashSecret("opus-5-5")+`
    models: ["anthropic.claude-opus-5-5", "us.anthropic.claude-opus-5-5"]
  - id: opus-5
    sha256: `+policy.HashSecret("opus-5")+`
    models: ["*.anthropic.claude-opus-5"]
  - id: no-fable
    sha256: `+policy.HashSecret("no-fable")+`
    deny: ["anthropic.claude-fable-*"]
  - id: capped
    sha256: `+policy.HashSecret("capped")+`
    monthly_budget_usd: 10
`)
	tests := []struct {
		key, model, code string
		input            int64 // nano-USD per input token; 0 when refused
	}{
		{"opus-5-5", "us.anthropic.claude-opus-5-5", "", 4000},
		{"opus-5-5", "anthropic.claude-opus-5-5", "", 4000},
		{"opus-5-5", "global.anthropic.claude-opus-5-5", "model_not_allowed", 0},
		{"opus-5-5", "us.anthropic.claude-opus-5", "model_not_allowed", 0},
		{"opus-5", "us.anthropic.claude-opus-5", "", 5000},
		{"opus-5", "global.anthropic.claude-opus-5", "", 5000},
		{"opus-5", "us.anthropic.claude-opus-5-5", "model_not_allowed", 0},
		{"no-fable", "global.anthropic.claude-fable-5-2", "model_not_allowed", 0},
		{"no-fable", "us.anthropic.claude-fable-5", "model_not_allowed", 0},
		{"no-fable", "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-fable-5-1", "model_not_allowed", 0},
		{"no-fable", "eu.anthropic.claude-sonnet-5-5", "", 2000},
		{"capped", "us.anthropic.claude-haiku-5-5", "", 500},
		{"capped", "us.anthropic.claude-opus-4-8", "", 5000},
	}
	for _, tt := range tests {
		t.Run(tt.key+"/"+tt.model, func(t *testing.T) {
			k, _ := p.KeyByID(tt.key)
			r, err := p.Route(k, tt.model)
			code, input := "", int64(0)
			if err != nil {
				var te *tollgate.Error
				if !errors.As(err, &te) {
					t.Fatalf("Route error = %v, want a tollgate.Error", err)
				}
				code = te.Code
			} else if r.Priced {
				input = r.Price.Input
			}
			if code != tt.code || input != tt.input {
				t.Errorf("Route = %q, input price %d; want %q, %d", code, input, tt.code, tt.input)
			}
		})
	}
}
